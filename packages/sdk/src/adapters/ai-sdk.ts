import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { canonicalHash, type Usage } from '@warden/core';
// Types only: the adapter adds no runtime dependency on `ai`, so it works with whichever copy the app has.
import type { LanguageModelMiddleware, ToolExecutionOptions, ToolSet } from 'ai';
import type { CallContext } from '../call-context.js';
import type { Warden } from '../warden.js';
import type { ApprovalPending, AuthorizeOptions, GovernedCall } from '../warden-options.js';
import type { CallResult, UsageEstimate } from '../warden-transport.js';

/** Options of `wardenTools`. */
export interface WardenToolsOptions {
  /** The tool name the policy sees for a key of the tool record (default: the key itself). */
  readonly toolName?: (key: string) => string;
  /** The context of every call of these tools; its fields win over `withContext` and the client's. */
  readonly context?: CallContext;
  /** How long a reviewed call waits for a human (default: the client's). */
  readonly approvalTimeoutMs?: number;
  /** What a call may consume, reserved in its budgets before it runs: fixed, or from the call's input. */
  readonly estimate?: UsageEstimate | ((input: unknown, key: string) => UsageEstimate | undefined);
  /** Called once when a call is held for review (to tell the user a human must approve). */
  readonly onApprovalPending?: (pending: ApprovalPending) => void;
}

/** Options of `wardenMiddleware`. */
export interface WardenMiddlewareOptions {
  /** The context of every model call; its fields win over `withContext` and the client's. */
  readonly context?: CallContext;
  /** How long a model call the policy holds for review waits for a human. */
  readonly approvalTimeoutMs?: number;
  /** Called once when a model call is held for review. */
  readonly onApprovalPending?: (pending: ApprovalPending) => void;
  /** The `<provider>` of `llm:<provider>` (default: the model's provider up to its first dot). */
  readonly provider?: string | ((model: { readonly provider: string; readonly modelId: string }) => string);
  /** Output tokens reserved for a call that sets no `maxOutputTokens` (default 4096). */
  readonly defaultMaxOutputTokens?: number;
}

/** Reserved when neither the call nor the options bound the output: a typical provider default. */
const DEFAULT_MAX_OUTPUT_TOKENS = 4096;

type Execute = (input: unknown, options: ToolExecutionOptions<unknown>) => unknown;
type WrapGenerate = NonNullable<LanguageModelMiddleware['wrapGenerate']>;
type WrapStream = NonNullable<LanguageModelMiddleware['wrapStream']>;
type ModelCallOptions = Parameters<WrapGenerate>[0]['params'];
type Model = Parameters<WrapGenerate>[0]['model'];
type GenerateResult = Awaited<ReturnType<WrapGenerate>>;
type StreamResult = Awaited<ReturnType<WrapStream>>;
type StreamPart = StreamResult['stream'] extends ReadableStream<infer P> ? P : never;
type ModelUsage = GenerateResult['usage'];

/**
 * Governs AI SDK tools: every tool with an `execute` is decided by Warden before it runs (waiting for a
 * human on review) and its result or error lands in the audit. A refusal throws the WardenError, which
 * the AI SDK hands the model as a tool error, so the loop goes on and the model reads why. The record
 * keeps its type; tools without `execute` (run by the client or the provider) are returned unchanged.
 */
export function wardenTools<TOOLS extends ToolSet>(
  warden: Warden,
  tools: TOOLS,
  options: WardenToolsOptions = {},
): TOOLS {
  const governed: Record<string, unknown> = {};
  for (const [key, t] of Object.entries(tools)) {
    const execute = t.execute as Execute | undefined;
    governed[key] =
      typeof execute === 'function' ? withExecute(t, governedExecute(warden, key, execute, options)) : t;
  }
  return governed as TOOLS;
}

/** A copy of the tool with another `execute`, keeping hidden fields the AI SDK sets on some tools. */
function withExecute<T extends object>(t: T, execute: Execute): T {
  const copy = Object.create(Object.getPrototypeOf(t), Object.getOwnPropertyDescriptors(t)) as T;
  Object.defineProperty(copy, 'execute', {
    value: execute,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return copy;
}

function governedExecute(
  warden: Warden,
  key: string,
  execute: Execute,
  options: WardenToolsOptions,
): Execute {
  const tool = options.toolName?.(key) ?? key;
  const authorizeOptions = (input: unknown, exec: ToolExecutionOptions<unknown>): AuthorizeOptions => {
    const estimate = typeof options.estimate === 'function' ? options.estimate(input, key) : options.estimate;
    return {
      context: options.context,
      approvalTimeoutMs: options.approvalTimeoutMs,
      onApprovalPending: options.onApprovalPending,
      estimate,
      signal: exec.abortSignal,
    };
  };
  const call = (input: unknown): GovernedCall => ({ tool, args: argsOf(input) });
  // A generator streams preliminary outputs to the AI SDK: keep streaming them, once allowed.
  if (isAsyncGeneratorFunction(execute)) {
    return (input, exec) =>
      governedIterable(warden, call(input), authorizeOptions(input, exec), () => {
        return execute(input, exec) as AsyncIterable<unknown>;
      });
  }
  return (input, exec) =>
    warden.run(call(input), async () => lastValue(await execute(input, exec)), authorizeOptions(input, exec));
}

/** Tool inputs are objects as a rule; anything else is sent under `input`. */
function argsOf(input: unknown): Record<string, unknown> {
  if (typeof input === 'object' && input !== null && !Array.isArray(input))
    return input as Record<string, unknown>;
  return input === undefined ? {} : { input };
}

function isAsyncGeneratorFunction(fn: unknown): boolean {
  return Object.prototype.toString.call(fn) === '[object AsyncGeneratorFunction]';
}

/** A plain function that returned an iterable: its last value is the tool's output, as for the AI SDK. */
async function lastValue(value: unknown): Promise<unknown> {
  if (typeof value !== 'object' || value === null || !(Symbol.asyncIterator in value)) return value;
  let last: unknown;
  for await (const v of value as AsyncIterable<unknown>) last = v;
  return last;
}

/** Decides the call, then relays the tool's outputs; the last one is recorded as its result. */
async function* governedIterable(
  warden: Warden,
  call: GovernedCall,
  options: AuthorizeOptions,
  start: () => AsyncIterable<unknown>,
): AsyncGenerator<unknown, void, undefined> {
  const ok = await warden.authorize(call, options);
  const began = performance.now();
  let outcome: CallResult = { status: 'error', error: 'the caller stopped reading the tool output' };
  try {
    let last: unknown;
    for await (const value of start()) {
      last = value;
      yield value;
    }
    outcome = { status: 'ok', result: last };
  } catch (err) {
    outcome = { status: 'error', error: errorText(err) };
    throw err;
  } finally {
    await warden.complete(ok.callId, { ...outcome, durationMs: performance.now() - began });
  }
}

/**
 * A language-model middleware (for `wrapLanguageModel`) that puts every model call under the session's
 * token budgets: each call is authorized as `llm:<provider>` with its estimate reserved before the model
 * runs, and settled with the usage the model reports (a stream at its end, however it ends). A refused
 * call throws its WardenError before the model is called. The prompt is never sent, only a short hash.
 */
export function wardenMiddleware(
  warden: Warden,
  options: WardenMiddlewareOptions = {},
): LanguageModelMiddleware {
  const authorize = (model: Model, params: ModelCallOptions, stream: boolean) => {
    const { call, estimate } = modelCall(model, params, stream, options);
    return warden.authorize(call, {
      context: options.context,
      approvalTimeoutMs: options.approvalTimeoutMs,
      onApprovalPending: options.onApprovalPending,
      estimate,
      signal: params.abortSignal,
    });
  };
  return {
    specificationVersion: 'v4',
    async wrapGenerate({ doGenerate, params, model }) {
      const ok = await authorize(model, params, false);
      // The audit gets a summary, not the model's output: runAuthorized records what `fn` returns.
      const box: { out?: GenerateResult } = {};
      await warden.runAuthorized(
        ok,
        async () => {
          const out = await doGenerate();
          box.out = out;
          return summary(out.finishReason.unified, toolCallNames(out.content));
        },
        { usage: () => box.out && usageOf(box.out.usage, box.out.response?.modelId ?? model.modelId) },
      );
      return box.out as GenerateResult;
    },
    async wrapStream({ doStream, params, model }) {
      const ok = await authorize(model, params, true);
      const began = performance.now();
      const settle = (result: CallResult) =>
        warden.complete(ok.callId, { ...result, durationMs: performance.now() - began });
      let result: StreamResult;
      try {
        result = await doStream();
      } catch (err) {
        await settle({ status: 'error', error: errorText(err) });
        throw err;
      }
      return { ...result, stream: meteredStream(result.stream, model.modelId, settle) };
    },
  };
}

/** The call the policy sees for one model call, and what it reserves. */
function modelCall(
  model: Model,
  params: ModelCallOptions,
  stream: boolean,
  options: WardenMiddlewareOptions,
): { call: GovernedCall; estimate: UsageEstimate } {
  const provider =
    typeof options.provider === 'function'
      ? options.provider(model)
      : (options.provider ?? model.provider.split('.')[0] ?? model.provider);
  const prompt = promptText(params.prompt);
  const args: Record<string, unknown> = {
    model: model.modelId,
    stream,
    messages: params.prompt.length,
    ...(params.maxOutputTokens !== undefined ? { maxOutputTokens: params.maxOutputTokens } : {}),
    // Lets the repeat breaker see the same prompt sent again, without the prompt leaving the process.
    ...(prompt !== undefined ? { promptHash: canonicalHash(prompt).slice(0, 16) } : {}),
  };
  const estimate: UsageEstimate = {
    model: model.modelId,
    inputTokens: Math.ceil((prompt?.length ?? 0) / 4),
    outputTokens: params.maxOutputTokens ?? options.defaultMaxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
  };
  return { call: { tool: `llm:${provider}`, args }, estimate };
}

/**
 * The prompt as JSON with inline file data replaced by a digest: files are not billed by their size in
 * characters, and their bytes would make the estimate absurd (and the hash slow).
 */
function promptText(prompt: ModelCallOptions['prompt']): string | undefined {
  try {
    return JSON.stringify(prompt, (_key, value: unknown) => {
      if (value instanceof Uint8Array) return `bytes:${digest(value)}`;
      if (isInlineData(value)) return { type: 'data', digest: digest(value.data) };
      return value;
    });
  } catch {
    return undefined; // Not JSON (a BigInt in some tool input): no hash, and only the output is reserved.
  }
}

function isInlineData(value: unknown): value is { type: 'data'; data: string | Uint8Array } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { type?: unknown; data?: unknown };
  return v.type === 'data' && (typeof v.data === 'string' || v.data instanceof Uint8Array);
}

function digest(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

/**
 * Relays the model's stream while noting its usage, and records the call once when the stream ends:
 * done, failed or cancelled (then with whatever usage the model had reported). Pull-based, so it works
 * on every Node 20 (a TransformStream's `cancel` hook is missing on early 20.x).
 */
function meteredStream(
  source: ReadableStream<StreamPart>,
  modelId: string,
  settle: (result: CallResult) => Promise<void>,
): ReadableStream<StreamPart> {
  const reader = source.getReader();
  let model = modelId;
  let usage: Usage | undefined;
  let finishReason: string | undefined;
  let failure: string | undefined;
  const toolCalls: string[] = [];
  let ended = false;
  const end = async (result: CallResult) => {
    if (ended) return;
    ended = true;
    await settle({ ...result, ...(usage ? { usage } : {}) });
  };
  return new ReadableStream<StreamPart>({
    async pull(controller) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (err) {
        await end({ status: 'error', error: errorText(err) });
        controller.error(err);
        return;
      }
      if (next.done) {
        await end(
          failure !== undefined
            ? { status: 'error', error: failure }
            : { status: 'ok', result: summary(finishReason, toolCalls) },
        );
        controller.close();
        return;
      }
      const part = next.value;
      if (part.type === 'response-metadata' && part.modelId) model = part.modelId;
      else if (part.type === 'tool-call') toolCalls.push(part.toolName);
      else if (part.type === 'error') failure ??= errorText(part.error);
      else if (part.type === 'finish') {
        usage = usageOf(part.usage, model);
        finishReason = part.finishReason.unified;
      }
      controller.enqueue(part);
    },
    async cancel(reason) {
      try {
        await reader.cancel(reason); // Stop the model first: every further token is spent.
      } finally {
        await end({
          status: 'error',
          error: `the stream was cancelled${reason ? `: ${errorText(reason)}` : ''}`,
        });
      }
    },
  });
}

/** The AI SDK's usage as Warden counts it: cached input tokens are part of the input tokens. */
function usageOf(u: ModelUsage, model: string): Usage {
  const input =
    u.inputTokens.total ?? sum(u.inputTokens.noCache, u.inputTokens.cacheRead, u.inputTokens.cacheWrite);
  const output = u.outputTokens.total ?? sum(u.outputTokens.text, u.outputTokens.reasoning);
  return {
    ...(model ? { model } : {}),
    ...(input !== undefined ? { inputTokens: input } : {}),
    ...(output !== undefined ? { outputTokens: output } : {}),
    ...(u.inputTokens.cacheRead !== undefined ? { cachedTokens: u.inputTokens.cacheRead } : {}),
  };
}

function sum(...counts: (number | undefined)[]): number | undefined {
  const known = counts.filter((n): n is number => n !== undefined);
  return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0);
}

function toolCallNames(content: GenerateResult['content']): string[] {
  return content.flatMap((part) => (part.type === 'tool-call' ? [part.toolName] : []));
}

/** What the audit keeps of a model call's output: how it finished and which tools it asked for. */
function summary(finishReason: string | undefined, toolCalls: readonly string[]): Record<string, unknown> {
  return { ...(finishReason ? { finishReason } : {}), ...(toolCalls.length > 0 ? { toolCalls } : {}) };
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
