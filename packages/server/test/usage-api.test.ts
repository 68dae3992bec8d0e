/**
 * GET /v1/usage: completed calls, tokens and cost per bucket and per agent or team, summed from the audit
 * trail, on both dialects; the figures are checked against what the agents reported.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

interface Usage {
  bucket: string;
  buckets: string[];
  lines: {
    key: string;
    calls: number[];
    tokens: number[];
    costUsd: number[];
    total: Record<string, number>;
  }[];
  eventsRead: number;
  truncated: boolean;
}

describe.each(['sqlite', 'postgres'] as const)('GET /v1/usage (%s)', (dialect) => {
  let t: TestServer;
  let auditor: string;

  async function spend(
    key: string,
    tool: string,
    args: Record<string, unknown>,
    usage: Record<string, number>,
  ) {
    const r = await t.request('POST', '/v1/calls', { key, body: { tool, args } });
    const { callId, effect } = r.json() as { callId: string; effect: string };
    expect(effect, r.body).toBe('allow');
    const done = await t.request('POST', `/v1/calls/${callId}/complete`, {
      key,
      body: { status: 'ok', usage },
    });
    expect(done.statusCode, done.body).toBe(200);
  }

  beforeAll(async () => {
    t = await startTestServer(dialect);
    auditor = await t.key('human', 'ava@acme.example', 'auditor');
    const support = await t.key('agent', 'support-bot', 'agent');
    const coder = await t.key('agent', 'coding-agent', 'agent');
    await spend(
      support,
      'billing.refund',
      { amount: 20 },
      { inputTokens: 100, outputTokens: 50, costUsd: 0.25 },
    );
    await spend(
      support,
      'billing.refund',
      { amount: 30 },
      { inputTokens: 10, outputTokens: 5, costUsd: 0.5 },
    );
    await spend(
      coder,
      'github.pulls.create',
      { title: 'Fix a typo' },
      { inputTokens: 1_000, outputTokens: 0, costUsd: 2 },
    );
  });
  afterAll(() => t?.close());

  it('sums each agent in the current hour, the biggest spender first', async () => {
    const r = await t.request('GET', '/v1/usage', { key: auditor });
    expect(r.statusCode, r.body).toBe(200);
    const u = r.json() as Usage;
    expect(u.bucket).toBe('hour');
    expect(u.buckets.length).toBeGreaterThanOrEqual(24);
    // Read from the rollups (a cell per agent and hour), not from the trail.
    expect(u.eventsRead).toBe(0);
    expect(u.truncated).toBe(false);
    expect(u.lines.map((l) => [l.key, l.total])).toEqual([
      ['coding-agent', { calls: 1, tokens: 1_000, costUsd: 2 }],
      ['support-bot', { calls: 2, tokens: 165, costUsd: 0.75 }],
    ]);
    const last = (l: Usage['lines'][number]) => [l.calls.at(-1), l.tokens.at(-1), l.costUsd.at(-1)];
    expect(last(u.lines[1] as Usage['lines'][number])).toEqual([2, 165, 0.75]);
  });

  it('pools agents by team (the groups of the policy in force) and refuses a bad range', async () => {
    const r = await t.request('GET', '/v1/usage?by=team&bucket=day', { key: auditor });
    const u = r.json() as Usage;
    expect(u.bucket).toBe('day');
    const teams = Object.fromEntries(u.lines.map((l) => [l.key, l.total.calls]));
    // coding-agent is in engineering, which extends staff: it counts in both.
    expect(teams).toEqual({ staff: 3, engineering: 1 });
    const bad = await t.request('GET', '/v1/usage?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', {
      key: auditor,
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('QUERY_INVALID');
    const huge = await t.request('GET', '/v1/usage?from=2020-01-01T00:00:00Z&bucket=hour', { key: auditor });
    expect(huge.json().error.message).toMatch(/more than 1000 hours/);
  });
});
