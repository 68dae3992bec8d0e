import {
  type Actor,
  type AuditEvent,
  BUNDLED_PRICES,
  type BudgetCounter,
  type BudgetLine,
  type BudgetMetric,
  type BudgetScope,
  type BudgetWindow,
  budgetLines,
  type CompiledBudget,
  type Consumption,
  DEFAULT_TOKEN_ESTIMATE,
  effectiveLimit,
  isWardenError,
  type MeteredCall,
  type PriceTable,
  type ReservationRecord,
  type ReserveOutcome,
  reserveAmounts,
  settleAmounts,
  type Usage,
  usdOf,
  WardenError,
} from '@warden/core';
import { outboxFor } from '../approval/approval-events.js';
import type { EnginePort } from '../engine/engine-port.js';
import type { Mutation } from '../store/store.js';

/** A counter as people read it. */
export interface BudgetStatus {
  readonly key: string;
  readonly budgetId: string;
  readonly scope: BudgetScope;
  readonly scopeKey: string;
  readonly metric: BudgetMetric;
  readonly window: BudgetWindow;
  readonly windowStart: string;
  readonly windowEnd: string | null;
  readonly limit: number;
  readonly used: number;
  readonly reserved: number;
  readonly remaining: number;
  /** used / limit. */
  readonly ratio: number;
  /** The highest alert threshold (percent) announced in this window. */
  readonly alerted: number;
  readonly updatedAt: string;
}

export interface BudgetServiceOptions {
  readonly prices?: PriceTable;
  /**
   * How long a reservation holds before the sweep charges it at its estimate (a caller that crashed, hung
   * up or never completes: it was admitted, so it may have spent it).
   */
  readonly leaseMs?: number;
  /** Input tokens reserved for a call whose estimate names no tokens and no cost. */
  readonly defaultTokenEstimate?: number;
  /**
   * What follows a charge to budget lines (thresholds announced, a breach pausing the session): the
   * engine's, run by the sweep after each expiry charge as after a completion's settlement.
   */
  readonly afterCharge?: (lines: readonly BudgetLine[], call: ChargedTo, callId: string) => Promise<void>;
}

/** Whose spend a charge is: the session paused on a breach, and named in alerts. */
export type ChargedTo = Pick<MeteredCall, 'agent' | 'session'>;

/** The reservation of a call: one per call, so completion and approval paths find it without a lookup. */
export function reservationIdOf(callId: string): string {
  return `res_${callId}`;
}

/**
 * Budgets in the engine: reserve before a call, settle after, release what was abandoned, announce soft
 * thresholds once per window, and pause the session on a hard breach. The counters live in the store, so
 * every instance enforces the same limit.
 */
export class BudgetService {
  readonly prices: PriceTable;
  readonly leaseMs: number;
  readonly defaultTokenEstimate: number;
  readonly #engine: EnginePort;
  readonly #afterCharge: NonNullable<BudgetServiceOptions['afterCharge']>;

  constructor(engine: EnginePort, options: BudgetServiceOptions = {}) {
    this.#engine = engine;
    this.#afterCharge =
      options.afterCharge ?? (async (lines, call) => void (await this.afterSettle(lines, call)));
    this.prices = options.prices ?? BUNDLED_PRICES;
    this.leaseMs = options.leaseMs ?? 10 * 60_000;
    this.defaultTokenEstimate = options.defaultTokenEstimate ?? DEFAULT_TOKEN_ESTIMATE;
  }

  /** The lines a call draws on with what to reserve for it; empty when no budget applies. PRICE_UNKNOWN. */
  plan(call: MeteredCall, estimate: Consumption, now: number): BudgetLine[] {
    const lines = budgetLines(this.#engine.policy().budgets, call, now, this.#engine.policy().redactFields);
    return lines.length ? reserveAmounts(lines, estimate, this.prices, this.defaultTokenEstimate) : lines;
  }

  /** Reserves `lines` for call `callId`, atomically across instances, in a transaction of its own. */
  reserve(
    callId: string,
    call: MeteredCall,
    lines: readonly BudgetLine[],
    now: Date,
  ): Promise<ReserveOutcome> {
    return this.#engine.store.reserve(this.reservation(callId, call, lines, now));
  }

  /** The reservation of `lines` for call `callId`, held for a lease from `now` (a decision's commit admits it). */
  reservation(callId: string, call: MeteredCall, lines: readonly BudgetLine[], now: Date): ReservationRecord {
    const ts = now.toISOString();
    return {
      id: reservationIdOf(callId),
      callId,
      session: call.session,
      agent: call.agent,
      lines,
      state: 'held',
      createdAt: ts,
      leaseUntil: new Date(now.getTime() + this.leaseMs).toISOString(),
      updatedAt: ts,
    };
  }

  /** Usage with its cost priced from the table when a model is named and no cost was reported. */
  price(usage: Usage | undefined): Usage | undefined {
    if (!usage?.model || usage.costUsd !== undefined) return usage;
    const usd = usdOf(usage, this.prices);
    return usd === undefined ? usage : { ...usage, costUsd: usd, priceVersion: this.prices.version };
  }

  /**
   * The settle mutation of a completed call: its reservation's lines (or, for a call that reserved
   * nothing, the lines it draws on now) with the actual usage. A call completed after its lease ran out
   * was already charged its estimate by the sweep: it adds only what it used beyond that (never less:
   * counters only grow). Undefined when no budget applies.
   */
  async settlement(
    decided: AuditEvent,
    usage: Usage | undefined,
    ts: string,
  ): Promise<{ mutation: Mutation; lines: BudgetLine[] } | undefined> {
    const callId = decided.callId as string;
    const held = await this.#engine.store.reservation(reservationIdOf(callId));
    const lines =
      held?.lines ??
      budgetLines(
        this.#engine.policy().budgets,
        {
          agent: decided.agent as string,
          session: decided.session as string,
          tool: decided.tool as string,
          ...(decided.labels ? { labels: decided.labels } : {}),
        },
        Date.parse(decided.ts),
        this.#engine.policy().redactFields,
      );
    if (lines.length === 0) return undefined;
    const reserved = new Map((held?.lines ?? []).map((l) => [l.key, l.amount]));
    const settled = settleAmounts(lines, usage ?? {}, this.prices, reserved);
    // Charged at its estimate by the sweep: only the excess is added. One settled by a completion of this
    // call keeps its id, so the store refuses a second settlement of it (BUDGET_CONFLICT).
    const expired = held?.state === 'expired';
    const charged = expired
      ? settled.map((l) => ({ ...l, amount: Math.max(0, l.amount - (reserved.get(l.key) ?? 0)) }))
      : settled;
    return {
      lines: settled,
      mutation: {
        kind: 'budget.settle',
        reservationId: held && !expired ? held.id : null,
        callId,
        lines: charged,
        priceVersion: this.prices.version,
        ts,
      },
    };
  }

  /**
   * After a settlement: announces each soft threshold the counters crossed (once per window, whichever
   * instance gets there first) and reports a hard breach (usage over the limit, when the actual usage
   * exceeded the estimate) so the caller can pause the session.
   */
  async afterSettle(lines: readonly BudgetLine[], call: ChargedTo): Promise<BudgetCounter | undefined> {
    const store = this.#engine.store;
    const counters = await store.budgetCounters({ keys: lines.map((l) => l.key), limit: lines.length });
    let breached: BudgetCounter | undefined;
    for (const c of counters) {
      const limit = effectiveLimit(c);
      const budget = this.#engine.policy().budgets.budgets.get(c.budgetId);
      const pct = (c.used / limit) * 100;
      const crossed = (budget?.alerts ?? []).filter((t) => pct >= t && t > c.alerted);
      const threshold = crossed.at(-1);
      if (threshold !== undefined) await this.#alert(c, threshold, call);
      if (c.used > limit && !breached) breached = c;
    }
    return breached;
  }

  async #alert(c: BudgetCounter, threshold: number, call: ChargedTo): Promise<void> {
    const ts = new Date().toISOString();
    const event = this.#engine.event(
      'budget.alert',
      { kind: 'system', id: 'warden' },
      {
        ts,
        agent: call.agent,
        session: call.session,
        data: {
          budgetId: c.budgetId,
          scopeKey: c.scopeKey,
          metric: c.metric,
          threshold,
          used: c.used,
          limit: effectiveLimit(c),
          windowStart: c.windowStart,
          windowEnd: c.windowEnd,
        },
      },
    );
    try {
      await this.#engine.commit({
        events: [event],
        mutations: [
          { kind: 'budget.alert', key: c.key, threshold, ts },
          ...outboxFor(this.#engine.notificationTargets, event, null),
        ],
      });
    } catch (err) {
      // Another instance announced it (or a higher threshold) first: once per window is kept.
      if (!isWardenError(err, 'BUDGET_CONFLICT')) throw err;
    }
  }

  /**
   * Charges reservations whose lease ran out at their estimate (`budget.expired`): the call was admitted
   * and never completed, so it may have spent all of it. Releasing them instead would hand an agent that
   * never completes its limit back every lease. A completion arriving later adds what it used beyond.
   */
  async sweep(now = new Date()): Promise<{ charged: number }> {
    const store = this.#engine.store;
    const expired = await store.expiredReservations(now.toISOString(), 200);
    let charged = 0;
    for (const r of expired) {
      const event = this.#engine.event(
        'budget.expired',
        { kind: 'system', id: 'warden' },
        {
          agent: r.agent,
          session: r.session,
          callId: r.callId,
          data: {
            reservationId: r.id,
            leaseUntil: r.leaseUntil,
            reason: 'charged at its estimate: the call was never completed before its lease ran out',
            lines: r.lines.map((l) => ({ budgetId: l.budgetId, scopeKey: l.scopeKey, amount: l.amount })),
          },
        },
      );
      try {
        await this.#engine.commit({
          events: [event],
          mutations: [{ kind: 'budget.expire', ids: [r.id], now: now.toISOString() }],
        });
        charged++;
      } catch (err) {
        if (!isWardenError(err, 'BUDGET_CONFLICT')) throw err;
        continue;
      }
      // An expiry charge is spend like a settlement: its thresholds are announced and a breach pauses,
      // or an agent that never completes would cross them unheard.
      await this.#afterCharge(r.lines, { agent: r.agent, session: r.session }, r.callId);
    }
    return { charged };
  }

  /** Counters of the current windows, as people read them, filtered by agent, session or budget. */
  async status(q: { agent?: string; session?: string; budgetId?: string } = {}): Promise<BudgetStatus[]> {
    const now = new Date().toISOString();
    let scopeKeys: string[] | undefined;
    if (q.session !== undefined) {
      const s = await this.#engine.store.getSession(q.session);
      if (!s) throw new WardenError('SESSION_NOT_FOUND', `no session has id ${q.session}`);
      scopeKeys = [`session:${s.id}`, ...this.#agentScopes(s.agent)];
    } else if (q.agent !== undefined) {
      scopeKeys = this.#agentScopes(q.agent);
    }
    const counters = await this.#engine.store.budgetCounters({
      ...(scopeKeys ? { scopeKeys } : {}),
      ...(q.budgetId ? { budgetId: q.budgetId } : {}),
      activeAt: now,
      limit: 1_000,
    });
    return counters.map((c) => this.#status(c));
  }

  #agentScopes(agent: string): string[] {
    const budgets = this.#engine.policy().budgets.forAgent(agent).budgets;
    return [
      `agent:${agent}`,
      ...budgets.filter((b) => b.scope === 'team').map((b) => `team:${b.team}`),
      ...(budgets.some((b) => b.scope === 'global') ? ['global'] : []),
    ];
  }

  #status(c: BudgetCounter): BudgetStatus {
    const budget = this.#engine.policy().budgets.budgets.get(c.budgetId);
    const limit = c.limitOverride ?? budget?.limit ?? c.limit;
    return {
      key: c.key,
      budgetId: c.budgetId,
      scope: budget?.scope ?? scopeOfKey(c.scopeKey),
      scopeKey: c.scopeKey,
      metric: c.metric,
      window: c.window,
      windowStart: c.windowStart,
      windowEnd: c.windowEnd,
      limit,
      used: c.used,
      reserved: c.reserved,
      remaining: Math.max(0, limit - c.used - c.reserved),
      ratio: limit > 0 ? c.used / limit : 0,
      alerted: c.alerted,
      updatedAt: c.updatedAt,
    };
  }

  /**
   * What raising budget limits on a session's resume writes: for each budget, the limit of the session's
   * current counter of it. BUDGET_NOT_FOUND for a budget the policy in force does not give this session;
   * BUDGET_SHARED for one shared beyond the session.
   */
  async raise(
    session: { id: string; agent: string },
    raises: readonly { budget: string; limit: number }[],
    by: Actor,
  ): Promise<{ mutations: Mutation[]; events: AuditEvent[] }> {
    const now = Date.now();
    const mutations: Mutation[] = [];
    const events: AuditEvent[] = [];
    const own = this.#engine.policy().budgets.forAgent(session.agent).budgets;
    for (const r of raises) {
      const budget: CompiledBudget | undefined = own.find((b) => b.id === r.budget);
      if (!budget) {
        const known = own.map((b) => b.id).join(', ') || 'none';
        throw new WardenError(
          'BUDGET_NOT_FOUND',
          `session ${session.id} (agent ${session.agent}) has no budget "${r.budget}" in the policy in force (its budgets: ${known})`,
          { budget: r.budget },
        );
      }
      // A shared limit raised through one session would lift it for every session drawing on it,
      // including the resumer's own: only a policy change (an admin's, recorded) may do that.
      if (budget.scope !== 'session') {
        throw new WardenError(
          'BUDGET_SHARED',
          `budget ${budget.id} is shared (scope ${budget.scope}); a resume raises only session budgets, so change its limit in the policy`,
          { budget: budget.id, scope: budget.scope },
        );
      }
      if (!(r.limit > 0) || !Number.isFinite(r.limit)) {
        throw new WardenError('REQUEST_INVALID', `the new limit of ${r.budget} must be a positive number`);
      }
      const scopes = [`session:${session.id}`];
      const current = await this.#engine.store.budgetCounters({
        budgetId: budget.id,
        scopeKeys: scopes,
        activeAt: new Date(now).toISOString(),
        limit: 100,
      });
      const ts = new Date(now).toISOString();
      for (const c of current) {
        const line: BudgetLine = {
          key: c.key,
          budgetId: c.budgetId,
          scopeKey: c.scopeKey,
          metric: c.metric,
          window: c.window,
          windowStart: c.windowStart,
          windowEnd: c.windowEnd,
          limit: budget.limit,
          amount: 0,
        };
        // Thresholds are shares of the limit: under the new one, only those it still crosses count as said.
        const alerted = budget.alerts.filter((t) => (c.used / r.limit) * 100 >= t).at(-1) ?? 0;
        mutations.push({ kind: 'budget.limit', line, limit: r.limit, alerted, ts });
        events.push(
          this.#engine.event('budget.raised', by, {
            ts,
            agent: session.agent,
            session: session.id,
            data: {
              budgetId: c.budgetId,
              scopeKey: c.scopeKey,
              windowStart: c.windowStart,
              from: effectiveLimit(c),
              to: r.limit,
            },
          }),
        );
      }
    }
    return { mutations, events };
  }
}

/** The scope of a counter whose budget the policy no longer has, from its key (`agent:x` → agent). */
function scopeOfKey(scopeKey: string): BudgetScope {
  const kind = scopeKey.split(':')[0];
  return kind === 'session' || kind === 'agent' || kind === 'team' || kind === 'tag' ? kind : 'global';
}
