import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../src/audit/verify-store.js';
import type { Engine } from '../src/engine/engine.js';
import { openStore } from '../src/store/open-store.js';
import { testEngine } from '../test-support/engine-fixtures.js';
import { createTestDatabase, type PostgresServer, startPostgres } from '../test-support/postgres-server.js';

const call = { agent: 'billing-agent', tool: 'echo', args: { text: 'hi' } };

/** After an outage: every recorded decision is one the caller was told was recorded, and the chain is whole. */
async function expectWhole(engine: Engine, recorded: number) {
  const report = await verifyStore(engine.store);
  expect(report.ok).toBe(true);
  const decided = await engine.store.queryAudit({ type: 'call.decided', limit: 10_000 });
  expect(decided.records).toHaveLength(recorded);
}

describe('the store goes away (SQLite, locked by another process)', () => {
  it('blocks with STORE_UNAVAILABLE, writes nothing, and resumes on its own', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'warden-lock-')), 'warden.db');
    const store = await openStore(file);
    const fx = {
      store,
      location: file,
      reopen: () => openStore(file),
      tamper: async () => {},
      plain: async () => {},
      dispose: () => store.close(),
    };
    const engine = await testEngine(fx);
    try {
      expect(await engine.check(call)).toMatchObject({ effect: 'allow' });
      const other = new Database(file);
      other.exec('BEGIN EXCLUSIVE');
      const blocked = await engine.check(call);
      expect(blocked).toMatchObject({ effect: 'block', code: 'STORE_UNAVAILABLE' });
      expect(blocked.auditSeq).toBeUndefined();
      other.exec('ROLLBACK');
      other.close();
      expect(await engine.check(call)).toMatchObject({ effect: 'allow' });
      await expectWhole(engine, 2);
    } finally {
      await engine.close();
      await fx.dispose();
    }
  });
});

describe('the store goes away (PostgreSQL, stopped and read-only)', () => {
  let server: PostgresServer;
  let engine: Engine;
  beforeAll(async () => {
    server = await startPostgres();
    const url = await createTestDatabase(server.url, 'outage');
    const store = await openStore(url);
    engine = await testEngine({
      store,
      location: url,
      reopen: () => openStore(url),
      tamper: async () => {},
      plain: async () => {},
      dispose: () => store.close(),
    });
  }, 60_000);
  afterAll(async () => {
    await engine?.close().catch(() => undefined);
    await engine?.store.close();
    await server?.destroy();
  });

  it('blocks while the server is down and resumes when it is back', { timeout: 60_000 }, async () => {
    expect(await engine.check(call)).toMatchObject({ effect: 'allow' });
    await server.stop();
    const down = await engine.check(call);
    expect(down).toMatchObject({ effect: 'block', code: 'STORE_UNAVAILABLE' });
    expect(down.reasons[0]).toMatch(/unavailable/);
    await server.start();
    await expect
      .poll(async () => (await engine.check(call)).effect, { timeout: 15_000, interval: 200 })
      .toBe('allow');
    await expectWhole(
      engine,
      (await engine.store.queryAudit({ type: 'call.decided', limit: 10_000 })).records.length,
    );
  });

  it('blocks while the database is read-only and resumes when it is writable', {
    timeout: 60_000,
  }, async () => {
    const before = (await engine.store.queryAudit({ type: 'call.decided', limit: 10_000 })).records.length;
    await server.setReadOnly(true);
    try {
      expect(await engine.check(call)).toMatchObject({ effect: 'block', code: 'STORE_UNAVAILABLE' });
    } finally {
      await server.setReadOnly(false);
    }
    await expect
      .poll(async () => (await engine.check(call)).effect, { timeout: 15_000, interval: 200 })
      .toBe('allow');
    await expectWhole(engine, before + 1);
  });
});
