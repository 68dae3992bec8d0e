import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy } from '@warden/core';
import { openEngine } from '@warden/engine';
import Database from 'better-sqlite3';
import { afterAll, beforeAll } from 'vitest';

/** The policy the audit fixtures decide with: one rule per tier. */
export const AUDIT_POLICY = compilePolicy(
  `
name: cli audit tests
agents:
  billing-agent:
    rules:
      - { id: echo, effect: allow, tools: [echo] }
      - { id: refunds, effect: review, tools: [stripe.refund] }
      - { id: no-drops, effect: block, tools: [db.drop] }
`,
  'cli-audit.yaml',
);

/** The tool of the i-th call: every 10th (from the 10th) is db.drop, every 10th from the 5th a refund. */
export function toolOf(i: number): string {
  if (i % 10 === 9) return 'db.drop';
  if (i % 10 === 4) return 'stripe.refund';
  return 'echo';
}

/** How many of calls 0…i-1 are refunds: each is decided review and adds an approval.requested event. */
export function reviewsBefore(i: number): number {
  return Math.floor((i + 5) / 10);
}

/** The seq of call i's call.decided event (a review call's approval.requested follows at seq + 1). */
export function seqOfCall(i: number): number {
  return i + 2 + reviewsBefore(i);
}

/**
 * How many events buildAuditDb writes for `calls` calls and `unsigned` more (echo calls, one event
 * each) — also the last seq. eventCount(i + 1) is the seq a checkpoint signed after call i covers.
 */
export function eventCount(calls: number, unsigned = 0): number {
  return 1 + calls + reviewsBefore(calls) + unsigned;
}

/**
 * Writes `calls` decided calls through a real engine: seq 1 is the key event, then each call's
 * call.decided, a review call's followed by its approval.requested (see seqOfCall). Checkpoints are
 * signed after calls 99 and 199 (seq eventCount(100) = 111, eventCount(200) = 221) and on close; then
 * `unsigned` more calls follow that no checkpoint covers (the store is closed without closing the engine).
 */
export async function buildAuditDb(
  db: string,
  options: { calls?: number; unsigned?: number; keysFile?: string } = {},
): Promise<void> {
  const keysFile = options.keysFile ?? `${db}.keys.json`;
  const opts = { db, keysFile, policy: AUDIT_POLICY, checkpoint: { everyEvents: 1e9, everyMs: 3_600_000 } };
  const engine = await openEngine(opts);
  for (let i = 0; i < (options.calls ?? 300); i++) {
    await engine.check({
      agent: 'billing-agent',
      tool: toolOf(i),
      args: { i },
      session: `s-${i % 3}`,
      ...(i % 2 === 0 ? { triggeredBy: 'alice' } : {}),
    });
    if (i === 99 || i === 199) await engine.checkpoint();
  }
  await engine.close();
  if (!options.unsigned) return;
  const more = await openEngine(opts);
  for (let i = 0; i < options.unsigned; i++) await more.check({ agent: 'billing-agent', tool: 'echo' });
  await more.store.close();
}

/** A fresh copy of a built database (and its key file) in a new temp folder. */
export function copyDb(template: string): { dir: string; db: string; keys: string } {
  const dir = tempDir();
  const db = join(dir, 'warden.db');
  for (const suffix of ['', '-wal', '-shm', '.keys.json']) {
    if (existsSync(template + suffix)) copyFileSync(template + suffix, db + suffix);
  }
  return { dir, db, keys: `${db}.keys.json` };
}

/** Runs SQL on the SQLite file as an attacker would, with the append-only triggers dropped. */
export function tamperSqlite(db: string, ...statements: string[]): void {
  const conn = new Database(db);
  try {
    for (const t of ['audit_events_no_update', 'audit_events_no_delete', 'checkpoints_no_delete']) {
      conn.exec(`DROP TRIGGER IF EXISTS ${t}`);
    }
    for (const sql of statements) conn.exec(sql);
  } finally {
    conn.close();
  }
}

const created: string[] = [];

/** A new temp folder, removed by removeTempDirs(). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-audit-'));
  created.push(dir);
  return dir;
}

/** Removes every folder tempDir() and copyDb() made (call in afterAll). */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * One audit database for the test file, built with buildAuditDb(…, options) in beforeAll; every temp
 * folder is removed in afterAll. Returns a function that copies it into a new folder (see copyDb).
 */
export function useAuditTemplate(options: {
  calls: number;
  unsigned: number;
}): () => ReturnType<typeof copyDb> {
  let template: string;
  beforeAll(async () => {
    template = join(tempDir(), 'warden.db');
    await buildAuditDb(template, options);
  }, 60_000);
  afterAll(removeTempDirs);
  return () => copyDb(template);
}
