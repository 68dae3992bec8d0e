/**
 * `warden audit verify --deep` and `GET /v1/audit/verify?deep=true` through real processes on SQLite and
 * PostgreSQL: someone with file or superuser access edits a query column (triggers bypassed), which
 * hides an event from filtered queries without touching its body. Plain verification passes (the bodies
 * are intact); deep verification fails naming the seq and the column. Needs the built CLI.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, withClient } from '../../engine/test-support/postgres-server.js';
import { api, BIN, killAll, spawnServe, warden } from '../test-support/serve-process.js';

let dir: string;
beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-deep-'));
});
afterAll(() => {
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs SQL with the append-only triggers out of the way, as a file owner or superuser can. */
async function bypassTriggers(dialect: 'sqlite' | 'postgres', db: string, sql: string): Promise<void> {
  if (dialect === 'postgres') {
    await withClient(db, async (c) => {
      await c.query('SET session_replication_role = replica');
      await c.query(sql);
    });
    return;
  }
  const conn = new Database(db);
  try {
    conn.exec('DROP TRIGGER IF EXISTS audit_events_no_update');
    conn.exec(sql);
  } finally {
    conn.close();
  }
}

describe.each(['sqlite', 'postgres'] as const)('deep verification, real processes (%s)', (dialect) => {
  it('an edited column passes verify, and verify --deep names its seq and column (CLI and HTTP)', async () => {
    const db =
      dialect === 'sqlite' ? join(dir, 'deep.db') : await createTestDatabase(inject('postgresUrl'), 'deep');
    const keys = join(dir, `${dialect}.keys.json`);
    const server = await spawnServe(['--db', db, '--keys', keys, '--port', '0'], {
      WARDEN_LOG_LEVEL: 'warn',
    });
    const made = await warden([
      'keys',
      'create',
      '--agent',
      'support-bot',
      '--db',
      db,
      '--keys',
      keys,
      '--json',
    ]);
    expect(made.code, made.err).toBe(0);
    const agent = (JSON.parse(made.out) as { secret: string }).secret;
    const admin = await warden([
      'keys',
      'create',
      '--human',
      'ann',
      '--role',
      'auditor',
      '--db',
      db,
      '--keys',
      keys,
      '--json',
    ]);
    const auditor = (JSON.parse(admin.out) as { secret: string }).secret;
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await api<{ auditSeq: number }>(server.url, 'POST', '/v1/calls', {
        key: agent,
        body: { tool: 'billing.refund', args: { amount: 20 + i } },
      });
      expect(r.status).toBe(200);
      seqs.push(r.body.auditSeq);
    }
    const hidden = seqs[3] as number;
    const byAgent = async () => {
      const q = await warden(['audit', 'query', '--db', db, '--agent', 'support-bot', '--format', 'jsonl']);
      return q.out
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { seq: number }).seq);
    };
    expect(await byAgent()).toContain(hidden);

    await bypassTriggers(dialect, db, `UPDATE audit_events SET agent = 'nobody' WHERE seq = ${hidden}`);
    expect(await byAgent()).not.toContain(hidden); // the edit hides the call from a filtered query

    const plain = await warden(['audit', 'verify', '--db', db]);
    expect(plain.code, plain.out + plain.err).toBe(0);
    const deep = await warden(['audit', 'verify', '--db', db, '--deep']);
    expect(deep.code).toBe(1);
    expect(deep.out).toBe(
      `BROKEN at seq ${hidden}: event ${hidden}: column agent holds "nobody", but its body says "support-bot" (COLUMN_MISMATCH)\n  a query column does not match the signed body (deep verification): it was edited, which hides the event from filtered queries\n`,
    );
    const json = await warden(['audit', 'verify', '--db', db, '--deep', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({
      ok: false,
      problem: { code: 'COLUMN_MISMATCH', seq: hidden, column: 'agent' },
    });

    const http = await api(server.url, 'GET', '/v1/audit/verify', { key: auditor });
    expect(http).toMatchObject({ status: 200, body: { ok: true } });
    const httpDeep = await api(server.url, 'GET', '/v1/audit/verify?deep=true', { key: auditor });
    expect(httpDeep).toMatchObject({
      status: 200,
      body: { ok: false, problem: { code: 'COLUMN_MISMATCH', seq: hidden, column: 'agent' } },
    });
    expect((await api(server.url, 'GET', '/v1/audit/verify?deep=yes', { key: auditor })).status).toBe(400);

    // Put back, deep verification passes and says so.
    await bypassTriggers(dialect, db, `UPDATE audit_events SET agent = 'support-bot' WHERE seq = ${hidden}`);
    const clean = await warden(['audit', 'verify', '--db', db, '--deep']);
    expect(clean.code).toBe(0);
    expect(clean.out).toMatch(/^intact: .*; every query column matches its body\n$/);
    expect((await server.stop()).code).toBe(0);
  }, 120_000);
});
