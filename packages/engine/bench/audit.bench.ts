import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { hash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { canonicalJson, evaluate, WARDEN_ACTOR } from '@warden/core';
import Database from 'better-sqlite3';
import type { Benchmark, BenchmarkOptions } from '../../../bench/benchmark.js';
import { verifyStore } from '../src/audit/verify-store.js';
import type { Engine } from '../src/engine/engine.js';
import { openEngine } from '../src/engine/open-engine.js';
import { deriveTaskSigningKey } from '../src/identity/task-signing-key.js';
import { verifyTaskToken } from '../src/identity/task-token.js';
import { generateKeyRing } from '../src/keys/key-ring.js';
import { GroupCommitter } from '../src/store/group-committer.js';
import { openStore } from '../src/store/open-store.js';
import { TEST_POLICY_YAML, testPolicy } from '../test-support/engine-fixtures.js';

/**
 * The test policy with the loop breakers off: the figures measure the allow path, and one session
 * repeating one call thousands of times a second is exactly what the breakers exist to stop.
 */
const BENCH_POLICY = `${TEST_POLICY_YAML}
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
`;

import { createTestDatabase, startPostgres } from '../test-support/postgres-server.js';
import { appendMany, benchEvent } from './bench-events.js';

const ENGINE_DIR = fileURLToPath(new URL('../', import.meta.url));

const perSecond = (n: number, ms: number) => Math.round((n / ms) * 1000);

/** Durable SQLite appends, then verification of the same chain, each against a bare baseline. */
async function sqliteFigures({ quick, log }: BenchmarkOptions): Promise<Record<string, number>> {
  const n = quick ? 200_000 : 1_000_000;
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-'));
  try {
    const store = await openStore(join(dir, 'audit.db'));
    const committer = new GroupCommitter(store);
    log(`audit: appending ${n.toLocaleString('en')} events to SQLite (synchronous=FULL)…`);
    let t = performance.now();
    await appendMany((e) => committer.submit({ events: [e] }), n, 512);
    const appendMs = performance.now() - t;

    log('audit: baseline: the same bodies inserted into a bare table, 512 per transaction…');
    const plainMs = plainInserts(join(dir, 'plain.db'), Math.min(n, 200_000));

    // Verify as `warden audit verify` does: a fresh process opening the file the writer closed.
    await store.close();
    // The file as the writer left it (its WAL folded in on close), per event: storage cost of the trail.
    const bytesPerEvent = Math.round(statSync(join(dir, 'audit.db')).size / n);
    const reader = await openStore(join(dir, 'audit.db'), { mustExist: true });
    log('audit: verifying the chain…');
    t = performance.now();
    const report = await verifyStore(reader, { publicKeys: [] });
    const verifyMs = performance.now() - t;
    if (!report.ok || report.checked !== n)
      throw new Error(`verification failed: ${report.problem?.message}`);
    log('audit: verifying the chain deeply (every query column re-derived from its body)…');
    t = performance.now();
    const deep = await verifyStore(reader, { publicKeys: [], deep: true });
    const deepMs = performance.now() - t;
    if (!deep.ok) throw new Error(`deep verification failed: ${deep.problem?.message}`);
    const shaPerS = sha256Baseline(20_000);
    await reader.close();
    const append = perSecond(n, appendMs);
    const verify = perSecond(n, verifyMs);
    const verifyDeep = perSecond(n, deepMs);
    const plain = perSecond(Math.min(n, 200_000), plainMs);
    return {
      append_per_s: append,
      plain_insert_per_s: plain,
      append_vs_plain_insert_ratio: append / plain,
      verify_per_s: verify,
      sha256_per_s: shaPerS,
      verify_vs_sha256_ratio: verify / shaPerS,
      verify_deep_per_s: verifyDeep,
      verify_deep_vs_verify_ratio: verifyDeep / verify,
      bytes_per_event: bytesPerEvent,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function plainInserts(file: string, n: number): number {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO t VALUES (?, ?)');
  const t = performance.now();
  for (let i = 0; i < n; i += 512) {
    const bodies = Array.from({ length: Math.min(512, n - i) }, (_, j) => canonicalJson(benchEvent(i + j)));
    db.transaction(() => {
      for (const [j, b] of bodies.entries()) insert.run(i + j + 1, b);
    })();
  }
  const ms = performance.now() - t;
  db.close();
  return ms;
}

function sha256Baseline(n: number): number {
  const bodies = Array.from({ length: 1000 }, (_, i) => canonicalJson(benchEvent(i)));
  const t = performance.now();
  let h = '';
  for (let i = 0; i < n * 10; i++) h = hash('sha256', `${i}\n${h}\n${bodies[i % 1000]}`, 'hex');
  return perSecond(n * 10, performance.now() - t);
}

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

/** Two instances (separate processes) append concurrently to one PostgreSQL; then the chain is verified. */
async function postgresFigures({ quick, log }: BenchmarkOptions): Promise<Record<string, number>> {
  const perInstance = quick ? 25_000 : 100_000;
  log('audit: starting a throwaway PostgreSQL cluster…');
  const server = await startPostgres();
  try {
    const url = await createTestDatabase(server.url, 'bench');
    await (await openStore(url)).close();
    const children = ['a', 'b'].map((name) => startAppender(url, perInstance, name));
    await Promise.all(children.map((c) => line(c)));
    log(`audit: two instances appending ${perInstance.toLocaleString('en')} events each to PostgreSQL…`);
    const t = performance.now();
    for (const c of children) c.stdin.write('go\n');
    await Promise.all(children.map((c) => line(c)));
    const ms = performance.now() - t;
    for (const c of children) c.kill();
    const store = await openStore(url);
    const report = await verifyStore(store, { publicKeys: [] });
    await store.close();
    return {
      pg_append_per_s: perSecond(2 * perInstance, ms),
      pg_chain_intact: report.ok && report.checked === 2 * perInstance ? 1 : 0,
    };
  } finally {
    await server.destroy();
  }
}

function startAppender(url: string, count: number, name: string): Child {
  return spawn(
    process.execPath,
    ['--conditions=@warden/source', '--import', 'tsx', 'bench/pg-append-worker.ts', url, String(count), name],
    { cwd: ENGINE_DIR, stdio: ['pipe', 'pipe', 'pipe'] },
  );
}

/** The next line the child prints; rejects with its stderr if it exits first. */
function line(child: Child): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    const onErr = (d: Buffer) => {
      err += d;
    };
    child.stderr.on('data', onErr);
    child.stdout.once('data', (d: Buffer) => {
      child.stderr.off('data', onErr);
      resolve(d.toString());
    });
    child.once('exit', (code) => reject(new Error(`appender exited (${code}): ${err}`)));
  });
}

/** Latency of one allow decision with its durable audit event, against the bare policy evaluation. */
async function engineFigures({ quick, log }: BenchmarkOptions): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-'));
  const engine = await openEngine({
    db: join(dir, 'engine.db'),
    keys: generateKeyRing(),
    policy: testPolicy(BENCH_POLICY),
  });
  try {
    const call = { agent: 'billing-agent', tool: 'stripe.refund', args: { amount: 50 }, session: 's1' };
    const n = quick ? 1_000 : 5_000;
    log(
      `engine: ${n.toLocaleString('en')} sequential checks without and ${n.toLocaleString('en')} under a task token, interleaved, each durable before it returns…`,
    );
    const { lat, tokenLat } = await sequentialChecks(engine, call, n);
    log('engine: task token verification (EdDSA), uncached…');
    const verifyUs = await tokenVerification(engine, call.agent, quick ? 2_000 : 10_000);
    log('engine: 256 callers at once…');
    const m = quick ? 20_000 : 100_000;
    let t = performance.now();
    await appendMany(() => engine.check(call), m, 256);
    const concurrentPerS = perSecond(m, performance.now() - t);
    const policy = engine.policy;
    t = performance.now();
    for (let i = 0; i < 100_000; i++) evaluate(policy, { ...call, now: new Date() });
    const evaluateUs = ((performance.now() - t) / 100_000) * 1000;
    const p50 = (lat[Math.floor(n / 2)] as number) * 1000;
    const tokenP50 = (tokenLat[Math.floor(n / 2)] as number) * 1000;
    return {
      check_p50_us: Math.round(p50),
      check_task_token_p50_us: Math.round(tokenP50),
      task_token_overhead_ratio: Number((tokenP50 / p50).toFixed(3)),
      task_token_verify_us: Number(verifyUs.toFixed(1)),
      check_p99_us: Math.round((lat[Math.floor(n * 0.99)] as number) * 1000),
      check_concurrent_per_s: concurrentPerS,
      evaluate_us: Number(evaluateUs.toFixed(2)),
      check_vs_evaluate_ratio: p50 / evaluateUs,
    };
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Sequential durable checks of one allowed call, without and under a task token (the agent's usual case:
 * one token for many calls; the token is verified once and its claims kept, so each call checks expiry,
 * binds the call to the token and records its verified identity). The two alternate, each leading every
 * other round, so drift and a noisy neighbour weigh on both alike. Sorted latencies (ms).
 */
async function sequentialChecks(
  engine: Engine,
  call: { agent: string; tool: string; args: Record<string, unknown>; session: string },
  n: number,
): Promise<{ lat: number[]; tokenLat: number[] }> {
  const task = await engine.tasks.start(
    { agent: call.agent, initiator: { method: 'api_key', subject: 'u-bench', name: 'bench-person' } },
    WARDEN_ACTOR,
  );
  const { session: _session, ...tokenCall } = call;
  const plain = () => engine.check(call);
  const withToken = () => engine.check(tokenCall, { taskToken: task.token });
  for (let i = 0; i < 100; i++) {
    await plain();
    await withToken();
  }
  const lat: number[] = [];
  const tokenLat: number[] = [];
  const timed = async (check: () => ReturnType<Engine['check']>, into: number[]) => {
    const t = performance.now();
    const r = await check();
    into.push(performance.now() - t);
    if (r.effect !== 'allow') throw new Error(`expected allow, got ${r.effect}: ${r.reasons}`);
  };
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      await timed(plain, lat);
      await timed(withToken, tokenLat);
    } else {
      await timed(withToken, tokenLat);
      await timed(plain, lat);
    }
  }
  return { lat: lat.sort((a, b) => a - b), tokenLat: tokenLat.sort((a, b) => a - b) };
}

/** Microseconds to verify a task token not seen before (signature, header and claims): a token's first use. */
async function tokenVerification(engine: Engine, agent: string, n: number): Promise<number> {
  const task = await engine.tasks.start(
    { agent, initiator: { method: 'api_key', subject: 'u-bench', name: 'bench-person' } },
    WARDEN_ACTOR,
  );
  const key = deriveTaskSigningKey(engine.keys.hmacKey);
  for (let i = 0; i < 100; i++) await verifyTaskToken(key, task.token);
  const t = performance.now();
  for (let i = 0; i < n; i++) await verifyTaskToken(key, task.token);
  return ((performance.now() - t) / n) * 1000;
}

export const benchmarks: Benchmark[] = [
  {
    name: 'audit',
    async run(opts) {
      return { ...(await sqliteFigures(opts)), ...(await postgresFigures(opts)) };
    },
  },
  { name: 'engine', run: engineFigures },
];
