/**
 * Policy decision latency: Warden `evaluate` on a generated 1,000-rule policy (100 agents, ~10 groups,
 * targets, globs, CEL argument conditions, all three effects) against Cedar (cedar-wasm) on the same rules
 * and the same calls, in the same process and run.
 *
 * Both engines are timed call by call with `process.hrtime.bigint()` around each call, in alternating
 * rounds (Warden block, Cedar block, …) so that a noisy neighbour slows both rather than skewing the ratio.
 */
import type { Benchmark } from '../../../bench/benchmark.js';
import { type CompiledPolicy, compilePolicy, type Decision, evaluate } from '../src/index.js';
import { CedarAuthorizer, type CedarAuthzRequest } from '../test-support/cedar-authorizer.js';
import {
  cedarRequestFor,
  type GeneratedCall,
  generateCalls,
  generatePolicy,
} from '../test-support/policy-generator.js';

const hrtime = process.hrtime.bigint;

interface Size {
  /** Distinct random calls; Warden cycles through all of them, Cedar through the first `cedarPool`. */
  readonly pool: number;
  readonly cedarPool: number;
  /** Passes over the pool before timing (JIT, per-tool candidate caches). */
  readonly warmupPasses: number;
  readonly cedarWarmup: number;
  readonly rounds: number;
  readonly wardenPerRound: number;
  readonly cedarPerRound: number;
}

const QUICK: Size = {
  pool: 5_000,
  cedarPool: 1_000,
  warmupPasses: 5,
  cedarWarmup: 50,
  rounds: 6,
  wardenPerRound: 150_000,
  cedarPerRound: 120,
};
const FULL: Size = {
  pool: 20_000,
  cedarPool: 3_000,
  warmupPasses: 8,
  cedarWarmup: 200,
  rounds: 20,
  wardenPerRound: 400_000,
  cedarPerRound: 300,
};

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))] as number;
}

function summarize(samples: Float64Array): { p50: number; p99: number; mean: number } {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const s of samples) sum += s;
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), mean: sum / samples.length };
}

/** Median cost of an empty `hrtime.bigint()` pair: what every timed sample carries on top of the call. */
function timerOverhead(n: number): number {
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = hrtime();
    const t1 = hrtime();
    samples[i] = Number(t1 - t0);
  }
  return summarize(samples).p50;
}

/** Keeps results observable so the optimizer cannot drop the calls. */
let sink = 0;
function consume(d: Decision): void {
  sink += d.matchedRuleIds.length + (d.effect === 'allow' ? 1 : 0);
}

/** Times `n` calls, continuing in the pool at `start`; writes into `out` from `offset`. */
function timeWarden(
  policy: CompiledPolicy,
  pool: readonly GeneratedCall[],
  start: number,
  n: number,
  out: Float64Array,
  offset: number,
): void {
  let j = start % pool.length;
  for (let i = 0; i < n; i++) {
    const call = pool[j] as GeneratedCall;
    j = j + 1 === pool.length ? 0 : j + 1;
    const t0 = hrtime();
    const d = evaluate(policy, call);
    const t1 = hrtime();
    out[offset + i] = Number(t1 - t0);
    consume(d);
  }
}

function timeCedar(
  cedar: CedarAuthorizer,
  requests: readonly CedarAuthzRequest[],
  start: number,
  n: number,
  out: Float64Array,
  offset: number,
): void {
  for (let i = 0; i < n; i++) {
    const req = requests[(start + i) % requests.length] as CedarAuthzRequest;
    const t0 = hrtime();
    const answer = cedar.raw(req);
    const t1 = hrtime();
    out[offset + i] = Number(t1 - t0);
    if (answer.type !== 'success') {
      throw new Error(`Cedar failed: ${answer.errors.map((e) => e.message).join('; ')}`);
    }
    const errors = answer.response.diagnostics.errors;
    if (errors.length > 0) {
      throw new Error(
        `Cedar policy errors: ${errors.map((e) => `${e.policyId}: ${e.error.message}`).join('; ')}`,
      );
    }
  }
}

export const benchmarks: Benchmark[] = [
  {
    name: 'policy',
    async run({ quick, log }) {
      const size = quick ? QUICK : FULL;
      const gen = generatePolicy({ seed: 2024, rules: 1000 });
      const c0 = performance.now();
      const policy = compilePolicy(gen.yaml, 'generated-1000.yaml');
      const compileMs = performance.now() - c0;
      log(`compiled ${policy.rules.length} rules, ${policy.plans.size} agents in ${compileMs.toFixed(0)} ms`);

      // Warm-up, and a sanity check of the workload: a mix of outcomes and no condition errors.
      const pool = generateCalls(gen.model, size.pool, 99);
      const mix = { allow: 0, review: 0, block: 0, byDefault: 0, errors: 0 };
      for (let pass = 0; pass < size.warmupPasses; pass++) {
        for (const call of pool) {
          const d = evaluate(policy, call);
          consume(d);
          if (pass > 0) continue;
          mix[d.effect]++;
          if (d.ruleId === null) mix.byDefault++;
          if (d.conditionErrors) mix.errors++;
        }
      }
      if (mix.errors > 0)
        throw new Error(`${mix.errors} calls hit condition errors; the generator must supply every argument`);
      log(
        `${pool.length} calls: ${mix.allow} allow, ${mix.review} review, ${mix.block} block (${mix.byDefault} by default); ` +
          `warmed up with ${size.warmupPasses} passes`,
      );

      const cedar = new CedarAuthorizer(gen.cedar);
      const requests = pool.slice(0, size.cedarPool).map((c) => cedarRequestFor(gen.model, c));
      for (let i = 0; i < size.cedarWarmup; i++)
        cedar.raw(requests[i % requests.length] as CedarAuthzRequest);

      const overhead = timerOverhead(quick ? 200_000 : 1_000_000);
      const wardenSamples = new Float64Array(size.rounds * size.wardenPerRound);
      const cedarSamples = new Float64Array(size.rounds * size.cedarPerRound);
      for (let r = 0; r < size.rounds; r++) {
        timeWarden(
          policy,
          pool,
          r * size.wardenPerRound,
          size.wardenPerRound,
          wardenSamples,
          r * size.wardenPerRound,
        );
        timeCedar(
          cedar,
          requests,
          r * size.cedarPerRound,
          size.cedarPerRound,
          cedarSamples,
          r * size.cedarPerRound,
        );
        log(`round ${r + 1}/${size.rounds}`);
      }
      const warden = summarize(wardenSamples);
      const cedarStats = summarize(cedarSamples);
      log(
        `warden: p50 ${warden.p50} ns, p99 ${warden.p99} ns over ${wardenSamples.length} calls (timer overhead ${overhead} ns)`,
      );
      log(
        `cedar ${CedarAuthorizer.version()}: p50 ${cedarStats.p50} ns, p99 ${cedarStats.p99} ns over ${cedarSamples.length} calls`,
      );

      // Throughput cross-check without per-call timers.
      const passes = quick ? 10 : 40;
      const b0 = hrtime();
      for (let p = 0; p < passes; p++) for (const call of pool) consume(evaluate(policy, call));
      const batchMean = Number(hrtime() - b0) / (passes * pool.length);
      if (sink === -1) log('(unreachable: keeps the results alive)');

      return {
        rules: policy.rules.length,
        agents: policy.plans.size,
        compile_ms: Math.round(compileMs),
        decision_p50_ns: warden.p50,
        decision_p99_ns: warden.p99,
        decision_mean_ns: Math.round(warden.mean),
        decision_batch_mean_ns: Math.round(batchMean),
        timer_overhead_ns: overhead,
        cedar_p50_ns: cedarStats.p50,
        cedar_p99_ns: cedarStats.p99,
        speedup_vs_cedar: cedarStats.p50 / warden.p50,
      };
    },
  },
];
