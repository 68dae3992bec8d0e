import type { ReportPeriod } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testEngine } from '../../test-support/engine-fixtures.js';
import { seedIdentities } from '../../test-support/identity-seed.js';
import { busyHours } from '../../test-support/soc2-busy.js';
import { SOC2_PERIOD, seedSoc2 } from '../../test-support/soc2-seed.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import { purgeExpired } from '../audit/retention.js';
import type { Engine } from '../engine/engine.js';
import type { Store } from '../store/store.js';
import { gatherSoc2Report, type Soc2GatherOptions } from './soc2-gather.js';

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The report from rollups and indexed reads of the rare types is the report the streaming builder
 * counts from every event (`recount`), figure for figure, over periods of every shape: whole days,
 * partial hours at both ends, inside one hour, weeks, tiny row caps.
 */
describe.each(DIALECTS)('the SOC 2 report from rollups equals the recount (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  /** A second database: the identity seed (verified keys, SSO, task tokens, claims), seeded now. */
  let ids: StoreFixture;
  let idEngine: Engine;
  let now: number;

  beforeAll(async () => {
    fx = await freshStore(dialect);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-03-02T07:00:00Z'));
    engine = await testEngine(fx);
    await seedSoc2(engine, (ms) => vi.setSystemTime(ms));
    await busyHours(engine, Date.parse('2026-03-05T06:40:00Z'), (ms) => vi.setSystemTime(ms));
    vi.useRealTimers();
    ids = await freshStore(dialect);
    idEngine = await testEngine(ids);
    await seedIdentities(idEngine);
    now = Date.now();
  });
  afterAll(async () => {
    vi.useRealTimers();
    await engine?.close();
    await fx?.dispose();
    await idEngine?.close();
    await ids?.dispose();
  });

  /** Both reports of a period, at the same instant; and how often the fast one read the rollups. */
  const both = async (period: ReportPeriod, more: Partial<Soc2GatherOptions> = {}, store = fx.store) => {
    const at = () => new Date('2026-12-01T00:00:00Z');
    const counted = countRollupReads(store);
    const fast = await gatherSoc2Report(counted.store, { period, now: at, pageSize: 4, ...more });
    const recount = await gatherSoc2Report(store, { period, now: at, pageSize: 4, recount: true, ...more });
    // The same value key for key, in the same order (a JSON export of the model is the same text).
    expect(JSON.stringify(fast)).toBe(JSON.stringify(recount));
    return { fast, recount, rollupReads: counted.reads() };
  };

  it('over the seeded whole day, read from the rollups', async () => {
    const { fast, recount, rollupReads } = await both(SOC2_PERIOD);
    expect(recount.events.total).toBeGreaterThan(20);
    expect(rollupReads).toBeGreaterThan(0);
    expect(fast).toEqual(recount);
  });

  it('over busy hours cut mid-hour at both ends (by the hour)', async () => {
    const period = { from: '2026-03-05T07:13:00.000Z', to: '2026-03-05T10:41:30.000Z' };
    const { fast, recount, rollupReads } = await both(period);
    expect(recount.decisions.block).toBeGreaterThan(0);
    expect(recount.decisions.review).toBeGreaterThan(0);
    expect(recount.operations.blockedByAgent.rows.length).toBeGreaterThan(1);
    expect(rollupReads).toBeGreaterThan(0);
    expect(fast).toEqual(recount);
  });

  it('inside one hour, and over the identities seeded now', async () => {
    const hour = Math.floor(now / HOUR) * HOUR;
    for (const period of [
      { from: iso(hour + 1), to: iso(now + 60_000) },
      { from: iso(now - 3 * HOUR), to: iso(now + HOUR) },
    ]) {
      const { fast, recount } = await both(period, {}, ids.store);
      expect(recount.access.identities.identities.total).toBeGreaterThan(3);
      expect(fast).toEqual(recount);
    }
  });

  it('over everything by the day and by the week, with lists cut to one row', async () => {
    const days = { from: '2026-03-01T00:00:00.000Z', to: '2026-03-07T00:00:00.000Z' };
    const weeks = { from: '2025-12-29T05:30:00.000Z', to: iso(now + 2 * HOUR) };
    for (const [period, more, store] of [
      [days, {}, fx.store],
      [weeks, {}, fx.store],
      [weeks, { cap: 1, top: 1 }, fx.store],
      [weeks, { cap: 2, top: 1 }, ids.store],
    ] as const) {
      const { fast, recount } = await both(period, more, store);
      expect(fast).toEqual(recount);
    }
  });

  it('after a retention purge that cut an hour: the purged events are not counted', async () => {
    const purged = await freshStore(dialect);
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.parse('2026-03-05T06:00:00Z'));
      const e = await testEngine(purged);
      const setTime = (ms: number) => vi.setSystemTime(ms);
      await busyHours(e, Date.parse('2026-03-05T06:40:00Z'), setTime); // until 10:58:40
      await e.checkpoint(); // the anchor: the purge removes everything up to here, in hour 10
      await busyHours(e, Date.parse('2026-03-05T10:59:00Z'), setTime);
      const outcome = await purgeExpired(e, { retentionDays: 1, now: new Date('2026-03-06T11:30:00Z') });
      expect(outcome.purged).toBeGreaterThan(100);
      await e.close();
      vi.useRealTimers();
      const day = { from: '2026-03-05T00:00:00.000Z', to: '2026-03-06T00:00:00.000Z' };
      const { fast, recount } = await both(day, {}, purged.store);
      expect(recount.events.firstSeq).toBe(outcome.purged + 1);
      expect(fast).toEqual(recount);
    } finally {
      vi.useRealTimers();
      await purged.dispose();
    }
  });

  it('recounts from the events when the rollups do not hold every event chained', async () => {
    const shift = (by: number) =>
      fx.plain(
        "UPDATE rollups SET value = value + $1 WHERE name = 'soc2.chained' AND bucket = '' AND metric = 'n'",
        by,
      );
    await shift(-1); // as on a trail the rollups were not kept for from the start
    try {
      const { fast, recount, rollupReads } = await both(SOC2_PERIOD);
      expect(rollupReads).toBe(1); // the completeness check alone
      expect(fast).toEqual(recount);
    } finally {
      await shift(1);
    }
    expect((await both(SOC2_PERIOD)).rollupReads).toBeGreaterThan(1);
  });

  it('over a period with no events', async () => {
    const period = { from: '2026-02-01T00:00:00.000Z', to: '2026-02-02T00:00:00.000Z' };
    const { fast, recount } = await both(period);
    expect(recount.events.total).toBe(0);
    expect(fast).toEqual(recount);
  });
});

/** The store, counting its rollup reads. */
function countRollupReads(store: Store): { store: Store; reads: () => number } {
  let n = 0;
  const counted = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === 'rollups') {
        return (...args: Parameters<Store['rollups']>) => {
          n += 1;
          return target.rollups(...args);
        };
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store: counted, reads: () => n };
}
