import { type ApprovalRecord, type AuditEvent, type CompiledPolicy, openApproval } from '@warden/core';
import type { EngineDecision } from './engine-decision.js';

/**
 * The approval request a review opens, built from the decision's own event (its stored, redacted
 * arguments) and bound to the call's fingerprint: only that exact call can redeem it.
 */
export function approvalFor(
  policy: CompiledPolicy,
  id: string,
  event: AuditEvent,
  decision: EngineDecision,
  callHmac: string,
): ApprovalRecord {
  return openApproval({
    id,
    callId: event.callId as string,
    agent: event.agent as string,
    session: event.session as string,
    tool: event.tool as string,
    args: event.args ?? {},
    argsHmac: event.argsHmac as string,
    callHmac,
    ...(event.flags?.length ? { argsFlags: event.flags } : {}),
    target: event.target ?? null,
    ruleId: decision.ruleId,
    policyVersion: decision.policyVersion,
    reasons: decision.reasons,
    triggeredBy: event.triggeredBy ?? null,
    delegationChain: event.delegationChain ?? [],
    requirements: decision.approvals?.length ? decision.approvals : [policy.defaultApproval],
    approverGroups: policy.approverGroups,
    now: new Date(event.ts),
  });
}
