import type { AuditEvent } from '@warden/core';
import type Database from 'better-sqlite3';
import type { RollupCell, RollupQuery } from './rollup.js';
import {
  BACKFILL_DEFAULTS,
  type BackfillOptions,
  type RollupRow,
  RollupSums,
  toCells,
} from './rollup-sums.js';

const UPSERT_SQL =
  'INSERT INTO rollups (name, bucket, dims, metric, value) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name, bucket, dims, metric) DO UPDATE SET value = value + excluded.value';

/**
 * The rollups of a SQLite store: written inside the commit's transaction from the events it chains,
 * read by query. One prepared upsert runs once per (cell, metric) a commit touches: in SQLite a
 * prepared statement costs no round trip, so per-row runs are the cheapest batch.
 */
export class SqliteRollups {
  readonly #db: Database.Database;
  #upsert: Database.Statement | undefined;
  /** Read statements by SQL text: a handful of shapes, each compiled once. */
  readonly #reads = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /** Adds the deltas of every event of `units`; call inside the transaction that chains them. */
  add(units: Iterable<{ readonly events: readonly AuditEvent[] }>): void {
    const sums = new RollupSums();
    for (const u of units) for (const e of u.events) sums.add(e);
    writeRows(this.#statement(), sums.take());
  }

  /** The cells `q` selects, in (bucket, dims) order. */
  read(q: RollupQuery): RollupCell[] {
    const where = ['name = ?'];
    const params: unknown[] = [q.name];
    if (q.bucket !== undefined) {
      where.push('bucket = ?');
      params.push(q.bucket);
    } else if (q.from !== undefined) {
      where.push('bucket >= ?');
      params.push(q.from);
    }
    if (q.to !== undefined && q.bucket === undefined) {
      where.push('bucket < ?');
      params.push(q.to);
    }
    if (typeof q.dims === 'string') {
      where.push('dims = ?');
      params.push(q.dims);
    } else if (q.dims !== undefined) {
      where.push('substr(dims, 1, ?) = ?');
      params.push(q.dims.prefix.length, q.dims.prefix);
    }
    const sql = `SELECT name, bucket, dims, metric, value FROM rollups WHERE ${where.join(' AND ')} ORDER BY bucket, dims, metric`;
    let stmt = this.#reads.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      this.#reads.set(sql, stmt);
    }
    return toCells(stmt.all(...params) as RollupRow[]);
  }

  #statement(): Database.Statement {
    this.#upsert ??= this.#db.prepare(UPSERT_SQL);
    return this.#upsert;
  }
}

function writeRows(upsert: Database.Statement, rows: readonly RollupRow[]): void {
  for (const r of rows) upsert.run(r.name, r.bucket, r.dims, r.metric, r.value);
}

/**
 * Adds the deltas of every event in the trail to the rollups (a migration's backfill, inside its
 * transaction). Reads the trail a page at a time and writes the sums out every flushRows
 * rows, so memory stays bounded however long the trail is.
 */
export function backfillSqliteRollups(db: Database.Database, options: BackfillOptions = {}): void {
  const { derivers, page: pageSize, flushRows } = { ...BACKFILL_DEFAULTS, ...options };
  const page = db.prepare('SELECT seq, body FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?');
  const upsert = db.prepare(UPSERT_SQL);
  const sums = new RollupSums(derivers);
  let after = 0;
  for (;;) {
    const rows = page.all(after, pageSize) as { seq: number; body: string }[];
    for (const r of rows) sums.add(JSON.parse(r.body) as AuditEvent);
    if (sums.size >= flushRows || rows.length < pageSize) writeRows(upsert, sums.take());
    const last = rows.at(-1);
    if (!last || rows.length < pageSize) return;
    after = last.seq;
  }
}
