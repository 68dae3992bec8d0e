import {
  type Actor,
  type AuditEvent,
  approvalLetsRun,
  isWardenError,
  uuidv7,
  WardenError,
} from '@warden/core';
import type { CommitResult } from '../store/store.js';
import { afterCompletion } from './after-settlement.js';
import { type CallOutcome, callActor, completedEvent } from './call-events.js';
import type { CheckDeps } from './check/check-deps.js';
import type { CompleteOptions } from './check/check-types.js';
import { sessionBlock } from './check/session-gate.js';

/**
 * Records how an allowed call ended, settling its budgets in the same commit. Throws CALL_NOT_FOUND,
 * CALL_NOT_RUNNABLE, CALL_ALREADY_COMPLETED or CALL_VOIDED. With `agent`, another agent's call is
 * CALL_NOT_FOUND: an agent learns nothing about others' calls.
 */
export async function completeCall(
  deps: CheckDeps,
  callId: string,
  outcome: CallOutcome,
  agent: string | undefined,
  options: CompleteOptions,
): Promise<{ auditSeq: number; decided: AuditEvent }> {
  if (outcome.status !== 'ok' && outcome.status !== 'error') {
    throw new WardenError('CALL_INVALID', 'outcome.status must be "ok" or "error"');
  }
  const store = deps.port.store;
  const { decided, completed, voided } = await store.findCall(callId);
  if (!decided || (agent !== undefined && decided.event.agent !== agent)) {
    throw new WardenError('CALL_NOT_FOUND', `no decided call has id ${callId}`);
  }
  if (completed) throw new WardenError('CALL_ALREADY_COMPLETED', `call ${callId} was already completed`);
  if (voided) throw callVoided(callId, voided.seq);
  // Its caller was answered STORE_UNAVAILABLE although the decision landed: void it first, never complete it.
  if (deps.unanswered.has(callId)) await refuseUnanswered(deps, callId);
  if (decided.event.decision?.meteredBy === 'proxy' && options.meteredBy !== 'proxy') {
    throw new WardenError(
      'CALL_NOT_RUNNABLE',
      `call ${callId} is an LLM request the metering proxy forwarded; the proxy settles it from the provider's usage`,
    );
  }
  const effect = decided.event.decision?.effect;
  const by = options.keyId
    ? callActor({ agent: decided.event.agent ?? '', keyId: options.keyId })
    : undefined;
  if (effect === 'review') await useOwnApproval(deps, callId, decided.event, by);
  else if (effect !== 'allow') {
    throw new WardenError('CALL_NOT_RUNNABLE', `call ${callId} was not allowed (${effect})`);
  }
  const ts = new Date().toISOString();
  const usage = deps.budgets.price(outcome.usage);
  const priced = usage ? { ...outcome, usage } : outcome;
  const event = completedEvent(deps.eventContext(), decided.event, priced, ts, uuidv7(), by);
  let settle = await deps.budgets.settlement(decided.event, usage, ts);
  let result: CommitResult;
  for (let attempt = 0; ; attempt++) {
    try {
      result = await deps.port.commit({
        events: [event],
        ...(settle ? { mutations: [settle.mutation] } : {}),
      });
      break;
    } catch (err) {
      const budgetConflict = isWardenError(err, 'BUDGET_CONFLICT');
      const ended = isWardenError(err, 'CALL_VOIDED') || isWardenError(err, 'CALL_ALREADY_COMPLETED');
      if (!budgetConflict && !ended) throw err;
      const now = await store.findCall(callId);
      if (now.voided) throw callVoided(callId, now.voided.seq);
      // The lease sweep charged the reservation meanwhile: settle again, on top of that charge.
      if (budgetConflict && attempt === 0 && !now.completed) {
        settle = await deps.budgets.settlement(decided.event, usage, ts);
        continue;
      }
      // Ended meanwhile (the database allows one completion or void per call), or settled by a
      // concurrent completion of the same call.
      throw new WardenError('CALL_ALREADY_COMPLETED', `call ${callId} was already completed`);
    }
  }
  await afterCompletion(deps, decided.event, usage, settle?.lines);
  return { auditSeq: (result.events[0] as { seq: number }).seq, decided: decided.event };
}

/** Voids a decision whose caller was answered STORE_UNAVAILABLE (as far as the database can tell now); always throws CALL_VOIDED. */
async function refuseUnanswered(deps: CheckDeps, callId: string): Promise<never> {
  await deps.unanswered.resolve(true);
  const { voided } = await deps.port.store.findCall(callId);
  if (voided) throw callVoided(callId, voided.seq);
  throw new WardenError(
    'CALL_VOIDED',
    `call ${callId} may not run or be completed: its caller was answered STORE_UNAVAILABLE, and its decision is voided once the database can tell it landed`,
  );
}

/** Completing a reviewed call uses its approval; refused unless the approval lets it run. */
async function useOwnApproval(
  deps: CheckDeps,
  callId: string,
  decided: AuditEvent,
  by?: Actor,
): Promise<void> {
  const store = deps.port.store;
  // The approval the call opened, or the one it presented (a redeem that waited for the decision).
  const presented = decided.decision?.approvalId;
  const a = presented ? await store.approval(presented) : await store.approvalByCall(callId);
  if (a?.status === 'used' && a.usedByCall === callId) return;
  if (a && approvalLetsRun(a)) {
    // Used here without the call in hand (its arguments are stored redacted): the session must still be
    // open and the policy the one it was approved under; otherwise present it again with approvalId.
    const stopped = sessionBlock(await store.getSession(a.session));
    if (stopped) throw new WardenError('CALL_NOT_RUNNABLE', stopped.reason, { code: stopped.code });
    if (deps.port.policy().version !== a.policyVersion) {
      throw new WardenError(
        'CALL_NOT_RUNNABLE',
        `the policy changed since approval ${a.id} was granted; present the call again with approvalId to have it checked under the policy in force`,
        { approvalId: a.id },
      );
    }
    await deps.approvals.use(a.id, callId, by);
    return;
  }
  throw new WardenError(
    'CALL_NOT_RUNNABLE',
    `call ${callId} is held for review and its approval is ${a?.status ?? 'missing'}; it may not run`,
    a ? { approvalId: a.id, status: a.status } : {},
  );
}

function callVoided(callId: string, seq: number): WardenError {
  return new WardenError(
    'CALL_VOIDED',
    `call ${callId} was voided (audit event ${seq}): its caller was answered STORE_UNAVAILABLE, so it may not run or be completed`,
    { voidedSeq: seq },
  );
}
