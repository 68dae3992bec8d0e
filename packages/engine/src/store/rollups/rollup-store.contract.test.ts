import { type AuditEvent, type ReservationRecord, signCheckpoint, uuidv7 } from '@warden/core';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withClient } from '../../../test-support/postgres-server.js';
import { DIALECTS, decided, freshStore, type StoreFixture } from '../../../test-support/store-fixtures.js';
import { generateKeyRing } from '../../keys/key-ring.js';
import { GroupCommitter } from '../group-committer.js';
import { openStore } from '../open-store.js';
import type { CheckpointRequest, CommitUnit, Store } from '../store.js';
import { backfillPostgresRollups } from './postgres-rollups.js';
import { dimsKey, dimsPrefix, type RollupCell } from './rollup.js';
import { sumRollups, toCells } from './rollup-sums.js';
import { SESSION_ROLLUP, sessionRollupQuery, sessionUsageOf } from './session-rollup.js';
import { SOC2_ROLLUPS } from './soc2-rollup.js';
import { backfillSqliteRollups } from './sqlite-rollups.js';
import { USAGE_DAILY, USAGE_HOURLY } from './usage-rollup.js';

const AGENTS = ['billing-agent', 'support-agent', 'ops-agent'];
const EFFECTS = ['allow', 'review', 'block'] as const;
const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-30T21:15:00.000Z');

/**
 * A call's decision and, for most, its completion: `i` picks the agent, session, effect, hour (spread
 * over two days, across midnight) and usage. Costs are multiples of 1/8 so float sums are exact.
 */
function call(i: number): AuditEvent[] {
  const agent = AGENTS[i % AGENTS.length] as string;
  const session = `s-${i % 7}`;
  const effect = EFFECTS[i % 3] as (typeof EFFECTS)[number];
  const ts = new Date(T0 + (i % 40) * HOUR + (i % 13) * 60_000).toISOString();
  const d = decided({
    ts,
    agent,
    session,
    actor: { kind: 'agent', id: agent },
    decision: {
      ...(decided().decision as NonNullable<AuditEvent['decision']>),
      effect,
      policyEffect: effect,
    },
  });
  if (effect === 'block' || i % 5 === 4) return [d];
  const completed: AuditEvent = {
    id: uuidv7(),
    ts: new Date(Date.parse(ts) + 1_000).toISOString(),
    type: 'call.completed',
    actor: { kind: 'agent', id: agent },
    agent,
    session,
    tool: 'stripe.refund',
    callId: d.callId as string,
    outcome: {
      status: i % 4 === 0 ? 'error' : 'ok',
      ...(i % 6 === 0
        ? {}
        : {
            usage: {
              model: 'gpt-5',
              inputTokens: 100 + i,
              outputTokens: i % 9,
              costUsd: (i % 11) / 8,
            },
          }),
    },
  };
  return [d, completed];
}

/** Every event in the store, in chain order. */
async function trail(store: Store): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (let after = 0; ; ) {
    const rows = await store.readChain(after, 5_000);
    if (rows.length === 0) return events;
    for (const r of rows) events.push(JSON.parse(r.body) as AuditEvent);
    after = (rows.at(-1) as { seq: number }).seq;
  }
}

/** Every cell of the rollups this change maintains, as stored. */
async function storedCells(store: Store): Promise<RollupCell[]> {
  const cells: RollupCell[] = [];
  for (const name of [SESSION_ROLLUP, ...Object.values(SOC2_ROLLUPS).sort(), USAGE_HOURLY, USAGE_DAILY])
    cells.push(...(await store.rollups({ name })));
  return cells;
}

/** The same cells recounted from the trail's events. */
async function recount(store: Store): Promise<RollupCell[]> {
  return toCells(sumRollups(await trail(store)));
}

/** Commits calls [from, to) as units of one call each, `perBatch` units a commit. */
async function commitCalls(store: Store, from: number, to: number, perBatch: number): Promise<void> {
  for (let i = from; i < to; i += perBatch) {
    const units = [];
    for (let j = i; j < Math.min(to, i + perBatch); j++) units.push({ events: call(j) });
    await store.commit(units);
  }
}

/** Rollups in the store's contract: kept by the commit path, equal to a recount from the trail. */
describe.each(DIALECTS)('Rollups (%s)', (dialect) => {
  let fx: StoreFixture;
  beforeEach(async () => {
    fx = await freshStore(dialect);
  });
  afterEach(async () => {
    await fx.dispose();
  });

  it('equal a recount from the events, whatever the batching', async () => {
    await commitCalls(fx.store, 0, 150, 1);
    await commitCalls(fx.store, 150, 600, 97);
    const stored = await storedCells(fx.store);
    expect(stored.length).toBeGreaterThan(50);
    expect(stored).toEqual(await recount(fx.store));
  });

  it('read by bucket range and dims, exactly or by prefix', async () => {
    await commitCalls(fx.store, 0, 300, 50);
    const all = await fx.store.rollups({ name: USAGE_HOURLY });
    const from = '2026-12-01T00';
    const to = '2026-12-01T06';
    const inRange = all.filter((c) => c.bucket >= from && c.bucket < to);
    expect(inRange.length).toBeGreaterThan(0);
    expect(inRange.length).toBeLessThan(all.length);
    expect(await fx.store.rollups({ name: USAGE_HOURLY, from, to })).toEqual(inRange);
    const one = all.filter((c) => c.bucket === from);
    expect(one.length).toBeGreaterThan(0);
    expect(await fx.store.rollups({ name: USAGE_HOURLY, bucket: from, from: '0', to: '1' })).toEqual(one);
    const billing = dimsKey('billing-agent');
    expect(await fx.store.rollups({ name: USAGE_HOURLY, dims: billing })).toEqual(
      all.filter((c) => c.dims === billing),
    );
    expect(await fx.store.rollups({ name: USAGE_HOURLY, dims: { prefix: dimsPrefix('ops-agent') } })).toEqual(
      [],
    );
    expect(await fx.store.rollups({ name: USAGE_HOURLY, dims: { prefix: '["ops' } })).toEqual(
      all.filter((c) => c.dims === dimsKey('ops-agent')),
    );
    expect(await fx.store.rollups({ name: 'no.such.rollup' })).toEqual([]);
  });

  it("give a session's usage as Store.sessionUsage counts it from the trail", async () => {
    await commitCalls(fx.store, 0, 200, 40);
    for (const s of ['s-0', 's-3', 's-6', 's-none']) {
      const usage = sessionUsageOf(await fx.store.rollups(sessionRollupQuery(s)));
      expect(usage).toEqual(await fx.store.sessionUsage(s));
    }
    expect(sessionUsageOf(await fx.store.rollups(sessionRollupQuery('s-0'))).calls.allow).toBeGreaterThan(0);
  });

  it('change only with a commit that lands: a refused unit adds nothing', async () => {
    await commitCalls(fx.store, 0, 30, 30);
    const before = await storedCells(fx.store);
    await expect(
      fx.store.commit([
        { events: call(31) },
        { mutations: [{ kind: 'legal_hold.release', id: 'no-such-hold' }], events: call(32) },
      ]),
    ).rejects.toThrow(/no legal hold/);
    expect(await storedCells(fx.store)).toEqual(before);
  });

  it("count what a commit chained: a refused reservation's replacement, not the unit given", async () => {
    // A calls budget of 3 in one hour: of 8 reserving units in one commit, 3 are admitted as allowed
    // calls and 5 are recorded by their onRefused units as blocked; the rollups count exactly that.
    const hour = new Date(T0).toISOString().slice(0, 13);
    const units: CommitUnit[] = [];
    for (let i = 0; i < 8; i++) {
      const [allowed] = call(i * 3) as [AuditEvent];
      const callId = allowed.callId as string;
      const reservation: ReservationRecord = {
        id: `res_${callId}`,
        callId,
        session: allowed.session as string,
        agent: allowed.agent as string,
        lines: [
          {
            key: `calls|global|${hour}`,
            budgetId: 'calls',
            scopeKey: 'global',
            metric: 'calls',
            window: 'hour',
            windowStart: `${hour}:00:00.000Z`,
            windowEnd: `${hour}:59:59.999Z`,
            limit: 3,
            amount: 1,
          },
        ],
        state: 'held',
        createdAt: allowed.ts,
        leaseUntil: allowed.ts,
        updatedAt: allowed.ts,
      };
      units.push({
        reserve: reservation,
        events: [allowed],
        onRefused: () => ({
          events: [
            {
              ...allowed,
              decision: {
                ...(allowed.decision as NonNullable<AuditEvent['decision']>),
                effect: 'block',
                code: 'BUDGET_EXCEEDED',
              },
            },
          ],
        }),
      });
    }
    const results = await fx.store.commit(units);
    expect(results.filter((r) => r.refused).length).toBe(5);
    const sessions = await fx.store.rollups({ name: SESSION_ROLLUP });
    const total = (metric: string) =>
      sessions.reduce((n, c) => n + ((c.metrics as Record<string, number>)[metric] ?? 0), 0);
    expect(total('block')).toBe(5);
    expect(total('allow')).toBe(3);
    expect(await storedCells(fx.store)).toEqual(await recount(fx.store));
  });

  it('stay exact under concurrent commits from two instances', async () => {
    const other = await fx.reopen();
    try {
      const a = new GroupCommitter(fx.store);
      const b = new GroupCommitter(other);
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 800; i++) pending.push((i % 2 ? a : b).submit({ events: call(i) }));
      await Promise.all(pending);
    } finally {
      await other.close();
    }
    const stored = await storedCells(fx.store);
    expect(stored).toEqual(await recount(fx.store));
    const calls = stored
      .filter((c) => c.name === USAGE_DAILY)
      .reduce((n, c) => n + (c.metrics.calls ?? 0), 0);
    expect(calls).toBe((await trail(fx.store)).filter((e) => e.type === 'call.completed').length);
  });

  it('keep the sums of purged events: a retention purge removes events, not their summaries', async () => {
    const keys = generateKeyRing();
    const cp = (kind: CheckpointRequest['kind']): CheckpointRequest => ({
      kind,
      keyId: keys.keyId,
      ts: new Date().toISOString(),
      sign: (body) => signCheckpoint(body, keys.signingKey),
    });
    const units = Array.from({ length: 40 }, (_, i) => ({ events: call(i) }));
    const written = await fx.store.commit([...units, { events: [], checkpoint: cp('on-demand') }]);
    const before = await storedCells(fx.store);
    expect(before).toEqual(await recount(fx.store));
    const anchor = written.flatMap((w) => w.events).at(-1) as { seq: number; hash: string };
    await fx.store.commit([
      {
        mutations: [{ kind: 'audit.purge', throughSeq: anchor.seq }],
        events: [
          decided({ type: 'retention.purged', data: { throughSeq: anchor.seq, anchorHash: anchor.hash } }),
        ],
        checkpoint: cp('purge'),
      },
    ]);
    expect(await trail(fx.store)).toHaveLength(1);
    // The SOC 2 cells count every event, the retention.purged one too: compare the others.
    const notSoc2 = (cells: RollupCell[]) => cells.filter((c) => !c.name.startsWith('soc2.'));
    expect(notSoc2(await storedCells(fx.store))).toEqual(notSoc2(before));
  });

  it('migration 11 backfills an existing trail, page by page, with sums written out as it goes', async () => {
    await commitCalls(fx.store, 0, 1_200, 400);
    const expected = await recount(fx.store);
    await fx.store.close();
    // The database as schema 10 left it: the trail, no rollups.
    const drop = ['DROP TABLE rollups', 'DELETE FROM warden_migrations WHERE version = 11'];
    if (dialect === 'sqlite') {
      const db = new Database(fx.location);
      for (const sql of drop) db.exec(sql);
      db.close();
    } else {
      await withClient(fx.location, async (c) => {
        for (const sql of drop) await c.query(sql);
      });
    }
    const migrated = await openStore(fx.location);
    try {
      expect(await storedCells(migrated)).toEqual(expected);
    } finally {
      await migrated.close();
    }
    // Small pages and early flushes give the same cells (the sums of one cell are split across writes).
    const rebuild = 'DELETE FROM rollups';
    if (dialect === 'sqlite') {
      const db = new Database(fx.location);
      db.exec(rebuild);
      db.transaction(() => backfillSqliteRollups(db, { page: 97, flushRows: 50 })).immediate();
      db.close();
    } else {
      await withClient(fx.location, async (c) => {
        await c.query(rebuild);
        await backfillPostgresRollups(c, { page: 97, flushRows: 50 });
      });
    }
    fx = { ...fx, store: await openStore(fx.location) };
    expect(await storedCells(fx.store)).toEqual(expected);
  });
});
