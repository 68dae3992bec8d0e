/**
 * The Python client's check round trip against the TypeScript SDK's, same server, same run: one `warden
 * serve` process (SQLite), one agent key, sequential allow checks (`check`, no tool run) from each
 * client in alternating blocks, so both see the same server state and machine load. The SDK runs in this
 * process (remote mode, over HTTP); the Python client in a `python3` child that times its own calls.
 *
 * - `python.check_p50_ms`: the Python client's `Warden.check`, p50.
 * - `sdk.check_p50_ms`: the TypeScript SDK's `warden.check` over HTTP, p50 (the `sdk` benchmark of
 *   packages/sdk/bench times the embedded engine instead: `sdk.check_p50_us`).
 * - `python.vs_sdk_ratio`: the first over the second.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createWarden } from '../packages/sdk/src/create-warden.js';
import { api, childEnv, killAll, spawnServe } from '../packages/server/test-support/serve-process.js';
import type { Benchmark, BenchmarkOptions } from './benchmark.js';

const CLIENT = fileURLToPath(new URL('../clients/python', import.meta.url));
const POLICY = `
warden: 1
name: python-client-bench
defaults:
  decision: block
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  bench-agent:
    rules:
      - { id: lookups, effect: allow, tools: [crm.lookup] }
`;

/** Times `n` sequential checks after `warmup` untimed ones; prints the timings (ms) as one JSON array. */
const PYTHON_TIMER = `
import json, os, time
from warden import Warden
w = Warden(os.environ["BENCH_URL"], os.environ["BENCH_KEY"])
warmup, n, tag = int(os.environ["BENCH_WARMUP"]), int(os.environ["BENCH_N"]), os.environ["BENCH_TAG"]
out = []
for i in range(warmup + n):
    t0 = time.perf_counter()
    d = w.check("crm.lookup", {"id": f"{tag}-{i}"})
    ms = (time.perf_counter() - t0) * 1000
    if d.effect != "allow":
        raise SystemExit(f"check {i} was not allowed: {d}")
    if i >= warmup:
        out.append(ms)
print(json.dumps(out))
`;

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))] as number;
}

function python(env: Record<string, string>): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.WARDEN_PYTHON ?? 'python3', ['-c', PYTHON_TIMER], {
      env: childEnv({ ...env, PYTHONPATH: CLIENT, PYTHONDONTWRITEBYTECODE: '1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`python3 timer exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as number[]);
    });
  });
}

interface Measured {
  readonly python: number[];
  readonly sdk: number[];
}

async function measure({ quick, log }: BenchmarkOptions): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-python-bench-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  const server = await spawnServe(
    ['--db', join(dir, 'warden.db'), '--port', '0', '--policy', join(dir, 'policy.yaml')],
    { WARDEN_ADMIN_KEY: admin, WARDEN_LOG_LEVEL: 'warn' },
  );
  try {
    const made = await api<{ secret: string }>(server.url, 'POST', '/v1/keys', {
      key: admin,
      body: { principalKind: 'agent', principal: 'bench-agent', role: 'agent' },
    });
    if (made.status !== 201) throw new Error(`creating the agent key failed: ${made.status}`);
    const key = made.body.secret;
    const sdk = await createWarden({ url: server.url, key });
    const rounds = quick ? 2 : 4;
    const n = quick ? 150 : 1_000;
    const warmup = quick ? 30 : 100;
    const result: Measured = { python: [], sdk: [] };
    try {
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < warmup + n; i++) {
          const t0 = performance.now();
          const d = await sdk.check({ tool: 'crm.lookup', args: { id: `sdk-${r}-${i}` } });
          const ms = performance.now() - t0;
          if (d.effect !== 'allow')
            throw new Error(`SDK check ${i} was not allowed: ${d.reasons.join('; ')}`);
          if (i >= warmup) result.sdk.push(ms);
        }
        const env = { BENCH_URL: server.url, BENCH_KEY: key, BENCH_TAG: `py-${r}` };
        result.python.push(...(await python({ ...env, BENCH_WARMUP: String(warmup), BENCH_N: String(n) })));
        log(`round ${r + 1}/${rounds}: ${n} checks each`);
      }
    } finally {
      await sdk.close();
    }
    return result;
  } finally {
    await server.stop();
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One measurement for both benchmarks of this file (they report under their own prefixes). */
let measured: Promise<Measured> | undefined;
const once = (opts: BenchmarkOptions) => {
  measured ??= measure(opts);
  return measured;
};
const p50 = (xs: readonly number[]) =>
  pct(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

export const benchmarks: Benchmark[] = [
  {
    name: 'python',
    async run(opts) {
      const m = await once(opts);
      return {
        check_p50_ms: round3(p50(m.python)),
        check_p99_ms: round3(
          pct(
            [...m.python].sort((a, b) => a - b),
            0.99,
          ),
        ),
        vs_sdk_ratio: Math.round((p50(m.python) / p50(m.sdk)) * 100) / 100,
        checks: m.python.length,
      };
    },
  },
  {
    name: 'sdk',
    async run(opts) {
      const m = await once(opts);
      return {
        check_p50_ms: round3(p50(m.sdk)),
        check_p99_ms: round3(
          pct(
            [...m.sdk].sort((a, b) => a - b),
            0.99,
          ),
        ),
      };
    },
  },
];
