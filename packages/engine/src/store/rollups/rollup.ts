import type { AuditEvent } from '@warden/core';

/**
 * One increment of a rollup cell. A cell is (name, bucket, dims); each metric of it is a running sum.
 * `name` says what is summarised ('usage', 'session', 'soc2.decisions'…), `bucket` is the UTC hour the
 * events fell in ('YYYY-MM-DDTHH', see hourBucket) or '' for all time, and `dims` a stable string key
 * (see dimsKey) of what the cell is about (an agent, a session).
 */
export interface RollupDelta {
  readonly name: string;
  readonly bucket: string;
  readonly dims: string;
  readonly metrics: Readonly<Record<string, number>>;
}

/**
 * What one event adds to the rollups: a pure function of the event alone, so the store can sum a
 * commit's events in any grouping and a recount from the trail gives the same cells.
 */
export type RollupDeriver = (event: AuditEvent) => readonly RollupDelta[];

/**
 * Which cells to read: one name, one bucket or buckets in [from, to) (bucket strings), dims exactly or by
 * prefix. Give `bucket` when there is one (an all-time cell: ''): the read is then a key lookup.
 */
export interface RollupQuery {
  readonly name: string;
  /** Exactly this bucket (takes precedence over from/to). */
  readonly bucket?: string;
  /** The first bucket wanted ('YYYY-MM-DDTHH'), inclusive. */
  readonly from?: string;
  /** The bucket after the last one wanted, exclusive. */
  readonly to?: string;
  readonly dims?: string | { readonly prefix: string };
}

/** A cell as stored: the sum of every delta ever committed to it, per metric. */
export interface RollupCell {
  readonly name: string;
  readonly bucket: string;
  readonly dims: string;
  readonly metrics: Readonly<Record<string, number>>;
}

/** The bucket of the UTC hour `ts` (an ISO timestamp) falls in: 'YYYY-MM-DDTHH', ordered as text. */
export function hourBucket(ts: string): string {
  // Engine timestamps are already UTC ISO with milliseconds ('…T12:34:56.789Z'): their first 13 characters.
  if (ts.length === 24 && ts.charCodeAt(23) === 90 /* Z */ && ts.charCodeAt(10) === 84 /* T */) {
    return ts.slice(0, 13);
  }
  return new Date(ts).toISOString().slice(0, 13);
}

/** The ms since the epoch at which an hour bucket starts. */
export function bucketStartMs(bucket: string): number {
  return Date.parse(`${bucket}:00:00.000Z`);
}

/**
 * A dims key from its parts, in order: their JSON array, so no id (which may hold any character) can
 * make two different lists look alike.
 */
export function dimsKey(...parts: readonly string[]): string {
  return JSON.stringify(parts);
}

/** The prefix every dims key whose first parts are `parts` starts with (for a prefix query). */
export function dimsPrefix(...parts: readonly string[]): string {
  return `${JSON.stringify(parts).slice(0, -1)},`;
}

/** The parts of a dims key (see dimsKey). */
export function dimsParts(dims: string): string[] {
  return JSON.parse(dims) as string[];
}
