import type {
  ApprovalStatus,
  CheckRequest,
  CheckResponse,
  CompleteRequest,
  DeepReadonly,
  UsageEstimate,
} from '@warden/api';
import type { DelegatedToken, StartedTask, StartTaskOptions } from './task-token.js';

/**
 * What a call may consume at most, reserved in every budget that applies before it runs; `spent: true`
 * for usage already spent (what `recordUsage` reports): nothing is reserved for it. The API's type.
 */
export type { UsageEstimate };

/**
 * A tool call as the SDK sends it (POST /v1/calls without the options): the agent is always the client's
 * own (bound to its key).
 */
export type CallRequest = DeepReadonly<Omit<CheckRequest, 'agent' | 'wait' | 'approvalId' | 'estimate'>>;

/** Options of one check. */
export interface CheckRequestOptions {
  /** Redeem this approved request for the same call. */
  readonly approvalId?: string;
  readonly estimate?: UsageEstimate;
  /** The task token the call is made under (sent as `Warden-Task-Token`; the engine's `taskToken`). */
  readonly taskToken?: string;
}

/** Options of one approval wait. */
export interface WaitOptions {
  /** The task token of the waiting call (sent as `Warden-Task-Token`). */
  readonly taskToken?: string;
}

/** The decision Warden returned for a call: the answer of POST /v1/calls, as @warden/api defines it. */
export type CallDecision = CheckResponse;

/** How a call ended (POST /v1/calls/:id/complete), recorded once in the audit trail (redacted and capped there). */
export type CallResult = DeepReadonly<CompleteRequest>;

/** An approval request as the waiting agent sees it. */
export interface ApprovalState {
  readonly id: string;
  readonly status: ApprovalStatus;
  readonly expiresAt: string;
  readonly decidedBy?: string | null;
  readonly reason?: string | null;
  /** What the rule said happens when nobody decides in time. */
  readonly onTimeout?: 'block' | 'allow';
}

/** Whether a decided request lets its call go ahead: approved, or expired under `onTimeout: allow`. */
export function approvalLetsCallRun(a: ApprovalState): boolean {
  return a.status === 'approved' || (a.status === 'expired' && a.onTimeout === 'allow');
}

/**
 * The seam between the SDK and a Warden: over HTTP to a server (`HttpTransport`), or straight to an
 * engine in this process (`EngineTransport`: embedded mode and the server's own MCP endpoint).
 */
export interface WardenTransport {
  /** The agent every call is made as. */
  readonly agent: string;
  check(call: CallRequest, options?: CheckRequestOptions): Promise<CallDecision>;
  complete(callId: string, result: CallResult): Promise<void>;
  /** Waits up to `ms` for the request to leave `pending`; returns it as it then stands. */
  waitForApproval(
    approvalId: string,
    ms: number,
    signal?: AbortSignal,
    options?: WaitOptions,
  ): Promise<ApprovalState>;
  /** Withdraws a pending request the agent no longer waits for. */
  cancelApproval(approvalId: string, reason: string): Promise<void>;
  /**
   * The tools, of those named, that the policy does not certainly block for this agent (or that a grant
   * of the session lifts).
   */
  visibleTools(tools: readonly string[], session?: string): Promise<readonly string[]>;
  close(): Promise<void>;
  /** Starts a task for an agent (POST /v1/tasks; `engine.tasks.start` embedded). */
  startTask?(options: StartTaskOptions): Promise<StartedTask>;
  /** Exchanges the holder's task token for a token of `actor`, one link further down the chain (RFC 8693). */
  delegateTask?(subjectToken: string, actor: string, ttlSeconds?: number): Promise<DelegatedToken>;
  /** The same Warden, as another agent: its own key remotely, its name embedded. */
  asAgent?(agent: string, key?: string): WardenTransport;
}
