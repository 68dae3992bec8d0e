/**
 * How fast a waiting agent resumes after a human approves: the agent holds `POST /v1/calls` with `wait` on
 * a call the example policy sends to review (support-bot refunds $100); an approver approves through the
 * API; the figure is the time from the approve request's response to the waiting caller's response (0
 * when the waiter answered first).
 *
 * - `approval.resume_*`: one `warden serve` process on SQLite; agent and approver on the same instance.
 * - `approval.resume_cross_instance_*`: two `warden serve` processes on one PostgreSQL; the agent waits on
 *   A, the approver approves on B. Both poll only every 60 s (WARDEN_POLL_MS), so what wakes A is the
 *   push through LISTEN/NOTIFY, never a poll.
 *
 * Servers are the built CLI in their own processes; the bench process is only the HTTP client. Sanity
 * figure: `not_allowed` counts waiters that did not end allowed (must be 0).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Benchmark, BenchmarkOptions } from '../../../bench/benchmark.js';
import { createTestDatabase, startPostgres } from '../../engine/test-support/postgres-server.js';
import { api, killAll, type Served, spawnServe } from '../test-support/serve-process.js';

const REVIEW = { tool: 'billing.refund', args: { amount: 100 } };

interface Keys {
  readonly agent: string;
  readonly approver: string;
}

function adminSecret(): string {
  return `wdn_${randomBytes(32).toString('base64url')}`;
}

async function makeKey(url: string, admin: string, body: Record<string, unknown>): Promise<string> {
  const r = await api<{ secret: string }>(url, 'POST', '/v1/keys', { key: admin, body });
  if (r.status !== 201) throw new Error(`creating a key failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.secret;
}

async function keysFor(url: string, admin: string): Promise<Keys> {
  return {
    agent: await makeKey(url, admin, { principalKind: 'agent', principal: 'support-bot', role: 'agent' }),
    // A support lead: the example policy's refund review needs one.
    approver: await makeKey(url, admin, {
      principalKind: 'human',
      principal: 'lee@acme.example',
      role: 'approver',
    }),
  };
}

/** The pending request of a session, as soon as the waiting call has opened it. */
async function pendingIn(url: string, key: string, session: string): Promise<string> {
  for (let i = 0; i < 5_000; i++) {
    const r = await api<{ approvals: { id: string }[] }>(
      url,
      'GET',
      `/v1/approvals?status=pending&session=${encodeURIComponent(session)}&limit=1`,
      { key },
    );
    const id = r.body.approvals?.[0]?.id;
    if (id) return id;
    await new Promise((res) => setTimeout(res, 1));
  }
  throw new Error(`no pending approval appeared in session ${session}`);
}

/** One round: wait on `waitOn`, approve on `approveOn`; returns ms from the approve response to the waiter's. */
async function round(waitOn: string, approveOn: string, keys: Keys, session: string) {
  const waiter = api<{ effect: string }>(waitOn, 'POST', '/v1/calls', {
    key: keys.agent,
    body: { ...REVIEW, session, wait: 20_000 },
  }).then((r) => ({ r, at: performance.now() }));
  const id = await pendingIn(approveOn, keys.approver, session);
  // Let the waiter's request settle into its wait, as a real one would have long before a human clicks.
  await new Promise((res) => setTimeout(res, 5));
  const sent = performance.now();
  const approved = await api(approveOn, 'POST', `/v1/approvals/${id}/approve`, {
    key: keys.approver,
    body: { reason: 'bench' },
  });
  const answered = performance.now();
  if (approved.status !== 200)
    throw new Error(`approve failed: ${approved.status} ${JSON.stringify(approved.body)}`);
  const { r, at } = await waiter;
  return { resumeMs: Math.max(0, at - answered), fromSentMs: at - sent, allowed: r.body.effect === 'allow' };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

async function rounds(
  n: number,
  waitOn: string,
  approveOn: string,
  keys: Keys,
  tag: string,
  log: (m: string) => void,
) {
  const resume: number[] = [];
  const fromSent: number[] = [];
  let notAllowed = 0;
  for (let i = 0; i < n; i++) {
    const out = await round(waitOn, approveOn, keys, `bench-${tag}-${i}`);
    resume.push(out.resumeMs);
    fromSent.push(out.fromSentMs);
    if (!out.allowed) notAllowed++;
    if ((i + 1) % 50 === 0) log(`${tag} ${i + 1}/${n}`);
  }
  return { resume, fromSent, notAllowed };
}

async function singleInstance({ quick, log }: BenchmarkOptions, dir: string) {
  const admin = adminSecret();
  const a = await spawnServe(['--db', join(dir, 'single.db'), '--port', '0'], { WARDEN_ADMIN_KEY: admin });
  try {
    const keys = await keysFor(a.url, admin);
    await rounds(5, a.url, a.url, keys, 'warmup', log);
    log(`single instance (SQLite), ${quick ? 30 : 200} rounds…`);
    return await rounds(quick ? 30 : 200, a.url, a.url, keys, 'single', log);
  } finally {
    await a.stop();
  }
}

async function crossInstance({ quick, log }: BenchmarkOptions) {
  log('starting a throwaway PostgreSQL cluster…');
  const pg = await startPostgres();
  const served: Served[] = [];
  try {
    const db = await createTestDatabase(pg.url, 'bench_approval');
    const admin = adminSecret();
    // Polling every minute: only LISTEN/NOTIFY can wake instance A within the figures below.
    const env = { WARDEN_ADMIN_KEY: admin, WARDEN_POLL_MS: '60000' };
    served.push(await spawnServe(['--db', db, '--port', '0'], env));
    served.push(await spawnServe(['--db', db, '--port', '0'], env));
    const [a, b] = served as [Served, Served];
    const keys = await keysFor(a.url, admin);
    await rounds(5, a.url, b.url, keys, 'xwarmup', log);
    log(`agent waits on A, approver approves on B (PostgreSQL), ${quick ? 30 : 200} rounds…`);
    return await rounds(quick ? 30 : 200, a.url, b.url, keys, 'cross', log);
  } finally {
    await Promise.all(served.map((s) => s.stop()));
    await pg.stop();
  }
}

export const benchmarks: Benchmark[] = [
  {
    name: 'approval',
    async run(opts) {
      const dir = mkdtempSync(join(tmpdir(), 'warden-bench-approval-'));
      try {
        const single = await singleInstance(opts, dir);
        const cross = await crossInstance(opts);
        return {
          resume_p50_ms: pct(single.resume, 50),
          resume_p99_ms: pct(single.resume, 99),
          resume_from_request_p99_ms: pct(single.fromSent, 99),
          resume_cross_instance_p50_ms: pct(cross.resume, 50),
          resume_cross_instance_p99_ms: pct(cross.resume, 99),
          resume_cross_instance_from_request_p99_ms: pct(cross.fromSent, 99),
          not_allowed: single.notAllowed + cross.notAllowed,
        };
      } finally {
        killAll();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
