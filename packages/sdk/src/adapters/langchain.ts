import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import { type BaseMessage, ToolMessage } from '@langchain/core/messages';
import type { LLMResult } from '@langchain/core/outputs';
import {
  StructuredTool,
  type StructuredToolCallInput,
  type StructuredToolInterface,
  Tool,
  ToolInputParsingException,
  type ToolReturnType,
  type ToolRunnableConfig,
  type ToolSchemaBase,
} from '@langchain/core/tools';
import { interopSafeParseAsync, isInteropZodSchema } from '@langchain/core/utils/types';
import { isWardenError, type WardenError } from '@warden/core';
import type { CallContext } from '../call-context.js';
import type { Warden } from '../warden.js';
import type { AuthorizeOptions, ModelUsage } from '../warden-options.js';

/** How a wrapped tool's calls are governed. */
export interface WardenToolOptions
  extends Pick<AuthorizeOptions, 'context' | 'approvalTimeoutMs' | 'onApprovalPending'> {
  /** The tool name the policy sees; default the LangChain tool's own name (which the model keeps seeing). */
  readonly toolName?: string;
}

/**
 * A LangChain tool whose every invocation Warden decides first: the model sees the wrapped tool's name,
 * description and schema; the wrapped tool runs only when allowed (after a human's approval on review)
 * and its result or error is recorded. A refusal of a model's tool call comes back as an error
 * ToolMessage carrying Warden's message, so the agent loop goes on and the model learns why; its
 * `artifact` is `{ code, details }` of the WardenError. Invoked without a tool call, a refusal throws.
 */
export class WardenTool<SchemaT = ToolSchemaBase> extends StructuredTool<SchemaT> {
  static override lc_name(): string {
    return 'WardenTool';
  }

  name: string;
  description: string;
  schema: SchemaT;
  /** The tool that runs once Warden allows a call. */
  readonly wrapped: StructuredToolInterface<SchemaT>;
  readonly #warden: Warden;
  readonly #options: WardenToolOptions;

  constructor(warden: Warden, tool: StructuredToolInterface<SchemaT>, options: WardenToolOptions = {}) {
    super({ ...(tool.extras ? { extras: tool.extras } : {}) });
    this.name = tool.name;
    this.description = tool.description;
    this.schema = tool.schema;
    // An agent ends its loop after a returnDirect tool's successful output; a refusal (status error) does not.
    this.returnDirect = tool.returnDirect;
    this.wrapped = tool;
    this.#warden = warden;
    this.#options = options;
  }

  override async invoke<
    TInput extends StructuredToolCallInput<SchemaT>,
    TConfig extends ToolRunnableConfig | undefined,
  >(input: TInput, config?: TConfig): Promise<ToolReturnType<TInput, TConfig, unknown>> {
    const toolCall = isToolCall(input) ? input : undefined;
    const toolCallId = toolCall?.id ?? config?.toolCall?.id;
    // Decided on the arguments the tool will run with (schema defaults and coercions applied), so the
    // policy judges what runs; malformed input goes back to the model before anyone is asked.
    const args = await this.#validatedArgs(toolCall ? toolCall.args : input);
    const { toolName, ...governed } = this.#options;
    let ran = false;
    let output: unknown;
    try {
      await this.#warden.run(
        { tool: toolName ?? this.name, args },
        async () => {
          ran = true;
          // The whole input and config go through: the wrapped tool formats its own ToolMessage (with
          // its artifact) and keeps its runtime (state, tool call id, callbacks).
          output = await this.wrapped.invoke(input, config);
          return recordable(output);
        },
        { ...governed, ...(config?.signal ? { signal: config.signal } : {}) },
      );
    } catch (err) {
      if (ran || !isWardenError(err) || err.code === 'CALL_ABORTED' || toolCallId === undefined) throw err;
      return refusal(err, toolCallId, this.name) as ToolReturnType<TInput, TConfig, unknown>;
    }
    return output as ToolReturnType<TInput, TConfig, unknown>;
  }

  /** LangChain's older entry point, governed exactly as `invoke`. */
  override call<
    TArg extends StructuredToolCallInput<SchemaT>,
    TConfig extends ToolRunnableConfig | undefined,
  >(arg: TArg, configArg?: TConfig): Promise<ToolReturnType<TArg, TConfig, unknown>> {
    return this.invoke(arg, configArg);
  }

  /** Never reached: `invoke` and `call` hand the input to the wrapped tool, which parses and runs it. */
  protected _call(): Promise<never> {
    return Promise.reject(new Error('WardenTool runs through invoke()'));
  }

  async #validatedArgs(input: unknown): Promise<Record<string, unknown>> {
    // A string tool (DynamicTool) takes a bare string, as `{ input }` for its schema.
    const value =
      this.wrapped instanceof Tool && (input == null || typeof input === 'string') ? { input } : input;
    // A JSON schema applies no defaults: the wrapped tool validates the arguments themselves.
    if (!isInteropZodSchema(this.schema)) return asArgs(value);
    const parsed = await interopSafeParseAsync(this.schema, value);
    if (!parsed.success) {
      throw new ToolInputParsingException(
        `Received tool input did not match expected schema\n\n${issues(parsed.error.issues)}`,
        JSON.stringify(input),
      );
    }
    return asArgs(parsed.data);
  }
}

/** Wraps one LangChain tool (`tool()`, DynamicStructuredTool, any StructuredTool) so Warden governs it. */
export function wardenTool<SchemaT>(
  warden: Warden,
  tool: StructuredToolInterface<SchemaT>,
  options?: WardenToolOptions,
): WardenTool<SchemaT> {
  return new WardenTool(warden, tool, options);
}

/** Wraps every tool of an agent, each under its own name. */
export function wardenTools(
  warden: Warden,
  tools: readonly StructuredToolInterface[],
  options?: Omit<WardenToolOptions, 'toolName'>,
): WardenTool[] {
  return tools.map((tool) => new WardenTool(warden, tool, options));
}

/** Options of the usage handler. */
export interface WardenUsageOptions {
  /** The context the usage is reported in (default the one in force where the model runs). */
  readonly context?: CallContext;
}

/**
 * A callback handler that reports each chat model call's token usage with `warden.recordUsage`, so the
 * session's token budgets count model calls made in this process. Once a budget is spent, the report
 * is refused and the error ends the model call: the agent stops spending.
 */
export class WardenUsageHandler extends BaseCallbackHandler {
  name = 'warden-usage';
  readonly #warden: Warden;
  readonly #options: WardenUsageOptions;
  readonly #models = new Map<string, { model: string; provider: string | undefined }>();

  constructor(warden: Warden, options: WardenUsageOptions = {}) {
    // Awaited so the report lands (and a refusal raises) before the agent goes on.
    super({ _awaitHandler: true, raiseError: true });
    this.#warden = warden;
    this.#options = options;
  }

  override handleChatModelStart(
    llm: Serialized,
    _messages: BaseMessage[][],
    runId: string,
    _parentRunId?: string,
    _extraParams?: Record<string, unknown>,
    _tags?: string[],
    metadata?: Record<string, unknown>,
  ): void {
    // LangChain's tracing metadata names the model and provider (ls_model_name, ls_provider).
    const model = typeof metadata?.ls_model_name === 'string' ? metadata.ls_model_name : undefined;
    const provider =
      typeof metadata?.ls_provider === 'string' ? metadata.ls_provider.toLowerCase() : undefined;
    this.#models.set(runId, { model: model ?? llm.id.at(-1) ?? 'unknown', provider });
  }

  override handleLLMError(_err: unknown, runId: string): void {
    this.#models.delete(runId);
  }

  override async handleLLMEnd(output: LLMResult, runId: string): Promise<void> {
    const seen = this.#models.get(runId);
    this.#models.delete(runId);
    const usage = usageOf(output);
    if (!usage) return;
    await this.#warden.recordUsage(
      { model: seen?.model ?? 'unknown', ...(seen?.provider ? { provider: seen.provider } : {}), ...usage },
      this.#options,
    );
  }
}

type Counted = Pick<ModelUsage, 'inputTokens' | 'outputTokens' | 'cachedTokens'>;

/** The token counts of a model call: the message's usage_metadata, else the provider's legacy tokenUsage. */
function usageOf(output: LLMResult): Counted | undefined {
  for (const generation of output.generations.flat()) {
    const meta = (generation as { message?: { usage_metadata?: UsageMetadataLike } }).message?.usage_metadata;
    if (meta) {
      const cached = meta.input_token_details?.cache_read;
      return {
        inputTokens: meta.input_tokens,
        outputTokens: meta.output_tokens,
        ...(cached ? { cachedTokens: cached } : {}),
      };
    }
  }
  const legacy = output.llmOutput?.tokenUsage as
    | { promptTokens?: number; completionTokens?: number }
    | undefined;
  if (legacy?.promptTokens === undefined && legacy?.completionTokens === undefined) return undefined;
  return { inputTokens: legacy.promptTokens ?? 0, outputTokens: legacy.completionTokens ?? 0 };
}

interface UsageMetadataLike {
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly input_token_details?: { readonly cache_read?: number };
}

function issues(list: readonly { message: string; path: readonly PropertyKey[] }[]): string {
  return list.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('\n');
}

function isToolCall(input: unknown): input is { id?: string; args: unknown; type: 'tool_call' } {
  return typeof input === 'object' && input !== null && (input as { type?: unknown }).type === 'tool_call';
}

/** A policy reads arguments as an object: anything else (a string tool's input) is `{ input }`. */
function asArgs(value: unknown): Record<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value))
    return value as Record<string, unknown>;
  return value === undefined ? {} : { input: value };
}

/** The audit keeps what the model read (a ToolMessage's content), not LangChain's serialised message. */
function recordable(output: unknown): unknown {
  return ToolMessage.isInstance(output) ? output.content : output;
}

function refusal(err: WardenError, toolCallId: string, name: string): ToolMessage {
  return new ToolMessage({
    content: err.message,
    tool_call_id: toolCallId,
    name,
    status: 'error',
    artifact: { code: err.code, details: err.details },
  });
}
