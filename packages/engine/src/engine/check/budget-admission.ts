import type { BudgetRefusal } from '@warden/api';
import { type BudgetLine, isWardenError, type MeteredCall } from '@warden/core';
import { reservationIdOf } from '../../budget/budget-service.js';
import type { Mutation } from '../../store/store.js';
import type { DecidedCall } from '../call-events.js';
import type { EnginePort } from '../engine-port.js';
import type { CheckDeps } from './check-deps.js';
import type { CheckResult, UsageEstimate } from './check-types.js';
import { type EngineDecision, engineDecision, WARDEN } from './engine-decision.js';
import { recordPausing } from './pause-session.js';
import { type RecordExtra, recordDecision } from './record-decision.js';

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

/**
 * Records an allowed call once its budgets admit it: with its reservation, or, when a budget would go
 * over, as a block, which pauses the session when the budget is spent (in monitor mode: allowed, with
 * what would have happened).
 * `extra` (e.g. using an approval) is written only when the call is admitted.
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
  const gate = await reserveFor(deps, call.callId, metered, estimate ?? {}, new Date(call.ts));
  if (gate.ok) {
    if (!gate.reservationId) return recordDecision(deps, call, decision, ensure, extra);
    try {
      return await recordDecision(
        deps,
        call,
        { ...decision, reservationId: gate.reservationId },
        ensure,
        extra,
      );
    } catch (err) {
      await releaseNow(deps.port, gate.reservationId, call, 'the decision could not be recorded');
      throw err;
    }
  }
  if (decision.mode === 'monitor') {
    const reasons = [...decision.reasons, `monitor mode: would be blocked (${gate.code}): ${gate.reason}`];
    return recordDecision(deps, call, { ...decision, reasons }, ensure, extra);
  }
  const stop: EngineDecision = {
    ...engineDecision(deps.port.policy(), gate.code, gate.reason),
    ...(gate.budget ? { budget: gate.budget } : {}),
  };
  if (gate.code === 'PRICE_UNKNOWN' || gate.code === 'ESTIMATE_UNBOUNDED')
    return recordDecision(deps, call, stop, ensure);
  // A call that merely does not fit is refused in its own decision (BUDGET_EXCEEDED, with the budget):
  // no budget.exceeded and no notification per refusal, which an agent looping such calls would flood.
  if (!gate.spent) return recordDecision(deps, call, stop, ensure);
  const exceeded = deps.port.event('budget.exceeded', WARDEN, {
    ts: call.ts,
    agent: call.agent,
    session: call.session,
    tool: call.tool,
    callId: call.callId,
    data: { ...(gate.budget ?? {}), reason: gate.reason, paused: true },
  });
  return recordPausing(deps, call, stop, ensure, [exceeded]);
}

/**
 * Reserves what a call may spend in every budget that applies to it. PRICE_UNKNOWN when a USD budget
 * applies and the model cannot be priced; BUDGET_EXCEEDED names the first budget that would go over.
 */
export async function reserveFor(
  deps: Pick<CheckDeps, 'budgets'>,
  callId: string,
  call: MeteredCall,
  estimate: UsageEstimate,
  now: Date,
): Promise<BudgetGate> {
  let lines: BudgetLine[];
  try {
    lines = deps.budgets.plan(call, estimate, now.getTime());
  } catch (err) {
    if (isWardenError(err, 'PRICE_UNKNOWN')) return { ok: false, code: 'PRICE_UNKNOWN', reason: err.message };
    if (isWardenError(err, 'ESTIMATE_UNBOUNDED'))
      return { ok: false, code: 'ESTIMATE_UNBOUNDED', reason: err.message };
    throw err;
  }
  if (lines.length === 0) return { ok: true };
  const outcome = await deps.budgets.reserve(callId, call, lines, now);
  if (outcome.ok) return { ok: true, reservationId: reservationIdOf(callId) };
  const { line, used, reserved, limit } = outcome;
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
