import type { ApprovalRecord, Usage } from '@warden/core';

/** What a call may consume at most, reserved in every budget that applies before it runs. */
export interface UsageEstimate {
  readonly model?: string;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly costUsd?: number;
  /** Usage already spent (what `recordUsage` reports): nothing is reserved for it. */
  readonly spent?: true;
}

/**
 * The budget that refused a call (code BUDGET_EXCEEDED), as the HTTP API sends it. Kept here, not
 * imported from `@warden/engine`, so a remote client's types never reach the engine (an optional peer);
 * EngineTransport returning the engine's CheckResult as a CallDecision keeps the two in step.
 */
export interface BudgetRefusal {
  readonly budgetId: string;
  readonly scopeKey: string;
  readonly metric: string;
  readonly limit: number;
  readonly used: number;
  readonly reserved: number;
  readonly requested: number;
}

/** A tool call as the SDK sends it; the agent is always the client's own (bound to its key). */
export interface CallRequest {
  readonly tool: string;
  readonly args?: Readonly<Record<string, unknown>>;
  readonly session?: string;
  readonly target?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly triggeredBy?: string;
  readonly delegationChain?: readonly string[];
}

/** Options of one check. */
export interface CheckRequestOptions {
  /** Redeem this approved request for the same call. */
  readonly approvalId?: string;
  readonly estimate?: UsageEstimate;
}

/** The decision Warden returned for a call (the engine's CheckResult, as the HTTP API serialises it). */
export interface CallDecision {
  readonly callId: string;
  readonly session: string;
  readonly effect: 'allow' | 'review' | 'block';
  readonly policyEffect: 'allow' | 'review' | 'block';
  readonly ruleId: string | null;
  readonly reasons: readonly string[];
  readonly policyVersion: string;
  /** Set when the engine blocked regardless of the policy (SESSION_PAUSED, BUDGET_EXCEEDED, …). */
  readonly code?: string;
  readonly approval?: {
    readonly id: string;
    readonly status: ApprovalRecord['status'];
    readonly expiresAt: string;
  };
  readonly reservationId?: string;
  /** With code BUDGET_EXCEEDED: the budget that would have gone over. */
  readonly budget?: BudgetRefusal;
  readonly auditSeq?: number;
}

/** How a call ended, recorded once in the audit trail (redacted and capped there). */
export interface CallResult {
  readonly status: 'ok' | 'error';
  readonly result?: unknown;
  readonly error?: string;
  readonly durationMs?: number;
  readonly usage?: Usage;
}

/** An approval request as the waiting agent sees it. */
export interface ApprovalState {
  readonly id: string;
  readonly status: ApprovalRecord['status'];
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
  waitForApproval(approvalId: string, ms: number, signal?: AbortSignal): Promise<ApprovalState>;
  /** Withdraws a pending request the agent no longer waits for. */
  cancelApproval(approvalId: string, reason: string): Promise<void>;
  /**
   * The tools, of those named, that the policy does not certainly block for this agent (or that a grant
   * of the session lifts).
   */
  visibleTools(tools: readonly string[], session?: string): Promise<readonly string[]>;
  close(): Promise<void>;
}
