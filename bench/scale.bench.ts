/**
 * Reads at scale, through the doors users use: a trail of N events (bench/scale-trail.ts; 2,000,000 in a
 * full run, 50,000 with --quick, WARDEN_BENCH_SCALE_EVENTS to choose) on SQLite and on PostgreSQL (a
 * throwaway cluster), read by a real `warden serve` (the built CLI) and reported on by `warden report soc2`.
 *
 * Per database kind (`scale.sqlite_*`, `scale.pg_*`), medians of repeated requests:
 * - `usage_30d_ms`: GET /v1/usage over the trail's 30 days (by day), and `usage_truncated` (1 when the
 *   answer says it read only part of the range: the totals are then wrong).
 * - `session_detail_ms`: GET /v1/sessions/{id} of sessions spread over the trail.
 * - `audit_first_page_ms`: GET /v1/audit/events?limit=100 (chain order) and `audit_agent_page_ms`: the
 *   newest 100 events of one agent.
 * - `healthz_ms`: GET /healthz on the same server, the baseline of the reads above.
 * - `soc2_events_per_s`: events in the period ÷ the wall time of `warden report soc2` over it (the whole
 *   process: open, gather with its chain verification, render), and `soc2_s`.
 * - `event_size_bytes`: the database's size ÷ its events (SQLite: the file and its WAL; PostgreSQL:
 *   pg_database_size), beside `event_canonical_bytes`, the mean canonical JSON body (the floor).
 * - `events`, `build_s`: the trail and how long it took to build.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, startPostgres } from '../packages/engine/test-support/postgres-server.js';
import { api, killAll, spawnServe, warden } from '../packages/server/test-support/serve-process.js';
import type { Benchmark, BenchmarkOptions } from './benchmark.js';
import { buildTrail, type Trail } from './scale-trail.js';

function eventCount(quick: boolean): number {
  const env = process.env.WARDEN_BENCH_SCALE_EVENTS;
  if (env === undefined || env === '') return quick ? 50_000 : 2_000_000;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1_000) {
    throw new Error(`WARDEN_BENCH_SCALE_EVENTS must be a whole number >= 1000, got "${env}"`);
  }
  return n;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Median wall time of `n` GETs of `path` (after one unmeasured), each of which must answer 200. */
async function timedGet(url: string, key: string, path: string, n: number): Promise<number> {
  const once = async () => {
    const t = performance.now();
    const r = await api(url, 'GET', path, { key });
    const ms = performance.now() - t;
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return ms;
  };
  await once();
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push(await once());
  return median(times);
}

async function measure(
  trail: Trail,
  kind: 'sqlite' | 'pg',
  dir: string,
  log: (msg: string) => void,
  size: () => Promise<number>,
): Promise<Record<string, number>> {
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  log(
    `${kind}: warden serve on ${trail.events.toLocaleString('en')} events (load ${loadavg()[0]?.toFixed(2)})…`,
  );
  const served = await spawnServe(
    ['--db', trail.db, '--port', '0', '--policy', trail.policyFile, '--keys', trail.keysFile],
    { WARDEN_ADMIN_KEY: admin },
  );
  let reads: Record<string, number>;
  try {
    const q = new URLSearchParams({ from: trail.from, to: trail.to, bucket: 'day' });
    const usage = await api<{ truncated?: boolean }>(served.url, 'GET', `/v1/usage?${q}`, { key: admin });
    if (usage.status !== 200) throw new Error(`GET /v1/usage: ${usage.status} ${JSON.stringify(usage.body)}`);
    const usageMs = await timedGet(served.url, admin, `/v1/usage?${q}`, 5);
    // One unmeasured read (of another session), then each sampled session once: a session's first
    // read is the one a person waits for.
    const [warm, ...sampled] = trail.sampleSessions;
    const sessionTimes: number[] = [];
    if (warm) await timedGet(served.url, admin, `/v1/sessions/${encodeURIComponent(warm)}`, 0);
    for (const id of sampled) {
      const t = performance.now();
      const r = await api(served.url, 'GET', `/v1/sessions/${encodeURIComponent(id)}`, { key: admin });
      if (r.status !== 200) throw new Error(`GET /v1/sessions/${id}: ${r.status} ${JSON.stringify(r.body)}`);
      sessionTimes.push(performance.now() - t);
    }
    log(`${kind}: usage ${round2(usageMs)} ms, session detail ${round2(median(sessionTimes))} ms`);
    reads = {
      healthz_ms: round2(await timedGet(served.url, admin, '/healthz', 20)),
      usage_30d_ms: round2(usageMs),
      usage_truncated: usage.body.truncated ? 1 : 0,
      session_detail_ms: round2(median(sessionTimes)),
      audit_first_page_ms: round2(await timedGet(served.url, admin, '/v1/audit/events?limit=100', 10)),
      audit_agent_page_ms: round2(
        await timedGet(served.url, admin, '/v1/audit/events?limit=100&order=desc&agent=agent-07', 10),
      ),
    };
  } finally {
    await served.stop();
  }
  log(`${kind}: warden report soc2 over the 30 days…`);
  const t = performance.now();
  const report = await warden([
    'report',
    'soc2',
    '--db',
    trail.db,
    '--from',
    trail.from,
    '--to',
    trail.to,
    '--out',
    join(dir, `soc2-${kind}.md`),
    '--format',
    'md',
  ]);
  const soc2S = (performance.now() - t) / 1000;
  if (report.code !== 0)
    throw new Error(`warden report soc2 exited ${report.code}:\n${report.out}\n${report.err}`);
  return {
    events: trail.events,
    build_s: round2(trail.buildMs / 1000),
    ...reads,
    soc2_s: round2(soc2S),
    soc2_events_per_s: Math.round(trail.events / soc2S),
    event_size_bytes: Math.round((await size()) / trail.events),
    event_canonical_bytes: trail.canonicalBytes,
  };
}

function prefixed(prefix: string, figures: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(figures).map(([k, v]) => [`${prefix}_${k}`, v]));
}

async function run({ quick, log }: BenchmarkOptions): Promise<Record<string, number>> {
  const events = eventCount(quick);
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-scale-'));
  const started = performance.now();
  try {
    const sqliteDir = join(dir, 'sqlite');
    const file = join(dir, 'scale.db');
    mkdirSync(sqliteDir);
    const lite = await buildTrail(file, { events, dir: sqliteDir, log: (m) => log(`sqlite: ${m}`) });
    const fileSize = async () =>
      [file, `${file}-wal`].reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);
    const sqlite = await measure(lite, 'sqlite', dir, log, fileSize);
    rmSync(file, { force: true });
    rmSync(`${file}-wal`, { force: true });

    log('pg: starting a throwaway PostgreSQL cluster…');
    const server = await startPostgres();
    let postgres: Record<string, number>;
    try {
      const url = await createTestDatabase(server.url, 'bench_scale');
      const pgDir = join(dir, 'pg');
      mkdirSync(pgDir);
      const trail = await buildTrail(url, { events, dir: pgDir, log: (m) => log(`pg: ${m}`) });
      const dbSize = async () => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          const r = await client.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n');
          return Number(r.rows[0]?.n ?? 0);
        } finally {
          await client.end();
        }
      };
      postgres = await measure(trail, 'pg', dir, log, dbSize);
    } finally {
      await server.destroy();
    }
    log(`whole scale run: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return { ...prefixed('sqlite', sqlite), ...prefixed('pg', postgres) };
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ name: 'scale', run }];
