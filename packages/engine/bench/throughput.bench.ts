/**
 * Check + complete throughput in process, 256 calls in flight (each lane one session, as 256 agents
 * working at once), through the engine's public API (`openEngine`, `check`, `complete` with usage):
 *
 * - `budget.throughput_ratio`: calls/s of an agent under one agent-scope calls budget (a limit it never
 *   reaches) ÷ calls/s of an agent without budgets, same load, same SQLite database, same run;
 *   `budget.calls_per_s`, `budget.baseline_calls_per_s` are the two sides, and `budget.pg_*` the same on
 *   PostgreSQL.
 * - `pg.throughput_vs_sqlite`: calls/s on PostgreSQL (a throwaway cluster, one instance) ÷ on SQLite, no
 *   budget; `pg.calls_per_s`, `pg.sqlite_calls_per_s`; `pg.budget_throughput_vs_sqlite` with the budget.
 *
 * Sides alternate (a full run measures each twice and keeps the better) so that a noisy neighbour weighs
 * on both. Sanity figure: `pg.not_allowed` (decisions other than allow; must be 0).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy } from '@warden/core';
import { type Engine, openEngine } from '@warden/engine';
import type { Benchmark, BenchmarkOptions } from '../../../bench/benchmark.js';
import { generateKeyRing } from '../src/keys/key-ring.js';
import { createTestDatabase, startPostgres } from '../test-support/postgres-server.js';

const IN_FLIGHT = 256;

const POLICY = `
name: throughput bench
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  free:
    rules: [{ id: free-any, effect: allow, tools: ['*'] }]
  metered:
    rules: [{ id: metered-any, effect: allow, tools: ['*'] }]
    budgets:
      - { id: agent-calls, metric: calls, limit: 1000000000, scope: agent, window: month }
`;

let notAllowed = 0;

/** Calls/s of `n` check + complete pairs by `agent`, IN_FLIGHT at a time. */
async function pairsPerSecond(engine: Engine, agent: string, n: number, tag: string): Promise<number> {
  let next = 0;
  const lane = async (k: number) => {
    while (next < n) {
      const i = next++;
      const r = await engine.check({
        agent,
        tool: 'llm:openai/gpt-4o',
        args: { prompt: `p${i % 97}` },
        session: `${tag}-${agent}-${k}`,
      });
      if (r.effect !== 'allow') {
        notAllowed++;
        continue;
      }
      await engine.complete(r.callId, {
        status: 'ok',
        usage: { model: 'gpt-4o', inputTokens: 100 + (i % 50), outputTokens: 20 },
      });
    }
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, k) => lane(k)));
  return Math.round((n / (performance.now() - t)) * 1000);
}

interface Sides {
  readonly free: number;
  readonly metered: number;
}

/** Warms up, then measures free and metered alternately `rounds` times; the best of each. */
async function sides(engine: Engine, n: number, rounds: number, log: (m: string) => void): Promise<Sides> {
  await pairsPerSecond(engine, 'free', Math.min(2_000, n), 'warm');
  await pairsPerSecond(engine, 'metered', Math.min(2_000, n), 'warm');
  let free = 0;
  let metered = 0;
  for (let r = 0; r < rounds; r++) {
    const f = await pairsPerSecond(engine, 'free', n, `r${r}`);
    const m = await pairsPerSecond(engine, 'metered', n, `r${r}`);
    log(`round ${r + 1}/${rounds}: ${f}/s without a budget, ${m}/s with (load ${loadavg()[0]?.toFixed(2)})`);
    free = Math.max(free, f);
    metered = Math.max(metered, m);
  }
  return { free, metered };
}

async function onDatabase(db: string, opts: BenchmarkOptions, what: string): Promise<Sides> {
  const engine = await openEngine({ db, keys: generateKeyRing(), policy: compilePolicy(POLICY, 'p.yaml') });
  try {
    opts.log(`${what}: check + complete, ${IN_FLIGHT} in flight…`);
    return await sides(engine, opts.quick ? 5_000 : 20_000, opts.quick ? 1 : 2, (m) =>
      opts.log(`${what}: ${m}`),
    );
  } finally {
    await engine.close();
  }
}

interface Figures {
  readonly budget: Record<string, number>;
  readonly pg: Record<string, number>;
}

async function measure(opts: BenchmarkOptions): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-throughput-'));
  notAllowed = 0;
  try {
    const lite = await onDatabase(join(dir, 'throughput.db'), opts, 'sqlite');
    opts.log('starting a throwaway PostgreSQL cluster…');
    const server = await startPostgres();
    let pg: Sides;
    try {
      pg = await onDatabase(await createTestDatabase(server.url, 'bench_throughput'), opts, 'postgres');
    } finally {
      await server.destroy();
    }
    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    return {
      budget: {
        calls_per_s: lite.metered,
        baseline_calls_per_s: lite.free,
        throughput_ratio: ratio(lite.metered, lite.free),
        pg_calls_per_s: pg.metered,
        pg_throughput_ratio: ratio(pg.metered, pg.free),
      },
      pg: {
        calls_per_s: pg.free,
        sqlite_calls_per_s: lite.free,
        throughput_vs_sqlite: ratio(pg.free, lite.free),
        budget_calls_per_s: pg.metered,
        budget_throughput_vs_sqlite: ratio(pg.metered, lite.free),
        not_allowed: notAllowed,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One run serves both benchmarks of this file. */
let shared: { quick: boolean; figures: Promise<Figures> } | undefined;
function figures(opts: BenchmarkOptions): Promise<Figures> {
  if (shared?.quick !== opts.quick) shared = { quick: opts.quick, figures: measure(opts) };
  return shared.figures;
}

export const benchmarks: Benchmark[] = [
  { name: 'budget', run: async (opts) => (await figures(opts)).budget },
  { name: 'pg', run: async (opts) => (await figures(opts)).pg },
];
