import type { BudgetCounter, BudgetLine, ReservationRecord, ReserveOutcome } from '@warden/core';
import type Database from 'better-sqlite3';
import {
  BUDGET_COUNTER_COLUMNS,
  type BudgetCounterRow,
  budgetConflict,
  checkLines,
  compareKeys,
  mergeLines,
  RESERVATION_COLUMNS,
  type ReservationRow,
  refusal,
  toBudgetCounter,
  toReservation,
} from '../budget-rows.js';
import type { BudgetCounterQuery, Mutation, StateCounts } from '../store.js';

/** The mutations SqliteBudgets applies. */
export type BudgetMutation = Extract<
  Mutation,
  { kind: 'budget.settle' | 'budget.release' | 'budget.expire' | 'budget.alert' | 'budget.limit' }
>;

/**
 * Amounts are REAL here, so a sum of decimal fractions can miss by a few units in the last place (0.1 +
 * 0.2 is 0.30000000000000004). Counters are compared with their limit, and reported, rounded to 1e-9:
 * far below a token or a billed fraction of a cent, far above the drift. PostgreSQL is exact (numeric).
 */
export function round9(x: number): number {
  const r = Math.round(x * 1e9) / 1e9;
  return r === 0 ? 0 : r;
}

/** The budget rows `state.purge` deletes (a counter with its ledger rows), by StateCounts field. */
export const BUDGET_FINISHED: readonly (readonly [keyof StateCounts, string, string])[] = [
  ['reservations', 'budget_reservations', "state <> 'held' AND updated_at < @before"],
  [
    'budgetCounters',
    'budget_counters',
    // A session's own counter goes only with the session: while it may still run, its lifetime usage stands.
    "window_end < @before OR (window_end IS NULL AND updated_at < @before AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = substr(budget_counters.scope_key, 9) AND s.state <> 'closed'))",
  ],
];

const LINE_COLUMNS = 'key, budget_id, scope_key, metric, win, window_start, window_end, lim, updated_at';

/**
 * Budget counters, reservations and the ledger in SQLite. Every write runs inside a BEGIN IMMEDIATE
 * transaction (reserve its own, the mutations the commit's), which every writer of the file queues for:
 * that alone makes reserve atomic across processes.
 */
export class SqliteBudgets {
  readonly #db: Database.Database;
  readonly #prep: (sql: string) => Database.Statement;

  constructor(db: Database.Database, prep: (sql: string) => Database.Statement) {
    this.#db = db;
    this.#prep = prep;
  }

  /** Store.reserve: `admit` in a BEGIN IMMEDIATE transaction of its own. */
  reserve(r: ReservationRecord): ReserveOutcome {
    return this.#db.transaction(() => this.admit(r)).immediate();
  }

  /**
   * Admits reservation `r` inside the caller's transaction (a reserve's own, or a commit's for a unit that
   * reserves): the one implementation of Store.reserve's rules. A refusal writes nothing but the counters
   * created on first use and their refreshed policy limits, as a reserve of its own does.
   */
  admit(r: ReservationRecord): ReserveOutcome {
    checkLines(r.lines);
    const lines = mergeLines(r.lines);
    // Create missing counters; refresh the policy limit and window end of the others.
    const upsert = this.#prep(
      `INSERT INTO budget_counters (${LINE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET lim = excluded.lim, window_end = excluded.window_end
           WHERE lim <> excluded.lim OR window_end IS NOT excluded.window_end`,
    );
    for (const l of lines) upsert.run(...lineValues(l), r.updatedAt);
    const figures = this.#prep(
      'SELECT used, reserved, coalesce(limit_override, lim) AS lim FROM budget_counters WHERE key = ?',
    );
    for (const l of lines) {
      const c = figures.get(l.key) as { used: number; reserved: number; lim: number };
      const held = c.used + c.reserved;
      if (round9(held + l.amount) > c.lim || (l.amount === 0 && round9(held) >= c.lim)) {
        return refusal(l, round9(c.used), round9(c.reserved), c.lim);
      }
    }
    const hold = this.#prep(
      'UPDATE budget_counters SET reserved = reserved + ?, updated_at = ? WHERE key = ?',
    );
    for (const l of lines) hold.run(l.amount, r.updatedAt, l.key);
    this.#prep(
      `INSERT INTO budget_reservations (${RESERVATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      r.id,
      r.callId,
      r.session,
      r.agent,
      JSON.stringify(r.lines),
      'held',
      r.createdAt,
      r.leaseUntil,
      r.updatedAt,
    );
    return { ok: true };
  }

  reservation(id: string): ReservationRecord | undefined {
    const row = this.#reservationRow(id);
    return row ? toReservation(row) : undefined;
  }

  expired(now: string, limit: number): ReservationRecord[] {
    const rows = this.#prep(
      `SELECT ${RESERVATION_COLUMNS} FROM budget_reservations
        WHERE state = 'held' AND lease_until <= ? ORDER BY lease_until, id LIMIT ?`,
    ).all(now, limit) as ReservationRow[];
    return rows.map(toReservation);
  }

  counters(q: BudgetCounterQuery): BudgetCounter[] {
    const where: string[] = [];
    const params: unknown[] = [];
    // Lists go in as one JSON array, so the statement is the same whatever their length.
    if (q.keys !== undefined) {
      where.push('key IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(q.keys));
    }
    if (q.scopeKeys !== undefined) {
      where.push('scope_key IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(q.scopeKeys));
    }
    if (q.budgetId !== undefined) {
      where.push('budget_id = ?');
      params.push(q.budgetId);
    }
    if (q.activeAt !== undefined) {
      where.push('(window_end IS NULL OR (window_start <= ? AND window_end > ?))');
      params.push(q.activeAt, q.activeAt);
    }
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const sql = `SELECT ${BUDGET_COUNTER_COLUMNS} FROM budget_counters ${filter} ORDER BY key LIMIT ?`;
    const rows = this.#prep(sql).all(...params, q.limit) as BudgetCounterRow[];
    return rows.map((r) => toBudgetCounter(r, (v) => round9(Number(v))));
  }

  ledgerTotals(keys?: readonly string[]): Map<string, number> {
    const filter = keys === undefined ? '' : 'WHERE counter_key IN (SELECT value FROM json_each(?))';
    const sql = `SELECT counter_key AS key, sum(amount) AS total FROM budget_ledger ${filter} GROUP BY counter_key`;
    const rows = this.#prep(sql).all(...(keys === undefined ? [] : [JSON.stringify(keys)])) as {
      key: string;
      total: number;
    }[];
    const totals = new Map<string, number>((keys ?? []).map((k) => [k, 0]));
    for (const r of rows) totals.set(r.key, round9(r.total));
    return totals;
  }

  /** Applies one mutation inside the commit's transaction. */
  apply(m: BudgetMutation): void {
    switch (m.kind) {
      case 'budget.settle':
        this.#settle(m);
        return;
      case 'budget.release':
        this.#release(m);
        return;
      case 'budget.expire':
        this.#expire(m);
        return;
      case 'budget.alert': {
        const r = this.#prep(
          'UPDATE budget_counters SET alerted = ?, updated_at = ? WHERE key = ? AND alerted < ?',
        ).run(m.threshold, m.ts, m.key, m.threshold);
        if (r.changes > 0) return;
        const exists = this.#prep('SELECT alerted FROM budget_counters WHERE key = ?').get(m.key) as
          | { alerted: number }
          | undefined;
        throw budgetConflict(
          exists
            ? `budget counter ${m.key}: alert ${exists.alerted}% was already announced`
            : `no budget counter has key ${m.key}`,
        );
      }
      case 'budget.limit':
        checkLines([{ ...m.line, limit: m.limit }]);
        this.#ensure([m.line], m.ts);
        this.#prep(
          'UPDATE budget_counters SET limit_override = ?, alerted = coalesce(?, alerted), updated_at = ? WHERE key = ?',
        ).run(m.limit, m.alerted ?? null, m.ts, m.line.key);
        return;
    }
  }

  /** Deletes the reservations and counters (with their ledger rows) that ended before `before`. */
  purge(before: string): void {
    const [reservations, counters] = BUDGET_FINISHED.map(([, , where]) => where);
    this.#prep(`DELETE FROM budget_reservations WHERE ${reservations}`).run({ before });
    this.#prep(
      `DELETE FROM budget_ledger WHERE counter_key IN (SELECT key FROM budget_counters WHERE ${counters})`,
    ).run({ before });
    this.#prep(`DELETE FROM budget_counters WHERE ${counters}`).run({ before });
  }

  #settle(m: Extract<Mutation, { kind: 'budget.settle' }>): void {
    checkLines(m.lines);
    // A reservation that no longer exists (purged) counts as released: the usage is still counted.
    const res = m.reservationId === null ? undefined : this.#reservationRow(m.reservationId);
    if (res?.state === 'settled' || res?.state === 'expired')
      throw budgetConflict(`reservation ${res.id} was already ${res.state}`);
    this.#ensure(m.lines, m.ts);
    if (res?.state === 'held') this.#unreserve(JSON.parse(res.lines) as BudgetLine[], m.ts);
    const use = this.#prep('UPDATE budget_counters SET used = used + ?, updated_at = ? WHERE key = ?');
    const ledger = this.#prep(
      'INSERT INTO budget_ledger (reservation_id, call_id, counter_key, metric, amount, price_version, ts) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (const l of m.lines) {
      use.run(l.amount, m.ts, l.key);
      ledger.run(m.reservationId, m.callId, l.key, l.metric, l.amount, m.priceVersion, m.ts);
    }
    // A released one becomes settled too, so a second settle is refused rather than counted again.
    if (res) this.#setState(res.id, 'settled', m.ts);
  }

  #release(m: Extract<Mutation, { kind: 'budget.release' }>): void {
    for (const row of this.#leaseEnded(m.ids, m.now)) {
      this.#unreserve(JSON.parse(row.lines) as BudgetLine[], m.now);
      this.#setState(row.id, 'released', m.now);
    }
  }

  #expire(m: Extract<Mutation, { kind: 'budget.expire' }>): void {
    const use = this.#prep('UPDATE budget_counters SET used = used + ?, updated_at = ? WHERE key = ?');
    const ledger = this.#prep(
      'INSERT INTO budget_ledger (reservation_id, call_id, counter_key, metric, amount, price_version, ts) VALUES (?, ?, ?, ?, ?, NULL, ?)',
    );
    for (const row of this.#leaseEnded(m.ids, m.now)) {
      const lines = JSON.parse(row.lines) as BudgetLine[];
      this.#unreserve(lines, m.now);
      for (const l of lines) {
        use.run(l.amount, m.now, l.key);
        ledger.run(row.id, row.call_id, l.key, l.metric, l.amount, m.now);
      }
      this.#setState(row.id, 'expired', m.now);
    }
  }

  /** The held reservations `ids` (in key order), each of whose lease ended by `now`; else BUDGET_CONFLICT. */
  #leaseEnded(ids: readonly string[], now: string): ReservationRow[] {
    return [...new Set(ids)].sort(compareKeys).map((id) => {
      const row = this.#reservationRow(id);
      if (!row) throw budgetConflict(`no reservation has id ${id}`);
      if (row.state !== 'held') throw budgetConflict(`reservation ${id} is already ${row.state}`);
      if (row.lease_until > now) throw budgetConflict(`reservation ${id} is leased until ${row.lease_until}`);
      return row;
    });
  }

  /** Creates the counters of `lines` that do not exist yet, with the line's window and limit. */
  #ensure(lines: readonly BudgetLine[], ts: string): void {
    const insert = this.#prep(
      `INSERT INTO budget_counters (${LINE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
    );
    for (const l of lines) insert.run(...lineValues(l), ts);
  }

  /** Takes a reservation's amounts out of `reserved`; never below 0, so a fault cannot admit more. */
  #unreserve(lines: readonly BudgetLine[], ts: string): void {
    const take = this.#prep(
      'UPDATE budget_counters SET reserved = max(reserved - ?, 0), updated_at = ? WHERE key = ?',
    );
    for (const l of lines) take.run(l.amount, ts, l.key);
  }

  #setState(id: string, state: ReservationRecord['state'], ts: string): void {
    this.#prep('UPDATE budget_reservations SET state = ?, updated_at = ? WHERE id = ?').run(state, ts, id);
  }

  #reservationRow(id: string): ReservationRow | undefined {
    return this.#prep(`SELECT ${RESERVATION_COLUMNS} FROM budget_reservations WHERE id = ?`).get(id) as
      | ReservationRow
      | undefined;
  }
}

/** A line's counter columns, in LINE_COLUMNS order but for updated_at. */
function lineValues(l: BudgetLine): (string | number | null)[] {
  return [l.key, l.budgetId, l.scopeKey, l.metric, l.window, l.windowStart, l.windowEnd, l.limit];
}
