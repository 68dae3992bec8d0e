/**
 * HTTP throughput and latency of a decision: POST /v1/calls on a real Warden server (its own process, run
 * from source as `warden serve` runs it: SQLite, the example policy, durable audit before each answer)
 * against a bare Fastify route (its own process) that parses the same JSON body and answers a small JSON
 * object, both loaded over loopback by autocannon in a third process with the same settings (50
 * connections, no pipelining).
 *
 * Phases alternate (no-op, check, no-op, check in a full run) so that a noisy neighbour slows both sides
 * rather than skewing the ratio; each phase gets its own warmup. Throughput is the median over phases of
 * 2xx responses per second; latencies are percentiles of every 2xx response of all phases of a kind, timed
 * by autocannon with full precision. With 50 connections each waiting for its answer, latency is
 * concurrency / throughput (Little's law): these phases measure capacity, and latency at saturation.
 *
 * As throughput on a shared machine swings with the neighbours' load, each server's CPU time (user +
 * system, all threads, from /proc/<pid>/stat) per 2xx answer is reported too: check_server_cpu_us,
 * noop_server_cpu_us and check_cpu_ratio = noop / check, comparable to check_ratio and less sensitive
 * to the neighbours (not immune: contention makes every instruction dearer).
 * The Warden server's resident set (VmRSS) is sampled every 100 ms during the check phases.
 *
 * Sanity figures: non2xx and errors (must be 0), check_not_allowed (decisions other than allow; must be 0),
 * audit_events_written (growth of the audit head over the measured check phases; must be at least
 * check_2xx, the 2xx answers of those phases).
 *
 * Figures: `http.*`, and `server.rss_mb` and `server.rss_idle_mb` from a second benchmark reporting on the
 * same run.
 *
 * To profile the server under this load, give it extra node flags:
 *   WARDEN_BENCH_SERVER_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' npm run bench -- --filter http
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Benchmark, BenchmarkOptions } from '../../../bench/benchmark.js';
import type { LoadPhase, LoadResult } from './load-child.js';

const SERVER_DIR = fileURLToPath(new URL('../', import.meta.url));
/** USER_HZ of /proc/<pid>/stat: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;
const CONNECTIONS = 50;
const AGENT = 'support-bot';
/** Allowed by rule support-small-refund of the example policy. */
const CALL = { agent: AGENT, tool: 'billing.refund', args: { amount: 20 } };
const BODY = JSON.stringify(CALL);

interface Size {
  readonly rounds: number;
  readonly warmupS: number;
  readonly phaseS: number;
}
const QUICK: Size = { rounds: 1, warmupS: 2, phaseS: 3 };
const FULL: Size = { rounds: 2, warmupS: 2, phaseS: 10 };

/** A child process speaking JSON lines on stdout; stdin closing tells it to exit. */
class Child {
  readonly proc: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #lines: string[] = [];
  readonly #waiters: ((line: string | undefined) => void)[] = [];
  #stderr = '';
  #exited = false;

  constructor(
    readonly name: string,
    script: string,
    args: readonly string[],
    nodeFlags: readonly string[] = [],
  ) {
    this.proc = spawn(
      process.execPath,
      // TypeScript children run through tsx; the built Warden server (.mjs) runs as users run it.
      script.endsWith('.ts')
        ? [...nodeFlags, '--conditions=@warden/source', '--import', 'tsx', script, ...args]
        : [...nodeFlags, script, ...args],
      { cwd: SERVER_DIR, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.proc.stderr.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-20_000);
    });
    this.proc.stdin.on('error', () => {});
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(line);
      else this.#lines.push(line);
    });
    this.proc.once('exit', () => {
      this.#exited = true;
      for (const w of this.#waiters.splice(0)) w(undefined);
    });
  }

  get alive(): boolean {
    return !this.#exited && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get stderr(): string {
    return this.#stderr.trim();
  }

  #failure(what: string): Error {
    const status = this.proc.exitCode ?? this.proc.signalCode;
    return new Error(`${this.name}: ${what}${status !== null ? ` (exit ${status})` : ''}\n${this.stderr}`);
  }

  /** The next line it prints; rejects if it exits first or takes longer than `timeoutMs`. */
  nextLine(timeoutMs: number): Promise<string> {
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (!this.alive) return Promise.reject(this.#failure('exited'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(onLine);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(this.#failure(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const onLine = (line: string | undefined) => {
        clearTimeout(timer);
        if (line === undefined) reject(this.#failure('exited'));
        else resolve(line);
      };
      this.#waiters.push(onLine);
    });
  }

  async json<T>(timeoutMs: number): Promise<T> {
    const line = await this.nextLine(timeoutMs);
    try {
      return JSON.parse(line) as T;
    } catch {
      throw this.#failure(`printed something that is not JSON: ${line}`);
    }
  }

  send(line: string): void {
    this.proc.stdin.write(`${line}\n`);
  }

  /** Asks it to exit (stdin closes, then SIGTERM); SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.stdin.end();
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.alive) this.proc.kill('SIGKILL');
  }
}

/** Every child alive, killed outright if the bench process exits without stopping them. */
const live = new Set<Child>();
const killAll = () => {
  for (const c of live) c.kill();
};

function start(
  name: string,
  script: string,
  args: readonly string[] = [],
  nodeFlags: readonly string[] = [],
): Child {
  const child = new Child(name, script, args, nodeFlags);
  live.add(child);
  if (live.size === 1) process.on('exit', killAll);
  return child;
}

async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop().catch(() => c.kill())));
  live.clear();
  process.off('exit', killAll);
}

/** VmRSS of a process in MiB, or undefined where /proc is not available. */
function rssMb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Seconds of CPU (user + system, all threads) `pid` has used, or undefined where /proc is not available. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Samples the RSS of `pid` every 100 ms until the returned function is called; that returns the max. */
function sampleRss(pid: number): () => number | undefined {
  let max: number | undefined;
  const sample = () => {
    const v = rssMb(pid);
    if (v !== undefined) max = Math.max(max ?? 0, v);
  };
  sample();
  const timer = setInterval(sample, 100);
  return () => {
    clearInterval(timer);
    sample();
    return max;
  };
}

async function request(
  method: 'GET' | 'POST',
  url: string,
  key: string | undefined,
  body?: string,
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body } : {}),
  });
  return { status: res.status, text: await res.text() };
}

/** Parsed Prometheus text: the sum of every sample of `name` whose labels pass `filter`. */
function metric(text: string, name: string, filter: (labels: string) => boolean = () => true): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (m && m[1] === name && filter(m[2] ?? '')) sum += Number(m[3]);
  }
  return sum;
}

async function metrics(url: string, adminKey: string): Promise<string> {
  const r = await request('GET', `${url}/metrics`, adminKey);
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status} ${r.text}`);
  return r.text;
}

async function auditHead(url: string, adminKey: string): Promise<number> {
  const text = await metrics(url, adminKey);
  if (!/^warden_audit_head_seq /m.test(text)) throw new Error('GET /metrics has no warden_audit_head_seq');
  return metric(text, 'warden_audit_head_seq');
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function pooled(results: readonly LoadResult[]): Float64Array {
  const all = new Float64Array(results.reduce((n, r) => n + r.latenciesMs.length, 0));
  let i = 0;
  for (const r of results) for (const ms of r.latenciesMs) all[i++] = ms;
  return all.sort();
}

const round2 = (x: number) => Math.round(x * 100) / 100;

interface Figures {
  readonly http: Record<string, number>;
  readonly server: Record<string, number>;
}

async function measure({ quick, log }: BenchmarkOptions): Promise<Figures> {
  const size = quick ? QUICK : FULL;
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-http-'));
  try {
    log('starting the Warden server (SQLite, example policy), a no-op Fastify server and autocannon…');
    const serverFlags = (process.env.WARDEN_BENCH_SERVER_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
    if (serverFlags.length > 0) log(`the Warden server runs with ${serverFlags.join(' ')}`);
    const warden = start('warden server', 'bench/warden-child.mjs', [join(dir, 'warden.db')], serverFlags);
    const noop = start('no-op server', 'bench/noop-child.ts');
    const loader = start('autocannon', 'bench/load-child.ts');
    const w = await warden.json<{ url: string; adminKey?: string; pid: number }>(120_000);
    const n = await noop.json<{ url: string; pid: number }>(60_000);
    if (!w.adminKey) throw new Error('the Warden server made no bootstrap admin key on a fresh database');
    const admin = w.adminKey;

    const created = await request(
      'POST',
      `${w.url}/v1/keys`,
      admin,
      JSON.stringify({ principalKind: 'agent', principal: AGENT, role: 'agent', label: 'bench' }),
    );
    if (created.status !== 201) throw new Error(`POST /v1/keys: ${created.status} ${created.text}`);
    const agentKey = (JSON.parse(created.text) as { secret: string }).secret;

    const checkUrl = `${w.url}/v1/calls`;
    const first = await request('POST', checkUrl, agentKey, BODY);
    const effect = first.status === 200 ? (JSON.parse(first.text) as { effect?: string }).effect : undefined;
    if (effect !== 'allow') {
      throw new Error(`POST /v1/calls ${BODY} should be allowed; got ${first.status} ${first.text}`);
    }
    const noopFirst = await request('POST', n.url, agentKey, BODY);
    if (noopFirst.status !== 200) throw new Error(`no-op route: ${noopFirst.status} ${noopFirst.text}`);
    const rssIdle = rssMb(w.pid);

    const headers = { 'content-type': 'application/json', authorization: `Bearer ${agentKey}` };
    /** A load phase; with `serverPid`, also that server's CPU time per 2xx answer during it (µs). */
    const load = async (
      url: string,
      durationS: number,
      serverPid?: number,
    ): Promise<LoadResult & { cpuUs?: number }> => {
      const phase: LoadPhase = { url, body: BODY, headers, connections: CONNECTIONS, durationS };
      const cpu0 = serverPid === undefined ? undefined : cpuSeconds(serverPid);
      loader.send(JSON.stringify(phase));
      const r = await loader.json<LoadResult | { error: string }>((durationS + 60) * 1000);
      const cpu1 = serverPid === undefined ? undefined : cpuSeconds(serverPid);
      if ('error' in r) throw new Error(`autocannon failed: ${r.error}`);
      return cpu0 !== undefined && cpu1 !== undefined && r.ok > 0
        ? { ...r, cpuUs: ((cpu1 - cpu0) / r.ok) * 1e6 }
        : r;
    };
    /** A measured check phase: audit events written during it are counted, the server must survive it. */
    let auditWritten = 0;
    const checkPhase = async (durationS: number): Promise<LoadResult> => {
      const before = await auditHead(w.url, admin);
      const r = await load(checkUrl, durationS, w.pid);
      if (!warden.alive) throw new Error(`the Warden server exited during the load\n${warden.stderr}`);
      auditWritten += (await auditHead(w.url, admin)) - before;
      return r;
    };

    const noopRuns: (LoadResult & { cpuUs?: number })[] = [];
    const checkRuns: (LoadResult & { cpuUs?: number })[] = [];
    let rssMax: number | undefined;
    const perS = (r: LoadResult) => r.ok / r.durationS;
    const loadAvg = () => loadavg()[0]?.toFixed(2);
    log(`load average before: ${loadAvg()} on ${availableParallelism()} CPU(s)`);
    for (let round = 1; round <= size.rounds; round++) {
      const tag = `round ${round}/${size.rounds}`;
      log(`${tag}: no-op route, ${size.warmupS} s warmup + ${size.phaseS} s at ${CONNECTIONS} connections…`);
      await load(n.url, size.warmupS);
      const nr = await load(n.url, size.phaseS, n.pid);
      noopRuns.push(nr);
      log(`${tag}: POST /v1/calls, ${size.warmupS} s warmup + ${size.phaseS} s…`);
      const stopSampling = sampleRss(w.pid);
      try {
        await load(checkUrl, size.warmupS);
        const cr = await checkPhase(size.phaseS);
        checkRuns.push(cr);
        log(
          `${tag}: no-op ${Math.round(perS(nr))}/s p99 ${round2(percentile(pooled([nr]), 0.99))} ms, ` +
            `check ${Math.round(perS(cr))}/s p99 ${round2(percentile(pooled([cr]), 0.99))} ms`,
        );
      } finally {
        const max = stopSampling();
        if (max !== undefined) rssMax = Math.max(rssMax ?? 0, max);
      }
    }
    log(`load average after: ${loadAvg()}`);

    const text = await metrics(w.url, admin);
    const notAllowed = metric(
      text,
      'warden_decisions_total',
      (labels) => !/(^|,)effect="allow"/.test(labels),
    );
    if (warden.stderr) log(`the Warden server wrote on stderr:\n${warden.stderr}`);

    const all = [...checkRuns, ...noopRuns];
    const checkOk = checkRuns.reduce((s, r) => s + r.ok, 0);
    const non2xx = all.reduce((s, r) => s + r.non2xx, 0);
    const errors = all.reduce((s, r) => s + r.errors + r.timeouts, 0);
    if (non2xx > 0 || errors > 0) {
      const codes = all.map((r) => JSON.stringify(r.statusCodes)).join(', ');
      log(`WARNING: ${non2xx} non-2xx responses and ${errors} errors/timeouts (status codes: ${codes})`);
    }
    if (auditWritten < checkOk) {
      log(`WARNING: ${checkOk} 2xx answers but only ${auditWritten} audit events were written`);
    }
    if (notAllowed > 0) log(`WARNING: ${notAllowed} decisions were not allow`);

    const checkLat = pooled(checkRuns);
    const noopLat = pooled(noopRuns);
    const checkRps = median(checkRuns.map(perS));
    const noopRps = median(noopRuns.map(perS));
    const cpuOf = (runs: readonly { cpuUs?: number }[]) =>
      runs.every((r) => r.cpuUs !== undefined) ? median(runs.map((r) => r.cpuUs as number)) : undefined;
    const checkCpu = cpuOf(checkRuns);
    const noopCpu = cpuOf(noopRuns);
    const cpu: Record<string, number> =
      checkCpu !== undefined && noopCpu !== undefined
        ? {
            check_server_cpu_us: Math.round(checkCpu),
            noop_server_cpu_us: Math.round(noopCpu),
            check_cpu_ratio: Math.round((noopCpu / checkCpu) * 1000) / 1000,
          }
        : {};
    return {
      http: {
        check_rps: Math.round(checkRps),
        check_p50_ms: round2(percentile(checkLat, 0.5)),
        check_p99_ms: round2(percentile(checkLat, 0.99)),
        noop_rps: Math.round(noopRps),
        noop_p50_ms: round2(percentile(noopLat, 0.5)),
        noop_p99_ms: round2(percentile(noopLat, 0.99)),
        check_ratio: Math.round((checkRps / noopRps) * 1000) / 1000,
        ...cpu,
        check_2xx: checkOk,
        audit_events_written: auditWritten,
        non2xx,
        errors,
        check_not_allowed: notAllowed,
      },
      server: {
        ...(rssMax !== undefined ? { rss_mb: Math.round(rssMax * 10) / 10 } : {}),
        ...(rssIdle !== undefined ? { rss_idle_mb: Math.round(rssIdle * 10) / 10 } : {}),
      },
    };
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One load run serves both benchmarks of this file. */
let shared: { quick: boolean; figures: Promise<Figures> } | undefined;
function figures(opts: BenchmarkOptions): Promise<Figures> {
  if (shared?.quick !== opts.quick) shared = { quick: opts.quick, figures: measure(opts) };
  return shared.figures;
}

export const benchmarks: Benchmark[] = [
  { name: 'http', run: async (opts) => (await figures(opts)).http },
  {
    name: 'server',
    async run(opts) {
      const { server } = await figures(opts);
      if (server.rss_mb === undefined) opts.log('server: /proc/<pid>/status is not available; no RSS figure');
      return server;
    },
  },
];
