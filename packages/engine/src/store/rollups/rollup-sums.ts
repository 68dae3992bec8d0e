import { type AuditEvent, WardenError } from '@warden/core';
import { ROLLUP_DERIVERS } from './derivers.js';
import type { RollupCell, RollupDeriver } from './rollup.js';

/** One stored value: a metric of a cell (the table's primary key is the first four). */
export interface RollupRow {
  readonly name: string;
  readonly bucket: string;
  readonly dims: string;
  readonly metric: string;
  value: number;
}

/**
 * The deltas of many events summed per cell and metric, so a commit writes each cell it touches once,
 * however many of its events fall in it.
 */
export class RollupSums {
  readonly #rows = new Map<string, RollupRow>();
  readonly #derivers: readonly RollupDeriver[];

  constructor(derivers: readonly RollupDeriver[] = ROLLUP_DERIVERS) {
    this.#derivers = derivers;
  }

  /** How many (cell, metric) rows are held. */
  get size(): number {
    return this.#rows.size;
  }

  /** Adds what every deriver makes of `e`. */
  add(e: AuditEvent): void {
    for (const derive of this.#derivers) {
      for (const d of derive(e)) {
        const cell = `${d.name}\u0000${d.bucket}\u0000${d.dims}\u0000`;
        for (const metric in d.metrics) {
          const amount = d.metrics[metric] as number;
          if (amount === 0) continue;
          if (!Number.isFinite(amount)) {
            throw new WardenError('INTERNAL', `rollup ${d.name} metric ${metric} is not a finite number`);
          }
          const key = cell + metric;
          const row = this.#rows.get(key);
          if (row) row.value += amount;
          else this.#rows.set(key, { name: d.name, bucket: d.bucket, dims: d.dims, metric, value: amount });
        }
      }
    }
  }

  /**
   * The rows, in primary-key order (concurrent writers then take row locks in one order), and empties.
   * The keys join the parts with U+0000, which none holds (dims are JSON), so they sort as the tuples do.
   */
  take(): RollupRow[] {
    const keys = [...this.#rows.keys()].sort();
    const rows = keys.map((k) => this.#rows.get(k) as RollupRow);
    this.#rows.clear();
    return rows;
  }
}

/** Every delta of `events` summed (a recount from the trail, for checks and backfills). */
export function sumRollups(events: Iterable<AuditEvent>, derivers?: readonly RollupDeriver[]): RollupRow[] {
  const sums = new RollupSums(derivers);
  for (const e of events) sums.add(e);
  return sums.take();
}

/** Stored rows of one query, grouped into cells (rows arrive in primary-key order). */
export function toCells(
  rows: readonly { name: string; bucket: string; dims: string; metric: string; value: number }[],
): RollupCell[] {
  const cells: RollupCell[] = [];
  let cell: { name: string; bucket: string; dims: string; metrics: Record<string, number> } | undefined;
  for (const r of rows) {
    if (!cell || cell.name !== r.name || cell.bucket !== r.bucket || cell.dims !== r.dims) {
      cell = { name: r.name, bucket: r.bucket, dims: r.dims, metrics: {} };
      cells.push(cell);
    }
    cell.metrics[r.metric] = Number(r.value);
  }
  return cells;
}

/** How a backfill walks the trail: which derivers, events read per page, rows held before writing out. */
export interface BackfillOptions {
  readonly derivers?: readonly RollupDeriver[];
  readonly page?: number;
  readonly flushRows?: number;
}

/** 5,000 events a page; sums written out every 50,000 rows, so memory stays bounded on any trail. */
export const BACKFILL_DEFAULTS = { derivers: ROLLUP_DERIVERS, page: 5_000, flushRows: 50_000 } as const;
