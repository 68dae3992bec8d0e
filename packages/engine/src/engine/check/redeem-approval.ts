import {
  type ApprovalRecord,
  approvalLetsRun,
  canonicalJson,
  dueAction,
  isWardenError,
  type ToolCall,
  toJsonSafe,
  useApproval,
  voidApproval,
} from '@warden/core';
import { approvalEvent } from '../../approval/approval-events.js';
import type { Mutation } from '../../store/store.js';
import { argsFingerprint, callActor, callFingerprint, type DecidedCall } from '../call-events.js';
import { admitBudget } from './budget-admission.js';
import type { CheckDeps } from './check-deps.js';
import type { CheckResult, EngineBlockCode, UsageEstimate } from './check-types.js';
import { type EngineDecision, engineDecision } from './engine-decision.js';
import { type RecordExtra, recordDecision } from './record-decision.js';

/**
 * A call presented with an approval: allowed once if it is the approved call (same session, tool and
 * arguments) and the policy does not now block it; a changed call voids the approval. Budgets still
 * apply: an approved call that would go over is refused and the approval stays unused.
 */
export async function redeemApproval(
  deps: CheckDeps,
  call: DecidedCall,
  tool: ToolCall,
  decision: EngineDecision,
  ensure: Mutation[],
  approvalId: string,
  estimate: UsageEstimate | undefined,
): Promise<CheckResult> {
  // The policy in force now wins: a call it blocks stays blocked, whatever was approved.
  if (decision.effect === 'block') return recordDecision(deps, call, { ...decision, approvalId }, ensure);
  for (let attempt = 0; ; attempt++) {
    const stored = await deps.port.store.approval(approvalId);
    // A request whose time ran out is expired first, as every other channel sees it.
    const a =
      stored && dueAction(stored, new Date()) === 'expire' ? await deps.approvals.get(approvalId) : stored;
    const now = new Date();
    const block = (code: EngineBlockCode, reason: string, extra?: RecordExtra) =>
      recordDecision(
        deps,
        call,
        { ...engineDecision(deps.port.policy(), code, reason), approvalId },
        ensure,
        extra,
      );
    if (!a || a.agent !== tool.agent) {
      return block('APPROVAL_NOT_FOUND', `no approval request ${approvalId} belongs to agent ${tool.agent}`);
    }
    const differs = [
      a.session !== call.session && 'session',
      a.tool !== tool.tool && 'tool',
      a.argsHmac !== argsFingerprint(deps.hmacKey, tool.args) && 'arguments',
      a.callHmac !== undefined &&
        a.callHmac !== callFingerprint(deps.hmacKey, call) &&
        'target, labels, triggeredBy or delegation chain',
    ].filter(Boolean);
    // A review the policy now words differently (more approvers, other groups) needs a new approval.
    if (differs.length === 0 && decision.effect === 'review' && !sameRequirements(a, decision)) {
      differs.push('review requirements (the policy changed since it was approved)');
    }
    try {
      if (differs.length > 0) {
        const reason = `the ${differs.join(' and ')} ${differs.length === 1 ? 'differs' : 'differ'} from the approved call; approval ${a.id} is void, ask again`;
        if (a.status !== 'approved') return await block('APPROVAL_MISMATCH', reason);
        const voided = voidApproval(a, reason, now);
        const ev = approvalEvent(
          'approval.voided',
          voided,
          callActor(call),
          deps.port.instanceId,
          voided.updatedAt,
          {
            reason,
            presentedBy: call.callId,
          },
        );
        return await block('APPROVAL_MISMATCH', reason, {
          events: [ev],
          mutations: [{ kind: 'approval.save', approval: voided, expectVersion: a.version }],
        });
      }
      if (a.status === 'pending') {
        return await recordDecision(deps, call, { ...decision, effect: 'review', approvalId: a.id }, ensure, {
          approval: a,
        });
      }
      if (!approvalLetsRun(a)) {
        return await block('APPROVAL_DECIDED', `approval ${a.id} is ${a.status}; the call may not run`);
      }
      let used: ApprovalRecord;
      try {
        used = useApproval(a, call.callId, now);
      } catch (err) {
        // Approved but left unused past its window: stale, like a denied one.
        if (isWardenError(err, 'APPROVAL_DECIDED')) return await block('APPROVAL_DECIDED', err.message);
        throw err;
      }
      const approvers = a.votes.filter((v) => v.vote === 'approve').map((v) => v.principal);
      const allow: EngineDecision = {
        ...decision,
        effect: 'allow',
        ruleId: a.ruleId,
        reasons: [`approved by ${approvers.join(', ') || a.decidedBy || 'expiry'} (approval ${a.id})`],
        approvalId: a.id,
      };
      const ev = approvalEvent('approval.used', used, callActor(call), deps.port.instanceId, used.updatedAt, {
        usedByCall: call.callId,
      });
      return await admitBudget(deps, call, allow, ensure, estimate, {
        events: [ev],
        mutations: [{ kind: 'approval.save', approval: used, expectVersion: a.version }],
        approval: used,
      });
    } catch (err) {
      if (!isWardenError(err, 'APPROVAL_CONFLICT') || attempt >= 8) throw err;
    }
  }
}

/** Whether the review the policy now asks for is the one the approval was granted under. */
export function sameRequirements(a: ApprovalRecord, d: Pick<EngineDecision, 'approvals'>): boolean {
  return canonicalJson(toJsonSafe(a.requirements)) === canonicalJson(toJsonSafe(d.approvals ?? []));
}
