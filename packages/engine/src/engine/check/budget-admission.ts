import type { BudgetRefusal } from '@warden/api';
import { type BudgetLine, isWardenError, type MeteredCall, type ReservationRecord } from '@warden/core';
import { reservationIdOf } from '../../budget/budget-service.js';
import type { Mutation, ReserveRefusal } from '../../store/store.js';
import type { DecidedCall } from '../call-events.js';
import type { EnginePort } from '../engine-port.js';
import type { CheckDeps } from './check-deps.js';
import type { CheckResult, UsageEstimate } from './check-types.js';
import { type EngineDecision, engineDecision, WARDEN } from './engine-decision.js';
import { pauseOf } from './pause-session.js';
import { type DecisionUnit, decisionUnit, type RecordExtra, recordDecision } from './record-decision.js';

/** Whether a call may spend: admitted (with its reservation, when a budget applies) or why not. */
export type BudgetGate =
  | { readonly ok: true; readonly reservationId?: string }
  | {
      readonly ok: false;
      readonly code: 'BUDGET_EXCEEDED' | 'PRICE_UNKNOWN' | 'ESTIMATE_UNBOUNDED';
      readonly reason: string;
      /** With BUDGET_EXCEEDED: whether the budget is spent (the session pauses) or only this call does not fit. */
      readonly spent?: boolean;
      readonly budget?: BudgetRefusal;
    };

/** A gate that refused. */
export type BudgetRefused = Extract<BudgetGate, { ok: false }>;

/**
 * Records an allowed call once its budgets admit it, in one commit: the reservation is admitted inside
 * the decision's transaction, and when a budget would go over, the block recorded in its place (built
 * from the refusal, in the same commit) pauses the session when the budget is spent (in monitor mode:
 * allowed, with what would have happened, and nothing paused).
 * `extra` (e.g. using an approval) is written only when the call is admitted (or, in monitor mode, allowed).
 */
export async function admitBudget(
  deps: CheckDeps,
  call: DecidedCall,
  decision: EngineDecision,
  ensure: Mutation[],
  estimate: UsageEstimate | undefined,
  extra: RecordExtra = {},
): Promise<CheckResult> {
  if (decision.effect !== 'allow' || decision.code || call.tool === undefined) {
    return recordDecision(deps, call, decision, ensure, extra);
  }
  const metered: MeteredCall = {
    agent: call.agent,
    session: call.session,
    tool: call.tool,
    ...(call.labels ? { labels: call.labels } : {}),
  };
  const now = new Date(call.ts);
  const planned = planLines(deps, metered, estimate ?? {}, now);
  if (!Array.isArray(planned)) {
    if (decision.mode === 'monitor')
      return recordDecision(deps, call, wouldBlock(decision, planned), ensure, extra);
    return recordDecision(deps, call, blockFor(deps, planned), ensure);
  }
  if (planned.length === 0) return recordDecision(deps, call, decision, ensure, extra);
  const reservation = deps.budgets.reservation(call.callId, metered, planned, now);
  return recordReserving(deps, call, decision, ensure, extra, reservation, true);
}

/**
 * The decision recorded with its reservation. Refused, the block pauses the session when the budget is
 * spent; when another call paused it meanwhile (SESSION_STATE), recorded again without a pause.
 */
async function recordReserving(
  deps: CheckDeps,
  call: DecidedCall,
  decision: EngineDecision,
  ensure: Mutation[],
  extra: RecordExtra,
  reservation: ReservationRecord,
  pause: boolean,
): Promise<CheckResult> {
  let pausing = false;
  try {
    return await recordDecision(deps, call, { ...decision, reservationId: reservation.id }, ensure, extra, {
      reservation,
      onRefused: (refused) => {
        const built = refusedDecision(deps, call, decision, ensure, extra, refusedGate(refused), pause);
        pausing = built.pausing;
        return built;
      },
    });
  } catch (err) {
    // The failed commit left no reservation: the call is decided again, its budgets asked again.
    if (!pausing || !isWardenError(err, 'SESSION_STATE')) throw err;
    return recordReserving(deps, call, decision, ensure, extra, reservation, false);
  }
}

/**
 * The decision recorded when a budget refuses an allowed call: in monitor mode the call as allowed (with
 * `extra`), with what would have happened; otherwise a block carrying the budget, which pauses the
 * session (with `pause`) when the budget is spent, recorded with budget.exceeded. A call that merely
 * does not fit is refused in its own decision: no budget.exceeded and no notification per refusal, which
 * an agent looping such calls would flood.
 */
function refusedDecision(
  deps: CheckDeps,
  call: DecidedCall,
  decision: EngineDecision,
  ensure: Mutation[],
  extra: RecordExtra,
  gate: BudgetRefused,
  pause: boolean,
): DecisionUnit & { readonly pausing: boolean } {
  if (decision.mode === 'monitor') {
    return { ...decisionUnit(deps, call, wouldBlock(decision, gate), ensure, extra), pausing: false };
  }
  const stop = blockFor(deps, gate);
  if (gate.code !== 'BUDGET_EXCEEDED' || !gate.spent) {
    return { ...decisionUnit(deps, call, stop, ensure), pausing: false };
  }
  const exceeded = deps.port.event('budget.exceeded', WARDEN, {
    ts: call.ts,
    agent: call.agent,
    session: call.session,
    tool: call.tool,
    callId: call.callId,
    data: { ...(gate.budget ?? {}), reason: gate.reason, paused: true },
  });
  const parts = pauseOf(deps, call, stop, [exceeded], pause);
  return { ...decisionUnit(deps, call, stop, [...ensure, ...parts.mutations], parts.extra), pausing: pause };
}

/** Monitor mode: the call allowed, with what would have happened. */
function wouldBlock(decision: EngineDecision, gate: BudgetRefused): EngineDecision {
  const reasons = [...decision.reasons, `monitor mode: would be blocked (${gate.code}): ${gate.reason}`];
  return { ...decision, reasons };
}

/** The block a refused gate records, carrying the budget. */
function blockFor(deps: CheckDeps, gate: BudgetRefused): EngineDecision {
  return {
    ...engineDecision(deps.port.policy(), gate.code, gate.reason),
    ...(gate.budget ? { budget: gate.budget } : {}),
  };
}

/** The lines a call draws on with what to reserve in each, or why its spend cannot be reserved. */
function planLines(
  deps: Pick<CheckDeps, 'budgets'>,
  call: MeteredCall,
  estimate: UsageEstimate,
  now: Date,
): BudgetLine[] | BudgetRefused {
  try {
    return deps.budgets.plan(call, estimate, now.getTime());
  } catch (err) {
    if (isWardenError(err, 'PRICE_UNKNOWN')) return { ok: false, code: 'PRICE_UNKNOWN', reason: err.message };
    if (isWardenError(err, 'ESTIMATE_UNBOUNDED'))
      return { ok: false, code: 'ESTIMATE_UNBOUNDED', reason: err.message };
    throw err;
  }
}

/**
 * Reserves what a call may spend in every budget that applies to it, in a transaction of its own (a
 * call going ahead outside a decision: an approved call proceeding). PRICE_UNKNOWN when a USD budget
 * applies and the model cannot be priced; BUDGET_EXCEEDED names the first budget that would go over.
 */
export async function reserveFor(
  deps: Pick<CheckDeps, 'budgets'>,
  callId: string,
  call: MeteredCall,
  estimate: UsageEstimate,
  now: Date,
): Promise<BudgetGate> {
  const lines = planLines(deps, call, estimate, now);
  if (!Array.isArray(lines)) return lines;
  if (lines.length === 0) return { ok: true };
  const outcome = await deps.budgets.reserve(callId, call, lines, now);
  if (outcome.ok) return { ok: true, reservationId: reservationIdOf(callId) };
  return refusedGate(outcome);
}

/** What a refused reservation means for the call: BUDGET_EXCEEDED, naming the budget and its figures. */
export function refusedGate(refused: ReserveRefusal): BudgetRefused {
  const { line, used, reserved, limit } = refused;
  // Spent, the session pauses. Otherwise only this call's estimate does not fit beside what calls in
  // flight hold (and may settle lower): it is refused, and a smaller call may still go ahead. For calls,
  // admission is the spend, so a call that does not fit means the budget is spent.
  const spent = line.metric === 'calls' || used >= limit;
  const unit = line.metric === 'usd' ? ' USD' : line.metric === 'tokens' ? ' tokens' : ' calls';
  const window = line.window === 'session' ? 'this session' : `the ${line.window} from ${line.windowStart}`;
  return {
    ok: false,
    code: 'BUDGET_EXCEEDED',
    spent,
    reason: `budget ${line.budgetId} (${line.scopeKey}) would go over its limit of ${limit}${unit} for ${window}: ${used} used, ${reserved} reserved, ${line.amount} more asked`,
    budget: {
      budgetId: line.budgetId,
      scopeKey: line.scopeKey,
      metric: line.metric,
      limit,
      used,
      reserved,
      requested: line.amount,
    },
  };
}

/**
 * Gives back a reservation at once when the call it was made for will not run (its decision could not
 * be recorded), instead of holding the budget until the lease runs out. Best effort: when the store is
 * what failed, the lease sweep releases it later.
 */
export async function releaseNow(
  port: EnginePort,
  reservationId: string,
  call: Pick<DecidedCall, 'callId' | 'agent' | 'session'>,
  why: string,
): Promise<void> {
  try {
    const held = await port.store.reservation(reservationId);
    if (held?.state !== 'held') return;
    await port.commit({
      events: [
        port.event('budget.released', WARDEN, {
          agent: call.agent,
          session: call.session,
          callId: call.callId,
          data: { reservationId, reason: why },
        }),
      ],
      // Released as if its lease had ended now: the mutation releases only leases that have ended.
      mutations: [{ kind: 'budget.release', ids: [reservationId], now: held.leaseUntil }],
    });
  } catch {
    // The sweep releases it when the lease ends.
  }
}
