/**
 * Budgets under contention: 64 concurrent agent callers, half on each of two `warden serve` processes
 * sharing one PostgreSQL, spend one agent-wide token budget. Each caller checks with an estimate (50
 * tokens), completes with actual usage (40–44 tokens) and stops at its first refusal.
 *
 * - `budget.overshoot`: settled tokens over the limit afterwards (must be 0).
 * - `budget.admitted`: calls admitted in all.
 * - `budget.counters_match_ledger`: 1 when every counter equals the sum of its ledger rows and nothing
 *   stays reserved.
 * - `budget.admitted_per_s` and `budget.http_pg_throughput_ratio`: check + complete pairs per second with
 *   the budget, against the same work by an agent without budgets on the same servers in the same run
 *   (HTTP, two instances, PostgreSQL; `budget.throughput_ratio` is the in-process figure of
 *   packages/engine/bench/throughput.bench.ts).
 * - `budget.proxy_overshoot`: 64 concurrent Chat Completions requests through the LLM proxy of both
 *   servers, one session with a 20,000-token budget, against a stand-in upstream billing the prompt as
 *   OpenAI's tokenizer counts it plus the whole output cap: settled tokens over the limit (must be 0).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Benchmark, BenchmarkOptions } from '../../../bench/benchmark.js';
import { openStore } from '../../engine/src/store/open-store.js';
import { createTestDatabase, startPostgres } from '../../engine/test-support/postgres-server.js';
import { promptOf, startBillingUpstream } from '../test-support/billing-llm-upstream.js';
import { api, killAll, type Served, spawnServe } from '../test-support/serve-process.js';

const CALLERS = 64;
const PROXY_LIMIT = 20_000;

function policy(limit: number): string {
  return `
name: budget bench
agents:
  metered:
    rules: [{ id: any, effect: allow, tools: ['*'] }]
    breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
    budgets:
      - { id: shared-tokens, metric: tokens, limit: ${limit}, scope: agent, window: month }
  free:
    rules: [{ id: free-any, effect: allow, tools: ['*'] }]
    breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
  chatter:
    rules: [{ id: chatter-llm, effect: allow, tools: ['llm:*'] }]
    breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
    budgets:
      - { id: proxy-tokens, metric: tokens, limit: ${PROXY_LIMIT}, scope: session, window: session }
`;
}

async function agentKey(url: string, admin: string, agent: string): Promise<string> {
  const r = await api<{ secret: string }>(url, 'POST', '/v1/keys', {
    key: admin,
    body: { principalKind: 'agent', principal: agent, role: 'agent' },
  });
  if (r.status !== 201) throw new Error(`creating a key failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.secret;
}

/** One caller: check → complete until refused (or until `max` calls when given). Returns calls admitted. */
async function caller(
  url: string,
  key: string,
  session: string,
  i: number,
  max = Number.POSITIVE_INFINITY,
): Promise<number> {
  let admitted = 0;
  while (admitted < max) {
    const r = await api<{ effect: string; callId: string; code?: string }>(url, 'POST', '/v1/calls', {
      key,
      body: {
        tool: 'llm:bench',
        session,
        args: { n: admitted },
        estimate: { inputTokens: 30, outputTokens: 20 },
      },
    });
    if (r.status !== 200) throw new Error(`check failed: ${r.status} ${JSON.stringify(r.body)}`);
    if (r.body.effect !== 'allow') {
      if (r.body.code !== 'BUDGET_EXCEEDED') throw new Error(`unexpected refusal: ${JSON.stringify(r.body)}`);
      return admitted;
    }
    admitted++;
    const done = await api(url, 'POST', `/v1/calls/${r.body.callId}/complete`, {
      key,
      body: { status: 'ok', usage: { inputTokens: 25, outputTokens: 15 + (i % 5) } },
    });
    if (done.status !== 200) throw new Error(`complete failed: ${done.status} ${JSON.stringify(done.body)}`);
  }
  return admitted;
}

async function run({ quick, log }: BenchmarkOptions): Promise<Record<string, number>> {
  const limit = quick ? 10_000 : 60_000;
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-budget-'));
  log('starting a throwaway PostgreSQL cluster…');
  const pg = await startPostgres();
  const upstream = await startBillingUpstream();
  const served: Served[] = [];
  try {
    const db = await createTestDatabase(pg.url, 'bench_budget');
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, policy(limit));
    const admin = `wdn_${randomBytes(32).toString('base64url')}`;
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, `llm:\n  openai:\n    baseUrl: ${upstream.url}\n    apiKey: sk-bench-0123456789\n`);
    const env = { WARDEN_ADMIN_KEY: admin, WARDEN_CONFIG: config };
    served.push(await spawnServe(['--db', db, '--port', '0', '--policy', policyFile], env));
    served.push(await spawnServe(['--db', db, '--port', '0', '--policy', policyFile], env));
    const [a, b] = served as [Served, Served];
    const metered = await agentKey(a.url, admin, 'metered');
    const free = await agentKey(a.url, admin, 'free');

    log(`${CALLERS} callers on two instances spend a ${limit}-token budget…`);
    let t0 = performance.now();
    const counts = await Promise.all(
      Array.from({ length: CALLERS }, (_, i) => caller(i % 2 ? a.url : b.url, metered, `metered-${i}`, i)),
    );
    const meteredMs = performance.now() - t0;
    const admitted = counts.reduce((x, y) => x + y, 0);

    log(`the same number of calls by an agent without budgets (baseline)…`);
    const each = Math.ceil(admitted / CALLERS);
    t0 = performance.now();
    await Promise.all(
      Array.from({ length: CALLERS }, (_, i) => caller(i % 2 ? a.url : b.url, free, `free-${i}`, i, each)),
    );
    const freeMs = performance.now() - t0;

    log(`${CALLERS} concurrent LLM requests through the proxies of both instances, one session…`);
    const chatter = await agentKey(a.url, admin, 'chatter');
    await Promise.all(
      Array.from({ length: CALLERS }, (_, i) =>
        fetch(`${(i % 2 ? a : b).url}/llm/openai/v1/chat/completions`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${chatter}`,
            'content-type': 'application/json',
            'warden-session': 'proxy-race',
          },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: promptOf(i), max_completion_tokens: 400 }),
        }).then((r) => r.arrayBuffer()),
      ),
    );

    const store = await openStore(db);
    try {
      const [proxied] = await store.budgetCounters({ budgetId: 'proxy-tokens', limit: 1 });
      const counters = await store.budgetCounters({ budgetId: 'shared-tokens', limit: 10 });
      const totals = await store.ledgerTotals(counters.map((c) => c.key));
      const used = counters.reduce((x, c) => x + c.used, 0);
      const match = counters.every(
        (c) => c.reserved === 0 && Math.abs((totals.get(c.key) ?? 0) - c.used) < 1e-9,
      );
      return {
        overshoot: Math.max(0, used - limit),
        admitted,
        settled_tokens: used,
        counters_match_ledger: match ? 1 : 0,
        admitted_per_s: Math.round((admitted / meteredMs) * 1000),
        baseline_per_s: Math.round(((each * CALLERS) / freeMs) * 1000),
        http_pg_throughput_ratio: Number((admitted / meteredMs / ((each * CALLERS) / freeMs)).toFixed(3)),
        proxy_overshoot: Math.max(0, (proxied?.used ?? 0) - PROXY_LIMIT),
        proxy_used: proxied?.used ?? 0,
      };
    } finally {
      await store.close();
    }
  } finally {
    await Promise.all(served.map((s) => s.stop()));
    await pg.stop();
    await new Promise((r) => upstream.server.close(r));
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ name: 'budget', run }];
