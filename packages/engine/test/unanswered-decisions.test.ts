import type { AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { verifyStore } from '../src/audit/verify-store.js';
import type { CheckResult, Engine } from '../src/engine/engine.js';
import { openEngine } from '../src/engine/open-engine.js';
import { generateKeyRing } from '../src/keys/key-ring.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { testPolicy } from '../test-support/engine-fixtures.js';
import { commitLocallyByDefault, holdDecisionCommits } from '../test-support/lost-commit-acks.js';
import { createTestDatabase, type PostgresServer, startPostgres } from '../test-support/postgres-server.js';

const POLICY = `
name: unanswered decisions
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  worker:
    rules:
      - { id: wires, effect: review, tools: [bank.wire] }
      - { id: any, effect: allow, tools: ['*'] }
    budgets:
      - { id: agent-calls, metric: calls, limit: 100000000, scope: agent, window: month }
`;

const allowed = { agent: 'worker', tool: 'echo', args: { text: 'hi' } };
const reviewed = { agent: 'worker', tool: 'bank.wire', args: { amount: 5 } };

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

/** Waits (without a deadline of its own: the test's timeout is the cap) until `ok` holds. */
/**
 * Waits for `ok`; after 90 s fails naming what it waited for and where things stood (`state`), so a rare
 * stall says which stage stalled instead of running into the test's timeout with nothing to go on.
 */
async function until(
  ok: () => boolean | Promise<boolean>,
  what = 'the condition',
  state: () => unknown = () => undefined,
): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 90 s; state: ${JSON.stringify(state())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Matches every response against the trail: an allow has its decision (allow, not voided); a
 * STORE_UNAVAILABLE has no decision, or one followed by a call.voided naming it. Returns how many were voided.
 */
async function expectTrailMatches(store: Store, responses: readonly CheckResult[]): Promise<number> {
  const decided = await byCall(store, 'call.decided');
  const voided = await byCall(store, 'call.voided');
  let voids = 0;
  for (const r of responses) {
    const d = decided.get(r.callId);
    const v = voided.get(r.callId);
    if (r.effect === 'allow') {
      expect(d?.event.decision?.effect, `call ${r.callId} was answered allow`).toBe('allow');
      expect(v, `call ${r.callId} was answered allow`).toBeUndefined();
    } else if (r.code === 'STORE_UNAVAILABLE' && d) {
      expect(v, `call ${r.callId} was answered STORE_UNAVAILABLE but its decision stands`).toBeDefined();
      expect(v?.seq).toBeGreaterThan(d.seq);
      expect(v?.event.data).toMatchObject({ voidedSeq: d.seq, voidedHash: d.hash });
      voids += 1;
    }
  }
  // No call.voided for a call whose caller was told anything but STORE_UNAVAILABLE.
  for (const r of responses.filter((r) => r.code !== 'STORE_UNAVAILABLE')) {
    expect(voided.has(r.callId), `call ${r.callId} was answered ${r.effect}`).toBe(false);
  }
  return voids;
}

describe('decisions whose commit was never acknowledged (PostgreSQL)', () => {
  let server: PostgresServer;
  let url: string;
  let engine: Engine;
  beforeAll(async () => {
    server = await startPostgres();
    url = await createTestDatabase(server.url, 'unanswered');
    await commitLocallyByDefault(server.url, url);
    engine = await openEngine({
      store: await openStore(url),
      keys: generateKeyRing(),
      policy: testPolicy(POLICY),
      checkpoint: { everyEvents: 100_000, everyMs: 3_600_000 },
      closeStore: true,
    });
  }, 120_000);
  afterAll(async () => {
    await engine?.close().catch(() => undefined);
    await server?.destroy();
  });

  it('a decision that committed although COMMIT failed is voided, its reservation released, its approval withdrawn', {
    timeout: 120_000,
  }, async () => {
    // Decisions land but their COMMIT fails on the client (see lost-commit-acks.ts); reservations go through.
    const held = await holdDecisionCommits(server.url, url);
    const pending = [
      ...Array.from({ length: 12 }, () => engine.check(allowed)),
      engine.check({ ...reviewed, session: 'wire-session' }),
    ];
    let settled = 0;
    for (const p of pending) void p.finally(() => settled++);
    // Group commit: later decisions queue behind the batch that waits; cut each batch off in turn.
    while (settled < pending.length) {
      await held.cutOff();
      await new Promise((r) => setTimeout(r, 20));
    }
    await held.release();
    const responses = await Promise.all(pending);
    for (const r of responses) expect(r).toMatchObject({ effect: 'block', code: 'STORE_UNAVAILABLE' });
    // The decisions are in the trail nonetheless, each with its side effects.
    const decided = await byCall(engine.store, 'call.decided');
    const landed = responses.filter((r) => decided.has(r.callId));
    expect(landed).toHaveLength(responses.length);

    // The next successful commit (or the retry timer) resolves them.
    const next = await engine.check(allowed);
    expect(next.effect).toBe('allow');
    await until(() => engine.unanswered.size === 0);
    await engine.complete(next.callId, { status: 'ok' });
    expect(await expectTrailMatches(engine.store, responses)).toBe(responses.length);

    const voided = await byCall(engine.store, 'call.voided');
    for (const r of responses) {
      const v = voided.get(r.callId) as AuditRecord;
      const d = decided.get(r.callId) as AuditRecord;
      expect(v.event).toMatchObject({ actor: { kind: 'system', id: 'warden' }, callId: r.callId });
      expect(v.event.data).toMatchObject({
        effect: d.event.decision?.effect,
        commitStatus: 'committed',
        reason: expect.stringContaining('STORE_UNAVAILABLE'),
      });
      // Whatever the decision held is given back: the reservation, the approval request it opened.
      const reservationId = d.event.decision?.reservationId;
      if (reservationId) expect((await engine.store.reservation(reservationId))?.state).toBe('released');
      const approvalId = d.event.decision?.approvalId;
      if (approvalId) expect((await engine.store.approval(approvalId))?.status).toBe('cancelled');
      // And the call can never be completed.
      await expect(engine.complete(r.callId, { status: 'ok' })).rejects.toMatchObject({
        code: 'CALL_VOIDED',
      });
    }
    expect(decided.get(responses.at(-1)?.callId as string)?.event.decision?.effect).toBe('review');
    // Nothing is left reserved: the voided calls' reservations were given back, the next call settled.
    const counters = await engine.store.budgetCounters({ budgetId: 'agent-calls', limit: 10 });
    expect(counters.map((c) => [c.reserved, c.used])).toEqual([[0, 1]]);
    expect((await verifyStore(engine.store)).ok).toBe(true);
  });

  it('a caller answered STORE_UNAVAILABLE cannot complete the call before the void runs', {
    timeout: 120_000,
  }, async () => {
    // Another instance, without budgets: no commit of its own (a reservation given back) starts a void pass.
    const unmetered = POLICY.slice(0, POLICY.indexOf('    budgets:'));
    const engine = await openEngine({
      store: await openStore(url),
      keys: generateKeyRing(),
      policy: testPolicy(unmetered),
      checkpoint: { everyEvents: 100_000, everyMs: 3_600_000 },
      closeStore: true,
    });
    onTestFinished(() => engine.close());
    const held = await holdDecisionCommits(server.url, url);
    const pending = engine.check(allowed);
    let settled = false;
    void pending.finally(() => {
      settled = true;
      // No retry timer: the void pass waits for the next commit, as it would on a busy instance.
      engine.unanswered.stop();
    });
    while (!settled) {
      await held.cutOff();
      await new Promise((r) => setTimeout(r, 20));
    }
    await held.release();
    const r = await pending;
    expect(r).toMatchObject({ effect: 'block', code: 'STORE_UNAVAILABLE' });
    expect(engine.unanswered.unresolved()).toContain(r.callId);
    // The database is back and the void pass has not run yet: the caller tries to complete the call anyway.
    await expect(engine.complete(r.callId, { status: 'ok' })).rejects.toMatchObject({ code: 'CALL_VOIDED' });
    await until(() => engine.unanswered.size === 0);
    const voided = await byCall(engine.store, 'call.voided');
    expect(voided.get(r.callId)?.event.data).toMatchObject({ commitStatus: 'committed' });
    expect((await engine.store.findCall(r.callId)).completed).toBeFalsy();
    expect((await verifyStore(engine.store)).ok).toBe(true);
  });

  it('PostgreSQL stopped with -m immediate under load, several times: every response matches the trail', {
    timeout: 300_000,
  }, async () => {
    const responses: CheckResult[] = [];
    let running = true;
    let checking = 0;
    const workers = Array.from({ length: 24 }, async () => {
      while (running) {
        checking++;
        try {
          responses.push(await engine.check(allowed));
        } finally {
          checking--;
        }
      }
    });
    const allowedSoFar = () => responses.filter((r) => r.effect === 'allow').length;
    let stage = 'start';
    const state = () => ({
      stage,
      responses: responses.length,
      allowed: allowedSoFar(),
      inDoubt: engine.unanswered.size,
      checking,
      last: responses.slice(-5).map((r) => r.code ?? r.effect),
    });
    const outages = 6;
    try {
      for (let i = 0; i < outages; i++) {
        const before = allowedSoFar();
        stage = `outage ${i + 1}: allowing before the stop`;
        await until(() => allowedSoFar() >= before + 200, stage, state);
        await server.stop('immediate');
        const failedBefore = responses.length;
        stage = `outage ${i + 1}: answering while stopped`;
        await until(() => responses.length >= failedBefore + 24, stage, state);
        stage = `outage ${i + 1}: restarting`;
        await server.start();
      }
      const before = allowedSoFar();
      stage = 'allowing after the last outage';
      await until(() => allowedSoFar() >= before + 50, stage, state);
    } finally {
      running = false;
      stage = 'the workers finishing their last checks';
      await until(() => checking === 0, stage, state);
      await Promise.all(workers);
    }
    stage = 'settling the calls in doubt';
    await until(() => engine.unanswered.size === 0, stage, state);
    const voids = await expectTrailMatches(engine.store, responses);
    const unavailable = responses.filter((r) => r.code === 'STORE_UNAVAILABLE').length;
    console.log(
      `immediate stops: ${outages} outages, ${responses.length} responses, ${unavailable} STORE_UNAVAILABLE, ${voids} decisions voided`,
    );
    expect(unavailable).toBeGreaterThan(0);
    expect((await verifyStore(engine.store)).ok).toBe(true);
  });
});
