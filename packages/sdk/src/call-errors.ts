import { ERROR_CODES, type ErrorCode, WardenError } from '@warden/core';
import type { ApprovalState, CallDecision, CallRequest } from './warden-transport.js';

/**
 * The error a refused call raises: the engine's own code when it blocked regardless of the policy
 * (SESSION_PAUSED, BUDGET_EXCEEDED, RUNAWAY_DETECTED, …), else CALL_BLOCKED. The message is written
 * for the agent's model to read: what was refused and why.
 */
export function blockedError(call: CallRequest, d: CallDecision): WardenError {
  const code: ErrorCode = d.code && d.code in ERROR_CODES ? (d.code as ErrorCode) : 'CALL_BLOCKED';
  const why = d.reasons.length > 0 ? d.reasons.join('; ') : 'no rule allows it';
  return new WardenError(code, `Warden blocked ${call.tool}: ${why}`, {
    callId: d.callId,
    session: d.session,
    tool: call.tool,
    ruleId: d.ruleId,
    reasons: d.reasons,
    ...(d.approval ? { approvalId: d.approval.id } : {}),
    ...(d.budget ? { budget: d.budget } : {}),
  });
}

/** The error of a call whose approval was denied, expired or cancelled. */
export function notApprovedError(call: CallRequest, d: CallDecision, a: ApprovalState): WardenError {
  const by = a.decidedBy ? ` by ${a.decidedBy}` : '';
  const why = a.reason ? `: ${a.reason}` : '';
  return new WardenError(
    'APPROVAL_DENIED',
    `Warden did not approve ${call.tool}: it was ${a.status}${by}${why}`,
    {
      callId: d.callId,
      session: d.session,
      tool: call.tool,
      approvalId: a.id,
      status: a.status,
      decidedBy: a.decidedBy ?? null,
    },
  );
}
