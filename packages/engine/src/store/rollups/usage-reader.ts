import type { AuditEvent } from '@warden/core';
import { parseAuditQuery } from '../audit-query.js';
import type { Store } from '../store.js';
import { bucketStartMs, dimsParts, hourBucket, type RollupCell } from './rollup.js';
import { USAGE_DAILY, USAGE_HOURLY, type UsageSums } from './usage-rollup.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Events read per page for the partial hours at the ends of a range. */
const EDGE_PAGE = 1_000;

/** Where the usage of a range goes: sums of whole hours or days, and single completed calls. */
export interface UsageSink {
  /** Sums of `agent`'s completed calls in the hour or UTC day starting at `t` (ms). */
  addSums(agent: string, t: number, sums: UsageSums): void;
  /** One completed call (from the trail, at a partial hour). */
  add(event: AuditEvent): void;
}

/** What a usage read cost: cells from the rollups, events from the trail. */
export interface UsageRead {
  readonly cellsRead: number;
  readonly eventsRead: number;
}

/**
 * Adds the usage of completed calls in [fromMs, toMs) to `sink`, exactly and without a cap: whole UTC
 * days (when `days`: the chart's buckets are days) and whole hours from the rollups, the partial hours at
 * either end from the trail's events. A read costs a cell per agent per day or hour plus the events of at
 * most two partial hours, whatever the volume of the range.
 */
export async function readUsage(
  store: Store,
  range: { fromMs: number; toMs: number; days: boolean },
  sink: UsageSink,
): Promise<UsageRead> {
  const { fromMs, toMs } = range;
  const hStart = Math.ceil(fromMs / HOUR) * HOUR;
  const hEnd = Math.floor(toMs / HOUR) * HOUR;
  if (hStart >= hEnd) return { cellsRead: 0, eventsRead: await addEvents(store, fromMs, toMs, sink) };
  let eventsRead = await addEvents(store, fromMs, hStart, sink);
  eventsRead += await addEvents(store, hEnd, toMs, sink);
  const dStart = Math.ceil(hStart / DAY) * DAY;
  const dEnd = Math.floor(hEnd / DAY) * DAY;
  let cellsRead = 0;
  if (range.days && dStart < dEnd) {
    cellsRead += await addCells(store, USAGE_DAILY, dStart, dEnd, sink);
    cellsRead += await addCells(store, USAGE_HOURLY, hStart, dStart, sink);
    cellsRead += await addCells(store, USAGE_HOURLY, dEnd, hEnd, sink);
  } else {
    cellsRead += await addCells(store, USAGE_HOURLY, hStart, hEnd, sink);
  }
  return { cellsRead, eventsRead };
}

/** The cells of whole hours (or days) in [fromMs, toMs), both on boundaries of the rollup's bucket. */
async function addCells(
  store: Store,
  name: string,
  fromMs: number,
  toMs: number,
  sink: UsageSink,
): Promise<number> {
  if (fromMs >= toMs) return 0;
  const bucketOf = (ms: number) => {
    const hour = hourBucket(new Date(ms).toISOString());
    return name === USAGE_DAILY ? hour.slice(0, 10) : hour;
  };
  const cells = await store.rollups({ name, from: bucketOf(fromMs), to: bucketOf(toMs) });
  for (const c of cells) sink.addSums(agentOf(c), startOf(c), sumsOf(c));
  return cells.length;
}

function agentOf(c: RollupCell): string {
  return dimsParts(c.dims)[0] as string;
}

function startOf(c: RollupCell): number {
  return c.bucket.length === 10 ? Date.parse(`${c.bucket}T00:00:00.000Z`) : bucketStartMs(c.bucket);
}

function sumsOf(c: RollupCell): UsageSums {
  return { calls: c.metrics.calls ?? 0, tokens: c.metrics.tokens ?? 0, costUsd: c.metrics.costUsd ?? 0 };
}

/** The completed calls of [fromMs, toMs) from the trail, page by page (only the sink holds sums). */
async function addEvents(store: Store, fromMs: number, toMs: number, sink: UsageSink): Promise<number> {
  if (fromMs >= toMs) return 0;
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  let read = 0;
  let cursor: string | undefined;
  do {
    const page = await store.queryAudit(
      parseAuditQuery({ type: 'call.completed', from, to, limit: EDGE_PAGE, ...(cursor ? { cursor } : {}) }),
    );
    for (const r of page.records) sink.add(r.event);
    read += page.records.length;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return read;
}
