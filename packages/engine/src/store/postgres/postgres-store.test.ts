import { type AuditEvent, ChainVerifier, isWardenError, uuidv7 } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  type PostgresServer,
  startPostgres,
  withClient,
} from '../../../test-support/postgres-server.js';
import { parseAuditQuery } from '../audit-query.js';
import { GroupCommitter } from '../group-committer.js';
import type { Store } from '../store.js';
import { openPostgresStore, type PostgresStore } from './postgres-store.js';

// What only the PostgreSQL dialect has: shared databases, triggers, the server going away. The behaviour
// both dialects share is the contract suite's.

function event(fields: Partial<AuditEvent> = {}): AuditEvent {
  const callId = uuidv7();
  return {
    id: uuidv7(),
    ts: new Date().toISOString(),
    type: 'call.decided',
    actor: { kind: 'agent', id: 'billing-agent' },
    agent: 'billing-agent',
    session: 's-1',
    tool: 'stripe.refund',
    callId,
    args: { amount: 42, currency: 'USD' },
    ...fields,
  };
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

async function verifyChain(store: Store): Promise<ReturnType<ChainVerifier['finish']>> {
  const verifier = new ChainVerifier({
    mode: 'store',
    checkpoints: await store.checkpoints(),
    publicKeys: [],
  });
  for (let after = 0; ; ) {
    const rows = await store.readChain(after, 5_000);
    if (rows.length === 0) return verifier.finish();
    for (const row of rows) verifier.push(row);
    after = rows[rows.length - 1]?.seq ?? after;
  }
}

describe('PostgresStore', () => {
  let server: PostgresServer;
  const opened: PostgresStore[] = [];
  const open = async (url: string) => {
    const store = await openPostgresStore(url);
    opened.push(store);
    return store;
  };

  beforeAll(async () => {
    server = await startPostgres();
  }, 600_000);

  afterAll(async () => {
    for (const store of opened) await store.close();
    await server?.destroy();
  });

  it('applies the schema once when three instances open a fresh database at once', async () => {
    const url = await createTestDatabase(server.url, 'pg_migrate');
    const stores = await Promise.all([open(url), open(url), open(url)]);
    const versions = await withClient(url, (c) =>
      c.query('SELECT version FROM warden_migrations ORDER BY version'),
    );
    expect(versions.rows).toEqual([
      { version: 1 },
      { version: 2 },
      { version: 3 },
      { version: 4 },
      { version: 5 },
      { version: 6 },
      { version: 7 },
      { version: 8 },
      { version: 9 },
      { version: 10 },
      { version: 11 },
      { version: 12 },
    ]);
    const [a, b] = stores as [PostgresStore, PostgresStore, PostgresStore];
    await a.commit([{ events: [event()] }]);
    expect(await b.head()).toEqual(await a.head());
    expect((await b.head()).seq).toBe(1);
  });

  it('refuses a schema newer than it knows, and never prints the password', async () => {
    const url = await createTestDatabase(server.url, 'pg_newer');
    const withPassword = new URL(url);
    withPassword.password = 'hunter2';
    const store = await open(withPassword.toString());
    expect(store.location).not.toContain('hunter2');
    expect(store.location).toBe(url);
    await withClient(url, (c) => c.query("INSERT INTO warden_migrations VALUES (99, 'future', 'now')"));
    const err = await errorOf(openPostgresStore(url));
    expect(isWardenError(err, 'STORE_INVALID')).toBe(true);
  });

  it('rejects UPDATE, DELETE and TRUNCATE of audit events and checkpoints from any client', async () => {
    const url = await createTestDatabase(server.url, 'pg_triggers');
    const store = await open(url);
    const checkpoint = { kind: 'on-demand' as const, keyId: 'k', ts: new Date().toISOString() };
    await store.commit([
      {
        events: [event(), event()],
        checkpoint: { ...checkpoint, sign: (body) => ({ ...body, signature: 's' }) },
      },
    ]);
    const attempts = [
      ["UPDATE audit_events SET body = '{}' WHERE seq = 1", /audit events are append-only/],
      ['DELETE FROM audit_events WHERE seq = 2', /audit events are append-only/],
      ['TRUNCATE audit_events', /audit events are append-only/],
      ['UPDATE checkpoints SET seq = 1', /checkpoints are append-only/],
      ['DELETE FROM checkpoints', /checkpoints are append-only/],
      ['TRUNCATE checkpoints', /checkpoints are append-only/],
    ] as const;
    await withClient(url, async (c) => {
      for (const [sql, message] of attempts) await expect(c.query(sql), sql).rejects.toThrow(message);
    });
    expect((await store.readChain(0, 10)).map((r) => r.seq)).toEqual([1, 2]);
    expect(await store.checkpoints()).toHaveLength(1);
  });

  it('records and finds events holding U+0000 and lone surrogates, which jsonb cannot hold', async () => {
    const store = await open(await createTestDatabase(server.url, 'pg_text'));
    const odd = event({ agent: 'nul\u0000agent', approvers: ['al\ud800ice'], args: { s: 'a\u0000b\udc00' } });
    await store.commit([{ events: [odd] }]);
    const byAgent = await store.queryAudit(parseAuditQuery({ agent: 'nul\u0000agent' }));
    expect(byAgent.records.map((r) => r.event)).toEqual([odd]);
    const byApprover = await store.queryAudit(parseAuditQuery({ approver: 'al\ud800ice' }));
    expect(byApprover.records).toHaveLength(1);
    expect((await store.findCall(odd.callId as string)).decided?.event).toEqual(odd);
    expect((await verifyChain(store)).ok).toBe(true);
  });

  it('keeps one gap-free chain when two instances commit 2,000 units each at once', async () => {
    const url = await createTestDatabase(server.url, 'pg_concurrent');
    const stores = [await open(url), await open(url)];
    const results = await Promise.all(
      stores.map((store) => {
        const committer = new GroupCommitter(store);
        return Promise.all(Array.from({ length: 2_000 }, () => committer.submit({ events: [event()] })));
      }),
    );
    const seqs = results.flat().map((r) => r.events[0]?.seq);
    expect(new Set(seqs).size).toBe(4_000);
    expect(Math.max(...(seqs as number[]))).toBe(4_000);
    const report = await verifyChain(stores[0] as Store);
    expect(report).toMatchObject({ ok: true, checked: 4_000, firstSeq: 1, lastSeq: 4_000 });
    expect(report.headHash).toBe((await stores[1]?.head())?.hash);
  });

  it('reports STORE_UNAVAILABLE while the database is read-only, and writes again afterwards', async () => {
    const store = await open(await createTestDatabase(server.url, 'pg_readonly'));
    await store.commit([{ events: [event()] }]);
    await server.setReadOnly(true);
    try {
      const err = await errorOf(store.commit([{ events: [event()] }]));
      expect(isWardenError(err, 'STORE_UNAVAILABLE'), String(err)).toBe(true);
      expect((await store.head()).seq).toBe(1);
    } finally {
      await server.setReadOnly(false);
    }
    await store.commit([{ events: [event()] }]);
    expect((await store.head()).seq).toBe(2);
  });

  it('reports STORE_UNAVAILABLE while the server is down and recovers when it returns', async () => {
    const store = await open(await createTestDatabase(server.url, 'pg_outage'));
    const committer = new GroupCommitter(store);
    await Promise.all([committer.submit({ events: [event()] }), store.ping()]);
    await server.stop();
    try {
      // Thunks: a promise created before its turn would reject unhandled.
      const attempts = [
        () => store.commit([{ events: [event()] }]),
        () => store.ping(),
        () => store.head(),
        () => store.apiKeyByHash('0'.repeat(64)),
        () => store.apiKeys(),
        () => store.currentPolicy(),
        () => store.listSessions({ limit: 10 }),
        () => store.sessionUsage('s-1'),
      ];
      for (const attempt of attempts) {
        const err = await errorOf(attempt());
        expect(isWardenError(err, 'STORE_UNAVAILABLE'), String(err)).toBe(true);
      }
      const viaCommitter = await errorOf(committer.submit({ events: [event()] }));
      expect(isWardenError(viaCommitter, 'STORE_UNAVAILABLE')).toBe(true);
    } finally {
      await server.start();
    }
    await store.ping();
    const result = await committer.submit({ events: [event()] });
    expect(result.events[0]?.seq).toBe(2);
    expect((await verifyChain(store)).ok).toBe(true);
  });
});
