import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AuditEvent,
  ChainVerifier,
  checkpointDigest,
  isWardenError,
  signCheckpoint,
  uuidv7,
} from '@warden/core';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, withClient } from '../../test-support/postgres-server.js';
import { DIALECTS, decided, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import { generateKeyRing } from '../keys/key-ring.js';
import { encodeCursor, parseAuditQuery } from './audit-query.js';
import { GroupCommitter } from './group-committer.js';
import { openStore } from './open-store.js';
import { PostgresDriver } from './postgres/postgres-driver.js';
import { migratePostgres, POSTGRES_MIGRATIONS } from './postgres/postgres-migrations.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { toRecord } from './row-mapping.js';
import { SQLITE_MIGRATIONS } from './sqlite/sqlite-migrations.js';
import { migrateSqlite, SqliteStore } from './sqlite/sqlite-store.js';
import type {
  ApiKeyRecord,
  CheckpointRequest,
  PolicyVersionRecord,
  SessionRecord,
  SessionState,
  Store,
} from './store.js';

/** An API key record with distinct, valid fields. */
function apiKey(over: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  const id = `key_${uuidv7()}`;
  return {
    id,
    hash: Buffer.from(id).toString('hex').padEnd(64, '0').slice(0, 64),
    prefix: 'wdn_ab12',
    principalKind: 'human',
    principal: 'alice',
    role: 'admin',
    label: null,
    createdAt: new Date().toISOString(),
    createdBy: 'system',
    expiresAt: null,
    revokedAt: null,
    revokedBy: null,
    permissions: [],
    ...over,
  };
}

function session(id: string, over: Partial<SessionRecord> = {}): SessionRecord {
  const ts = '2026-01-01T00:00:00.000Z';
  return {
    id,
    agent: 'billing-agent',
    state: 'active',
    stateReason: null,
    triggeredBy: null,
    delegationChain: [],
    createdAt: ts,
    updatedAt: ts,
    ...over,
  };
}

/**
 * A database at schema version 1 and a store over it that does not migrate it: the database as a
 * version-1 Warden wrote it. The commit path it uses is unchanged since but for one query column,
 * audit_events.event_id (schema 4), and the rollups (schema 11): they are there while the store writes
 * and dropped by `close`, so the events are left as a version-1 Warden left them.
 */
async function version1Store(
  dialect: (typeof DIALECTS)[number],
): Promise<{ location: string; store: Store; close(): Promise<void>; dispose(): void }> {
  const addColumn = `ALTER TABLE audit_events ADD COLUMN event_id TEXT;
CREATE TABLE rollups (name TEXT, bucket TEXT, dims TEXT, metric TEXT, value DOUBLE PRECISION,
  PRIMARY KEY (name, bucket, dims, metric))`;
  const dropColumn = 'ALTER TABLE audit_events DROP COLUMN event_id; DROP TABLE rollups';
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'warden-v1-'));
    const location = join(dir, 'warden.db');
    const db = new Database(location);
    migrateSqlite(db, SQLITE_MIGRATIONS.slice(0, 1));
    db.exec(addColumn);
    const store = new SqliteStore(db, location);
    return {
      location,
      store,
      async close() {
        await store.close();
        const again = new Database(location);
        again.exec(dropColumn);
        again.close();
      },
      dispose: () => rmSync(dir, { recursive: true }),
    };
  }
  const location = await createTestDatabase(inject('postgresUrl'), 'v1');
  await withClient(location, async (c) => {
    await migratePostgres(c, POSTGRES_MIGRATIONS.slice(0, 1));
    await c.query(addColumn);
  });
  const store = new PostgresStore(new PostgresDriver(location), location);
  return {
    location,
    store,
    async close() {
      await store.close();
      await withClient(location, (c) => c.query(dropColumn));
    },
    dispose: () => {},
  };
}

/** Every schema version of a dialect, in order: 12 is SQLite's call index and page size, PostgreSQL's partitions. */
const schemaList = (_dialect: string) => Array.from({ length: 12 }, (_, i) => i + 1);

/** The versions recorded in warden_migrations, in order. */
async function schemaVersions(dialect: (typeof DIALECTS)[number], location: string): Promise<number[]> {
  const sql = 'SELECT version FROM warden_migrations ORDER BY version';
  if (dialect === 'postgres') {
    return (await withClient(location, (c) => c.query<{ version: number }>(sql))).rows.map((r) => r.version);
  }
  const db = new Database(location, { readonly: true });
  try {
    return (db.prepare(sql).all() as { version: number }[]).map((r) => r.version);
  } finally {
    db.close();
  }
}

/** The one Store contract: every test runs unchanged against SQLite and a real PostgreSQL. */
describe.each(DIALECTS)('Store contract (%s)', (dialect) => {
  let fx: StoreFixture;
  beforeEach(async () => {
    fx = await freshStore(dialect);
  });
  afterEach(async () => {
    await fx?.dispose();
  });

  const keys = generateKeyRing();
  const cpRequest = (kind: CheckpointRequest['kind'] = 'on-demand'): CheckpointRequest => ({
    kind,
    keyId: keys.keyId,
    ts: new Date().toISOString(),
    sign: (body) => signCheckpoint(body, keys.signingKey),
  });
  const verify = async () => {
    const v = new ChainVerifier({
      mode: 'store',
      checkpoints: await fx.store.checkpoints(),
      publicKeys: [keys.publicKey],
    });
    for (const row of await fx.store.readChain(0, 1_000_000)) v.push(row);
    return v.finish();
  };

  it('starts empty and chains events from seq 1 in commit order', async () => {
    expect(await fx.store.head()).toEqual({ seq: 0, hash: '0'.repeat(64) });
    const [a, b] = await fx.store.commit([{ events: [decided(), decided()] }, { events: [decided()] }]);
    expect(a?.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(b?.events.map((e) => e.seq)).toEqual([3]);
    const head = await fx.store.head();
    expect(head).toEqual({ seq: 3, hash: b?.events[0]?.hash });
    const rows = await fx.store.readChain(1, 10);
    expect(rows.map((r) => r.seq)).toEqual([2, 3]);
    expect(rows[0]?.prev).toBe(a?.events[0]?.hash);
    expect((await verify()).ok).toBe(true);
  });

  it('keeps the body exactly as hashed and returns it parsed from queries', async () => {
    const e = decided({ args: { note: 'ünïcødé ✓', nested: { b: 1, a: [1, 2.5, null] } } });
    await fx.store.commit([{ events: [e] }]);
    const page = await fx.store.queryAudit(parseAuditQuery({}));
    expect(page.records[0]?.event).toEqual(e);
    expect((await verify()).ok).toBe(true);
  });

  it('filters queries by every field and pages with a cursor', async () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const events = Array.from({ length: 30 }, (_, i) =>
      decided({
        ts: new Date(t0 + i * 60_000).toISOString(),
        agent: i % 3 === 0 ? 'ops-agent' : 'billing-agent',
        actor: { kind: 'agent', id: i % 3 === 0 ? 'ops-agent' : 'billing-agent' },
        session: `s-${i % 2}`,
        tool: i % 5 === 0 ? 'db.drop' : 'stripe.refund',
        triggeredBy: i % 4 === 0 ? 'alice' : 'bob',
        ...(i === 7 ? { approvers: ['carol', 'dave'] } : {}),
        ...(i % 5 === 0
          ? {
              decision: {
                effect: 'block',
                policyEffect: 'block',
                mode: 'enforce',
                ruleId: 'no-drops',
                matchedRuleIds: ['no-drops'],
                reasons: ['no'],
              },
            }
          : {}),
      }),
    );
    await fx.store.commit([{ events }]);
    const q = async (input: Record<string, unknown>) =>
      (await fx.store.queryAudit(parseAuditQuery({ limit: 1000, ...input }))).records.map((r) => r.seq);
    expect(await q({ agent: 'ops-agent' })).toHaveLength(10);
    expect(await q({ session: 's-1' })).toHaveLength(15);
    expect(await q({ tool: 'db.drop' })).toEqual([1, 6, 11, 16, 21, 26]);
    expect(await q({ decision: 'block' })).toEqual([1, 6, 11, 16, 21, 26]);
    expect(await q({ rule: 'no-drops', agent: 'ops-agent' })).toEqual([1, 16]);
    expect(await q({ triggeredBy: 'alice' })).toHaveLength(8);
    expect(await q({ approver: 'dave' })).toEqual([8]);
    expect(await q({ actor: 'ops-agent', tool: 'stripe.refund' })).toEqual([4, 7, 10, 13, 19, 22, 25, 28]);
    expect(await q({ from: '2026-01-01T00:10:00Z', to: '2026-01-01T00:12:00Z' })).toEqual([11, 12]);
    expect(await q({ from: '2026-01-01T01:10:00+01:00', to: '2026-01-01T00:11:00Z' })).toEqual([11]);
    expect(await q({ type: 'session.paused' })).toEqual([]);
    expect(await q({ eventId: events[12]?.id })).toEqual([13]);
    expect(await q({ eventId: events[12]?.id, agent: 'nobody' })).toEqual([]);
    expect(await q({ eventId: uuidv7() })).toEqual([]);

    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await fx.store.queryAudit(parseAuditQuery({ limit: 7, ...(cursor ? { cursor } : {}) }));
      seen.push(...page.records.map((r) => r.seq));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));

    // Newest first, paged the same way, with filters.
    const newest: number[] = [];
    do {
      const page = await fx.store.queryAudit(
        parseAuditQuery({ limit: 4, order: 'desc', ...(cursor ? { cursor } : {}) }),
      );
      newest.push(...page.records.map((r) => r.seq));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(newest).toEqual(Array.from({ length: 30 }, (_, i) => 30 - i));
    expect(await q({ tool: 'db.drop', order: 'desc' })).toEqual([26, 21, 16, 11, 6, 1]);
  });

  it('finds a call and refuses a second completion of it', async () => {
    const d = decided();
    await fx.store.commit([{ events: [d] }]);
    expect(await fx.store.findCall(d.callId as string)).toMatchObject({
      decided: { seq: 1 },
      completed: false,
    });
    const done = {
      ...d,
      id: uuidv7(),
      type: 'call.completed' as const,
      decision: undefined,
      outcome: { status: 'ok' as const },
    };
    await fx.store.commit([{ events: [done] }]);
    expect((await fx.store.findCall(d.callId as string)).completed).toBe(true);
    const again = fx.store.commit([{ events: [{ ...done, id: uuidv7() }] }]);
    await expect(again).rejects.toMatchObject({ code: 'CALL_ALREADY_COMPLETED' });
    expect((await fx.store.head()).seq).toBe(2);
    expect((await fx.store.findCall('nope')).decided).toBeUndefined();
  });

  it('finds a voided call and keeps one call.voided per call', async () => {
    const d = decided();
    await fx.store.commit([{ events: [d] }]);
    const voided = {
      id: uuidv7(),
      ts: d.ts,
      type: 'call.voided' as const,
      actor: { kind: 'system' as const, id: 'warden' },
      callId: d.callId,
      data: { voidedSeq: 1, effect: 'allow' },
    };
    await fx.store.commit([{ events: [voided] }]);
    expect(await fx.store.findCall(d.callId as string)).toMatchObject({
      decided: { seq: 1 },
      completed: false,
      voided: { seq: 2, event: { type: 'call.voided' } },
    });
    // A second void of the same call (another retry, another instance) is refused by the database, and
    // so is a completion racing the void: a call ends once.
    await expect(fx.store.commit([{ events: [{ ...voided, id: uuidv7() }] }])).rejects.toMatchObject({
      code: 'CALL_VOIDED',
    });
    const done = { ...d, id: uuidv7(), type: 'call.completed' as const, decision: undefined };
    await expect(
      fx.store.commit([{ events: [{ ...done, outcome: { status: 'ok' as const } }] }]),
    ).rejects.toMatchObject({ code: 'CALL_VOIDED' });
    expect((await fx.store.head()).seq).toBe(2);
    expect((await fx.store.findCall(d.callId as string)).completed).toBe(false);
  });

  it('refuses to void a completed call', async () => {
    const d = decided();
    const done = { ...d, id: uuidv7(), type: 'call.completed' as const, decision: undefined };
    await fx.store.commit([{ events: [d, { ...done, outcome: { status: 'ok' as const } }] }]);
    const voided = {
      id: uuidv7(),
      ts: d.ts,
      type: 'call.voided' as const,
      actor: { kind: 'system' as const, id: 'warden' },
      callId: d.callId,
    };
    await expect(fx.store.commit([{ events: [voided] }])).rejects.toMatchObject({
      code: 'CALL_ALREADY_COMPLETED',
    });
    expect(await fx.store.findCall(d.callId as string)).toMatchObject({ completed: true });
    expect((await fx.store.findCall(d.callId as string)).voided).toBeUndefined();
  });

  it('applies a unit all or nothing: a refused mutation writes none of its events', async () => {
    const ts = new Date().toISOString();
    const refused = fx.store.commit([
      { events: [decided()] },
      {
        mutations: [
          { kind: 'session.state', id: 'missing', state: 'paused', from: ['active'], reason: null, ts },
        ],
        events: [decided()],
      },
    ]);
    await expect(refused).rejects.toMatchObject({ code: 'SESSION_NOT_FOUND' });
    expect((await fx.store.head()).seq).toBe(0);
  });

  it('keeps sessions and enforces their state transitions', async () => {
    const ts = new Date().toISOString();
    const s: SessionRecord = {
      id: 'sess-1',
      agent: 'billing-agent',
      state: 'active',
      stateReason: null,
      triggeredBy: 'alice',
      delegationChain: ['planner'],
      createdAt: ts,
      updatedAt: ts,
    };
    await fx.store.commit([{ mutations: [{ kind: 'session.ensure', session: s }], events: [decided()] }]);
    await fx.store.commit([
      { mutations: [{ kind: 'session.ensure', session: { ...s, agent: 'other' } }], events: [] },
    ]);
    expect(await fx.store.getSession('sess-1')).toEqual(s);
    const pause = {
      kind: 'session.state' as const,
      id: 'sess-1',
      state: 'paused' as const,
      from: ['active' as const],
      reason: 'loop',
      ts,
    };
    await fx.store.commit([{ mutations: [pause], events: [] }]);
    expect(await fx.store.getSession('sess-1')).toMatchObject({ state: 'paused', stateReason: 'loop' });
    await expect(fx.store.commit([{ mutations: [pause], events: [] }])).rejects.toMatchObject({
      code: 'SESSION_STATE',
    });
    expect(await fx.store.getSession('nope')).toBeUndefined();
  });

  it('signs chained checkpoints at the head, under the chain lock', async () => {
    await fx.store.commit([{ events: [decided(), decided()] }]);
    const [r1] = await fx.store.commit([{ events: [decided()], checkpoint: cpRequest() }]);
    expect(r1?.checkpoint).toMatchObject({
      seq: 3,
      hash: r1?.events[0]?.hash,
      prev: null,
      keyId: keys.keyId,
    });
    const [r2] = await fx.store.commit([{ events: [], checkpoint: cpRequest('periodic') }]);
    expect(r2?.checkpoint?.prev).toBe(checkpointDigest(r1?.checkpoint as never));
    expect(await fx.store.checkpoints()).toEqual([r1?.checkpoint, r2?.checkpoint]);
    expect(await fx.store.checkpoints({ fromSeq: 4 })).toEqual([]);
    expect((await verify()).ok).toBe(true);
  });

  it('registers public keys once', async () => {
    const ts = new Date().toISOString();
    const reg = { kind: 'key.register' as const, keyId: keys.keyId, pem: keys.publicPem, ts };
    await fx.store.commit([{ mutations: [reg], events: [] }]);
    await fx.store.commit([{ mutations: [reg], events: [] }]);
    expect(await fx.store.publicKeys()).toEqual([{ keyId: keys.keyId, pem: keys.publicPem }]);
  });

  /** A purge's unit as retention commits it: the mutation, its record last, a purge checkpoint. */
  const purgeUnit = (throughSeq: number, anchorHash: string | undefined) => ({
    mutations: [{ kind: 'audit.purge' as const, throughSeq }],
    events: [decided({ type: 'retention.purged', data: { throughSeq, anchorHash } })],
    checkpoint: cpRequest('purge'),
  });

  it('purges only up to a checkpoint, never under a legal hold, and the rest still verifies', async () => {
    const old = Array.from({ length: 5 }, (_, i) =>
      decided({ ts: new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString() }),
    );
    const [w] = await fx.store.commit([{ events: old, checkpoint: cpRequest() }]);
    await fx.store.commit([{ events: [decided()] }]);
    expect(await fx.store.lastSeqBefore('2021-01-01T00:00:00.000Z')).toBe(5);
    expect(await fx.store.lastSeqBefore('2020-01-01T00:02:00.000Z')).toBe(2);
    const hold = { id: 'h1', reason: 'case 42', placedBy: 'legal', placedAt: new Date().toISOString() };
    await fx.store.commit([{ mutations: [{ kind: 'legal_hold.place', hold }], events: [] }]);
    expect(await fx.store.legalHolds()).toEqual([hold]);
    const anchorHash = w?.events[4]?.hash;
    await expect(fx.store.commit([purgeUnit(5, anchorHash)])).rejects.toMatchObject({
      code: 'LEGAL_HOLD_ACTIVE',
    });
    await fx.store.commit([{ mutations: [{ kind: 'legal_hold.release', id: 'h1' }], events: [] }]);
    await expect(fx.store.commit([purgeUnit(4, w?.events[3]?.hash)])).rejects.toThrow(/checkpoint/);
    // Without its record and purge checkpoint a purge is refused before the database is asked.
    await expect(
      fx.store.commit([{ mutations: [{ kind: 'audit.purge', throughSeq: 5 }], events: [] }]),
    ).rejects.toThrow(/retention.purged record/);
    expect((await fx.store.head()).seq).toBe(6);
    await fx.store.commit([purgeUnit(5, anchorHash)]);
    expect(await fx.store.oldestEvent()).toMatchObject({ seq: 6 });
    expect((await fx.store.checkpoints()).at(-1)).toMatchObject({ kind: 'purge', seq: 7 });
    expect(await verify()).toMatchObject({ ok: true, firstSeq: 6, lastSeq: 7 });
  });

  it('purges every event but its record, and continues the chain after it', async () => {
    const old = Array.from({ length: 3 }, (_, i) =>
      decided({ ts: new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString() }),
    );
    const [r] = await fx.store.commit([{ events: old, checkpoint: cpRequest() }]);
    const [p] = await fx.store.commit([purgeUnit(3, r?.events[2]?.hash)]);
    expect(await fx.store.oldestEvent()).toMatchObject({ seq: 4 });
    expect(await fx.store.head()).toEqual({ seq: 4, hash: p?.events[0]?.hash });
    const [next] = await fx.store.commit([{ events: [decided()] }]);
    expect(next?.events[0]?.seq).toBe(5);
    expect(await verify()).toMatchObject({ ok: true, firstSeq: 4 });
  });

  it('signs at the head only when it is past the last checkpoint (ifBehind)', async () => {
    await fx.store.commit([{ events: [decided(), decided()] }]);
    const behind = { ...cpRequest('periodic'), ifBehind: true };
    const [first] = await fx.store.commit([{ events: [], checkpoint: behind }]);
    expect(first?.checkpoint).toMatchObject({ seq: 2 });
    const [again] = await fx.store.commit([{ events: [], checkpoint: behind }]);
    expect(again?.checkpoint).toBeUndefined();
    expect((await fx.store.checkpoints()).map((c) => c.seq)).toEqual([2]);
  });

  it('serialises two instances into one gap-free chain', async () => {
    const other = await fx.reopen();
    try {
      const a = new GroupCommitter(fx.store);
      const b = new GroupCommitter(other);
      await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          (i % 2 ? a : b).submit({ events: [decided({ session: `s-${i}` })] }),
        ),
      );
      const report = await verify();
      expect(report).toMatchObject({ ok: true, checked: 400, lastSeq: 400 });
    } finally {
      await other.close();
    }
  });

  it('reports a failed batch per unit: the good units still commit', async () => {
    const c = new GroupCommitter(fx.store);
    const ts = new Date().toISOString();
    const results = await Promise.allSettled([
      c.submit({ events: [decided()] }),
      c.submit({
        mutations: [{ kind: 'session.state', id: 'x', state: 'paused', from: ['active'], reason: null, ts }],
        events: [decided()],
      }),
      c.submit({ events: [decided()] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(isWardenError((results[1] as PromiseRejectedResult).reason, 'SESSION_NOT_FOUND')).toBe(true);
    expect((await verify()).checked).toBe(2);
  });

  it('creates, finds and revokes API keys, oldest first, and never loses a revoked one', async () => {
    // Committed out of created_at order; equal timestamps keep commit order.
    const k1 = apiKey({
      createdAt: '2026-01-02T00:00:00.000Z',
      label: 'ci ✓',
      expiresAt: '2027-01-01T00:00:00.000Z',
    });
    const k2 = apiKey({
      createdAt: '2026-01-01T00:00:00.000Z',
      principalKind: 'agent',
      principal: 'billing-agent',
      role: 'agent',
    });
    const k3 = apiKey({
      createdAt: '2026-01-02T00:00:00.000Z',
      principalKind: 'service',
      principal: 'siem',
      role: 'auditor',
      // Schema 10: what a key may do beyond its role.
      permissions: ['initiator'],
    });
    for (const key of [k1, k2, k3]) {
      await fx.store.commit([
        { mutations: [{ kind: 'api_key.create', key }], events: [decided({ type: 'api_key.created' })] },
      ]);
    }
    expect(await fx.store.apiKeys()).toEqual([k2, k1, k3]);
    expect(await fx.store.apiKeyByHash(k3.hash)).toEqual(k3);
    expect(await fx.store.apiKey(k1.id)).toEqual(k1);
    expect(await fx.store.apiKeyByHash('f'.repeat(64))).toBeUndefined();
    expect(await fx.store.apiKey('key_missing')).toBeUndefined();

    const ts = '2026-02-01T00:00:00.000Z';
    const revoke = { kind: 'api_key.revoke' as const, id: k1.id, by: 'bob', ts };
    await fx.store.commit([{ mutations: [revoke], events: [decided({ type: 'api_key.revoked' })] }]);
    const revoked = { ...k1, revokedAt: ts, revokedBy: 'bob' };
    expect(await fx.store.apiKeyByHash(k1.hash)).toEqual(revoked);
    expect(await fx.store.apiKeys()).toEqual([k2, revoked, k3]);

    const head = await fx.store.head();
    const again = { ...revoke, by: 'carol', ts: '2026-03-01T00:00:00.000Z' };
    await expect(
      fx.store.commit([{ mutations: [again], events: [decided({ type: 'api_key.revoked' })] }]),
    ).rejects.toMatchObject({ code: 'KEY_REVOKED' });
    await expect(
      fx.store.commit([{ mutations: [{ ...revoke, id: 'key_missing' }], events: [decided()] }]),
    ).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    expect(await fx.store.head()).toEqual(head);
    expect(await fx.store.apiKey(k1.id)).toEqual(revoked);
  });

  it('bootstraps an admin key only while there is no key at all', async () => {
    const admin = apiKey();
    const bootstrap = (key: ApiKeyRecord) =>
      fx.store.commit([
        {
          mutations: [{ kind: 'api_key.create', key, onlyIfNone: true }],
          events: [decided({ type: 'api_key.created' })],
        },
      ]);
    await bootstrap(admin);
    const head = await fx.store.head();
    await expect(bootstrap(apiKey())).rejects.toMatchObject({ code: 'KEYS_EXIST' });
    expect(await fx.store.head()).toEqual(head);
    expect(await fx.store.apiKeys()).toEqual([admin]);

    // A revoked key still counts: bootstrapping never reopens a locked-down store.
    const revoke = { kind: 'api_key.revoke' as const, id: admin.id, by: 'admin', ts: admin.createdAt };
    await fx.store.commit([{ mutations: [revoke], events: [] }]);
    await expect(bootstrap(apiKey())).rejects.toMatchObject({ code: 'KEYS_EXIST' });
    // An ordinary creation does not care.
    const other = apiKey({ role: 'approver' });
    await fx.store.commit([{ mutations: [{ kind: 'api_key.create', key: other }], events: [] }]);
    expect((await fx.store.apiKeys()).map((k) => k.id)).toEqual([admin.id, other.id]);
  });

  it('creates exactly one key when two instances bootstrap at once', async () => {
    const other = await fx.reopen();
    try {
      const attempts = Array.from({ length: 8 }, (_, i) => {
        const key = apiKey({ principal: `admin-${i}` });
        const unit = {
          mutations: [{ kind: 'api_key.create' as const, key, onlyIfNone: true }],
          events: [decided({ type: 'api_key.created', data: { keyId: key.id } })],
        };
        return { key, result: (i % 2 ? fx.store : other).commit([unit]) };
      });
      const settled = await Promise.allSettled(attempts.map((a) => a.result));
      const won = settled.flatMap((r, i) => (r.status === 'fulfilled' ? [attempts[i]?.key] : []));
      expect(won).toHaveLength(1);
      for (const r of settled.filter((r) => r.status === 'rejected')) {
        expect(isWardenError(r.reason, 'KEYS_EXIST'), String(r.reason)).toBe(true);
      }
      expect(await other.apiKeys()).toEqual(won);
      expect((await verify()).checked).toBe(1);
    } finally {
      await other.close();
    }
  });

  it('keeps every stored policy; the newest stored is current, even a revert', async () => {
    expect(await fx.store.currentPolicy()).toBeUndefined();
    expect(await fx.store.policyHistory(10)).toEqual([]);
    const ts = '2026-01-01T00:00:00.000Z';
    const v1: PolicyVersionRecord = {
      version: '1'.repeat(64),
      name: 'payments',
      mode: 'enforce',
      sources: [
        { path: 'policy.yaml', text: 'version: 1\nrules:\n  - id: "ünï"\n' },
        { path: 'extra/more.yaml', text: 'rules: []\n' },
      ],
      createdAt: ts,
      createdBy: 'alice',
    };
    const v2: PolicyVersionRecord = {
      ...v1,
      version: '2'.repeat(64),
      mode: 'monitor',
      sources: [v1.sources[0] as never],
    };
    // The revert has the same timestamp as v2: order is the order stored, not created_at.
    const revert: PolicyVersionRecord = { ...v1, createdBy: 'bob' };
    for (const policy of [v1, v2, revert]) {
      await fx.store.commit([
        { mutations: [{ kind: 'policy.store', policy }], events: [decided({ type: 'policy.changed' })] },
      ]);
    }
    expect(await fx.store.currentPolicy()).toEqual(revert);
    expect(await fx.store.policyHistory(10)).toEqual([revert, v2, v1]);
    expect(await fx.store.policyHistory(2)).toEqual([revert, v2]);
  });

  it('stores a policy with ifCurrent only over that newest version, refusing the whole unit otherwise', async () => {
    const record = (n: string): PolicyVersionRecord => ({
      version: n.repeat(64),
      name: n,
      mode: 'enforce',
      sources: [{ path: 'policy.yaml', text: `name: ${n}\n` }],
      createdAt: '2026-01-01T00:00:00.000Z',
      createdBy: 'watcher',
    });
    const store = (policy: PolicyVersionRecord, ifCurrent: string | null) =>
      fx.store.commit([
        {
          mutations: [{ kind: 'policy.store', policy, ifCurrent }],
          events: [decided({ type: 'policy.changed' })],
        },
      ]);
    await store(record('a'), null);
    // Two instances applying the same edit over 'a': the first is stored, the second refused.
    await store(record('b'), 'a'.repeat(64));
    const head = (await fx.store.head()).seq;
    await expect(store(record('b'), 'a'.repeat(64))).rejects.toMatchObject({ code: 'POLICY_CONFLICT' });
    await expect(store(record('c'), null)).rejects.toMatchObject({ code: 'POLICY_CONFLICT' });
    expect((await fx.store.head()).seq).toBe(head);
    expect((await fx.store.policyHistory(10)).map((p) => p.name)).toEqual(['b', 'a']);
  });

  it('lists sessions most recently updated first, filtered, in pages without gaps or duplicates', async () => {
    const states: SessionState[] = ['active', 'paused', 'closed'];
    // Many share an updated_at, so pages split runs of equal timestamps (ordered by id, descending).
    const sessions = Array.from({ length: 23 }, (_, i) =>
      session(`s-${String(i).padStart(2, '0')}`, {
        agent: i % 3 === 0 ? 'ops-agent' : 'billing-agent',
        state: states[i % 3] as SessionState,
        updatedAt: new Date(Date.UTC(2026, 0, 1, 0, Math.floor(i / 4))).toISOString(),
      }),
    );
    await fx.store.commit([
      { mutations: sessions.map((s) => ({ kind: 'session.ensure' as const, session: s })), events: [] },
    ]);
    // A state change moves a session to the front.
    const ts = '2026-06-01T00:00:00.000Z';
    await fx.store.commit([
      {
        mutations: [
          { kind: 'session.state', id: 's-00', state: 'paused', from: ['active'], reason: 'loop', ts },
        ],
        events: [],
      },
    ]);
    const all = sessions.map((s) =>
      s.id === 's-00' ? { ...s, state: 'paused' as const, stateReason: 'loop', updatedAt: ts } : s,
    );
    const expected = (keep: (s: SessionRecord) => boolean) =>
      all
        .filter(keep)
        .sort((a, b) =>
          a.updatedAt === b.updatedAt ? (a.id < b.id ? 1 : -1) : a.updatedAt < b.updatedAt ? 1 : -1,
        );
    const pages = async (query: { state?: SessionState; agent?: string }, limit: number) => {
      const seen: SessionRecord[] = [];
      let count = 0;
      let cursor: string | undefined;
      do {
        const page = await fx.store.listSessions({ ...query, limit, ...(cursor ? { cursor } : {}) });
        seen.push(...page.sessions);
        count += 1;
        cursor = page.nextCursor ?? undefined;
      } while (cursor && count < 100);
      return { seen, count };
    };

    expect(expected(() => true)[0]?.id).toBe('s-00');
    expect((await fx.store.listSessions({ limit: 100 })).sessions).toEqual(expected(() => true));
    expect(await pages({}, 4)).toEqual({ seen: expected(() => true), count: 6 });
    // 24 would fill the last page exactly: the page before it must not promise a next one.
    expect((await pages({}, 23)).count).toBe(1);
    const paused = expected((s) => s.state === 'paused');
    expect(paused.map((s) => s.id)).toContain('s-00');
    expect(await pages({ state: 'paused' }, 3)).toEqual({
      seen: paused,
      count: Math.ceil(paused.length / 3),
    });
    const ops = expected((s) => s.agent === 'ops-agent');
    expect(await pages({ agent: 'ops-agent' }, 2)).toEqual({ seen: ops, count: Math.ceil(ops.length / 2) });
    const both = expected((s) => s.agent === 'ops-agent' && s.state === 'active');
    expect(both.length).toBeGreaterThan(1);
    expect((await pages({ agent: 'ops-agent', state: 'active' }, 1)).seen).toEqual(both);
    expect((await fx.store.listSessions({ agent: 'nobody', limit: 10 })).sessions).toEqual([]);

    for (const cursor of [
      'not a cursor',
      encodeCursor(5),
      Buffer.from('session:[1,2]').toString('base64url'),
    ]) {
      await expect(fx.store.listSessions({ limit: 10, cursor })).rejects.toMatchObject({
        code: 'QUERY_INVALID',
      });
    }
  });

  it("sums a session's calls by effect and the usage reported with its completions", async () => {
    const effectOf = (effect: 'allow' | 'review' | 'block'): AuditEvent['decision'] => ({
      effect,
      policyEffect: effect,
      mode: 'enforce',
      ruleId: null,
      matchedRuleIds: [],
      reasons: [],
    });
    const calls = (['allow', 'allow', 'allow', 'review', 'block', 'block'] as const).map((effect) =>
      decided({ session: 's-u', decision: effectOf(effect) }),
    );
    const complete = (d: AuditEvent, outcome: NonNullable<AuditEvent['outcome']>): AuditEvent => ({
      ...d,
      id: uuidv7(),
      type: 'call.completed',
      decision: undefined,
      outcome,
    });
    const [c0, c1, c2, c3] = calls as [AuditEvent, AuditEvent, AuditEvent, AuditEvent];
    const completions = [
      complete(c0, { status: 'ok', usage: { inputTokens: 100, outputTokens: 20, costUsd: 0.1 } }),
      // U+0000 in the body: PostgreSQL cannot cast this body to jsonb.
      complete(c1, { status: 'error', error: 'nul\u0000byte', usage: { inputTokens: 5, costUsd: 0.2 } }),
      complete(c2, { status: 'ok' }),
      complete(c3, { status: 'error', usage: { outputTokens: 7 } }),
    ];
    const elsewhere = [
      decided({ session: 's-other', decision: effectOf('block') }),
      decided({ session: undefined }),
    ];
    const [o0] = elsewhere as [AuditEvent];
    await fx.store.commit([
      { events: [...calls, ...elsewhere] },
      { events: [...completions, complete(o0, { status: 'error', usage: { inputTokens: 1000 } })] },
    ]);
    const usage = await fx.store.sessionUsage('s-u');
    expect(usage).toMatchObject({
      calls: { allow: 3, review: 1, block: 2 },
      completed: 4,
      errors: 2,
      inputTokens: 105,
      outputTokens: 27,
    });
    expect(usage.costUsd).toBeCloseTo(0.3, 12);
    expect(await fx.store.sessionUsage('s-other')).toEqual({
      calls: { allow: 0, review: 0, block: 1 },
      completed: 1,
      errors: 1,
      inputTokens: 1000,
      outputTokens: 0,
      costUsd: 0,
    });
    expect(await fx.store.sessionUsage('nope')).toEqual({
      calls: { allow: 0, review: 0, block: 0 },
      completed: 0,
      errors: 0,
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
    });
  });

  it('schema 8 marks reservations charged on expiry before it as expired, and keeps those settled', async () => {
    // Rows as schema 7 left them: both settled; the expired one's ledger row names no price table.
    const rows = `
INSERT INTO budget_reservations (id, call_id, session, agent, lines, state, created_at, lease_until, updated_at)
VALUES ('res_exp', 'c1', 's', 'a', '[]', 'settled', 't', 't', 't'),
       ('res_set', 'c2', 's', 'a', '[]', 'settled', 't', 't', 't'),
       ('res_held', 'c3', 's', 'a', '[]', 'held', 't', 't', 't');
INSERT INTO budget_ledger (reservation_id, call_id, counter_key, metric, amount, price_version, ts)
VALUES ('res_exp', 'c1', 'k', 'calls', 1, NULL, 't'), ('res_set', 'c2', 'k', 'calls', 1, 'p1', 't'),
       (NULL, 'c9', 'k', 'calls', 1, NULL, 't');`;
    let location: string;
    let dispose = () => {};
    if (dialect === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'warden-v7-'));
      dispose = () => rmSync(dir, { recursive: true });
      location = join(dir, 'warden.db');
      const db = new Database(location);
      migrateSqlite(db, SQLITE_MIGRATIONS.slice(0, 7));
      db.exec(rows);
      db.close();
    } else {
      location = await createTestDatabase(inject('postgresUrl'), 'v7');
      await withClient(location, async (c) => {
        await migratePostgres(c, POSTGRES_MIGRATIONS.slice(0, 7));
        await c.query(rows);
      });
    }
    try {
      const store = await openStore(location);
      try {
        expect(await schemaVersions(dialect, location)).toEqual(schemaList(dialect));
        expect((await store.reservation('res_exp'))?.state).toBe('expired');
        expect((await store.reservation('res_set'))?.state).toBe('settled');
        expect((await store.reservation('res_held'))?.state).toBe('held');
        expect((await store.ledgerTotals(['k'])).get('k')).toBe(3);
      } finally {
        await store.close();
      }
    } finally {
      dispose();
    }
  });

  it('migrates a version-1 database, keeping its chain and sessions', async () => {
    const v1 = await version1Store(dialect);
    try {
      const s = session('s-old', { updatedAt: '2025-01-01T00:00:00.000Z' });
      const [written] = await v1.store.commit([
        {
          mutations: [{ kind: 'session.ensure', session: s }],
          events: [decided(), decided()],
          checkpoint: cpRequest(),
        },
      ]);
      await v1.close();
      expect(await schemaVersions(dialect, v1.location)).toEqual([1]);

      const store = await openStore(v1.location);
      try {
        expect(await schemaVersions(dialect, v1.location)).toEqual(schemaList(dialect));
        expect(await store.head()).toEqual({ seq: 2, hash: written?.events[1]?.hash });
        expect(await store.checkpoints()).toEqual([written?.checkpoint]);
        expect(await store.getSession('s-old')).toEqual(s);
        const newer = session('s-new', { updatedAt: '2026-01-01T00:00:00.000Z' });
        const key = apiKey();
        await store.commit([
          {
            mutations: [
              { kind: 'session.ensure', session: newer },
              { kind: 'api_key.create', key, onlyIfNone: true },
            ],
            events: [decided({ type: 'api_key.created' })],
          },
        ]);
        expect((await store.listSessions({ limit: 10 })).sessions).toEqual([newer, s]);
        expect(await store.apiKeys()).toEqual([key]);
        const chain = (await store.readChain(0, 10)).map(toRecord);
        expect(chain.map((r) => r.seq)).toEqual([1, 2, 3]);
        // An event from before schema 4 (no event_id column value) and one after are both found by id.
        for (const r of [chain[1], chain[2]]) {
          const found = await store.queryAudit(parseAuditQuery({ eventId: r?.event.id }));
          expect(found).toEqual({ records: [r], nextCursor: null });
        }
        expect((await store.queryAudit(parseAuditQuery({ eventId: uuidv7() }))).records).toEqual([]);
      } finally {
        await store.close();
      }
      // Opening again finds nothing to do.
      await (await openStore(v1.location)).close();
      expect(await schemaVersions(dialect, v1.location)).toEqual(schemaList(dialect));
    } finally {
      v1.dispose();
    }
  });
});
