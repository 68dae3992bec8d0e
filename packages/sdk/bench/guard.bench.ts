/**
 * What `warden.guard` adds to a tool call in embedded mode on the allow path, with the durable audit: the
 * same trivial async tool called bare and guarded, in alternation. A guarded call decides (the decision
 * commits before the tool runs) and records its result (committed before the call returns).
 *
 * - `sdk.guard_overhead_p50_us` / `sdk.guard_overhead_p99_us`: guarded minus bare, per percentile.
 * - `sdk.check_p50_us`: one `warden.check` (the durable decision alone), for comparison.
 * - `sdk.audited_calls`: completed calls in the audit afterwards (must equal the guarded calls).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Benchmark, BenchmarkOptions } from '../../../bench/benchmark.js';
import { createWarden } from '../src/create-warden.js';
import { countEvents } from '../test-support/sdk-fixtures.js';

const POLICY = `
name: sdk bench
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  bench-agent:
    rules:
      - { id: lookups, effect: allow, tools: [lookup_order] }
`;

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))] as number;
}

async function run({ quick, log }: BenchmarkOptions): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sdk-bench-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  const warden = await createWarden({
    embedded: { db: join(dir, 'warden.db'), policy: join(dir, 'policy.yaml'), agent: 'bench-agent' },
    context: { session: 'bench' },
  });
  try {
    const lookup = async (o: { id: string }) => ({ id: o.id, status: 'shipped' });
    const guarded = warden.guard('lookup_order', lookup);
    const warmup = quick ? 200 : 500;
    const n = quick ? 1_000 : 5_000;
    const bare: number[] = [];
    const wrapped: number[] = [];
    const checks: number[] = [];
    for (let i = 0; i < warmup + n; i++) {
      const id = `o-${i}`;
      const t0 = performance.now();
      await lookup({ id });
      const t1 = performance.now();
      await guarded({ id });
      const t2 = performance.now();
      if (i >= warmup) {
        bare.push(t1 - t0);
        wrapped.push(t2 - t1);
      }
      if ((i + 1) % 1_000 === 0) log(`${i + 1}/${warmup + n} guarded calls`);
    }
    for (let i = 0; i < n / 5; i++) {
      const t0 = performance.now();
      await warden.check({ tool: 'lookup_order', args: { id: `c-${i}` } });
      checks.push(performance.now() - t0);
    }
    for (const xs of [bare, wrapped, checks]) xs.sort((a, b) => a - b);
    const us = (ms: number) => Math.round(ms * 1000);
    return {
      guard_overhead_p50_us: us(pct(wrapped, 0.5) - pct(bare, 0.5)),
      guard_overhead_p99_us: us(pct(wrapped, 0.99) - pct(bare, 0.99)),
      check_p50_us: us(pct(checks, 0.5)),
      audited_calls: await countEvents(join(dir, 'warden.db'), 'call.completed'),
    };
  } finally {
    await warden.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ name: 'sdk', run }];
