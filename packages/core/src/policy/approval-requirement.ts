import type { ApprovalRequirement } from './compiled-policy.js';
import { parseDuration } from './duration.js';
import type { ApprovalSpec, ApproverSet } from './policy-schema.js';

/** What a review needs when the policy says nothing: one approver-role human, 30 minutes, then block. */
export const BUILTIN_APPROVAL: ApprovalRequirement = {
  approvers: { roles: ['approver'], principals: [], groups: [], agents: [] },
  quorum: 1,
  requireEach: [],
  denyThreshold: 1,
  timeoutMs: 30 * 60_000,
  onTimeout: 'block',
  requireReason: false,
};

function approverSet(set: ApproverSet): ApprovalRequirement['approvers'] {
  return {
    roles: set.roles ?? [],
    principals: set.principals ?? [],
    groups: set.groups ?? [],
    agents: set.agents ?? [],
  };
}

/** Resolves a spec over a base requirement: every field the spec sets replaces the base's. */
export function resolveApproval(
  base: ApprovalRequirement,
  spec: ApprovalSpec | undefined,
): ApprovalRequirement {
  if (!spec) return base;
  const escalate = spec.escalate
    ? { afterMs: parseDuration(spec.escalate.after) ?? 0, to: approverSet(spec.escalate.to) }
    : base.escalate;
  return {
    approvers: spec.approvers ? approverSet(spec.approvers) : base.approvers,
    quorum: spec.quorum ?? base.quorum,
    requireEach: spec.requireEach ?? base.requireEach,
    denyThreshold: spec.denyThreshold ?? base.denyThreshold,
    timeoutMs: spec.timeout !== undefined ? (parseDuration(spec.timeout) ?? base.timeoutMs) : base.timeoutMs,
    onTimeout: spec.onTimeout ?? base.onTimeout,
    requireReason: spec.requireReason ?? base.requireReason,
    ...(escalate ? { escalate } : {}),
  };
}
