import type { Usage, WardenError } from '@warden/core';
import type { CallContext } from './call-context.js';
import type { CallDecision, UsageEstimate } from './warden-transport.js';

/** A call to authorize: the tool, its arguments and anything beyond the context. */
export interface GovernedCall {
  readonly tool: string;
  readonly args?: Readonly<Record<string, unknown>>;
  readonly target?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** Tells the caller a call is held for a human, and until when. */
export interface ApprovalPending {
  readonly approvalId: string;
  readonly callId: string;
  readonly session: string;
  readonly tool: string;
  readonly expiresAt: string;
  readonly reasons: readonly string[];
}

/** Options of one governed call. */
export interface AuthorizeOptions {
  /** The context of this call; its fields win over `withContext` and the client's defaults. */
  readonly context?: CallContext;
  /** What the call may consume, reserved in every budget that applies before it runs. */
  readonly estimate?: UsageEstimate;
  /** How long to wait for a review's decision (default: until the request expires, at most 15 minutes). */
  readonly approvalTimeoutMs?: number;
  /** Aborts the wait for approval (the request is withdrawn) or the call before it runs. */
  readonly signal?: AbortSignal;
  /** Called once when the call is held for review, before waiting. */
  readonly onApprovalPending?: (pending: ApprovalPending) => void;
}

/** A call Warden allowed: run it, then report how it ended with `complete`. */
export interface Authorized {
  readonly callId: string;
  readonly session: string;
  readonly decision: CallDecision;
  /** Set when the call waited for a human's approval. */
  readonly approvalId?: string;
}

/** Options of `run` and `guard`: how the call's outcome is reported. */
export interface RunOptions<R> extends AuthorizeOptions {
  /** Usage to report with the result (tokens, cost), for budgets. */
  readonly usage?: (result: R) => Usage | undefined;
  /** A result that reports a failure (an MCP result with isError): its message; recorded as an error. */
  readonly failed?: (result: R) => string | undefined;
  /**
   * Hand the result back without waiting for its record to commit (the decision always commits before
   * the call runs). `close` waits for records still in flight; a crash in between loses the result's
   * record, never the decision. For proxies whose callers wait on every millisecond (the MCP gateway).
   */
  readonly recordInBackground?: boolean;
}

/** Options of `guard`: how the wrapped function's parameters become the call Warden decides. */
export interface GuardOptions<P extends unknown[], R> extends Omit<RunOptions<R>, 'estimate'> {
  /** The tool name the policy sees; default the guard's name. */
  readonly tool?: string;
  /** The call's arguments; default the first parameter when it is an object, else `{ args: [...] }`. */
  readonly args?: (...params: P) => Record<string, unknown>;
  readonly target?: string | ((...params: P) => string | undefined);
  readonly labels?: Readonly<Record<string, string>>;
  readonly estimate?: UsageEstimate | ((...params: P) => UsageEstimate | undefined);
}

/** A model call's usage, reported after the fact (`recordUsage`). */
export interface ModelUsage {
  readonly model: string;
  /** `openai`, `anthropic`, …: the call is `llm:<provider>`, as the LLM metering proxy names it. */
  readonly provider?: string;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly cachedTokens?: number;
  readonly costUsd?: number;
}

/** Options of a Warden client. */
export interface WardenClientOptions {
  /** Defaults for every call; without a session, the client makes one (`sdk-<uuid>`) for its lifetime. */
  readonly context?: CallContext;
  /**
   * The task token every call of this client carries (the agent was handed it by whoever started the
   * task): the session, initiator and delegation chain are then the token's, verified by Warden.
   */
  readonly taskToken?: string;
  /** Default wait for approvals (ms). */
  readonly approvalTimeoutMs?: number;
  /** Failures with no caller to go to: a completion that could not be recorded after the tool ran. */
  readonly onError?: (err: WardenError) => void;
}
