import type { AuditEvent } from '@warden/core';
import type { PostgresDriver } from './postgres-driver.js';

/** How far ahead of now partitions are made for events stamped in the future; later ones go to the default. */
const MAX_MONTHS_AHEAD = 12;
const MONTH = /^(\d{4})-(\d{2})/;
/** After a failed attempt (read-only database, a lock not granted in time), how long before the next. */
const RETRY_MS = 60_000;

/** 'YYYY-MM' of an ISO timestamp, or undefined for anything else (the default partition takes it). */
function monthOf(ts: string): string | undefined {
  const m = MONTH.exec(ts);
  return m && Number(m[2]) >= 1 && Number(m[2]) <= 12 ? `${m[1]}-${m[2]}` : undefined;
}

/** The month `n` months after 'YYYY-MM'. */
export function addMonths(month: string, n: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const i = y * 12 + (m - 1) + n;
  return `${String(Math.floor(i / 12)).padStart(4, '0')}-${String((i % 12) + 1).padStart(2, '0')}`;
}

/**
 * Keeps a monthly partition of audit_events ready before any event needs it: this month and the next at
 * open, and, before a commit, the month after its newest event (up to a year ahead of now). The months
 * already ensured are remembered, so this costs a round trip once a month, not per commit; the default
 * partition takes whatever comes without one, so an insert never fails for a missing partition.
 */
export class PartitionsAhead {
  readonly #db: PostgresDriver;
  readonly #now: () => Date;
  /** The last month known to have its partition (or to be left to the default). */
  #through = '';
  #failedAt = Number.NEGATIVE_INFINITY;

  constructor(db: PostgresDriver, now: () => Date = () => new Date()) {
    this.#db = db;
    this.#now = now;
  }

  /**
   * Ensures partitions for events about to be committed; resolves at once when they exist. Never fails:
   * without its partition an event goes to the default one, so a commit does not wait on, or fail for,
   * creating one (a read-only database, a DDL lock not granted); the next attempt comes a minute later.
   * The failure is kept in `lastError` for whoever reports health.
   */
  async before(events: readonly AuditEvent[]): Promise<void> {
    if (this.#now().getTime() - this.#failedAt < RETRY_MS) return;
    try {
      await this.#ensure(events);
      this.lastError = undefined;
    } catch (err) {
      this.#failedAt = this.#now().getTime();
      this.lastError = err;
    }
  }

  /** Forgets what was ensured (a purge may have dropped a partition): the next commit checks again. */
  forget(): void {
    this.#through = '';
  }

  /** The last failure to create a partition, until one succeeds. */
  lastError: unknown;

  async #ensure(events: readonly AuditEvent[]): Promise<void> {
    const now = monthOf(this.#now().toISOString()) as string;
    let newest = now;
    for (const e of events) {
      const m = typeof e.ts === 'string' ? monthOf(e.ts) : undefined;
      if (m !== undefined && m > newest) newest = m;
    }
    const limit = addMonths(now, MAX_MONTHS_AHEAD);
    const until = addMonths([newest, limit].sort()[0] as string, 1);
    if (until <= this.#through) return;
    const rows = await this.#db.query<{ through: string }>(
      'creating audit partitions',
      'SELECT warden_audit_partitions($1, $2) AS through',
      [now, until],
    );
    this.#through = rows[0]?.through ?? this.#through;
  }
}
