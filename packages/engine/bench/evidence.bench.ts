/**
 * The evidence readers over a recorded trail: policy replay and the SOC 2 report, each against the bare
 * baseline of reading the same events page by page (what any reader of the trail must pay). The ratios
 * say what replaying and reporting add on top of the read itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy } from '@warden/core';
import type { Benchmark, BenchmarkOptions } from '../../../bench/benchmark.js';
import { replayTrail } from '../src/policy/replay-trail.js';
import { gatherSoc2Report } from '../src/report/soc2-gather.js';
import { parseAuditQuery } from '../src/store/audit-query.js';
import { GroupCommitter } from '../src/store/group-committer.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { appendMany } from './bench-events.js';

/** The recorded calls are refunds of 0–499; the candidate sends every refund from 250 up to review. */
const CANDIDATE = `
warden: 1
name: stricter refunds
agents:
  billing-agent:
    rules:
      - id: refunds-small
        effect: allow
        tools: stripe.refund
        when: "double(args.amount) < 250.0"
      - id: refunds-review
        effect: review
        tools: stripe.refund
        when: "double(args.amount) >= 250.0"
`;

async function readAll(store: Store, from: string, to: string): Promise<number> {
  let read = 0;
  let cursor: string | undefined;
  do {
    const page = await store.queryAudit(
      parseAuditQuery({ type: 'call.decided', from, to, limit: 500, ...(cursor ? { cursor } : {}) }),
    );
    read += page.records.length;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return read;
}

async function evidenceFigures({ quick, log }: BenchmarkOptions): Promise<Record<string, number>> {
  const n = quick ? 50_000 : 200_000;
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-evidence-'));
  const store = await openStore(join(dir, 'trail.db'));
  try {
    log(`recording ${n.toLocaleString('en')} decided calls…`);
    const from = new Date(Date.now() - 1_000).toISOString();
    const committer = new GroupCommitter(store);
    await appendMany((e) => committer.submit({ events: [e] }), n, 512);
    const to = new Date(Date.now() + 1_000).toISOString();

    log('baseline: reading them page by page…');
    let t = performance.now();
    const read = await readAll(store, from, to);
    const readMs = performance.now() - t;
    if (read !== n) throw new Error(`read ${read} of ${n} events`);

    log('replaying them under a stricter policy…');
    t = performance.now();
    const replay = await replayTrail(store, compilePolicy(CANDIDATE), { from, to });
    const replayMs = performance.now() - t;
    if (replay.totals.replayed !== n || replay.totals.changed !== n / 2) {
      throw new Error(`replay compared ${replay.totals.replayed} calls and changed ${replay.totals.changed}`);
    }

    log('the SOC 2 report of the same period (reading, counting and verifying the chain)…');
    t = performance.now();
    const report = await gatherSoc2Report(store, { period: { from, to } });
    const soc2Ms = performance.now() - t;
    if (!report.integrity.verify.ok) throw new Error('the chain did not verify');

    const perSecond = (ms: number) => Math.round((n / ms) * 1000);
    return {
      events: n,
      read_events_per_s: perSecond(readMs),
      replay_events_per_s: perSecond(replayMs),
      replay_vs_read_ratio: Number((replayMs / readMs).toFixed(2)),
      soc2_events_per_s: perSecond(soc2Ms),
      soc2_vs_read_ratio: Number((soc2Ms / readMs).toFixed(2)),
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ name: 'evidence', run: evidenceFigures }];
