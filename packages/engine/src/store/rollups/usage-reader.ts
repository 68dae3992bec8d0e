import { WardenError } from '@warden/core';
import type { Store } from '../store.js';
import { bucketStartMs, dimsParts, hourBucket, type RollupCell } from './rollup.js';
import { USAGE_DAILY, USAGE_HOURLY, type UsageSums } from './usage-rollup.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Where the usage of a range goes: the sums of one agent's completed calls in one hour or UTC day. */
export interface UsageSink {
  /** Sums of `agent`'s completed calls in the hour or UTC day starting at `t` (ms). */
  addSums(agent: string, t: number, sums: UsageSums): void;
}

/** What a usage read cost: the rollup cells read (the trail is not read). */
export interface UsageRead {
  readonly cellsRead: number;
}

/**
 * The whole UTC hours covering [fromMs, toMs): `from` rounded down, `to` up. Rollups count whole hours,
 * so a usage answer covers these and says so; reading the events of partial hours instead would cost a
 * scan of the trail on SQLite, whose planner takes the type index over the time index for such a read.
 */
export function wholeHours(fromMs: number, toMs: number): { fromMs: number; toMs: number } {
  return { fromMs: Math.floor(fromMs / HOUR) * HOUR, toMs: Math.ceil(toMs / HOUR) * HOUR };
}

/**
 * Adds the usage of completed calls in [fromMs, toMs) (whole hours, see wholeHours) to `sink`, exactly
 * and without a cap: whole UTC days from the daily rollup when `days` (the chart's buckets are days),
 * every other hour from the hourly one. A read costs one cell per agent per day or hour, whatever the
 * volume of the range.
 */
export async function readUsage(
  store: Store,
  range: { fromMs: number; toMs: number; days: boolean },
  sink: UsageSink,
): Promise<UsageRead> {
  const { fromMs, toMs } = range;
  if (fromMs % HOUR !== 0 || toMs % HOUR !== 0 || !(fromMs < toMs)) {
    throw new WardenError('INTERNAL', 'readUsage takes a range of whole hours (see wholeHours)');
  }
  const dStart = Math.ceil(fromMs / DAY) * DAY;
  const dEnd = Math.floor(toMs / DAY) * DAY;
  if (!range.days || dStart >= dEnd) {
    return { cellsRead: await addCells(store, USAGE_HOURLY, fromMs, toMs, sink) };
  }
  let cellsRead = await addCells(store, USAGE_DAILY, dStart, dEnd, sink);
  cellsRead += await addCells(store, USAGE_HOURLY, fromMs, dStart, sink);
  cellsRead += await addCells(store, USAGE_HOURLY, dEnd, toMs, sink);
  return { cellsRead };
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
