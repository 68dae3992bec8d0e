import {
  type AuditEvent,
  type BudgetLine,
  type ErrorCode,
  isWardenError,
  type ReservationRecord,
  type ReserveOutcome,
  uuidv7,
  WardenError,
} from '@warden/core';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withClient } from '../../test-support/postgres-server.js';
import { DIALECTS, decided, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import { GroupCommitter } from './group-committer.js';
import { openStore } from './open-store.js';
import { CHAIN_CHANNEL } from './postgres/postgres-listener.js';
import { sessionRollupQuery, sessionUsageOf } from './rollups/session-rollup.js';
import type { CommitResult, CommitUnit, Mutation, NotificationRecord, RefusedUnit, Store } from './store.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
/** An ISO timestamp `minutes` after T0 (fixed-width, so text order is time order). */
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

/** A line on an hourly `calls` counter of agent billing-agent for the hour from T0, unless overridden. */
function line(over: Partial<BudgetLine> = {}): BudgetLine {
  const l = {
    budgetId: 'calls-hourly',
    scopeKey: 'agent:billing-agent',
    metric: 'calls' as const,
    window: 'hour' as const,
    windowStart: at(0),
    windowEnd: at(60),
    limit: 20,
    amount: 1,
    ...over,
  };
  return { ...l, key: over.key ?? `${l.budgetId}|${l.scopeKey}|${l.windowStart}` };
}

/** A session-window line of session `session`. */
function sessionLine(session: string, over: Partial<BudgetLine> = {}): BudgetLine {
  return line({
    budgetId: 'session-usd',
    scopeKey: `session:${session}`,
    metric: 'usd',
    window: 'session',
    windowStart: 'session',
    windowEnd: null,
    ...over,
  });
}

function reservation(lines: readonly BudgetLine[], over: Partial<ReservationRecord> = {}): ReservationRecord {
  return {
    id: `res_${uuidv7()}`,
    callId: uuidv7(),
    session: 's-1',
    agent: 'billing-agent',
    lines,
    state: 'held',
    createdAt: at(0),
    leaseUntil: at(5),
    updatedAt: at(0),
    ...over,
  };
}

type Settle = Extract<Mutation, { kind: 'budget.settle' }>;

function settle(
  r: ReservationRecord | null,
  lines: readonly BudgetLine[],
  over: Partial<Settle> = {},
): Settle {
  return {
    kind: 'budget.settle',
    reservationId: r?.id ?? null,
    callId: r?.callId ?? uuidv7(),
    lines,
    priceVersion: '2026-03',
    ts: at(1),
    ...over,
  };
}

/** An event to commit beside budget mutations, as the engine would. */
const budgetEvent = (type: AuditEvent['type'] = 'budget.released') => decided({ type, decision: undefined });

/** Sums with 1e-9 rounding, as the expectation of counters built from decimal amounts. */
const sum = (xs: readonly number[]) => Math.round(xs.reduce((a, b) => a + b, 0) * 1e9) / 1e9;

/** The two ways a reservation is made: a reserve of its own, or inside a commit unit that carries it. */
const RESERVE_DOORS = ['Store.reserve', 'a commit unit'] as const;

/** A unit recording a call allowed with reservation `r`, and recording it blocked when refused. */
function reservingUnit(r: ReservationRecord): CommitUnit {
  const callId = r.callId;
  return {
    reserve: r,
    events: [decided({ callId, id: callId })],
    onRefused: (refused) => ({
      events: [
        decided({
          callId,
          id: callId,
          decision: {
            effect: 'block',
            policyEffect: 'allow',
            mode: 'enforce',
            ruleId: null,
            matchedRuleIds: [],
            reasons: [`budget ${refused.line.budgetId} would go over`],
            code: 'BUDGET_EXCEEDED',
          },
        }),
      ],
    }),
  };
}

/** Reserves `r` through `door`, with what Store.reserve would answer. */
async function reserveThrough(
  door: (typeof RESERVE_DOORS)[number],
  store: Store,
  r: ReservationRecord,
): Promise<ReserveOutcome> {
  if (door === 'Store.reserve') return store.reserve(r);
  const [result] = await store.commit([reservingUnit(r)]);
  return result?.refused ?? { ok: true };
}

/** The budget store contract: the same against SQLite and a real PostgreSQL. */
describe.each(DIALECTS)('Store contract: budgets (%s)', (dialect) => {
  let fx: StoreFixture;
  beforeEach(async () => {
    fx = await freshStore(dialect);
  });
  afterEach(async () => {
    await fx?.dispose();
  });

  const apply = (mutations: Mutation[], store: Store = fx.store) =>
    store.commit([{ mutations, events: [budgetEvent()] }]);
  const counter = async (key: string, store: Store = fx.store) =>
    (await store.budgetCounters({ keys: [key], limit: 1 }))[0];
  /** Expects the commit to be refused with `code`, its events unwritten. */
  const refused = async (commit: () => Promise<unknown>, code: ErrorCode, message?: RegExp) => {
    const head = await fx.store.head();
    const err = await commit().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isWardenError(err, code), String(err)).toBe(true);
    if (message) expect((err as Error).message).toMatch(message);
    expect(await fx.store.head()).toEqual(head);
  };

  // Store.reserve's rules, held by both doors: a reserve of its own, and a unit's reservation in a commit.
  describe.each(RESERVE_DOORS)('reserving through %s', (door) => {
    const reserve = (r: ReservationRecord) => reserveThrough(door, fx.store, r);
    it('reserves up to the limit and refuses past it, naming the line and the counter figures', async () => {
      const l = line({ amount: 5 });
      const held: ReservationRecord[] = [];
      for (let i = 0; i < 4; i++) {
        const r = reservation([l]);
        expect(await reserve(r)).toEqual({ ok: true });
        held.push(r);
      }
      const over = reservation([line({ amount: 1 })]);
      expect(await reserve(over)).toEqual({
        ok: false,
        line: line({ amount: 1 }),
        used: 0,
        reserved: 20,
        limit: 20,
      });
      expect(await fx.store.reservation(over.id)).toBeUndefined();
      expect(await fx.store.reservation(held[0]?.id as string)).toEqual(held[0]);
      expect(await counter(l.key)).toEqual({
        key: l.key,
        budgetId: 'calls-hourly',
        scopeKey: 'agent:billing-agent',
        metric: 'calls',
        window: 'hour',
        windowStart: at(0),
        windowEnd: at(60),
        limit: 20,
        limitOverride: null,
        used: 0,
        reserved: 20,
        alerted: 0,
        updatedAt: at(0),
      });
    });

    it('admits an amount of 0 only while the counter is below its limit', async () => {
      const l = (amount: number) => line({ limit: 3, amount });
      expect(await reserve(reservation([l(2)]))).toEqual({ ok: true });
      expect(await reserve(reservation([l(0)]))).toEqual({ ok: true });
      expect(await reserve(reservation([l(1)]))).toEqual({ ok: true });
      expect(await reserve(reservation([l(0)]))).toMatchObject({ ok: false, reserved: 3, limit: 3 });
      expect((await counter(l(0).key))?.reserved).toBe(3);
    });

    it('adds decimal amounts exactly enough that a sum equal to the limit is admitted', async () => {
      const usd = (amount: number) => sessionLine('s-1', { limit: 0.3, amount });
      expect(await reserve(reservation([usd(0.1)]))).toEqual({ ok: true });
      expect(await reserve(reservation([usd(0.2)]))).toEqual({ ok: true });
      expect(await reserve(reservation([usd(0)]))).toMatchObject({ ok: false, reserved: 0.3 });
      expect(await reserve(reservation([usd(0.000001)]))).toMatchObject({ ok: false });
      expect((await counter(usd(0).key))?.reserved).toBe(0.3);
    });

    it('reserves all lines or none: one line over leaves the others unchanged', async () => {
      const a = line({ budgetId: 'a-calls', limit: 10, amount: 5 });
      const b = line({ budgetId: 'b-calls', limit: 1, amount: 2 });
      const c = line({ budgetId: 'c-calls', limit: 1, amount: 2 });
      // Given out of key order: the first line over in key order is the one reported.
      expect(await reserve(reservation([c, a, b]))).toEqual({
        ok: false,
        line: b,
        used: 0,
        reserved: 0,
        limit: 1,
      });
      for (const l of [a, b, c]) expect(await counter(l.key)).toMatchObject({ reserved: 0, used: 0 });
      // A counter named twice holds the sum of its lines.
      expect(await reserve(reservation([a, { ...a, amount: 6 }]))).toMatchObject({
        ok: false,
        line: { ...a, amount: 11 },
        limit: 10,
      });
      expect(await reserve(reservation([a, { ...a, amount: 5 }]))).toEqual({ ok: true });
      expect(await counter(a.key)).toMatchObject({ reserved: 10 });
    });

    it('refreshes the policy limit on reserve; a limit set by budget.limit wins over it', async () => {
      const l = (limit: number, amount = 1) => line({ limit, amount });
      await reserve(reservation([l(10, 6)]));
      expect(await counter(l(10).key)).toMatchObject({ limit: 10, limitOverride: null });
      expect(await reserve(reservation([l(12, 6)]))).toEqual({ ok: true });
      expect(await counter(l(10).key)).toMatchObject({ limit: 12, reserved: 12 });

      await apply([{ kind: 'budget.limit', line: l(12), limit: 13, ts: at(2) }]);
      expect(await counter(l(10).key)).toMatchObject({ limit: 12, limitOverride: 13, updatedAt: at(2) });
      expect(await reserve(reservation([l(100, 2)]))).toEqual({
        ok: false,
        line: l(100, 2),
        used: 0,
        reserved: 12,
        limit: 13,
      });
      expect(await counter(l(10).key)).toMatchObject({ limit: 100, limitOverride: 13 });
      expect(await reserve(reservation([l(100, 1)]))).toEqual({ ok: true });

      // A limit set on a counter not used yet creates it.
      const fresh = line({ budgetId: 'fresh', limit: 5 });
      await apply([{ kind: 'budget.limit', line: fresh, limit: 50, ts: at(3) }]);
      expect(await counter(fresh.key)).toMatchObject({ limit: 5, limitOverride: 50, used: 0, reserved: 0 });
    });
  });

  it('commits an admitted reservation with its unit: reservation, counters, mutations and events together', async () => {
    const l = line({ limit: 5, amount: 2 });
    const r = reservation([l], { session: 'fresh' });
    const unit = reservingUnit(r);
    const session = {
      id: 'fresh',
      agent: 'billing-agent',
      state: 'active' as const,
      stateReason: null,
      triggeredBy: null,
      delegationChain: [],
      createdAt: at(0),
      updatedAt: at(0),
    };
    const [result] = await fx.store.commit([{ ...unit, mutations: [{ kind: 'session.ensure', session }] }]);
    expect(result).toEqual({ events: [{ seq: 1, hash: expect.any(String) }] });
    expect(await fx.store.reservation(r.id)).toEqual(r);
    expect(await counter(l.key)).toMatchObject({ reserved: 2, used: 0 });
    expect(await fx.store.getSession('fresh')).toEqual(session);
    expect((await fx.store.findCall(r.callId)).decided?.event.decision?.effect).toBe('allow');
  });

  it('admits a reservation against the settlements batched ahead of it, as SQLite does unit by unit', async () => {
    // A completion batched ahead of the next decision (deferred completions make that usual): its
    // settlement counts first, whether it frees budget or spends past the estimate.
    const l = (amount: number) => line({ metric: 'tokens', limit: 1500, amount });
    const completion = (r: ReservationRecord, used: number): CommitUnit => ({
      mutations: [settle(r, [l(used)])],
      events: [budgetEvent('budget.released')],
    });
    const big = reservation([l(1000)]);
    expect((await fx.store.commit([reservingUnit(big)]))[0]?.refused).toBeUndefined();
    const fits = reservation([l(1000)]);
    const [, admitted] = await fx.store.commit([completion(big, 100), reservingUnit(fits)]);
    expect(admitted?.refused).toBeUndefined(); // 100 used + 1000 reserved <= 1500
    const over = reservation([l(100)]);
    const [, refusedOne] = await fx.store.commit([completion(fits, 1450), reservingUnit(over)]);
    expect(refusedOne?.refused).toBeDefined(); // 1550 used: nothing more fits
    expect(await counter(l(0).key)).toMatchObject({ used: 1550, reserved: 0 });
  });

  it('commits the onRefused unit in place of a refused reservation, changing no counter', async () => {
    const l = line({ limit: 3, amount: 2 });
    expect(await fx.store.reserve(reservation([l]))).toEqual({ ok: true });
    const r = reservation([l]);
    const before = await counter(l.key);
    const pausing = {
      kind: 'session.ensure' as const,
      session: {
        id: 'only-if-admitted',
        agent: 'billing-agent',
        state: 'active' as const,
        stateReason: null,
        triggeredBy: null,
        delegationChain: [],
        createdAt: at(0),
        updatedAt: at(0),
      },
    };
    const unit = reservingUnit(r);
    const [result] = await fx.store.commit([
      {
        ...unit,
        mutations: [pausing],
        onRefused: (refused) => {
          const alternate = unit.onRefused?.(refused) as RefusedUnit;
          return { ...alternate, events: [...alternate.events, budgetEvent('budget.exceeded')] };
        },
      },
    ]);
    const refusal = { ok: false, line: l, used: 0, reserved: 2, limit: 3 };
    expect(result).toEqual({
      events: [
        { seq: 1, hash: expect.any(String) },
        { seq: 2, hash: expect.any(String) },
      ],
      refused: refusal,
    });
    expect(await counter(l.key)).toEqual(before);
    expect(await fx.store.reservation(r.id)).toBeUndefined();
    // The admitted unit's mutations and events were not written: only the refusal's.
    expect(await fx.store.getSession('only-if-admitted')).toBeUndefined();
    const chain = (await fx.store.readChain(0, 10)).map((row) => JSON.parse(row.body) as AuditEvent);
    expect(chain.map((e) => [e.type, e.decision?.code])).toEqual([
      ['call.decided', 'BUDGET_EXCEEDED'],
      ['budget.exceeded', undefined],
    ]);
  });

  it('admits each unit of a batch against what the units before it reserved; a refusal fails no other unit', async () => {
    const l = (amount: number) => line({ limit: 3, amount });
    const other = line({ budgetId: 'other', limit: 100, amount: 1 });
    const units = [
      reservingUnit(reservation([l(1), other])),
      { events: [budgetEvent()] },
      reservingUnit(reservation([l(2)])),
      reservingUnit(reservation([other, l(1)])),
      reservingUnit(reservation([l(0)])),
      { events: [budgetEvent()] },
    ];
    const results = await fx.store.commit(units);
    expect(results.map((x) => x.refused ?? 'admitted')).toEqual([
      'admitted',
      'admitted',
      'admitted',
      // All lines or none: refused on l, so `other` holds only the first unit's 1.
      { ok: false, line: l(1), used: 0, reserved: 3, limit: 3 },
      { ok: false, line: l(0), used: 0, reserved: 3, limit: 3 },
      'admitted',
    ]);
    expect(results.flatMap((x) => x.events.map((e) => e.seq))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await counter(l(0).key)).toMatchObject({ reserved: 3 });
    expect(await counter(other.key)).toMatchObject({ reserved: 1 });
    const types = (await fx.store.readChain(0, 10)).map((row) => JSON.parse(row.body) as AuditEvent);
    expect(types.map((e) => e.decision?.code ?? e.type)).toEqual([
      'call.decided',
      'budget.released',
      'call.decided',
      'BUDGET_EXCEEDED',
      'BUDGET_EXCEEDED',
      'budget.released',
    ]);
    // Rollups count what was written: the refusals' blocks, not the decisions they replaced.
    expect(sessionUsageOf(await fx.store.rollups(sessionRollupQuery('s-1'))).calls).toEqual({
      allow: 2,
      review: 0,
      block: 2,
    });
    // A counter's raised limit holds inside a commit too.
    await apply([{ kind: 'budget.limit', line: l(0), limit: 4, ts: at(2) }]);
    expect((await fx.store.commit([reservingUnit(reservation([l(1)]))]))[0]?.refused).toBeUndefined();
    expect(await counter(l(0).key)).toMatchObject({ reserved: 4, limit: 3, limitOverride: 4 });
  });

  it('sends a batch with refused units to the store once: a refusal is not a failure to retry alone', async () => {
    const l = line({ limit: 2 });
    let commits = 0;
    const counting = {
      commit: (units: readonly CommitUnit[]) => {
        commits++;
        return fx.store.commit(units);
      },
    } as Store;
    const group = new GroupCommitter(counting);
    const all = Array.from({ length: 6 }, () => reservation([l]));
    const results = await Promise.all(all.map((r) => group.submit(reservingUnit(r))));
    expect(commits).toBe(1);
    expect(results.filter((x) => x.refused === undefined)).toHaveLength(2);
    expect(results.slice(2).map((x) => x.refused?.reserved)).toEqual([2, 2, 2, 2]);
  });

  it('admits exactly the limit of N units committed at once by two instances', async () => {
    const a = await openStore(fx.location);
    const b = await openStore(fx.location);
    try {
      const l = line({ limit: 20, amount: 1 });
      const all = Array.from({ length: 64 }, () => reservation([l]));
      // One unit per commit and batches of four, from both instances at once.
      const work = all.map((r, i) =>
        i < 32 ? (i % 2 ? a : b).commit([reservingUnit(r)]).then((x) => x[0] as CommitResult) : undefined,
      );
      const batched = [32, 36, 40, 44, 48, 52, 56, 60].map((from, j) =>
        (j % 2 ? a : b).commit(all.slice(from, from + 4).map(reservingUnit)),
      );
      const results = [
        ...(await Promise.all(work.slice(0, 32))),
        ...(await Promise.all(batched)).flat(),
      ] as CommitResult[];
      const admitted = all.filter((_, i) => results[i]?.refused === undefined);
      expect(admitted).toHaveLength(20);
      for (const r of results.filter((x) => x.refused)) expect(r.refused).toMatchObject({ reserved: 20 });
      expect(await counter(l.key)).toMatchObject({ reserved: 20, used: 0 });
      for (const r of all) {
        expect((await fx.store.reservation(r.id))?.state).toBe(admitted.includes(r) ? 'held' : undefined);
      }
      // Every unit's decision is on the chain: the admitted as allowed, the others as blocked.
      const decisions = (await fx.store.readChain(0, 1000)).map((row) => JSON.parse(row.body) as AuditEvent);
      expect(decisions).toHaveLength(64);
      expect(decisions.filter((e) => e.decision?.code === 'BUDGET_EXCEEDED')).toHaveLength(44);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('leaves no reservation when the commit fails, nor when onRefused throws', async () => {
    const l = line({ limit: 5 });
    const r = reservation([l]);
    const failing = {
      events: [budgetEvent()],
      mutations: [
        { kind: 'session.state', id: 'nobody', state: 'paused', from: ['active'], reason: null, ts: at(0) },
      ] as Mutation[],
    };
    await refused(() => fx.store.commit([reservingUnit(r), failing]), 'SESSION_NOT_FOUND');
    expect(await fx.store.reservation(r.id)).toBeUndefined();
    expect((await counter(l.key))?.reserved ?? 0).toBe(0);

    // A refusal whose unit cannot be built fails the commit, and nothing of it is written.
    await fx.store.reserve(reservation([line({ limit: 5, amount: 5 })]));
    const broken: CommitUnit = {
      ...reservingUnit(reservation([l])),
      onRefused: () => {
        throw new WardenError('INTERNAL', 'no block decision could be built');
      },
    };
    await refused(
      () => fx.store.commit([{ events: [budgetEvent()] }, broken]),
      'INTERNAL',
      /no block decision/,
    );
    expect(await counter(l.key)).toMatchObject({ reserved: 5 });
  });

  it('refuses a reserving unit with no unit for its refusal, and a refusal unit that changes a budget', async () => {
    const { onRefused: _none, ...bare } = reservingUnit(reservation([line()]));
    await refused(() => fx.store.commit([bare]), 'INTERNAL', /names no unit for its refusal/);
    await fx.store.reserve(reservation([line({ amount: 20 })]));
    const settling: CommitUnit = {
      ...reservingUnit(reservation([line()])),
      onRefused: () => ({ events: [budgetEvent()], mutations: [settle(null, [line()])] }),
    };
    await refused(() => fx.store.commit([settling]), 'INTERNAL', /changes no budget/);
  });

  it('settles: reserved moves to used, a ledger row per line, and a second settle is refused', async () => {
    const a = line({ budgetId: 'a', amount: 5 });
    const b = sessionLine('s-1', { amount: 0.25, limit: 10 });
    const r = reservation([a, b]);
    expect(await fx.store.reserve(r)).toEqual({ ok: true });
    const c = line({ budgetId: 'c', amount: 2 });
    // Actual usage differs from the estimate and draws on a counter the reservation did not name.
    const actual = [{ ...a, amount: 4 }, { ...b, amount: 0.1 }, { ...b, amount: 0.2 }, c];
    await apply([settle(r, actual, { ts: at(3) })]);
    expect(await counter(a.key)).toMatchObject({ reserved: 0, used: 4, updatedAt: at(3) });
    expect(await counter(b.key)).toMatchObject({ reserved: 0, used: 0.3 });
    expect(await counter(c.key)).toMatchObject({
      budgetId: 'c',
      limit: 20,
      reserved: 0,
      used: 2,
      updatedAt: at(3),
    });
    expect(await fx.store.ledgerTotals()).toEqual(
      new Map([
        [a.key, 4],
        [b.key, 0.3],
        [c.key, 2],
      ]),
    );
    expect(await fx.store.ledgerTotals([c.key, 'nothing'])).toEqual(
      new Map([
        [c.key, 2],
        ['nothing', 0],
      ]),
    );
    expect(await fx.store.reservation(r.id)).toMatchObject({ state: 'settled', updatedAt: at(3) });

    await refused(() => apply([settle(r, actual)]), 'BUDGET_CONFLICT', /already settled/);
    // In one commit, the second settle of the same reservation is refused too, and with it the unit.
    const r2 = reservation([a]);
    await fx.store.reserve(r2);
    await refused(() => apply([settle(r2, [a]), settle(r2, [a])]), 'BUDGET_CONFLICT');
    expect(await counter(a.key)).toMatchObject({ reserved: 5, used: 4 });
    expect(await fx.store.ledgerTotals([a.key])).toEqual(new Map([[a.key, 4]]));
  });

  it('settles usage with no reservation, or after its release, without unreserving anything', async () => {
    const l = line({ amount: 3 });
    await apply([settle(null, [l])]);
    expect(await counter(l.key)).toMatchObject({ used: 3, reserved: 0 });

    const r = reservation([l], { leaseUntil: at(5) });
    const other = reservation([line({ amount: 2 })], { leaseUntil: at(50) });
    await fx.store.reserve(r);
    await fx.store.reserve(other);
    expect(await fx.store.expiredReservations(at(4), 10)).toEqual([]);
    await refused(
      () => apply([{ kind: 'budget.release', ids: [r.id], now: at(4) }]),
      'BUDGET_CONFLICT',
      /leased until/,
    );
    expect((await fx.store.expiredReservations(at(5), 10)).map((x) => x.id)).toEqual([r.id]);
    await apply([{ kind: 'budget.release', ids: [r.id], now: at(5) }]);
    expect(await fx.store.reservation(r.id)).toMatchObject({ state: 'released', updatedAt: at(5) });
    expect(await counter(l.key)).toMatchObject({ used: 3, reserved: 2 });
    expect(await fx.store.expiredReservations(at(60), 10)).toEqual([await fx.store.reservation(other.id)]);

    // The call finished after all: its usage counts; the other reservation's 2 stay reserved.
    await apply([settle(r, [{ ...l, amount: 4 }])]);
    expect(await counter(l.key)).toMatchObject({ used: 7, reserved: 2 });
    expect(await fx.store.reservation(r.id)).toMatchObject({ state: 'settled' });
    await refused(() => apply([settle(r, [l])]), 'BUDGET_CONFLICT');
    expect(await fx.store.ledgerTotals([l.key])).toEqual(new Map([[l.key, 7]]));
  });

  it('releases only held reservations whose lease ended, all named or none', async () => {
    const l = line({ amount: 1 });
    const old = reservation([l], { leaseUntil: at(5) });
    const young = reservation([l], { leaseUntil: at(30) });
    await fx.store.reserve(old);
    await fx.store.reserve(young);
    const release = (ids: string[], now = at(10)) => apply([{ kind: 'budget.release', ids, now }]);
    await refused(() => release([old.id, young.id]), 'BUDGET_CONFLICT', /leased until/);
    await refused(() => release([old.id, `res_${uuidv7()}`]), 'BUDGET_CONFLICT', /no reservation/);
    expect(await counter(l.key)).toMatchObject({ reserved: 2 });
    expect(await fx.store.reservation(old.id)).toMatchObject({ state: 'held' });

    await release([old.id, young.id], at(30));
    expect(await counter(l.key)).toMatchObject({ reserved: 0, used: 0 });
    await refused(() => release([old.id], at(60)), 'BUDGET_CONFLICT', /already released/);
    // Two instances sweeping at once: one releases, the other is refused.
    const r = reservation([l]);
    await fx.store.reserve(r);
    const other = await fx.reopen();
    try {
      const outcomes = await Promise.allSettled([
        release([r.id]),
        apply([{ kind: 'budget.release', ids: [r.id], now: at(10) }], other),
      ]);
      expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    } finally {
      await other.close();
    }
    expect(await counter(l.key)).toMatchObject({ reserved: 0 });
  });

  it('charges a reservation whose lease ended at what it holds: used, a ledger row per line, expired', async () => {
    const calls = line({ amount: 1 });
    const tokens = line({ budgetId: 'tokens-hourly', metric: 'tokens', limit: 10_000, amount: 1_234.5 });
    const old = reservation([calls, tokens], { leaseUntil: at(5) });
    const young = reservation([calls], { leaseUntil: at(30) });
    await fx.store.reserve(old);
    await fx.store.reserve(young);
    const expire = (ids: string[], now = at(10)) => apply([{ kind: 'budget.expire', ids, now }]);
    await refused(() => expire([old.id, young.id]), 'BUDGET_CONFLICT', /leased until/);
    expect(await counter(calls.key)).toMatchObject({ used: 0, reserved: 2 });

    await expire([old.id]);
    expect(await counter(calls.key)).toMatchObject({ used: 1, reserved: 1 });
    expect(await counter(tokens.key)).toMatchObject({ used: 1_234.5, reserved: 0 });
    expect(await fx.store.ledgerTotals([calls.key, tokens.key])).toEqual(
      new Map([
        [calls.key, 1],
        [tokens.key, 1_234.5],
      ]),
    );
    // Expired, not settled: a completion tells a charge on expiry from a settlement by a completion.
    expect(await fx.store.reservation(old.id)).toMatchObject({ state: 'expired', updatedAt: at(10) });
    // Charged once: neither a second expiry nor a settle of the same reservation counts it again.
    await refused(() => expire([old.id], at(60)), 'BUDGET_CONFLICT', /already expired/);
    await refused(() => apply([settle(old, [calls])]), 'BUDGET_CONFLICT', /already expired/);
    // Two instances sweeping at once: one charges, the other is refused.
    const other = await fx.reopen();
    try {
      const outcomes = await Promise.allSettled([
        expire([young.id], at(30)),
        apply([{ kind: 'budget.expire', ids: [young.id], now: at(30) }], other),
      ]);
      expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    } finally {
      await other.close();
    }
    expect(await counter(calls.key)).toMatchObject({ used: 2, reserved: 0 });
  });

  it('announces each alert threshold once per counter, and never a lower one after a higher', async () => {
    const l = line();
    await fx.store.reserve(reservation([l]));
    const alert = (threshold: number) =>
      fx.store.commit([
        {
          mutations: [{ kind: 'budget.alert', key: l.key, threshold, ts: at(7) }],
          events: [budgetEvent('budget.alert')],
        },
      ]);
    await alert(50);
    expect(await counter(l.key)).toMatchObject({ alerted: 50, updatedAt: at(7) });
    await refused(() => alert(50), 'BUDGET_CONFLICT', /already announced/);
    await refused(() => alert(12.5), 'BUDGET_CONFLICT');
    await alert(87.5);
    expect(await counter(l.key)).toMatchObject({ alerted: 87.5 });
    await refused(
      () =>
        fx.store.commit([
          {
            mutations: [{ kind: 'budget.alert', key: 'no|such|counter', threshold: 50, ts: at(7) }],
            events: [budgetEvent('budget.alert')],
          },
        ]),
      'BUDGET_CONFLICT',
      /no budget counter/,
    );
  });

  it('lists counters by key, scope, budget and the window containing an instant', async () => {
    const first = line({ amount: 1 });
    const second = line({ windowStart: at(60), windowEnd: at(120) });
    const team = line({ scopeKey: 'team:finance', budgetId: 'team-calls' });
    const sess = sessionLine('s-1', { amount: 0.5 });
    for (const l of [first, second, team, sess]) await fx.store.reserve(reservation([l]));
    const keys = async (q: Parameters<Store['budgetCounters']>[0]) =>
      (await fx.store.budgetCounters(q)).map((c) => c.key);
    const sorted = (ls: BudgetLine[]) => ls.map((l) => l.key).sort();
    expect(await keys({ limit: 10 })).toEqual(sorted([first, second, team, sess]));
    expect(await keys({ limit: 2 })).toEqual(sorted([first, second, team, sess]).slice(0, 2));
    expect(await keys({ activeAt: at(30), limit: 10 })).toEqual(sorted([first, team, sess]));
    expect(await keys({ activeAt: at(60), limit: 10 })).toEqual(sorted([second, sess]));
    expect(await keys({ scopeKeys: ['agent:billing-agent'], limit: 10 })).toEqual(sorted([first, second]));
    expect(await keys({ scopeKeys: ['team:finance', 'session:s-1'], limit: 10 })).toEqual(
      sorted([team, sess]),
    );
    expect(await keys({ budgetId: 'calls-hourly', activeAt: at(90), limit: 10 })).toEqual([second.key]);
    expect(await keys({ keys: [sess.key, 'missing'], limit: 10 })).toEqual([sess.key]);
    expect(await keys({ keys: [], limit: 10 })).toEqual([]);
  });

  it('keeps every counter equal to its ledger total, and reserved to what is held, under a mixed workload', async () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const usd = (cents: number) => sessionLine('s-mix', { limit: 1_000, amount: cents / 100 });
    const tokens = (n: number) => line({ budgetId: 'tokens', metric: 'tokens', limit: 1e9, amount: n });
    const calls = () => line({ budgetId: 'calls', limit: 1_000, amount: 1 });
    const held = new Map<string, ReservationRecord>();
    for (let i = 0; i < 120; i++) {
      const op = random();
      const pick = () => [...held.values()][Math.floor(random() * held.size)] as ReservationRecord;
      if (op < 0.45 || held.size === 0) {
        const r = reservation([usd(Math.floor(random() * 50)), tokens(Math.floor(random() * 900)), calls()], {
          leaseUntil: at(random() * 10),
        });
        expect(await fx.store.reserve(r)).toEqual({ ok: true });
        held.set(r.id, r);
      } else if (op < 0.75) {
        const r = pick();
        await apply([
          settle(r, [usd(Math.floor(random() * 70)), tokens(Math.floor(random() * 1200)), calls()]),
        ]);
        held.delete(r.id);
      } else if (op < 0.9) {
        const r = pick();
        await apply([{ kind: 'budget.release', ids: [r.id], now: at(10) }]);
        held.delete(r.id);
        if (random() < 0.5) await apply([settle(r, [usd(7)])]);
      } else {
        await apply([settle(null, [usd(Math.floor(random() * 30)), calls()])]);
      }
    }
    const counters = await fx.store.budgetCounters({ limit: 10 });
    const totals = await fx.store.ledgerTotals();
    expect(counters).toHaveLength(3);
    for (const c of counters) {
      expect(c.used, c.key).toBe(totals.get(c.key));
      const holding = [...held.values()].flatMap((r) =>
        r.lines.filter((l) => l.key === c.key).map((l) => l.amount),
      );
      expect(c.reserved, c.key).toBeCloseTo(sum(holding), 9);
    }
  });

  it('purges reservations no longer held and counters whose window ended, with their ledger rows', async () => {
    const before = at(1000);
    const ended = line({ amount: 1 });
    const endsAtCutoff = line({ windowStart: at(940), windowEnd: before });
    const current = line({ windowStart: at(1000), windowEnd: at(1060) });
    const idleSession = sessionLine('s-idle', { amount: 0.5 });
    const busySession = sessionLine('s-busy', { amount: 0.5 });
    // Idle as long, but its session is still open: its lifetime usage must outlive the cutoff.
    const openSession = sessionLine('s-open', { amount: 0.25 });
    const ts = at(0);
    await apply([
      {
        kind: 'session.ensure',
        session: {
          id: 's-open',
          agent: 'a',
          state: 'active',
          stateReason: null,
          triggeredBy: null,
          delegationChain: [],
          createdAt: ts,
          updatedAt: ts,
        },
      },
    ]);

    const settledOld = reservation([ended]);
    const releasedOld = reservation([ended], { leaseUntil: at(5) });
    const heldOld = reservation([current], { updatedAt: at(0) });
    const settledNew = reservation([busySession], { updatedAt: at(1500) });
    for (const r of [settledOld, releasedOld, heldOld, settledNew])
      expect(await fx.store.reserve(r)).toEqual({ ok: true });
    await fx.store.reserve(reservation([endsAtCutoff], { updatedAt: at(990) }));
    await apply([settle(settledOld, [ended], { ts: at(10) })]);
    await apply([{ kind: 'budget.release', ids: [releasedOld.id], now: at(20) }]);
    await apply([
      settle(null, [idleSession], { ts: at(10) }),
      settle(null, [openSession], { ts: at(10) }),
      settle(settledNew, [busySession], { ts: at(1500) }),
    ]);
    await apply([settle(null, [endsAtCutoff], { ts: at(995) })]);

    const counts = { approvals: 0, grants: 0, notifications: 0, reservations: 2, budgetCounters: 2 };
    expect(await fx.store.finishedState(before)).toEqual(counts);
    const hold = { id: 'hold-1', reason: 'matter 7', placedBy: 'counsel', placedAt: at(1) };
    await apply([{ kind: 'legal_hold.place', hold }]);
    await refused(() => apply([{ kind: 'state.purge', before }]), 'LEGAL_HOLD_ACTIVE');
    await apply([{ kind: 'legal_hold.release', id: hold.id }]);

    await apply([{ kind: 'state.purge', before }]);
    expect(await fx.store.finishedState(before)).toEqual({ ...counts, reservations: 0, budgetCounters: 0 });
    expect(await fx.store.reservation(settledOld.id)).toBeUndefined();
    expect(await fx.store.reservation(releasedOld.id)).toBeUndefined();
    expect(await fx.store.reservation(heldOld.id)).toMatchObject({ state: 'held' });
    expect(await fx.store.reservation(settledNew.id)).toMatchObject({ state: 'settled' });
    const left = (await fx.store.budgetCounters({ limit: 10 })).map((c) => c.key);
    expect(left.sort()).toEqual([endsAtCutoff.key, current.key, busySession.key, openSession.key].sort());
    expect(await fx.store.ledgerTotals()).toEqual(
      new Map([
        [endsAtCutoff.key, 1],
        [busySession.key, 0.5],
        [openSession.key, 0.25],
      ]),
    );
  });

  it('queues and hands out notifications about no approval (budget alerts, pauses)', async () => {
    const n: NotificationRecord = {
      id: `ntf_${uuidv7()}`,
      target: 'slack-ops',
      eventType: 'budget.alert',
      eventId: uuidv7(),
      approvalId: null,
      state: 'pending',
      attempts: 0,
      createdAt: at(0),
      leaseOwner: null,
      leaseUntil: null,
      lastError: null,
      updatedAt: at(0),
    };
    await apply([{ kind: 'notification.enqueue', notification: n }]);
    expect(await fx.store.claimNotifications('me', at(1), at(2), 10, ['slack-ops'])).toEqual([
      { ...n, leaseOwner: 'me', leaseUntil: at(2), updatedAt: at(1) },
    ]);
  });

  it('admits exactly the limit when two instances reserve at once, then settles every one exactly', async () => {
    const a = await openStore(fx.location);
    const b = await openStore(fx.location);
    try {
      const l = line({ limit: 20, amount: 1 });
      const all = Array.from({ length: 64 }, () => reservation([l]));
      const outcomes = await Promise.all(all.map((r, i) => (i % 2 ? a : b).reserve(r)));
      const admitted = all.filter((_, i) => outcomes[i]?.ok);
      expect(admitted).toHaveLength(20);
      for (const o of outcomes.filter((x) => !x.ok))
        expect(o).toMatchObject({ limit: 20, used: 0, reserved: 20 });
      expect(await counter(l.key)).toMatchObject({ reserved: 20, used: 0 });

      await Promise.all(admitted.map((r, i) => apply([settle(r, [l])], i % 2 ? a : b)));
      expect(await counter(l.key)).toMatchObject({ reserved: 0, used: 20 });
      expect(await fx.store.ledgerTotals([l.key])).toEqual(new Map([[l.key, 20]]));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('never deadlocks reservations in commits whose units name counters against key order', async () => {
    const a = await openStore(fx.location);
    const b = await openStore(fx.location);
    const first = () => line({ budgetId: 'aaa', limit: 1e6 });
    const second = () => line({ budgetId: 'zzz', limit: 1e6 });
    try {
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 40; i++) {
        const store = i % 2 ? a : b;
        // The batch's first unit takes the later counter, its second the earlier one: taken unit by unit,
        // the commit would hold zzz while asking for aaa, as a reserve of its own holds aaa asking for zzz.
        work.push(
          store.commit([reservingUnit(reservation([second()])), reservingUnit(reservation([first()]))]),
        );
        work.push(store.reserve(reservation([first(), second()])));
        if (i % 4 === 0) work.push(apply([settle(null, [second(), first()])], store));
      }
      const outcomes = await Promise.allSettled(work);
      expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
      for (const key of [first().key, second().key]) {
        expect(await counter(key)).toMatchObject({ reserved: 80, used: 10 });
      }
    } finally {
      await a.close();
      await b.close();
    }
    if (dialect === 'postgres') expect(await serverDeadlocks(fx.location)).toBe(0);
  });

  it('never deadlocks reserves and settles locking two counters given in opposite orders', async () => {
    const a = await openStore(fx.location);
    const b = await openStore(fx.location);
    const first = (amount = 1) => line({ budgetId: 'aaa', limit: 1e6, amount });
    const second = (amount = 1) => line({ budgetId: 'zzz', limit: 1e6, amount });
    try {
      const earlier = Array.from({ length: 30 }, (_, i) =>
        reservation(i % 2 ? [first(), second()] : [second(), first()]),
      );
      for (const r of earlier) expect(await a.reserve(r)).toEqual({ ok: true });
      const later = Array.from({ length: 30 }, (_, i) =>
        reservation(i % 2 ? [second(), first()] : [first(), second()]),
      );
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 30; i++) {
        const store = i % 2 ? a : b;
        const r = earlier[i] as ReservationRecord;
        work.push(store.reserve(later[i] as ReservationRecord));
        // Settles in opposite line orders, and two in one commit whose lines cross.
        if (i % 3 === 0) {
          const next = earlier[i + 1] as ReservationRecord;
          work.push(
            store.commit([
              { mutations: [settle(r, [second(2), first(2)])], events: [budgetEvent()] },
              { mutations: [settle(next, [first(2)]), settle(null, [second(2)])], events: [budgetEvent()] },
            ]),
          );
        } else if (i % 3 === 2) {
          work.push(apply([settle(r, i % 2 ? [first(2), second(2)] : [second(2), first(2)])], store));
        }
      }
      const outcomes = await Promise.allSettled(work);
      expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
      // 10 two-unit commits and 10 single settles: 30 settles of 2 on each counter.
      for (const key of [first().key, second().key]) {
        expect(await counter(key)).toMatchObject({ used: 60, reserved: 30 });
        expect(await fx.store.ledgerTotals([key])).toEqual(new Map([[key, 60]]));
      }
    } finally {
      await a.close();
      await b.close();
    }
    if (dialect === 'postgres') expect(await serverDeadlocks(fx.location)).toBe(0);
  });
});

/** What other instances hear of a commit that reserves: PostgreSQL pushes it (LISTEN/NOTIFY). */
describe('Store contract: budgets (postgres announcements)', () => {
  let fx: StoreFixture;
  beforeEach(async () => {
    fx = await freshStore('postgres');
  });
  afterEach(async () => {
    await fx?.dispose();
  });

  it('announces the head a commit leaves once its reservations are decided', async () => {
    const heard: string[] = [];
    const raw = new pg.Client({ connectionString: fx.location });
    await raw.connect();
    try {
      raw.on('notification', (m) => {
        if (m.channel === CHAIN_CHANNEL) heard.push(m.payload ?? '');
      });
      await raw.query(`LISTEN ${CHAIN_CHANNEL}`);
      const l = line({ limit: 1 });
      const pausing = (r: ReservationRecord): CommitUnit => ({
        ...reservingUnit(r),
        onRefused: () => ({ events: [budgetEvent('budget.exceeded'), budgetEvent('session.paused')] }),
      });
      // Admitted: calls only, nothing announced. Refused: the pause (two events, not one) is announced.
      await fx.store.commit([pausing(reservation([l]))]);
      const [refusedResult] = await fx.store.commit([pausing(reservation([l]))]);
      expect(refusedResult?.refused).toBeDefined();
      // Notifications arrive in commit order: this one, announced, comes after the pause's.
      await fx.store.commit([{ events: [budgetEvent('grant.added')] }]);
      await vi.waitFor(() => expect(heard).toHaveLength(2), { timeout: 15_000 });
      expect(heard).toEqual(['3', '4']);
    } finally {
      await raw.end();
    }
  });
});

/**
 * Deadlocks the server detected in the database. A victim's commit is retried by the driver, so the
 * server's count is what shows one; the backends that ran the work have exited, flushing their statistics.
 */
async function serverDeadlocks(location: string): Promise<number> {
  const r = await withClient(location, (c) =>
    c.query<{ n: string }>('SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()'),
  );
  return Number(r.rows[0]?.n);
}
