import { evaluate, type ToolCall } from '@warden/core';
import { callActor } from './call-events.js';
import { releaseNow, reserveFor } from './check/budget-admission.js';
import type { CheckDeps } from './check/check-deps.js';
import type { UsageEstimate } from './check/check-types.js';
import { WARDEN } from './check/engine-decision.js';
import { pauseLater } from './check/pause-session.js';
import { sameRequirements } from './check/redeem-approval.js';
import { sessionBlock } from './check/session-gate.js';

/** Whether a call whose approval was just decided may go ahead, and if not, why. */
export type ProceedAnswer =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly code: string; readonly reason: string };

/**
 * Whether a call whose approval was just decided may go ahead: its session must still be open and the
 * policy in force must not now block it or require a different review. Uses the approval for the call
 * when it may; otherwise says why not. For a caller that waited for the decision with the call in hand.
 */
export async function proceedApproved(
  deps: CheckDeps,
  input: ToolCall,
  approvalId: string,
  callId: string,
  estimate: UsageEstimate,
  options: { readonly keyId?: string },
): Promise<ProceedAnswer> {
  const port = deps.port;
  const session = input.session ? await port.store.getSession(input.session) : undefined;
  const stopped = sessionBlock(session);
  if (stopped) return { allowed: false, ...stopped };
  const decision = evaluate(port.policy(), { ...input, now: new Date() });
  const a = await deps.approvals.get(approvalId);
  if (decision.effect === 'block') {
    return {
      allowed: false,
      code: 'APPROVAL_MISMATCH',
      reason: `the policy now blocks this call: ${decision.reasons.join('; ')}`,
    };
  }
  if (decision.effect === 'review' && !sameRequirements(a, decision)) {
    return {
      allowed: false,
      code: 'APPROVAL_MISMATCH',
      reason: 'the review requirements changed since the request opened; ask again',
    };
  }
  const gate = await reserveFor(
    deps,
    callId,
    {
      agent: input.agent,
      session: a.session,
      tool: input.tool,
      ...(input.labels ? { labels: input.labels } : {}),
    },
    estimate,
    new Date(),
  );
  if (!gate.ok && port.policy().mode !== 'monitor') {
    if (gate.code === 'BUDGET_EXCEEDED') {
      const exceeded = port.event('budget.exceeded', WARDEN, {
        agent: input.agent,
        session: a.session,
        tool: input.tool,
        callId,
        data: { ...(gate.budget ?? {}), reason: gate.reason, paused: gate.spent === true },
      });
      // Only a pause is news for a person: a call that merely does not fit is the caller's answer, and
      // notifying each one would let an agent retrying such calls flood every webhook. Recorded, not sent.
      if (gate.spent) await pauseLater(port, a.session, input.agent, gate.code, gate.reason, [exceeded]);
      else await port.commit({ events: [exceeded] });
    }
    return { allowed: false, code: gate.code, reason: gate.reason };
  }
  try {
    await deps.approvals.use(approvalId, callId, callActor({ agent: input.agent, ...options }));
  } catch (err) {
    if (gate.ok && gate.reservationId) {
      const call = { callId, ts: new Date().toISOString(), agent: input.agent, session: a.session };
      await releaseNow(port, gate.reservationId, call, 'the approval could not be used');
    }
    throw err;
  }
  return { allowed: true };
}
