import { type AuditEvent, canonicalJson, uuidv7 } from '@warden/core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { testEngine } from '../../../test-support/engine-fixtures.js';
import { createTestDatabase, withClient } from '../../../test-support/postgres-server.js';
import { decided, type StoreFixture } from '../../../test-support/store-fixtures.js';
import { placeLegalHold, purgeExpired, releaseLegalHold } from '../../audit/retention.js';
import { verifyStore } from '../../audit/verify-store.js';
import { linkBodies } from '../commit-plan.js';
import { PostgresDriver } from './postgres-driver.js';
import { postgresColumnValues } from './postgres-event-payload.js';
import { migratePostgres, POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { addMonths, PartitionsAhead } from './postgres-partitions-ahead.js';
import { FIND_CALL_SQL, openPostgresStore, type PostgresStore } from './postgres-store.js';

// Schema 12 on PostgreSQL: audit_events partitioned by month of ts (see postgres-partitioning.ts).

const thisMonth = new Date().toISOString().slice(0, 7);
const nextMonth = addMonths(thisMonth, 1);
/** An ISO timestamp in `month` ('YYYY-MM'), at `rest` ('-DDTHH:MM:SS.mmmZ'). */
const at = (month: string, rest = '-15T12:00:00.000Z') => `${month}${rest}`;
const partition = (month: string) => `audit_events_y${month.replace('-', 'm')}`;

const opened: PostgresStore[] = [];
const open = async (url: string) => {
  const store = await openPostgresStore(url);
  opened.push(store);
  return store;
};
const sql = <R>(url: string, text: string, params: unknown[] = []) =>
  withClient(url, async (c) => (await c.query(text, params)).rows as R[]);
/** Where each seq is stored: the partition's name. */
const homes = async (url: string) =>
  new Map(
    (
      await sql<{ seq: number; home: string }>(
        url,
        'SELECT seq::int AS seq, tableoid::regclass::text AS home FROM audit_events ORDER BY seq',
      )
    ).map((r) => [r.seq, r.home]),
  );
const refusal = async (url: string, text: string) =>
  sql(url, text).then(
    () => 'done',
    (err: Error) => (/append-only/.test(err.message) ? 'refused' : err.message),
  );

afterAll(async () => {
  for (const s of opened) await s.close();
});

describe('PostgreSQL audit partitions (schema 12)', () => {
  let url: string;
  beforeAll(async () => {
    url = await createTestDatabase(inject('postgresUrl'), 'partitions');
  });

  it('migrates a populated schema-10 database: the old table becomes the history partition, the chain verifies', async () => {
    const old = await createTestDatabase(inject('postgresUrl'), 'partitions_v10');
    const call = uuidv7();
    const events: AuditEvent[] = [
      ...Array.from({ length: 20 }, () => decided()),
      decided({ callId: call, id: call }),
      { ...decided({ callId: call }), id: uuidv7(), type: 'call.completed' },
    ];
    const rows = linkBodies({ seq: 0, hash: '0'.repeat(64) }, events.map(canonicalJson));
    await withClient(old, async (c) => {
      await migratePostgres(
        c,
        POSTGRES_MIGRATIONS.filter((m) => m.version <= 10),
      );
      for (const [i, r] of rows.entries()) {
        const col = postgresColumnValues(events[i] as AuditEvent);
        await c.query(
          `INSERT INTO audit_events (seq, prev, hash, body, ts, type, actor, agent, session, tool, call_id, effect, rule_id, triggered_by, approvers, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
          [
            r.seq,
            r.prev,
            r.hash,
            r.body,
            col.ts,
            col.type,
            col.actor,
            col.agent,
            col.session,
            col.tool,
            col.call_id,
            col.effect,
            col.rule_id,
            col.triggered_by,
            col.approvers,
            col.event_id,
          ],
        );
      }
      const last = rows.at(-1);
      await c.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [last?.seq, last?.hash]);
    });
    const store = await open(old);
    expect(await verifyStore(store)).toMatchObject({ ok: true, checked: 22 });
    expect(new Set((await homes(old)).values())).toEqual(new Set(['audit_events_history']));
    // The history holds every month up to its newest row's (this one); the next gets its own partition,
    // and the default is there for strays.
    const parts = await sql<{ name: string }>(
      old,
      "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_events'::regclass ORDER BY 1",
    );
    expect(parts.map((p) => p.name)).toEqual([
      'audit_events_default',
      'audit_events_history',
      partition(nextMonth),
    ]);
    // Making a later month's partition does not read the history to prove it holds none of that month's
    // rows (its range says so): as the default, it was read whole under an exclusive lock each month.
    const scans = async () =>
      Number(
        (
          await sql<{ n: string }>(
            old,
            "SELECT seq_scan AS n FROM pg_stat_user_tables WHERE relname = 'audit_events_history'",
          )
        )[0]?.n,
      );
    const before = await scans();
    await sql(old, 'SELECT pg_stat_clear_snapshot()');
    await sql(
      old,
      `SELECT warden_audit_partitions('${addMonths(nextMonth, 2)}', '${addMonths(nextMonth, 3)}')`,
    );
    await new Promise((r) => setTimeout(r, 600)); // the statistics collector reports after a moment
    expect(await scans()).toBe(before);
    // The call decided and completed before the migration stays decided and completed once.
    const again = { ...decided({ callId: call }), id: uuidv7(), type: 'call.completed' as const };
    await expect(store.commit([{ events: [again] }])).rejects.toMatchObject({
      code: 'CALL_ALREADY_COMPLETED',
    });
    await expect(store.commit([{ events: [decided({ callId: call })] }])).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringMatching(/decided twice/),
    });
    // New events land in the history this month and in their own partition from next month on.
    const [written] = await store.commit([{ events: [decided(), decided({ ts: at(nextMonth) })] }]);
    const home = await homes(old);
    expect([home.get(written?.events[0]?.seq ?? 0), home.get(written?.events[1]?.seq ?? 0)]).toEqual([
      'audit_events_history',
      partition(nextMonth),
    ]);
    expect(await verifyStore(store, { deep: true })).toMatchObject({ ok: true, checked: 24 });
  });

  it('creates the partitions at a month boundary before they are needed, and never fails for a missing one', async () => {
    const driver = new PostgresDriver(url);
    try {
      const store = await open(url);
      const ahead = new PartitionsAhead(driver, () => new Date('2030-01-31T23:59:59.999Z'));
      await ahead.before([]);
      expect(ahead.lastError).toBeUndefined();
      const [r] = await store.commit([
        {
          events: [
            decided({ ts: '2030-01-31T23:59:59.999Z' }),
            decided({ ts: '2030-02-01T00:00:00.000Z' }),
            // Beyond what is made ahead: the default partition takes it.
            decided({ ts: '2099-06-01T00:00:00.000Z' }),
          ],
        },
      ]);
      const home = await homes(url);
      expect(r?.events.map((e) => home.get(e.seq))).toEqual([
        'audit_events_y2030m01',
        'audit_events_y2030m02',
        'audit_events_default',
      ]);
      // The store made this month's and next month's at open, and the month after an event's ahead of it.
      await store.commit([{ events: [decided({ ts: at(addMonths(thisMonth, 3)) })] }]);
      const names = new Set((await homes(url)).values());
      expect(names.has(partition(addMonths(thisMonth, 3)))).toBe(true);
      const tables = await sql<{ name: string }>(
        url,
        "SELECT relname AS name FROM pg_class WHERE relname LIKE 'audit_events_y%' AND relkind = 'r'",
      );
      expect(tables.map((t) => t.name)).toEqual(
        expect.arrayContaining(
          [thisMonth, nextMonth, addMonths(thisMonth, 4), '2030-01', '2030-02'].map(partition),
        ),
      );
      expect(await verifyStore(store, { deep: true })).toMatchObject({ ok: true });
    } finally {
      await driver.end();
    }
  });

  it('allows one decision and one end per call across partitions and across two instances', async () => {
    const a = await open(url);
    const b = await open(url);
    const call = uuidv7();
    await a.commit([{ events: [decided({ callId: call, id: call, ts: at(thisMonth) })] }]);
    await expect(
      b.commit([{ events: [decided({ callId: call, ts: at(nextMonth) })] }]),
    ).rejects.toMatchObject({
      code: 'INTERNAL',
    });
    const end = (type: 'call.completed' | 'call.voided', month: string) => ({
      ...decided({ callId: call, ts: at(month) }),
      id: uuidv7(),
      type,
    });
    // Both instances end the call at once, in different months' partitions: exactly one lands.
    const outcomes = await Promise.allSettled([
      a.commit([{ events: [end('call.completed', nextMonth)] }]),
      b.commit([{ events: [end('call.voided', thisMonth)] }]),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(['CALL_ALREADY_COMPLETED', 'CALL_VOIDED']).toContain(refused.reason.code);
    await expect(a.commit([{ events: [end('call.completed', thisMonth)] }])).rejects.toMatchObject({
      code: expect.stringMatching(/^CALL_(ALREADY_COMPLETED|VOIDED)$/),
    });
    expect((await a.findCall(call)).decided?.event.callId).toBe(call);
  });

  it('refuses an append that does not continue the head (a repeated seq would pass the (seq, ts) index)', async () => {
    const store = await open(url);
    await store.commit([{ events: [decided()] }]);
    const [head] = await sql<{ seq: string; hash: string }>(
      url,
      'SELECT seq, hash FROM audit_head WHERE id = 1',
    );
    const append = (toSeq: number, prevs: string) =>
      sql(url, "SELECT * FROM warden_append($1, $2, $3, $4, $5, '[]', '{}', '{}', '{}', $6, $2, false)", [
        head?.seq,
        head?.hash,
        prevs,
        prevs === '' ? '' : 'f'.repeat(64),
        prevs === '' ? '' : '{}',
        toSeq,
      ]).then(
        () => 'done',
        (err: Error) => err.message,
      );
    // A head moved by more than the events written, and events whose first prev is not the head.
    expect(await append(Number(head?.seq) + 3, '')).toMatch(/do not continue the chain head/);
    expect(await append(Number(head?.seq) + 1, '0'.repeat(64))).toMatch(/do not continue the chain head/);
    expect(await sql(url, 'SELECT seq, hash FROM audit_head WHERE id = 1')).toEqual([head]);
    expect(await verifyStore(store)).toMatchObject({ ok: true });
  });

  it('finds a call through the indexes of audit_calls, never a scan of it', async () => {
    await open(url);
    // With sequential scans priced out, a plan still scanning audit_calls has no index it can use.
    const plan = await withClient(url, async (c) => {
      await c.query('SET enable_seqscan = off');
      const r = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${FIND_CALL_SQL}`.replace(/\$1/g, "'c'"));
      return r.rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/audit_events_call_decided/);
    expect(plan).toMatch(/audit_events_call_end/);
    expect(plan).not.toMatch(/Seq Scan on audit_calls/);
  });
});

describe('PostgreSQL audit partitions: tamper triggers and retention', () => {
  let url: string;
  let fx: StoreFixture;

  afterEach(async () => {
    await fx?.dispose();
  });

  const fixture = async (): Promise<StoreFixture> => {
    url = await createTestDatabase(inject('postgresUrl'), 'partitions_purge');
    const store = await openPostgresStore(url);
    return {
      store,
      location: url,
      reopen: () => openPostgresStore(url),
      tamper: async () => {},
      plain: async (text, ...params) => {
        await sql(url, text, params);
      },
      dispose: () => store.close(),
    };
  };

  it('refuses UPDATE, DELETE and TRUNCATE on every partition and on the call index', async () => {
    fx = await fixture();
    await fx.store.commit([{ events: [decided(), decided({ ts: at(nextMonth) })] }]);
    for (const table of [
      partition(thisMonth),
      partition(nextMonth),
      'audit_events_default',
      'audit_events',
    ]) {
      expect(await refusal(url, `UPDATE ${table} SET body = body`)).toBe(
        table === 'audit_events_default' ? 'done' : 'refused',
      );
      expect(await refusal(url, `DELETE FROM ${table}`)).toBe(
        table === 'audit_events_default' ? 'done' : 'refused',
      );
      expect(await refusal(url, `TRUNCATE ${table}`)).toBe('refused');
    }
    // The default partition is empty here, so an UPDATE or DELETE of it touches no row; with one, refused.
    await fx.store.commit([{ events: [decided({ ts: '2099-01-01T00:00:00.000Z' })] }]);
    expect(await refusal(url, 'UPDATE audit_events_default SET body = body')).toBe('refused');
    expect(await refusal(url, 'DELETE FROM audit_events_default')).toBe('refused');
    for (const statement of [
      'UPDATE audit_calls SET seq = seq',
      'DELETE FROM audit_calls',
      'TRUNCATE audit_calls',
    ]) {
      expect(await refusal(url, statement)).toBe('refused');
    }
    // Dropping purged partitions needs a genuine purge's permission, like deleting rows.
    expect(await refusal(url, 'SELECT warden_drop_purged_partitions(1000)')).toBe('refused');
    expect(await verifyStore(fx.store)).toMatchObject({ ok: true, checked: 3 });
  });

  it('drops a partition whose events a purge covers whole, keeps the rest, and purges nothing under a legal hold', async () => {
    fx = await fixture();
    const engine = await testEngine(fx, { everyEvents: 1_000_000 });
    try {
      // The engine's own events are stamped now; these fall in next month's partition.
      await fx.store.commit([
        { events: Array.from({ length: 30 }, () => decided({ ts: at(nextMonth, '-01T00:00:00.000Z') })) },
      ]);
      await engine.checkpoint();
      const through = (await fx.store.head()).seq;
      const later = new Date(Date.now() + 500 * 86_400_000);
      const hold = await placeLegalHold(engine, { kind: 'human', id: 'counsel' }, 'matter 2026-114');
      await expect(purgeExpired(engine, { retentionDays: 400, now: later })).rejects.toMatchObject({
        code: 'LEGAL_HOLD_ACTIVE',
      });
      expect(new Set((await homes(url)).values()).has(partition(nextMonth))).toBe(true);
      await releaseLegalHold(engine, { kind: 'human', id: 'counsel' }, hold.id, 'matter closed');
      await engine.checkpoint();
      const outcome = await purgeExpired(engine, { retentionDays: 400, now: later });
      expect(outcome.throughSeq).toBeGreaterThan(through);
      const left = await homes(url);
      // Next month's partition (seqs 2..31) was dropped whole; this month's lost its rows up to the anchor.
      const tables = await sql<{ name: string }>(
        url,
        "SELECT relname AS name FROM pg_class WHERE relname LIKE 'audit_events_y%'",
      );
      expect(tables.map((t) => t.name)).not.toContain(partition(nextMonth));
      expect([...left.keys()].every((seq) => seq > (outcome.throughSeq ?? 0))).toBe(true);
      expect([...left.values()].every((home) => home === partition(thisMonth))).toBe(true);
      expect((await sql<{ n: number }>(url, 'SELECT count(*)::int AS n FROM audit_calls'))[0]?.n).toBe(0);
      expect(await verifyStore(fx.store)).toMatchObject({
        ok: true,
        firstSeq: (outcome.throughSeq ?? 0) + 1,
      });
      // The next month is made again for what comes next.
      await fx.store.commit([{ events: [decided({ ts: at(nextMonth) })] }]);
      expect(new Set((await homes(url)).values()).has(partition(nextMonth))).toBe(true);
    } finally {
      await engine.close();
    }
  });
});
