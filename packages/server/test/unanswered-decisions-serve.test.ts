/**
 * `warden serve` on PostgreSQL whose COMMIT goes unanswered: a call answered `block STORE_UNAVAILABLE`
 * must never stand in the trail as decided. Decisions that landed anyway are voided by a chained
 * `call.voided`, completing them is refused, and the trail still verifies with the CLI. Needs the built
 * CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '@warden/core';
import { openStore, type Store } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitLocallyByDefault, holdDecisionCommits } from '../../engine/test-support/lost-commit-acks.js';
import {
  createTestDatabase,
  type PostgresServer,
  startPostgres,
} from '../../engine/test-support/postgres-server.js';
import { eventually } from '../test-support/eventually.js';
import { api, BIN, killAll, type Served, spawnServe, warden } from '../test-support/serve-process.js';

interface Answered {
  readonly callId: string;
  readonly effect: string;
  readonly code?: string;
}

/** Every event of `type`, by call id. */
async function byCall(store: Store, type: 'call.decided' | 'call.voided'): Promise<Map<string, AuditRecord>> {
  const out = new Map<string, AuditRecord>();
  for (let cursor: string | undefined; ; ) {
    const page = await store.queryAudit({ type, limit: 5_000, ...(cursor ? { cursor } : {}) });
    for (const r of page.records) out.set(r.event.callId as string, r);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
}

/**
 * Responses the trail contradicts: an allow without its allow decision, or a STORE_UNAVAILABLE whose
 * decision stands without a later call.voided; and voids of calls answered anything else.
 */
async function contradictions(store: Store, answers: readonly Answered[]): Promise<string[]> {
  const decided = await byCall(store, 'call.decided');
  const voided = await byCall(store, 'call.voided');
  const out: string[] = [];
  for (const a of answers) {
    const d = decided.get(a.callId);
    const v = voided.get(a.callId);
    if (a.effect === 'allow' && (d?.event.decision?.effect !== 'allow' || v)) out.push(`allow ${a.callId}`);
    if (a.code === 'STORE_UNAVAILABLE' && d && !(v && v.seq > d.seq && v.event.data?.voidedSeq === d.seq)) {
      out.push(`unvoided ${a.callId}`);
    }
    if (a.code !== 'STORE_UNAVAILABLE' && v) out.push(`voided ${a.effect} ${a.callId}`);
  }
  return out;
}

describe('warden serve on PostgreSQL: a call answered STORE_UNAVAILABLE is never recorded as decided', () => {
  const adminKey = `wdn_${randomBytes(32).toString('base64url')}`;
  let dir: string;
  let pg: PostgresServer;
  let db: string;
  let served: Served;
  let agentKey: string;
  let store: Store;
  const call = () =>
    api<Answered>(served.url, 'POST', '/v1/calls', {
      key: agentKey,
      body: { tool: 'billing.refund', args: { amount: 20 } },
    });

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
    dir = mkdtempSync(join(tmpdir(), 'warden-void-'));
    pg = await startPostgres();
    db = await createTestDatabase(pg.url, 'voidserve');
    await commitLocallyByDefault(pg.url, db);
    served = await spawnServe(['--db', db, '--port', '0', '--keys', join(dir, 'keys.json')], {
      WARDEN_ADMIN_KEY: adminKey,
      WARDEN_LOG_LEVEL: 'warn',
    });
    const made = await api<{ secret: string }>(served.url, 'POST', '/v1/keys', {
      key: adminKey,
      body: { principalKind: 'agent', principal: 'support-bot', role: 'agent' },
    });
    agentKey = made.body.secret;
    store = await openStore(db);
  }, 120_000);

  afterAll(async () => {
    killAll();
    await store?.close();
    await pg?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('voids each decision whose commit landed unacknowledged; completing one is 409 CALL_VOIDED', async () => {
    expect((await call()).body.effect).toBe('allow');
    const held = await holdDecisionCommits(pg.url, db);
    const pending = Array.from({ length: 10 }, () => call());
    let settled = 0;
    for (const p of pending) void p.finally(() => settled++);
    while (settled < pending.length) {
      await held.cutOff();
      await new Promise((r) => setTimeout(r, 20));
    }
    await held.release();
    const answers = (await Promise.all(pending)).map((r) => r.body);
    for (const a of answers) expect(a).toMatchObject({ effect: 'block', code: 'STORE_UNAVAILABLE' });
    const decided = await byCall(store, 'call.decided');
    expect(answers.filter((a) => decided.has(a.callId))).toHaveLength(answers.length);

    // The server voids them once the database answers again (its next commit, or its retry).
    expect((await call()).body.effect).toBe('allow');
    const voided = await eventually('every landed decision voided', async () => {
      const v = await byCall(store, 'call.voided');
      return answers.every((a) => v.has(a.callId)) ? v : undefined;
    });
    expect(await contradictions(store, answers)).toEqual([]);
    for (const a of answers) {
      expect(voided.get(a.callId)?.event.data).toMatchObject({
        effect: 'allow',
        commitStatus: 'committed',
        voidedSeq: decided.get(a.callId)?.seq,
      });
      const done = await api<{ error: { code: string } }>(
        served.url,
        'POST',
        `/v1/calls/${a.callId}/complete`,
        {
          key: agentKey,
          body: { status: 'ok' },
        },
      );
      expect(done.status).toBe(409);
      expect(done.body.error.code).toBe('CALL_VOIDED');
    }

    const listed = await warden(['audit', 'query', '--db', db, '--type', 'call.voided', '--format', 'jsonl']);
    expect(listed.code, listed.err).toBe(0);
    const lines = listed.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: { callId: string } });
    expect(new Set(lines.map((l) => l.event.callId))).toEqual(new Set(answers.map((a) => a.callId)));
    const verify = await warden(['audit', 'verify', '--db', db]);
    expect(verify.code, verify.out + verify.err).toBe(0);
  }, 120_000);

  it('an agent answered STORE_UNAVAILABLE that completes the call as soon as the database is back gets 409 CALL_VOIDED', async () => {
    const held = await holdDecisionCommits(pg.url, db);
    const pending = call();
    let settled = false;
    void pending.finally(() => {
      settled = true;
    });
    while (!settled) {
      await held.cutOff();
      await new Promise((r) => setTimeout(r, 20));
    }
    await held.release();
    const answer = (await pending).body;
    expect(answer).toMatchObject({ effect: 'block', code: 'STORE_UNAVAILABLE' });
    // At once, before the server's own void pass: the void must win, the completion must not be recorded.
    const done = await api<{ error: { code: string } }>(
      served.url,
      'POST',
      `/v1/calls/${answer.callId}/complete`,
      { key: agentKey, body: { status: 'ok' } },
    );
    expect(done.status).toBe(409);
    expect(done.body.error.code).toBe('CALL_VOIDED');
    const found = await store.findCall(answer.callId);
    expect(found.completed).toBe(false);
    expect(found.voided).toBeDefined();
    expect(await contradictions(store, [answer])).toEqual([]);
  }, 120_000);

  it('PostgreSQL stopped with -m immediate under 32 concurrent callers, 4 times: every response matches the trail', async () => {
    const answers: Answered[] = [];
    let running = true;
    const clients = Array.from({ length: 32 }, async () => {
      while (running) answers.push((await call()).body);
    });
    const allowed = () => answers.filter((a) => a.effect === 'allow').length;
    const outages = 4;
    try {
      for (let i = 0; i < outages; i++) {
        const before = allowed();
        await eventually('calls allowed again', () => (allowed() >= before + 150 ? true : undefined), 60_000);
        await pg.stop('immediate');
        const during = answers.length;
        await eventually('calls answered while down', () =>
          answers.length >= during + 32 ? true : undefined,
        );
        await pg.start();
      }
      const before = allowed();
      await eventually('calls allowed after the last outage', () =>
        allowed() >= before + 50 ? true : undefined,
      );
    } finally {
      running = false;
      await Promise.all(clients);
    }
    const remaining = await eventually(
      'no response contradicted by the trail',
      async () => {
        const found = await contradictions(store, answers);
        return found.length === 0 ? found : undefined;
      },
      30_000,
    );
    expect(remaining).toEqual([]);
    const unavailable = answers.filter((a) => a.code === 'STORE_UNAVAILABLE');
    const decided = await byCall(store, 'call.decided');
    const voids = unavailable.filter((a) => decided.has(a.callId)).length;
    console.log(
      `warden serve, immediate stops: ${outages} outages, ${answers.length} responses, ${unavailable.length} STORE_UNAVAILABLE, ${voids} decisions voided`,
    );
    expect(unavailable.length).toBeGreaterThan(0);
    const verify = await warden(['audit', 'verify', '--db', db]);
    expect(verify.code, verify.out + verify.err).toBe(0);
  }, 300_000);
});
