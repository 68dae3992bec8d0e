import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AuditEvent, isWardenError } from '@warden/core';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testPolicy } from '../../../test-support/engine-fixtures.js';
import { decided } from '../../../test-support/store-fixtures.js';
import { verifyStore } from '../../audit/verify-store.js';
import { openEngine } from '../../engine/open-engine.js';
import { generateKeyRing } from '../../keys/key-ring.js';
import { openStore } from '../open-store.js';
import type { Store } from '../store.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import { migrateSqlite, SQLITE_PAGE_SIZE, SqliteStore } from './sqlite-store.js';

const REPO = fileURLToPath(new URL('../../../../../', import.meta.url));

/** What a store answers about a trail: every row, every call, and a few audit queries. */
async function answers(store: Store, callIds: readonly string[]) {
  const calls = [];
  for (const id of callIds) calls.push(await store.findCall(id));
  const query = (q: Record<string, unknown>) =>
    store.queryAudit({ limit: 500, order: 'asc', ...q } as Parameters<Store['queryAudit']>[0]);
  return {
    head: await store.head(),
    chain: await store.readChain(0, 10_000),
    checkpoints: await store.checkpoints(),
    calls,
    byCall: await query({ callId: callIds[3] }),
    byType: await query({ type: 'call.completed' }),
    byAgent: await query({ agent: 'billing-agent', order: 'desc' }),
    byDecision: await query({ decision: 'review' }),
    byRule: await query({ rule: 'refunds-small' }),
  };
}

/** A schema-11 file holding a trail an engine wrote (checks, completions, reviews, blocks, a checkpoint). */
async function schema11Trail(file: string): Promise<{ old: SqliteStore; callIds: string[] }> {
  const db = new Database(file);
  migrateSqlite(
    db,
    SQLITE_MIGRATIONS.filter((m) => m.version <= 11),
  );
  const old = new SqliteStore(db, file);
  const engine = await openEngine({ store: old, keys: generateKeyRing(), policy: testPolicy() });
  const callIds: string[] = [];
  for (let i = 0; i < 40; i++) {
    // Allowed (then completed), reviewed and blocked calls, over a few sessions.
    const tool = i % 5 === 4 ? 'db.drop' : 'stripe.refund';
    const r = await engine.check({
      agent: 'billing-agent',
      tool,
      args: { amount: (i * 37) % 150 },
      session: `s-${i % 3}`,
    });
    callIds.push(r.callId);
    if (r.effect === 'allow' && i % 7 !== 0) await engine.complete(r.callId, { status: 'ok', result: { i } });
    if (i === 20) await engine.checkpoint();
  }
  await engine.close();
  return { old, callIds };
}

const indexes = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return (
      db
        .prepare(
          "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'audit_events' ORDER BY name",
        )
        .all() as { name: string }[]
    ).map((r) => r.name);
  } finally {
    db.close();
  }
};

describe('SQLite schema 12: the call index', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'warden-schema12-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates a schema-11 trail made by an engine: the chain verifies and every query answers the same', async () => {
    const file = join(dir, 'warden.db');
    const { old, callIds } = await schema11Trail(file);
    const before = await answers(old, callIds);
    expect(before.calls.filter((c) => c.completed).length).toBeGreaterThan(10);
    expect(before.byDecision.records.length).toBeGreaterThan(0);
    await old.close();
    expect(indexes(file)).toContain('audit_events_call');

    const store = await openStore(file, { mustExist: true });
    try {
      expect(indexes(file)).not.toContain('audit_events_call');
      expect(indexes(file)).toContain('audit_events_call_decided');
      expect(await answers(store, callIds)).toEqual(before);
      expect(await verifyStore(store, { deep: true })).toMatchObject({ ok: true, checked: before.head.seq });
      // The same rules as before: one decision per call id, one completion (or void) per call.
      const done = before.calls.find((c) => c.completed)?.decided?.event as AuditEvent;
      const again = { ...decided({ callId: done.callId }), id: 'another-event' };
      const refused = await store.commit([{ events: [again] }]).catch((err: unknown) => err);
      expect(isWardenError(refused)).toBe(true);
      const completed = before.byType.records[0]?.event as AuditEvent;
      const twice = await store
        .commit([{ events: [{ ...completed, id: 'another-completion' }] }])
        .catch((err: unknown) => err);
      expect(isWardenError(twice, 'CALL_ALREADY_COMPLETED')).toBe(true);
      expect((await store.head()).seq).toBe(before.head.seq);
    } finally {
      await store.close();
    }
  });

  it('the warden process verifies a schema-11 trail it migrates, and queries it', async () => {
    const file = join(dir, 'warden.db');
    const { old, callIds } = await schema11Trail(file);
    const head = await old.head();
    const completions = (await answers(old, callIds)).byType.records;
    await old.close();
    const warden = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ['--conditions=@warden/source', '--import', 'tsx', 'packages/cli/src/bin.ts', ...args],
        { cwd: REPO, encoding: 'utf8', timeout: 60_000 },
      );
    const verified = warden('audit', 'verify', '--db', file);
    expect(verified.stderr).toBe('');
    expect(verified.stdout).toMatch(new RegExp(`^intact: ${head.seq} events`));
    expect(verified.status).toBe(0);
    expect(indexes(file)).toContain('audit_events_call_decided');
    const found = warden(
      'audit',
      'query',
      '--db',
      file,
      '--type',
      'call.completed',
      '--format',
      'jsonl',
      '--limit',
      '500',
    );
    expect(found.status).toBe(0);
    const lines = found.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number });
    expect(lines.map((l) => l.seq)).toEqual(completions.map((r) => r.seq));
  }, 120_000);

  it('creates a new file with 8 KB pages and leaves an existing file at its own page size', async () => {
    const fresh = join(dir, 'fresh.db');
    await (await openStore(fresh)).close();
    const older = join(dir, 'older.db');
    const db = new Database(older);
    db.pragma('page_size = 4096');
    migrateSqlite(
      db,
      SQLITE_MIGRATIONS.filter((m) => m.version <= 11),
    );
    db.close();
    await (await openStore(older, { mustExist: true })).close();
    const pageSize = (f: string) => {
      const d = new Database(f, { readonly: true });
      try {
        return d.pragma('page_size', { simple: true });
      } finally {
        d.close();
      }
    };
    expect(SQLITE_PAGE_SIZE).toBe(8192);
    expect(pageSize(fresh)).toBe(8192);
    expect(pageSize(older)).toBe(4096);
  });
});
