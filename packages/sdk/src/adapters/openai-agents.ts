import {
  type FunctionTool,
  type RunContext,
  type RunToolApprovalItem,
  type ToolExecuteArgument,
  type ToolInputParameters,
  type ToolOptions,
  tool,
} from '@openai/agents';
import { isWardenError, type Usage, WardenError } from '@warden/core';
import type { CallContext } from '../call-context.js';
import { blockedError, notApprovedError } from '../call-errors.js';
import type { Authorized, GovernedCall, Warden } from '../warden.js';
import type { ApprovalState, CallDecision, UsageEstimate } from '../warden-transport.js';

/**
 * The key under which the adapter keeps its per-call records in the run context object. The context is
 * serialised with the RunState, so a run interrupted for review resumes in another process; an app that
 * restores with `RunState.fromStringWithContext` and its own context must copy this key over.
 */
export const WARDEN_CALLS_KEY = 'wardenCalls';

/** What Warden decided for one model tool call, kept (as JSON) until the tool runs or its review ends. */
export interface WardenCallRecord {
  /** The tool as the policy sees it. */
  readonly tool: string;
  /** The context it was decided in: a redeem must present the same session, trigger and chain. */
  readonly context: CallContext;
  readonly decision: CallDecision;
}

/** A tool as the model sees it, its body, and how Warden sees its calls. */
export interface WardenToolOptions<TParameters extends WardenToolParameters, Context, Result> {
  /** The name the model sees. */
  readonly name: string;
  readonly description: string;
  /** A Zod object, Standard Schema or JSON object schema: Warden's arguments are always an object. */
  readonly parameters: TParameters;
  /** Runs only when Warden allowed the call (directly, or by an approval given in Warden). */
  readonly execute: (
    input: ToolExecuteArgument<TParameters>,
    runContext?: RunContext<Context>,
  ) => Result | Promise<Result>;
  /** The tool name the policy sees; default `name`. */
  readonly toolName?: string;
  /** Session, triggering human, delegation chain, labels: fixed, or derived from the run context. */
  readonly context?: CallContext | ((runContext: RunContext<Context>) => CallContext | undefined);
  readonly target?: (input: ToolExecuteArgument<TParameters>) => string | undefined;
  readonly labels?: Readonly<Record<string, string>>;
  /** What a call may consume, reserved in every budget that applies before it runs. */
  readonly estimate?: (input: ToolExecuteArgument<TParameters>) => UsageEstimate | undefined;
  /** Usage to report with the result (tokens, cost), for budgets. */
  readonly usage?: (result: Result) => Usage | undefined;
  /**
   * What the model reads when `execute` throws (the SDK's default hides the error). Warden's own
   * refusals always reach the model as their message.
   */
  readonly errorFunction?: (runContext: RunContext<Context>, error: unknown) => string | Promise<string>;
}

/** Parameters whose parsed input is an object (a string input would give Warden no arguments to judge). */
export type WardenToolParameters = Exclude<ToolInputParameters, undefined>;

/** The SDK's fallback text for a failing tool, kept for errors that are not Warden's. */
const TOOL_ERROR_TEXT = 'An error occurred while running the tool. Please try again.';

/**
 * Makes an `@openai/agents` tool that Warden governs. `needsApproval` asks Warden once per tool call:
 * allow runs it, block answers the model with the refusal, review interrupts the run until a human
 * decides in Warden (`resolveWardenApprovals`). `execute` never trusts the SDK's approval alone.
 */
export function wardenTool<TParameters extends WardenToolParameters, Context = unknown, Result = unknown>(
  warden: Warden,
  options: WardenToolOptions<TParameters, Context, Result>,
): FunctionTool<Context, TParameters, Result | string> {
  const gate = new WardenToolGate(warden, options);
  const definition = {
    name: options.name,
    description: options.description,
    parameters: options.parameters,
    needsApproval: gate.needsApproval.bind(gate),
    execute: gate.execute.bind(gate),
    errorFunction: gate.errorText.bind(gate),
  };
  // tool()'s options are a union over strict and non-strict schemas that a generic cannot narrow.
  return tool(definition as unknown as ToolOptions<TParameters, Context>) as unknown as FunctionTool<
    Context,
    TParameters,
    Result | string
  >;
}

/** One governed tool's side of the SDK's hooks: decide, remember, redeem, run. */
class WardenToolGate<TParameters extends WardenToolParameters, Context, Result> {
  readonly #warden: Warden;
  readonly #options: WardenToolOptions<TParameters, Context, Result>;
  readonly #tool: string;

  constructor(warden: Warden, options: WardenToolOptions<TParameters, Context, Result>) {
    this.#warden = warden;
    this.#options = options;
    this.#tool = options.toolName ?? options.name;
  }

  /** The SDK's `needsApproval`: one Warden decision per model tool call, remembered in the run. */
  async needsApproval(
    runContext: RunContext<Context>,
    input: ToolExecuteArgument<TParameters>,
    callId?: string,
  ): Promise<boolean> {
    // Without a call id there is nowhere to keep a decision: execute decides, and cannot wait.
    if (callId === undefined) return false;
    const records = recordsOf(runContext);
    const known = records[callId];
    // The SDK asks again when a run resumes; one model call is one Warden decision, never two requests.
    if (known) return known.decision.effect === 'review';
    const context = this.#context(runContext);
    const decision = await this.#warden.check(this.#call(input), { context, ...this.#estimate(input) });
    records[callId] = { tool: this.#tool, context: { ...context, session: decision.session }, decision };
    return decision.effect === 'review';
  }

  /** The SDK's `execute`: runs the call only once Warden lets it, and records how it ended. */
  async execute(
    input: ToolExecuteArgument<TParameters>,
    runContext?: RunContext<Context>,
    details?: { readonly toolCall?: { readonly callId?: string } },
  ): Promise<Result> {
    const callId = details?.toolCall?.callId;
    const records = runContext && callId !== undefined ? recordsOf(runContext) : undefined;
    const record = callId !== undefined ? records?.[callId] : undefined;
    // A record is spent by the one execution it was made for.
    if (records && callId !== undefined) delete records[callId];
    const ok = await this.#admit(input, runContext, record);
    const usage = this.#options.usage;
    return this.#warden.runAuthorized(ok, async () => this.#options.execute(input, runContext), {
      ...(usage ? { usage } : {}),
    });
  }

  /** The SDK's `errorFunction`: Warden's refusals are written for the model; other errors stay hidden. */
  async errorText(runContext: RunContext<Context>, error: unknown): Promise<string> {
    if (isWardenError(error)) return error.message;
    const custom = this.#options.errorFunction;
    return custom ? custom(runContext, error) : TOOL_ERROR_TEXT;
  }

  /** Lets the call run, or throws the refusal: from the remembered decision, or a new one if none. */
  async #admit(
    input: ToolExecuteArgument<TParameters>,
    runContext: RunContext<Context> | undefined,
    record: WardenCallRecord | undefined,
  ): Promise<Authorized> {
    const call = this.#call(input);
    if (!record) {
      const context = runContext ? this.#context(runContext) : this.#warden.context();
      const d = await this.#warden.check(call, { context, ...this.#estimate(input) });
      return authorizedOr(this.#warden, this.#tool, d, 'this run carries no Warden approval for the call');
    }
    const d = record.decision;
    if (d.effect !== 'review' || !d.approval) return authorizedOr(this.#warden, this.#tool, d, '');
    // Whatever the SDK was told, the call runs only if Warden redeems the approval given in Warden.
    const go = await this.#warden.check(call, {
      context: record.context,
      approvalId: d.approval.id,
      ...this.#estimate(input),
    });
    return authorizedOr(this.#warden, this.#tool, go, 'the run went on before a decision was made in Warden');
  }

  #call(input: ToolExecuteArgument<TParameters>): GovernedCall {
    const target = this.#options.target?.(input);
    const labels = this.#options.labels;
    return {
      tool: this.#tool,
      args: argsOf(input),
      ...(target !== undefined ? { target } : {}),
      ...(labels ? { labels } : {}),
    };
  }

  #context(runContext: RunContext<Context>): CallContext {
    const over = this.#options.context;
    return this.#warden.context(typeof over === 'function' ? over(runContext) : over);
  }

  #estimate(input: ToolExecuteArgument<TParameters>): { estimate?: UsageEstimate } {
    const estimate = this.#options.estimate?.(input);
    return estimate ? { estimate } : {};
  }
}

/**
 * A decision that lets the call run, as `Authorized`; otherwise the refusal the model will read. A
 * review found here is one nobody can wait for inside the tool, so its request is withdrawn.
 */
async function authorizedOr(warden: Warden, tool: string, d: CallDecision, why: string): Promise<Authorized> {
  if (d.effect === 'allow') {
    return {
      callId: d.callId,
      session: d.session,
      decision: d,
      ...(d.approval ? { approvalId: d.approval.id } : {}),
    };
  }
  if (d.effect === 'block' || !d.approval) throw blockedError({ tool }, d);
  const approvalId = d.approval.id;
  await withdraw(warden, approvalId, `${why}; the call did not run`);
  throw new WardenError(
    'APPROVAL_DENIED',
    `Warden did not run ${tool}: it needs an approval made in Warden (${d.reasons.join('; ') || 'review'}) and ${why}; request ${approvalId} was withdrawn`,
    { callId: d.callId, session: d.session, tool, approvalId, status: 'cancelled' },
  );
}

/** The part of a `RunState` (any agent, any context) the approval step reads and decides on. */
export interface WardenRunState {
  getInterruptions(): RunToolApprovalItem[];
  approve(item: RunToolApprovalItem): void;
  reject(item: RunToolApprovalItem, options?: { message?: string }): void;
  readonly _context: RunContext<unknown>;
}

/** Options of `resolveWardenApprovals`. */
export interface ResolveWardenApprovalsOptions {
  /** How long to wait for the humans (default: the client's approval timeout); 0 only reads. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** How one Warden review of the run stands after `resolveWardenApprovals`. */
export interface WardenApprovalResolution {
  readonly item: RunToolApprovalItem;
  readonly toolCallId: string;
  readonly approvalId: string;
  /** approved / rejected: set on the state; pending: left undecided, ask again later. */
  readonly outcome: 'approved' | 'rejected' | 'pending';
  /** The request as Warden has it: who decided, and why. */
  readonly approval: ApprovalState;
}

/** What `resolveWardenApprovals` did with the run's interruptions. */
export interface WardenApprovalsResult {
  readonly resolutions: readonly WardenApprovalResolution[];
  /** Interruptions that are not Warden reviews (another tool's own approval): the app decides them. */
  readonly others: readonly RunToolApprovalItem[];
}

/**
 * The app's approval step: waits for each Warden review of an interrupted run to be decided by a human
 * in Warden (which checks who may approve), then approves or rejects it in the run's state. Resume the
 * run with the same state afterwards. A review still pending is left as it is, in the run and in Warden.
 */
export async function resolveWardenApprovals(
  warden: Warden,
  run: WardenRunState | { readonly state: WardenRunState },
  options: ResolveWardenApprovalsOptions = {},
): Promise<WardenApprovalsResult> {
  const state = 'state' in run ? run.state : run;
  const records = recordsOf(state._context);
  const others: RunToolApprovalItem[] = [];
  const waits: Promise<WardenApprovalResolution>[] = [];
  for (const item of state.getInterruptions()) {
    const toolCallId = item.rawItem.type === 'function_call' ? item.rawItem.callId : undefined;
    const record = toolCallId !== undefined ? records[toolCallId] : undefined;
    const approvalId = record?.decision.effect === 'review' ? record.decision.approval?.id : undefined;
    if (!record || toolCallId === undefined || approvalId === undefined) {
      others.push(item);
      continue;
    }
    waits.push(
      (async () => {
        const approval = await warden.waitForApproval(approvalId, options);
        const outcome = settle(state, item, record, approval);
        if (outcome === 'rejected') delete records[toolCallId];
        return { item, toolCallId, approvalId, outcome, approval };
      })(),
    );
  }
  return { resolutions: await Promise.all(waits), others };
}

/** Mirrors Warden's decision into the run: approved runs (and is redeemed then), anything else is refused. */
function settle(
  state: WardenRunState,
  item: RunToolApprovalItem,
  record: WardenCallRecord,
  approval: ApprovalState,
): WardenApprovalResolution['outcome'] {
  if (approval.status === 'pending') return 'pending';
  if (approval.status === 'approved') {
    state.approve(item);
    return 'approved';
  }
  const refusal = notApprovedError({ tool: record.tool }, record.decision, approval);
  state.reject(item, { message: refusal.message });
  return 'rejected';
}

type Records = Record<string, WardenCallRecord>;
/** Records of runs whose context cannot hold them (not an extensible object): this process only. */
const detached = new WeakMap<object, Records>();

/** The run's records: in its context object, so they are serialised with the RunState, when it can be. */
function recordsOf(runContext: RunContext<unknown>): Records {
  const holder = runContext.context;
  if (typeof holder === 'object' && holder !== null) {
    const bag = holder as Record<string, unknown>;
    const existing = bag[WARDEN_CALLS_KEY];
    if (typeof existing === 'object' && existing !== null) return existing as Records;
    if (Object.isExtensible(holder)) {
      const fresh: Records = {};
      bag[WARDEN_CALLS_KEY] = fresh;
      return fresh;
    }
  }
  const key: object = typeof holder === 'object' && holder !== null ? holder : runContext;
  let records = detached.get(key);
  if (!records) {
    records = {};
    detached.set(key, records);
  }
  return records;
}

async function withdraw(warden: Warden, approvalId: string, reason: string): Promise<void> {
  try {
    await warden.cancelApproval(approvalId, reason);
  } catch {
    // Decided or expired meanwhile: nothing is left to withdraw.
  }
}

/** The parsed input is the call's arguments; anything else (a JSON-schema tool's value) goes under `input`. */
function argsOf(input: unknown): Record<string, unknown> {
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    return input as Record<string, unknown>;
  }
  return { input };
}
