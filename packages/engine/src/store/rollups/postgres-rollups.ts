import type { AuditEvent } from '@warden/core';
import type pg from 'pg';
import type { RollupCell, RollupQuery } from './rollup.js';
import {
  BACKFILL_DEFAULTS,
  type BackfillOptions,
  type RollupRow,
  RollupSums,
  toCells,
} from './rollup-sums.js';

// One statement for every (cell, metric) a commit touches: the rows travel as five arrays. Rows are
// sorted by key (RollupSums.take), so concurrent writers lock cells in one order.
const UPSERT_SQL = `INSERT INTO rollups (name, bucket, dims, metric, value)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[])
ON CONFLICT (name, bucket, dims, metric) DO UPDATE SET value = rollups.value + excluded.value`;

/** The upsert of `rows` as one statement, or undefined when there is nothing to add. */
export function rollupUpsert(rows: readonly RollupRow[]): { sql: string; params: unknown[] } | undefined {
  if (rows.length === 0) return undefined;
  return {
    sql: UPSERT_SQL,
    params: [
      rows.map((r) => r.name),
      rows.map((r) => r.bucket),
      rows.map((r) => r.dims),
      rows.map((r) => r.metric),
      rows.map((r) => r.value),
    ],
  };
}

/**
 * Adds the deltas of every event of `units` to the rollups, in one statement; call inside the
 * transaction that chains them, under the chain lock (the commit order is then the cells' order too).
 */
export async function addPostgresRollups(
  client: pg.ClientBase,
  units: Iterable<{ readonly events: readonly AuditEvent[] }>,
): Promise<void> {
  const sums = new RollupSums();
  for (const u of units) for (const e of u.events) sums.add(e);
  const upsert = rollupUpsert(sums.take());
  if (upsert) await client.query(upsert.sql, upsert.params);
}

/** The SQL and parameters that read the cells `q` selects, in (bucket, dims) order. */
export function rollupSelect(q: RollupQuery): { sql: string; params: unknown[] } {
  const params: unknown[] = [q.name];
  const where = ['name = $1'];
  const add = (cond: (p: string) => string, v: unknown) => {
    params.push(v);
    where.push(cond(`$${params.length}`));
  };
  if (q.bucket !== undefined) add((p) => `bucket = ${p}`, q.bucket);
  else {
    if (q.from !== undefined) add((p) => `bucket >= ${p}`, q.from);
    if (q.to !== undefined) add((p) => `bucket < ${p}`, q.to);
  }
  if (typeof q.dims === 'string') add((p) => `dims = ${p}`, q.dims);
  else if (q.dims !== undefined) add((p) => `starts_with(dims, ${p})`, q.dims.prefix);
  return {
    sql: `SELECT name, bucket, dims, metric, value FROM rollups WHERE ${where.join(' AND ')} ORDER BY bucket, dims, metric`,
    params,
  };
}

/** Groups the rows read by rollupSelect into cells. */
export function rollupCells(rows: readonly RollupRow[]): RollupCell[] {
  return toCells(rows);
}

/**
 * Adds the deltas of every event in the trail to the rollups (migration 11's backfill, in its
 * transaction): a page of bodies at a time, the sums written out every `flushRows` rows, so
 * memory stays bounded however long the trail is.
 */
export async function backfillPostgresRollups(
  client: pg.ClientBase,
  options: BackfillOptions = {},
): Promise<void> {
  const { derivers, page: pageSize, flushRows } = { ...BACKFILL_DEFAULTS, ...options };
  const sums = new RollupSums(derivers);
  let after = 0;
  for (;;) {
    const page = await client.query<{ seq: string; body: string }>(
      'SELECT seq, body FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2',
      [after, pageSize],
    );
    for (const r of page.rows) sums.add(JSON.parse(r.body) as AuditEvent);
    const done = page.rows.length < pageSize;
    if (sums.size >= flushRows || done) {
      const upsert = rollupUpsert(sums.take());
      if (upsert) await client.query(upsert.sql, upsert.params);
    }
    const last = page.rows.at(-1);
    if (done || !last) return;
    after = Number(last.seq);
  }
}
