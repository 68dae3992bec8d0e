import type { BudgetRefusal } from '@warden/api';
import type { ApprovalRecord, Decision, Effect } from '@warden/core';

/** Codes for decisions the engine makes without consulting the policy. */
export type EngineBlockCode =
  | 'CALL_INVALID'
  | 'SESSION_FOREIGN'
  | 'SESSION_PAUSED'
  | 'SESSION_CLOSED'
  | 'STORE_UNAVAILABLE'
  | 'APPROVAL_NOT_FOUND'
  | 'APPROVAL_MISMATCH'
  | 'APPROVAL_DECIDED'
  | 'BUDGET_EXCEEDED'
  | 'RUNAWAY_DETECTED'
  | 'PRICE_UNKNOWN'
  | 'ESTIMATE_UNBOUNDED'
  | 'TASK_TOKEN_INVALID'
  | 'TASK_TOKEN_MISMATCH'
  | 'IDENTITY_REQUIRED'
  | 'INTERNAL';

/** What a call or LLM request may consume, reserved against its budgets before it runs. */
export interface UsageEstimate {
  readonly model?: string;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly costUsd?: number;
  /** Usage already spent (reported after the fact): reserve nothing, even for an all-zero estimate. */
  readonly spent?: boolean;
  /** Why the cost cannot be bounded: refused by a tokens or USD budget (ESTIMATE_UNBOUNDED). */
  readonly unbounded?: string;
}

/** Options of one check. */
export interface CheckOptions {
  /** Redeem this approved request: the call must match the approved one exactly (session, tool, arguments). */
  readonly approvalId?: string;
  /** What the call may consume; reserved in every budget that applies before it is allowed. */
  readonly estimate?: UsageEstimate;
  /**
   * `proxy`: the LLM metering proxy decides this request and settles it from the provider's own usage;
   * the agent cannot complete it (it would report its own usage).
   */
  readonly meteredBy?: 'proxy';
  /** The API key the agent called with: recorded in the actor of every event the call makes. */
  readonly keyId?: string;
  /**
   * The task token the call came with (Warden-Task-Token): the call's session, initiator and delegation
   * chain are the token's; a body that disagrees is blocked TASK_TOKEN_MISMATCH, a bad token
   * TASK_TOKEN_INVALID (both recorded, with `identity.refused`).
   */
  readonly taskToken?: string;
}

/** Options of one completion. */
export interface CompleteOptions {
  /** The LLM metering proxy settling a request it forwarded (required for those). */
  readonly meteredBy?: 'proxy';
  /** The API key the agent completed with: recorded in the actor of the completion. */
  readonly keyId?: string;
}

/** The budget that refused a call (code BUDGET_EXCEEDED): a wire shape, defined in @warden/api. */
export type { BudgetRefusal };

/** The answer to `check`: what the caller must do, why, and where it is recorded. */
export interface CheckResult {
  readonly callId: string;
  readonly session: string;
  readonly effect: Effect;
  readonly policyEffect: Effect;
  readonly ruleId: string | null;
  readonly matchedRuleIds: readonly string[];
  readonly reasons: readonly string[];
  readonly policyVersion: string;
  readonly approvals: Decision['approvals'];
  /** Set when the engine blocked before or regardless of the policy. */
  readonly code?: EngineBlockCode;
  /** The approval request a review opened (pending), or the approved one this call redeemed. */
  readonly approval?: {
    readonly id: string;
    readonly status: ApprovalRecord['status'];
    readonly expiresAt: string;
  };
  /** The grant that lifted the default block. */
  readonly grantId?: string;
  /** The budget reservation an allowed call holds until it completes (or its lease runs out). */
  readonly reservationId?: string;
  /** Set with code BUDGET_EXCEEDED. */
  readonly budget?: BudgetRefusal;
  /** The sequence number of the decision's audit event; absent only when the store was unavailable. */
  readonly auditSeq?: number;
}
