/**
 * What one agent waiting for each answer pays, against a real `warden serve` process (the built CLI, a
 * SQLite file, durable audit before each answer), each side against a baseline measured in alternation
 * in the same run, so a noisy neighbour weighs on both:
 *
 * - `http.check_added_ms`: p50 of POST /v1/calls (allowed) minus p50 of GET /healthz on the same server,
 *   sequential (`http.seq_check_p50_ms`, `http.seq_check_p99_ms`, `http.seq_healthz_p50_ms`), beside
 *   `http.fsync_p50_ms`: the p50 of one 4 KiB append + fdatasync on the filesystem of the database, the
 *   physical floor of a durable decision.
 * - `llm.proxy_overhead_p50_ms` / `_p99_ms`: a non-streaming Chat Completions request through the LLM
 *   metering proxy minus the same request straight to the upstream (a loopback stand-in speaking the
 *   OpenAI and Anthropic wire formats, test-support/fake-llm-upstream.ts), per percentile;
 *   `llm.anthropic_overhead_p50_ms` / `_p99_ms` the same for Anthropic Messages; `llm.direct_p50_ms`,
 *   `llm.proxy_p50_ms` the two OpenAI sides.
 *
 * Sanity figures: `http.seq_not_allowed` (must be 0) and `llm.metered_calls` (LLM calls the audit holds
 * as completed after the server stopped; must be `llm.calls`).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Benchmark, BenchmarkOptions } from '../../../bench/benchmark.js';
import { countEvents } from '../../sdk/test-support/sdk-fixtures.js';
import { startFakeLlmUpstream } from '../test-support/fake-llm-upstream.js';
import { api, killAll, spawnServe } from '../test-support/serve-process.js';

const POLICY = `name: sequential bench
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  bench-agent:
    rules:
      - { id: refunds, effect: allow, tools: [billing.refund] }
      - { id: llm, effect: allow, tools: ['llm:*'] }
`;

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))] as number;
}
const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** p50 of `n` 4 KiB appends each followed by fdatasync, in `dir`. */
function fsyncP50(dir: string, n: number): number {
  const file = join(dir, 'fsync-probe');
  const fd = openSync(file, 'a');
  const block = Buffer.alloc(4096, 7);
  const times: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      writeSync(fd, block);
      fdatasyncSync(fd);
      times.push(performance.now() - t);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return pct(sorted(times), 0.5);
}

/** Times `a` and `b` alternately `n` times after `warmup` unmeasured rounds; both sorted (ms). */
async function alternate(
  n: number,
  warmup: number,
  a: () => Promise<void>,
  b: () => Promise<void>,
): Promise<[number[], number[]]> {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < warmup + n; i++) {
    // Each leads every other round, so neither always follows the other's write.
    const sides: [() => Promise<void>, number[]][] = [
      [a, ta],
      [b, tb],
    ];
    if (i % 2) sides.reverse();
    for (const [fn, into] of sides) {
      const t = performance.now();
      await fn();
      if (i >= warmup) into.push(performance.now() - t);
    }
  }
  return [sorted(ta), sorted(tb)];
}

async function post(url: string, headers: Record<string, string>, body: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${url}: ${res.status} ${text}`);
  return JSON.parse(text);
}

interface Figures {
  readonly http: Record<string, number>;
  readonly llm: Record<string, number>;
}

async function measure({ quick, log }: BenchmarkOptions): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-seq-'));
  const upstream = await startFakeLlmUpstream();
  try {
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    writeFileSync(
      join(dir, 'warden.yaml'),
      [
        'llm:',
        '  openai:',
        `    baseUrl: ${upstream.url}`,
        '    apiKey: sk-bench-0123456789',
        '  anthropic:',
        `    baseUrl: ${upstream.url}`,
        '    apiKey: sk-ant-bench-0123456789',
        '',
      ].join('\n'),
    );
    const db = join(dir, 'warden.db');
    const admin = `wdn_${randomBytes(32).toString('base64url')}`;
    const served = await spawnServe(
      [
        ...['--config', join(dir, 'warden.yaml'), '--db', db],
        ...['--policy', join(dir, 'policy.yaml'), '--port', '0'],
      ],
      { WARDEN_ADMIN_KEY: admin },
    );
    const n = quick ? 300 : 3_000;
    const warmup = quick ? 50 : 300;
    let notAllowed = 0;
    let http: Record<string, number>;
    let llm: Record<string, number>;
    try {
      const made = await api<{ secret: string }>(served.url, 'POST', '/v1/keys', {
        key: admin,
        body: { principalKind: 'agent', principal: 'bench-agent', role: 'agent' },
      });
      if (made.status !== 201) throw new Error(`POST /v1/keys: ${made.status} ${JSON.stringify(made.body)}`);
      const key = made.body.secret;
      log(`${n} sequential checks and /healthz, alternating (load ${loadavg()[0]?.toFixed(2)})…`);
      const auth = { authorization: `Bearer ${key}` };
      const [check, healthz] = await alternate(
        n,
        warmup,
        async () => {
          const r = (await post(`${served.url}/v1/calls`, auth, {
            tool: 'billing.refund',
            args: { amount: 20 },
            session: 'sequential',
          })) as { effect?: string };
          if (r.effect !== 'allow') notAllowed++;
        },
        async () => {
          const res = await fetch(`${served.url}/healthz`);
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`GET /healthz: ${res.status}`);
        },
      );
      const fsync = fsyncP50(dir, quick ? 300 : 2_000);
      http = {
        check_added_ms: round3(pct(check, 0.5) - pct(healthz, 0.5)),
        fsync_p50_ms: round3(fsync),
        seq_check_p50_ms: round3(pct(check, 0.5)),
        seq_check_p99_ms: round3(pct(check, 0.99)),
        seq_healthz_p50_ms: round3(pct(healthz, 0.5)),
        seq_not_allowed: notAllowed,
      };

      log(`${n} Chat Completions through the proxy and directly, alternating…`);
      const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] };
      const session = { ...auth, 'warden-session': 'llm-bench' };
      const [proxied, direct] = await alternate(
        n,
        warmup,
        async () => void (await post(`${served.url}/llm/openai/v1/chat/completions`, session, chat)),
        async () => void (await post(`${upstream.url}/v1/chat/completions`, {}, chat)),
      );
      log(`${n} Anthropic Messages through the proxy and directly, alternating…`);
      const msg = { ...chat, model: 'claude-sonnet-4-5', max_tokens: 64 };
      const anthropicHeaders = { 'anthropic-version': '2023-06-01' };
      const [aProxied, aDirect] = await alternate(
        n,
        warmup,
        async () =>
          void (await post(
            `${served.url}/llm/anthropic/v1/messages`,
            { ...anthropicHeaders, 'x-api-key': key, 'warden-session': 'llm-bench' },
            msg,
          )),
        async () => void (await post(`${upstream.url}/v1/messages`, anthropicHeaders, msg)),
      );
      llm = {
        proxy_overhead_p50_ms: round3(pct(proxied, 0.5) - pct(direct, 0.5)),
        proxy_overhead_p99_ms: round3(pct(proxied, 0.99) - pct(direct, 0.99)),
        anthropic_overhead_p50_ms: round3(pct(aProxied, 0.5) - pct(aDirect, 0.5)),
        anthropic_overhead_p99_ms: round3(pct(aProxied, 0.99) - pct(aDirect, 0.99)),
        direct_p50_ms: round3(pct(direct, 0.5)),
        proxy_p50_ms: round3(pct(proxied, 0.5)),
        calls: 2 * (n + warmup),
      };
    } finally {
      await served.stop();
    }
    // LLM calls are the only ones completed (a check of billing.refund is never completed here).
    const metered = await countEvents(db, 'call.completed');
    if (metered !== llm.calls) log(`WARNING: the audit holds ${metered} completed LLM calls of ${llm.calls}`);
    return { http, llm: { ...llm, metered_calls: metered } };
  } finally {
    killAll();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One server serves both benchmarks of this file. */
let shared: { quick: boolean; figures: Promise<Figures> } | undefined;
function figures(opts: BenchmarkOptions): Promise<Figures> {
  if (shared?.quick !== opts.quick) shared = { quick: opts.quick, figures: measure(opts) };
  return shared.figures;
}

export const benchmarks: Benchmark[] = [
  { name: 'http', run: async (opts) => (await figures(opts)).http },
  { name: 'llm', run: async (opts) => (await figures(opts)).llm },
];
