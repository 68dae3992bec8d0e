import { type ApprovalRecord, type AuditEvent, type ReservationRecord, uuidv7 } from '@warden/core';
import { outboxFor, requestedEvent } from '../../approval/approval-events.js';
import type { CommitResult, CommitUnit, Mutation, ReserveRefusal } from '../../store/store.js';
import { commitInDoubt } from '../../store/store-errors.js';
import { callActor, callFingerprint, type DecidedCall, decidedEvent } from '../call-events.js';
import type { CheckDeps } from './check-deps.js';
import type { CheckResult } from './check-types.js';
import { type EngineDecision, resultOf } from './engine-decision.js';
import { approvalFor } from './open-approval.js';

/** What a decision's commit carries besides the decision itself. */
export interface RecordExtra {
  readonly events?: AuditEvent[];
  readonly mutations?: Mutation[];
  readonly approval?: ApprovalRecord;
}

/** A decision's unit, built without writing, with what answering the caller needs once it lands. */
export interface DecisionUnit {
  readonly unit: CommitUnit;
  readonly decision: EngineDecision;
  readonly approval: ApprovalRecord | undefined;
}

/**
 * A reservation the decision's commit admits (budget admission): when it is refused, `onRefused`'s
 * decision is recorded in the same commit instead, built from the refusal.
 */
export interface DecisionReservation {
  readonly reservation: ReservationRecord;
  readonly onRefused: (refused: ReserveRefusal) => DecisionUnit;
}

/**
 * The last step of every check: the decision's event, with what it carries (the session row, a pause,
 * an approval used or opened, a budget reservation), in one commit; the caller is answered only once it
 * is durable. A review opens its approval request in the same commit: no call is ever held without one.
 */
export async function recordDecision(
  deps: CheckDeps,
  call: DecidedCall,
  decision: EngineDecision,
  mutations: CommitUnit['mutations'],
  extra: RecordExtra = {},
  reserving?: DecisionReservation,
): Promise<CheckResult> {
  const built = decisionUnit(deps, call, decision, mutations, extra);
  // Set by the commit, synchronously, when the reservation is refused: the decision recorded instead.
  let instead: DecisionUnit | undefined;
  const unit: CommitUnit = reserving
    ? {
        ...built.unit,
        reserve: reserving.reservation,
        onRefused: (refused) => {
          instead = reserving.onRefused(refused);
          return instead.unit;
        },
      }
    : built.unit;
  let result: CommitResult;
  try {
    result = await deps.port.commit(unit);
  } catch (err) {
    // The caller is about to be answered STORE_UNAVAILABLE; if the decision landed anyway, void it.
    const doubt = commitInDoubt(err);
    if (doubt) deps.unanswered.track(call.callId, doubt);
    throw err;
  }
  const answered = result.refused && instead ? instead : built;
  const seq = (result.events[0] as { seq: number }).seq;
  return resultOf(call.callId, call.session, answered.decision, seq, answered.approval);
}

/** The unit recording `decision` (its event first), built without writing. */
export function decisionUnit(
  deps: CheckDeps,
  call: DecidedCall,
  decision: EngineDecision,
  mutations: CommitUnit['mutations'],
  extra: RecordExtra = {},
): DecisionUnit {
  const opening = decision.effect === 'review' && !decision.approvalId;
  const approvalId = opening ? `apr_${uuidv7()}` : decision.approvalId;
  const event = decidedEvent(deps.eventContext(), call, decision, {
    ...(decision.code ? { code: decision.code } : {}),
    policyVersion: decision.policyVersion,
    ...(decision.grantId ? { grantId: decision.grantId } : {}),
    ...(approvalId ? { approvalId } : {}),
    ...(decision.reservationId ? { reservationId: decision.reservationId } : {}),
    ...(decision.meteredBy ? { meteredBy: decision.meteredBy } : {}),
  });
  const events = [event, ...(extra.events ?? [])];
  const all = [...(mutations ?? []), ...(extra.mutations ?? [])];
  let approval = extra.approval;
  if (opening && approvalId) {
    approval = approvalFor(
      deps.port.policy(),
      approvalId,
      event,
      decision,
      callFingerprint(deps.hmacKey, call),
    );
    const requested = requestedEvent(approval, deps.port.instanceId, callActor(call));
    events.push(requested);
    all.push({ kind: 'approval.save', approval, expectVersion: null });
    all.push(...outboxFor(deps.port.notificationTargets, requested, approvalId));
  }
  return { unit: { events, ...(all.length ? { mutations: all } : {}) }, decision, approval };
}
