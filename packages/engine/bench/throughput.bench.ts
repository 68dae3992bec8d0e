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
 * on both; each measured run has a fresh database (a warmup of 512 calls, then 2,000 calls with --quick,
 * 5,000 in a full run), so neither side reads a bigger trail than the other.
 *
 * Sanity figure: `pg.not_allowed` (decisions other than allow; must be 0).
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

/**
 * Calls/s of `agent` on a database of its own (`fresh()` makes one), after a warmup: each measured run
 * starts from the same empty trail, so neither side reads a bigger table than the other.
 */
async function onFreshDatabase(
  fresh: () => Promise<string>,
  agent: string,
  n: number,
  tag: string,
): Promise<number> {
  const engine = await openEngine({
    db: await fresh(),
    keys: generateKeyRing(),
    policy: compilePolicy(POLICY, 'p.yaml'),
  });
  try {
    await pairsPerSecond(engine, agent, 512, `${tag}-warm`);
    return await pairsPerSecond(engine, agent, n, tag);
  } finally {
    await engine.close();
  }
}

/** Free and metered alternately, `rounds` times (the first leading in even rounds); the best of each. */
async function sides(fresh: () => Promise<string>, opts: BenchmarkOptions, what: string): Promise<Sides> {
  const n = opts.quick ? 2_000 : 5_000;
  const rounds = opts.quick ? 1 : 2;
  opts.log(`${what}: ${n} check + complete by each side, ${IN_FLIGHT} in flight…`);
  let free = 0;
  let metered = 0;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? (['metered', 'free'] as const) : (['free', 'metered'] as const);
    const got: Record<string, number> = {};
    for (const agent of order) got[agent] = await onFreshDatabase(fresh, agent, n, `r${r}`);
    const f = got.free ?? 0;
    const m = got.metered ?? 0;
    opts.log(
      `${what}: round ${r + 1}/${rounds}: ${f}/s without a budget, ${m}/s with (load ${loadavg()[0]?.toFixed(2)})`,
    );
    free = Math.max(free, f);
    metered = Math.max(metered, m);
  }
  return { free, metered };
}

interface Figures {
  readonly budget: Record<string, number>;
  readonly pg: Record<string, number>;
}

async function measure(opts: BenchmarkOptions): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-throughput-'));
  notAllowed = 0;
  try {
    let files = 0;
    const lite = await sides(async () => join(dir, `throughput-${files++}.db`), opts, 'sqlite');
    opts.log('starting a throwaway PostgreSQL cluster…');
    const server = await startPostgres();
    let pg: Sides;
    try {
      pg = await sides(() => createTestDatabase(server.url, 'bench_throughput'), opts, 'postgres');
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
