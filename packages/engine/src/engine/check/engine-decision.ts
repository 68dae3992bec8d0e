import type { BudgetRefusal } from '@warden/api';
import {
  type Actor,
  type ApprovalRecord,
  type CompiledPolicy,
  type Decision,
  isWardenError,
  WARDEN_ACTOR,
  WardenError,
} from '@warden/core';
import type { CheckResult, EngineBlockCode } from './check-types.js';

/** A decision as the check steps pass it along: the policy's, or the engine's own, with what it carries. */
export type EngineDecision = Omit<Decision, 'conditionErrors' | 'approval'> & {
  code?: EngineBlockCode;
  grantId?: string;
  approvalId?: string;
  reservationId?: string;
  budget?: BudgetRefusal;
  meteredBy?: 'proxy';
};

/** Warden itself, the actor of what the engine records on its own account (pauses, trips, releases). */
export const WARDEN: Actor = WARDEN_ACTOR;

/** A block the engine decides without consulting the policy. */
export function engineDecision(
  policy: CompiledPolicy,
  code: EngineBlockCode,
  reason: string,
): EngineDecision {
  return {
    effect: 'block',
    policyEffect: 'block',
    mode: policy.mode,
    ruleId: null,
    matchedRuleIds: [],
    reasons: [reason],
    policyVersion: policy.version,
    approvals: undefined,
    code,
  };
}

/** The answer to the caller for a recorded decision (`auditSeq` absent only when nothing was recorded). */
export function resultOf(
  callId: string,
  session: string,
  d: EngineDecision,
  auditSeq: number | undefined,
  approval?: ApprovalRecord,
): CheckResult {
  return {
    callId,
    session,
    effect: d.effect,
    policyEffect: d.policyEffect,
    ruleId: d.ruleId,
    matchedRuleIds: d.matchedRuleIds,
    reasons: d.reasons,
    policyVersion: d.policyVersion,
    approvals: d.approvals,
    ...(d.code ? { code: d.code } : {}),
    ...(auditSeq !== undefined ? { auditSeq } : {}),
    ...(approval
      ? { approval: { id: approval.id, status: approval.status, expiresAt: approval.expiresAt } }
      : {}),
    ...(d.grantId ? { grantId: d.grantId } : {}),
    ...(d.reservationId ? { reservationId: d.reservationId } : {}),
    ...(d.budget ? { budget: d.budget } : {}),
  };
}

/** The answer when the decision could not be recorded: a block, since nothing unrecorded may run. */
export function unavailable(
  err: unknown,
  callId: string,
  session: string,
  policy: CompiledPolicy,
): CheckResult {
  const werr = isWardenError(err) ? err : new WardenError('INTERNAL', String(err));
  const code = werr.code === 'STORE_UNAVAILABLE' ? 'STORE_UNAVAILABLE' : 'INTERNAL';
  const reason =
    werr.code === 'STORE_UNAVAILABLE'
      ? 'the audit store is unavailable, so nothing can be recorded: blocked until it returns'
      : `the decision could not be recorded (${werr.code}), so the call is blocked`;
  return resultOf(callId, session, engineDecision(policy, code, reason), undefined);
}

/** Any failure as a WardenError (INTERNAL when it is not one), for the error reporter. */
export function asWardenError(err: unknown): WardenError {
  return isWardenError(err) ? err : new WardenError('INTERNAL', String(err));
}
