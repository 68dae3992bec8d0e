import {
  type FunctionTool,
  type RunContext,
  type ToolExecuteArgument,
  type ToolInputParameters,
  type ToolOptions,
  tool,
} from '@openai/agents';
import { isWardenError, type Usage, WardenError } from '@warden/core';
import type { CallContext } from '../call-context.js';
import { blockedError } from '../call-errors.js';
import type { Warden } from '../warden.js';
import type { Authorized, GovernedCall } from '../warden-options.js';
import type { CallDecision, UsageEstimate } from '../warden-transport.js';
import { recordsOf, type WardenCallRecord } from './openai-agents-records.js';

export {
  type ResolveWardenApprovalsOptions,
  resolveWardenApprovals,
  type WardenApprovalResolution,
  type WardenApprovalsResult,
  type WardenRunState,
} from './openai-agents-approvals.js';
export { WARDEN_CALLS_KEY, type WardenCallRecord } from './openai-agents-records.js';

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

/** A decision that needs no approval (allow or block), held in memory for the call it was made for. */
interface HeldDecision {
  readonly decision: CallDecision;
  /** The call as it was decided: the tool, arguments, target and labels, as JSON. */
  readonly call: string | undefined;
}

/** One governed tool's side of the SDK's hooks: decide, remember, redeem, run. */
class WardenToolGate<TParameters extends WardenToolParameters, Context, Result> {
  readonly #warden: Warden;
  readonly #options: WardenToolOptions<TParameters, Context, Result>;
  readonly #tool: string;
  /**
   * Allow and block decisions of this tool, per run context and model tool call id: process memory only,
   * never serialised, each used by at most one execution.
   */
  readonly #held = new WeakMap<object, Map<string, HeldDecision>>();

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
    const call = this.#call(input);
    // The SDK asks again when a run resumes; one model call is one Warden decision, never two requests.
    const held = this.#held.get(runContext)?.get(callId);
    if (heldFor(held, call)) return false;
    const records = recordsOf(runContext);
    if (this.#isReview(records[callId])) return true;
    // Anything else the context says about the call (an allow, a block, another tool's record) is not
    // Warden's word: it was decided here, in this process, or it is decided now.
    delete records[callId];
    const context = this.#context(runContext);
    const decision = await this.#warden.check(call, { context, ...this.#estimate(input) });
    if (decision.effect === 'review') {
      // The token stays out of the record: the run state is serialised, and a bearer token does not
      // belong in a saved file; the redeem carries the token in force then (same task, same session).
      const { taskToken: _token, ...kept } = context;
      records[callId] = { tool: this.#tool, context: { ...kept, session: decision.session }, decision };
      return true;
    }
    this.#hold(runContext, callId, { decision, call: fingerprint(call) });
    return false;
  }

  /** The SDK's `execute`: runs the call only once Warden lets it, and records how it ended. */
  async execute(
    input: ToolExecuteArgument<TParameters>,
    runContext?: RunContext<Context>,
    details?: { readonly toolCall?: { readonly callId?: string } },
  ): Promise<Result> {
    const callId = details?.toolCall?.callId;
    let held: HeldDecision | undefined;
    let record: WardenCallRecord | undefined;
    if (runContext && callId !== undefined) {
      // A decision is spent by the one execution it was made for: a second one is decided anew.
      held = this.#take(runContext, callId);
      const records = recordsOf(runContext);
      record = records[callId];
      delete records[callId];
    }
    const ok = await this.#admit(input, runContext, held, record);
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

  /**
   * Lets the call run, or throws the refusal: from the decision this process made for exactly this call,
   * by redeeming the approval of a review record, or from a new decision. Any other record in the run
   * context (which is serialised, so anyone who can edit a saved RunState can write it) is ignored.
   */
  async #admit(
    input: ToolExecuteArgument<TParameters>,
    runContext: RunContext<Context> | undefined,
    held: HeldDecision | undefined,
    record: WardenCallRecord | undefined,
  ): Promise<Authorized> {
    const call = this.#call(input);
    const stale = held?.decision;
    if (heldFor(held, call)) return authorizedOr(this.#warden, this.#tool, held.decision, '');
    if (stale?.effect === 'allow') await this.#abandon(stale);
    const approvalId = this.#isReview(record) ? record.decision.approval?.id : undefined;
    if (!record || typeof approvalId !== 'string') {
      const context = runContext ? this.#context(runContext) : this.#warden.context();
      const d = await this.#warden.check(call, { context, ...this.#estimate(input) });
      return authorizedOr(this.#warden, this.#tool, d, 'this run carries no Warden approval for the call');
    }
    // Whatever the SDK was told, the call runs only if Warden redeems the approval given in Warden: the
    // engine binds it to this session, tool and arguments, and lets it be used once.
    const go = await this.#warden.check(call, {
      context: record.context,
      approvalId,
      ...this.#estimate(input),
    });
    return authorizedOr(this.#warden, this.#tool, go, 'the run went on before a decision was made in Warden');
  }

  /**
   * Ends an allowed decision whose call is not the one being executed (the model changed the arguments):
   * recorded as not run, so the trail says so and its budget reservation is released now rather than
   * charged at its estimate when the lease runs out.
   */
  async #abandon(decision: CallDecision): Promise<void> {
    await this.#warden.complete(decision.callId, {
      status: 'error',
      error: 'not run: the arguments executed differ from the ones decided; the call was decided anew',
    });
  }

  /**
   * A review record of this tool: the only kind read from the run context. It can only hold the call for
   * a human; it runs only if Warden redeems its approval for exactly this call.
   */
  #isReview(record: WardenCallRecord | undefined): record is WardenCallRecord {
    return (
      typeof record === 'object' &&
      record !== null &&
      record.tool === this.#tool &&
      record.decision?.effect === 'review'
    );
  }

  #hold(runContext: RunContext<Context>, callId: string, held: HeldDecision): void {
    let calls = this.#held.get(runContext);
    if (!calls) {
      calls = new Map();
      this.#held.set(runContext, calls);
    }
    calls.set(callId, held);
  }

  /** The held decision for the call, removed: it serves one execution. */
  #take(runContext: RunContext<Context>, callId: string): HeldDecision | undefined {
    const calls = this.#held.get(runContext);
    const held = calls?.get(callId);
    calls?.delete(callId);
    return held;
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

async function withdraw(warden: Warden, approvalId: string, reason: string): Promise<void> {
  try {
    await warden.cancelApproval(approvalId, reason);
  } catch {
    // Decided or expired meanwhile: nothing is left to withdraw.
  }
}

/** The call as JSON, to tell whether a held decision was made for it (none is, if it has no JSON). */
function fingerprint(call: GovernedCall): string | undefined {
  try {
    return JSON.stringify(call);
  } catch {
    return undefined;
  }
}

/** Whether the held decision was made for exactly this call: same tool, arguments, target and labels. */
function heldFor(held: HeldDecision | undefined, call: GovernedCall): held is HeldDecision {
  return held?.call !== undefined && held.call === fingerprint(call);
}

/** The parsed input is the call's arguments; anything else (a JSON-schema tool's value) goes under `input`. */
function argsOf(input: unknown): Record<string, unknown> {
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    return input as Record<string, unknown>;
  }
  return { input };
}
