/**
 * `/v1/usage` and `GET /v1/sessions/{id}` read rollups kept in the commit of their events, through a real
 * `warden serve` on SQLite and PostgreSQL: a few thousand calls over two and a half days (committed
 * through the store's commit path before the server starts, as an earlier run of it would have) plus calls
 * made over HTTP, then charts over ranges (rounded out to whole hours) compared with a recount of the
 * trail by the pure chart builder. Nothing is capped: the answer reads a cell per agent and whole day or
 * hour, never the trail. Needs the built CLI.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditEvent, usageSeries, uuidv7 } from '@warden/core';
import { openStore, type Store } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { api, BIN, killAll, type Served, spawnServe, warden } from '../test-support/serve-process.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const AGENTS = ['support-bot', 'coding-agent', 'ops-agent'];
const EFFECTS = ['allow', 'review', 'block'] as const;
const SEEDED_CALLS = 2_400;

let dir: string;
beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-rollups-'));
});
afterAll(() => {
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Call `i` of the seed: a decision and (unless blocked or abandoned) its completion, hours in the past. */
function seededCall(i: number, now: number): AuditEvent[] {
  const agent = AGENTS[i % AGENTS.length] as string;
  const session = `seed-${i % 10}`;
  const effect = EFFECTS[i % 3] as (typeof EFFECTS)[number];
  const t = now - 2 * HOUR - ((i * 7919) % (58 * 60)) * 60_000 - (i % 60) * 1_000;
  const callId = uuidv7();
  const decided: AuditEvent = {
    id: callId,
    ts: new Date(t).toISOString(),
    type: 'call.decided',
    actor: { kind: 'agent', id: agent },
    agent,
    session,
    tool: 'billing.refund',
    callId,
    args: { amount: i },
    decision: {
      effect,
      policyEffect: effect,
      mode: 'enforce',
      ruleId: null,
      matchedRuleIds: [],
      reasons: ['seeded'],
    },
  };
  if (effect === 'block' || i % 7 === 6) return [decided];
  const completed: AuditEvent = {
    id: uuidv7(),
    ts: new Date(t + 500).toISOString(),
    type: 'call.completed',
    actor: { kind: 'agent', id: agent },
    agent,
    session,
    tool: 'billing.refund',
    callId,
    outcome: {
      status: i % 5 === 0 ? 'error' : 'ok',
      // Costs in eighths of a dollar: float sums are exact in any order.
      usage: { inputTokens: 10 + (i % 100), outputTokens: i % 13, costUsd: (i % 9) / 8 },
    },
  };
  return [decided, completed];
}

/** Commits the seed through the store's commit path (the way the server itself writes). */
async function seed(db: string, now: number): Promise<void> {
  const store = await openStore(db);
  try {
    const ts = new Date(now - 3 * DAY).toISOString();
    const sessions = Array.from({ length: 10 }, (_, s) => ({
      kind: 'session.ensure' as const,
      session: {
        id: `seed-${s}`,
        agent: AGENTS[s % AGENTS.length] as string,
        state: 'active' as const,
        stateReason: null,
        triggeredBy: null,
        delegationChain: [],
        createdAt: ts,
        updatedAt: ts,
      },
    }));
    await store.commit([{ mutations: sessions, events: [] }]);
    for (let i = 0; i < SEEDED_CALLS; i += 400) {
      const units = [];
      for (let j = i; j < i + 400; j++) units.push({ events: seededCall(j, now) });
      await store.commit(units);
    }
  } finally {
    await store.close();
  }
}

/** Every event of the trail, read back from the database. */
async function trail(db: string): Promise<AuditEvent[]> {
  const store: Store = await openStore(db);
  try {
    const events: AuditEvent[] = [];
    for (let after = 0; ; ) {
      const rows = await store.readChain(after, 5_000);
      if (rows.length === 0) return events;
      for (const r of rows) events.push(JSON.parse(r.body) as AuditEvent);
      after = (rows.at(-1) as { seq: number }).seq;
    }
  } finally {
    await store.close();
  }
}

/** A session's figures recounted from its events, as the route promises them. */
function recountSession(events: readonly AuditEvent[], session: string) {
  const u = {
    calls: { allow: 0, review: 0, block: 0 },
    completed: 0,
    errors: 0,
    inputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
  };
  for (const e of events) {
    if (e.session !== session) continue;
    const effect = e.decision?.effect;
    if (e.type === 'call.decided' && effect) u.calls[effect] += 1;
    if (e.type !== 'call.completed') continue;
    u.completed += 1;
    if (e.outcome?.status === 'error') u.errors += 1;
    u.inputTokens += e.outcome?.usage?.inputTokens ?? 0;
    u.outputTokens += e.outcome?.usage?.outputTokens ?? 0;
    u.costUsd += e.outcome?.usage?.costUsd ?? 0;
  }
  return u;
}

interface UsageAnswer {
  from: string;
  to: string;
  bucket: 'hour' | 'day';
  buckets: string[];
  lines: unknown[];
  eventsRead: number;
  cellsRead: number;
  truncated: boolean;
}

describe.each(['sqlite', 'postgres'] as const)('rollups through warden serve (%s)', (dialect) => {
  let server: Served;
  let db: string;
  let auditor: string;
  let agent: string;
  const now = Date.now();

  beforeAll(async () => {
    db =
      dialect === 'sqlite'
        ? join(dir, 'rollups.db')
        : await createTestDatabase(inject('postgresUrl'), 'rollups');
    await seed(db, now);
    const keys = join(dir, `${dialect}.keys.json`);
    const policy = join(dir, 'policy.yaml');
    writeFileSync(
      policy,
      'warden: 1\nname: rollups\nmode: enforce\ndefaults: { decision: block }\nagents:\n  support-bot:\n    rules:\n      - { id: refunds, effect: allow, tools: billing.refund }\n',
    );
    server = await spawnServe(['--db', db, '--keys', keys, '--policy', policy, '--port', '0'], {
      WARDEN_LOG_LEVEL: 'warn',
    });
    const key = async (...who: string[]) => {
      const made = await warden(['keys', 'create', ...who, '--db', db, '--keys', keys, '--json']);
      expect(made.code, made.err).toBe(0);
      return (JSON.parse(made.out) as { secret: string }).secret;
    };
    agent = await key('--agent', 'support-bot');
    auditor = await key('--human', 'ann', '--role', 'auditor');
    for (let i = 0; i < 12; i++) {
      const r = await api<{ callId: string }>(server.url, 'POST', '/v1/calls', {
        key: agent,
        body: { tool: 'billing.refund', args: { amount: i }, session: 'live-1' },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const done = await api(server.url, 'POST', `/v1/calls/${r.body.callId}/complete`, {
        key: agent,
        body: { status: i % 4 ? 'ok' : 'error', usage: { inputTokens: 100, outputTokens: i, costUsd: 0.25 } },
      });
      expect(done.status, JSON.stringify(done.body)).toBe(200);
    }
  }, 180_000);
  afterAll(async () => {
    if (server) expect((await server.stop()).code).toBe(0);
  });

  it('charts usage over ranges rounded out to whole hours exactly as a recount of the trail, reading cells', async () => {
    const events = await trail(db);
    const completions = (fromMs: number, toMs: number) =>
      events.filter((e) => {
        const t = Date.parse(e.ts);
        return e.type === 'call.completed' && t >= fromMs && t < toMs;
      }).length;
    const ranges = [
      { from: now - 4 * DAY + 17 * 60_000, to: now + 60_000, bucket: 'day' as const },
      { from: now - 50 * HOUR - 7 * 60_000, to: now - 3 * HOUR + 23 * 60_000, bucket: 'hour' as const },
      { from: now - 2 * DAY - 5 * HOUR, to: now - 20 * 60_000, bucket: 'day' as const },
    ];
    for (const r of ranges) {
      const q = `from=${new Date(r.from).toISOString()}&to=${new Date(r.to).toISOString()}&bucket=${r.bucket}`;
      const res = await api<UsageAnswer>(server.url, 'GET', `/v1/usage?${q}`, { key: auditor });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      // The range counted is the one asked for, rounded out to whole hours, and the answer says so.
      const fromMs = Math.floor(r.from / HOUR) * HOUR;
      const toMs = Math.ceil(r.to / HOUR) * HOUR;
      expect([res.body.from, res.body.to]).toEqual([
        new Date(fromMs).toISOString(),
        new Date(toMs).toISOString(),
      ]);
      const bucketMs = r.bucket === 'day' ? DAY : HOUR;
      const expected = usageSeries(events, { fromMs, toMs, bucketMs, keysOf: (a) => [a] });
      expect(res.body.buckets).toEqual(expected.buckets);
      expect(res.body.lines).toEqual(expected.lines);
      expect(res.body.truncated).toBe(false);
      expect(completions(fromMs, toMs)).toBeGreaterThan(500);
      // Read from cells (one per agent and hour or day), not from the trail.
      expect(res.body.eventsRead).toBe(0);
      expect(res.body.cellsRead).toBeGreaterThan(0);
      expect(res.body.cellsRead).toBeLessThan(AGENTS.length * 60);
    }
  });

  it("answers a session's detail from its rollup, equal to a recount of its events", async () => {
    const events = await trail(db);
    for (const id of ['seed-0', 'seed-7', 'live-1']) {
      const res = await api<{ usage: unknown }>(server.url, 'GET', `/v1/sessions/${id}`, { key: auditor });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const expected = recountSession(events, id);
      expect(res.body.usage).toEqual(expected);
      expect(expected.completed).toBeGreaterThan(5);
    }
  });
});
