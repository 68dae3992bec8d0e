/**
 * check + complete throughput in process, 256 calls in flight, on PostgreSQL (one instance) and on a
 * SQLite file of the same machine, with the PostgreSQL round trips counted (every message pg's client
 * sends that waits for a reply: one per `query`). Run:
 *   node --conditions=@warden/source --import tsx packages/engine/bench/pg-calls-throughput.ts [calls]
 * Prints one JSON line: calls/s for each dialect, their ratio, and PostgreSQL round trips per commit
 * (store.commit call) and per call.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openEngine } from '../src/engine/open-engine.js';
import { generateKeyRing } from '../src/keys/key-ring.js';
import { openStore } from '../src/store/open-store.js';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import type { Store } from '../src/store/store.js';
import { testPolicy } from '../test-support/engine-fixtures.js';
import { createTestDatabase, startPostgres } from '../test-support/postgres-server.js';

const CALLS = Number(process.argv[2] ?? 20_000);
const IN_FLIGHT = 256;

// Statements of the write path (reads, plain SELECTs on the pool, are left out), and the waits they
// cost: a statement sent while none of its connection's is unanswered starts a round trip; one sent
// behind others (pipelined) rides on theirs.
let statements = 0;
let roundTrips = 0;
const WRITE = /^\s*(BEGIN|COMMIT|ROLLBACK|INSERT|UPDATE|DELETE|WITH)|FOR UPDATE|warden_|pg_notify/i;
const inFlight = new WeakMap<object, number>();
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const config = args[0] as string | { text?: string };
  const text = typeof config === 'string' ? config : (config?.text ?? '');
  const result = (query as (...a: unknown[]) => unknown).apply(this, args);
  if (!WRITE.test(text) || !(result instanceof Promise)) return result;
  statements++;
  const n = inFlight.get(this) ?? 0;
  if (n === 0) roundTrips++;
  inFlight.set(this, n + 1);
  const done = () => inFlight.set(this, (inFlight.get(this) ?? 1) - 1);
  result.then(done, done);
  return result;
} as typeof query;

const TICK_MS = 10; // USER_HZ = 100 on Linux

/** CPU ms the PostgreSQL server has used: the postmaster, its reaped children and the live ones. */
function serverCpuMs(dataDir: string | undefined): number {
  if (!dataDir) return 0;
  const pid = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] as string;
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [ppid, utime, stime, cutime, cstime] = [f[1], f[11], f[12], f[13], f[14]].map(Number) as number[];
    if (entry === pid) ticks += (utime ?? 0) + (stime ?? 0) + (cutime ?? 0) + (cstime ?? 0);
    else if (String(ppid) === pid) ticks += (utime ?? 0) + (stime ?? 0);
  }
  return ticks * TICK_MS;
}

async function run(
  store: Store,
  calls: number,
  dataDir?: string,
): Promise<{ perS: number; commits: number; nodeCpuUsPerCall: number; serverCpuUsPerCall: number }> {
  let commits = 0;
  const commit = store.commit.bind(store);
  store.commit = (units) => {
    commits++;
    return commit(units);
  };
  const engine = await openEngine({
    store,
    keys: generateKeyRing(),
    policy: testPolicy(),
    checkpoint: { everyEvents: 10_000, everyMs: 3_600_000 },
  });
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      const i = next++;
      const r = await engine.check({ agent: 'billing-agent', tool: 'echo', args: { i } });
      if (r.effect !== 'allow') throw new Error(`not allowed: ${JSON.stringify(r)}`);
      await engine.complete(r.callId, { status: 'ok', result: { i } });
    }
  };
  // Warm up, then measure.
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  next = 0;
  commits = 0;
  roundTrips = 0;
  statements = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const server0 = serverCpuMs(dataDir);
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const result = {
    perS: Math.round((calls / ms) * 1000),
    commits,
    nodeCpuUsPerCall: Math.round((cpu.user + cpu.system) / calls),
    serverCpuUsPerCall: Math.round(((serverCpuMs(dataDir) - server0) * 1000) / calls),
  };
  await engine.close();
  return result;
}

const dir = mkdtempSync(join(tmpdir(), 'warden-pg-calls-'));
const server = await startPostgres();
try {
  // WARDEN_BENCH_SKIP_SQLITE=1: PostgreSQL alone (an A/B of two store copies on a busy machine).
  const sqlite = process.env.WARDEN_BENCH_SKIP_SQLITE
    ? { perS: Number.NaN, commits: 0, nodeCpuUsPerCall: Number.NaN, serverCpuUsPerCall: Number.NaN }
    : await run(await openStore(join(dir, 'w.db')), CALLS);
  const url = await createTestDatabase(server.url, 'calls');
  // WARDEN_BENCH_PG_STORE: another copy of store/postgres (e.g. the base commit's) to compare against.
  const open = process.env.WARDEN_BENCH_PG_STORE
    ? ((await import(process.env.WARDEN_BENCH_PG_STORE)) as { openPostgresStore: typeof openPostgresStore })
        .openPostgresStore
    : openPostgresStore;
  const store = await open(url);
  const postgres = await run(store, CALLS, server.dataDir);
  const trips = roundTrips;
  const sent = statements;
  await store.close();
  console.log(
    JSON.stringify({
      calls: CALLS,
      sqlite_per_s: sqlite.perS,
      pg_per_s: postgres.perS,
      pg_vs_sqlite: Number((postgres.perS / sqlite.perS).toFixed(3)),
      pg_commits: postgres.commits,
      pg_round_trips_per_commit: Number((trips / postgres.commits).toFixed(2)),
      pg_statements_per_commit: Number((sent / postgres.commits).toFixed(2)),
      sqlite_node_cpu_us_per_call: sqlite.nodeCpuUsPerCall,
      pg_node_cpu_us_per_call: postgres.nodeCpuUsPerCall,
      pg_server_cpu_us_per_call: postgres.serverCpuUsPerCall,
      pg_units_per_commit: Number(((2 * CALLS) / postgres.commits).toFixed(1)),
    }),
  );
} finally {
  await server.destroy();
  rmSync(dir, { recursive: true, force: true });
}
