/**
 * Budgets through the API: a session's fourth call goes over its three-call budget and pauses it; the
 * budget listing and the session view show where each counter stands; a resume by someone without a
 * stake raises the limit for the window and lets calls through again; an agent key sees only its own.
 */
import { fileURLToPath } from 'node:url';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

const POLICY = fileURLToPath(new URL('./fixtures/budgets-policy', import.meta.url));

interface Budget {
  budgetId: string;
  scopeKey: string;
  metric: string;
  window: string;
  windowStart: string;
  limit: number;
  used: number;
  reserved: number;
  remaining: number;
  ratio: number;
}

const errorOf = (r: LightMyRequestResponse) =>
  (r.json() as { error: { code: string; message: string; details: Record<string, unknown> } }).error;

describe('budgets through the API', () => {
  let t: TestServer;
  let bot: string;
  let other: string;
  let lina: string;
  let tom: string;

  /** A spend-bot call in `session`, completed with `tokens` output tokens when allowed. */
  async function call(session: string, i: number, tokens = 100) {
    const r = await t.request('POST', '/v1/calls', {
      key: bot,
      body: { tool: 'search', args: { q: `query ${i}` }, session, triggeredBy: 'tom@acme.example' },
    });
    expect(r.statusCode, r.body).toBe(200);
    const out = r.json() as { callId: string; effect: string; code?: string; reasons: string[] };
    if (out.effect === 'allow') {
      const c = await t.request('POST', `/v1/calls/${out.callId}/complete`, {
        key: bot,
        body: { status: 'ok', usage: { inputTokens: 0, outputTokens: tokens } },
      });
      expect(c.statusCode, c.body).toBe(200);
    }
    return out;
  }

  const budgets = async (query: string, key = lina) => {
    const r = await t.request('GET', `/v1/budgets${query}`, { key });
    expect(r.statusCode, r.body).toBe(200);
    return (r.json() as { budgets: Budget[] }).budgets;
  };
  const byId = (list: Budget[], id: string) => list.find((b) => b.budgetId === id);

  beforeAll(async () => {
    t = await startTestServer('sqlite', { policy: POLICY });
    bot = await t.key('agent', 'spend-bot', 'agent');
    other = await t.key('agent', 'other-bot', 'agent');
    lina = await t.key('human', 'lina@acme.example', 'approver');
    tom = await t.key('human', 'tom@acme.example', 'approver');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('a breach pauses the session; a resume by another approver raises the limit and calls go on', async () => {
    const session = 'ses-budget-1';
    for (let i = 0; i < 3; i++) expect((await call(session, i)).effect).toBe('allow');

    const before = await budgets(`?session=${session}`);
    expect(byId(before, 'session-calls')).toMatchObject({
      scopeKey: `session:${session}`,
      metric: 'calls',
      window: 'session',
      windowStart: 'session',
      limit: 3,
      used: 3,
      reserved: 0,
      remaining: 0,
      ratio: 1,
    });
    expect(byId(before, 'daily-tokens')).toMatchObject({
      scopeKey: 'agent:spend-bot',
      metric: 'tokens',
      window: 'day',
      limit: 10_000,
      used: 300,
    });

    const refused = await call(session, 3);
    expect(refused).toMatchObject({ effect: 'block', code: 'BUDGET_EXCEEDED' });
    const blocked = await call(session, 4);
    expect(blocked).toMatchObject({ effect: 'block', code: 'SESSION_PAUSED' });

    const paused = await t.request('GET', '/v1/sessions?state=paused', { key: lina });
    expect((paused.json() as { sessions: { id: string }[] }).sessions.map((s) => s.id)).toContain(session);
    const view = await t.request('GET', `/v1/sessions/${session}`, { key: lina });
    expect(view.statusCode, view.body).toBe(200);
    const detail = view.json() as { session: { state: string }; budgets: Budget[] };
    expect(detail.session.state).toBe('paused');
    expect(byId(detail.budgets, 'session-calls')).toMatchObject({ used: 3, limit: 3 });

    // Tom triggered the task: separation of duties refuses him, with or without a raise.
    const self = await t.request('POST', `/v1/sessions/${session}/resume`, {
      key: tom,
      body: { reason: 'mine, fine', raise: [{ budget: 'session-calls', limit: 10 }] },
    });
    expect([self.statusCode, errorOf(self).code]).toEqual([403, 'APPROVAL_SELF_APPROVAL']);

    const unknown = await t.request('POST', `/v1/sessions/${session}/resume`, {
      key: lina,
      body: { reason: 'more', raise: [{ budget: 'no-such-budget', limit: 10 }] },
    });
    expect([unknown.statusCode, errorOf(unknown).code]).toEqual([404, 'BUDGET_NOT_FOUND']);

    const ok = await t.request('POST', `/v1/sessions/${session}/resume`, {
      key: lina,
      body: { reason: 'the customer needs two more lookups', raise: [{ budget: 'session-calls', limit: 5 }] },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ id: session, state: 'active' });
    expect(byId(await budgets(`?session=${session}&budget=session-calls`), 'session-calls')).toMatchObject({
      limit: 5,
      used: 3,
      remaining: 2,
    });
    expect((await call(session, 5)).effect).toBe('allow');
    expect((await call(session, 6)).effect).toBe('allow');
    expect(await call(session, 7)).toMatchObject({ effect: 'block', code: 'BUDGET_EXCEEDED' });

    const raised = await t.request('GET', `/v1/audit/events?type=budget.raised&session=${session}`, {
      key: lina,
    });
    expect((raised.json() as { records: unknown[] }).records.length).toBeGreaterThan(0);
  });

  it('refuses a malformed raise before anything changes', async () => {
    const session = 'ses-budget-bad-raise';
    await call(session, 0);
    for (const raise of [
      [],
      [{ budget: 'session-calls', limit: 0 }],
      [{ budget: 'session-calls', limit: -1 }],
      [
        { budget: 'session-calls', limit: 5 },
        { budget: 'session-calls', limit: 6 },
      ],
      [{ budget: 'session-calls' }],
    ]) {
      const r = await t.request('POST', `/v1/sessions/${session}/resume`, {
        key: lina,
        body: { reason: 'x', raise },
      });
      expect([r.statusCode, errorOf(r).code], JSON.stringify(raise)).toEqual([400, 'REQUEST_INVALID']);
    }
  });

  it('an agent key sees its own budgets only', async () => {
    const session = 'ses-budget-agent';
    await call(session, 0);
    const mine = await budgets('', bot);
    expect(mine.map((b) => b.scopeKey)).toContain('agent:spend-bot');
    expect(mine.every((b) => b.scopeKey === 'agent:spend-bot' || b.scopeKey.startsWith('session:'))).toBe(
      true,
    );
    expect(byId(await budgets(`?session=${session}`, bot), 'session-calls')?.used).toBe(1);

    const theirs = await t.request('GET', '/v1/budgets?agent=other-bot', { key: bot });
    expect([theirs.statusCode, errorOf(theirs).code]).toEqual([403, 'AGENT_MISMATCH']);
    // Another agent's session is a 404, like one that does not exist.
    const foreign = await t.request('GET', `/v1/budgets?session=${session}`, { key: other });
    expect([foreign.statusCode, errorOf(foreign).code]).toEqual([404, 'SESSION_NOT_FOUND']);
    const missing = await t.request('GET', '/v1/budgets?session=nope', { key: lina });
    expect([missing.statusCode, errorOf(missing).code]).toEqual([404, 'SESSION_NOT_FOUND']);

    // People see every agent's.
    const all = await budgets('');
    expect(all.map((b) => b.scopeKey)).toContain('agent:spend-bot');
    expect(await budgets('?agent=other-bot')).toEqual([]);
  });

  it('/metrics shows how much of each budget is used', async () => {
    const r = await t.request('GET', '/metrics', { key: t.admin });
    expect(r.statusCode).toBe(200);
    expect(r.body).toMatch(
      /warden_budget_usage_ratio\{budget="daily-tokens",scope="agent:spend-bot",metric="tokens"\} 0\.\d+/,
    );
    expect(r.body).toMatch(
      /warden_budget_usage_ratio\{budget="session-calls",scope="session",metric="calls"\} 1/,
    );
  });
});
