import type { BudgetLine, ReservationRecord } from '@warden/core';
import type pg from 'pg';
import {
  budgetConflict,
  checkLines,
  compareKeys,
  RESERVATION_COLUMNS,
  type ReservationRow,
} from '../budget-rows.js';
import type { Mutation, StateCounts } from '../store.js';
import { sqlLine } from './postgres-budgets.js';
import { columnText } from './postgres-event-payload.js';

/** The mutations BudgetWriter applies. */
export type BudgetMutation = Extract<
  Mutation,
  { kind: 'budget.settle' | 'budget.release' | 'budget.expire' | 'budget.alert' | 'budget.limit' }
>;

const text = (s: string) => columnText(s) as string;

/** The budget rows `state.purge` deletes (a counter with its ledger rows), by StateCounts field. */
export const BUDGET_FINISHED: readonly (readonly [keyof StateCounts, string, string])[] = [
  ['reservations', 'budget_reservations', "state <> 'held' AND updated_at < $1"],
  // A session's own counter goes only with the session: while it may still run, its lifetime usage stands.
  [
    'budgetCounters',
    'budget_counters',
    "window_end < $1 OR (window_end IS NULL AND updated_at < $1 AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = substr(budget_counters.scope_key, 9) AND s.state <> 'closed'))",
  ],
];

// Every counter a settle touches in one statement: what leaves reserved (a held reservation's lines) and
// what is added to used, summed per key, then one ledger row per line, then the reservation's state.
const SETTLE_SQL = `
WITH d AS (
  SELECT d.key, sum(d.unreserve) AS unreserve, sum(d.used) AS used
    FROM json_to_recordset($1::json) AS d(key text, unreserve numeric, used numeric)
   GROUP BY d.key
), counters AS (
  UPDATE budget_counters AS c
     SET reserved = greatest(c.reserved - d.unreserve, 0), used = c.used + d.used, updated_at = $2
    FROM d WHERE c.key = d.key
), ledger AS (
  INSERT INTO budget_ledger (reservation_id, call_id, counter_key, metric, amount, price_version, ts)
  SELECT $3, $4, l.key, l.metric, l.amount, $5, $2
    FROM json_to_recordset($6::json) AS l(key text, metric text, amount numeric)
)
UPDATE budget_reservations SET state = $8, updated_at = $2 WHERE id = $7`;

const RELEASE_SQL = `
WITH d AS (
  SELECT d.key, sum(d.amount) AS amount
    FROM json_to_recordset($1::json) AS d(key text, amount numeric)
   GROUP BY d.key
), counters AS (
  UPDATE budget_counters AS c SET reserved = greatest(c.reserved - d.amount, 0), updated_at = $2
    FROM d WHERE c.key = d.key
)
UPDATE budget_reservations SET state = 'released', updated_at = $2 WHERE id = ANY ($3::text[])`;

/**
 * Applies budget mutations inside a commit's transaction. `lock` runs first, just after the chain lock
 * is taken: it locks the reservations the commit changes in id order, then every counter in key order,
 * one at a time, as reserve does, so a commit and a reserve (or two commits) never deadlock.
 * Reserve locks no reservation it did not just insert, so the two orders never cross. The mutations then
 * change rows already locked, each in one statement.
 */
export class BudgetWriter {
  readonly #c: pg.ClientBase;
  /** The reservations the commit changes, as locked; their state follows the mutations applied. */
  readonly #reservations = new Map<string, ReservationRow>();

  constructor(client: pg.ClientBase) {
    this.#c = client;
  }

  /**
   * Locks (creating counters settle and limit lines name) what the budget mutations of `ms` change, and
   * the counters of the reservations `reserving` the commit admits (created on first use, as reserve does).
   */
  async lock(ms: readonly Mutation[], reserving: readonly ReservationRecord[] = []): Promise<void> {
    const ids = new Set<string>();
    for (const m of ms) {
      if (m.kind === 'budget.settle' && m.reservationId !== null) ids.add(text(m.reservationId));
      if (m.kind === 'budget.release' || m.kind === 'budget.expire')
        for (const id of m.ids) ids.add(text(id));
    }
    if (ids.size > 0) {
      const r = await this.#c.query<ReservationRow>(
        `SELECT ${RESERVATION_COLUMNS} FROM budget_reservations WHERE id = ANY ($1::text[]) ORDER BY id FOR UPDATE`,
        [[...ids]],
      );
      for (const row of r.rows) this.#reservations.set(row.id, row);
    }
    const rows = new Map<string, Record<string, unknown>>();
    const create = (l: BudgetLine, ts: string) => {
      checkLines([l]);
      const key = text(l.key);
      if (!rows.get(key)?.budget_id) rows.set(key, sqlLine(l, ts));
    };
    const lockOnly = (key: string) => {
      if (!rows.has(text(key))) rows.set(text(key), { key: text(key) });
    };
    const reserved = (id: string) => {
      const row = this.#reservations.get(text(id));
      for (const l of row ? storedLines(row) : []) lockOnly(l.key);
    };
    for (const r of reserving) for (const l of r.lines) create(l, r.updatedAt);
    for (const m of ms) {
      if (m.kind === 'budget.settle') {
        for (const l of m.lines) create(l, m.ts);
        if (m.reservationId !== null) reserved(m.reservationId);
      } else if (m.kind === 'budget.limit') create(m.line, m.ts);
      else if (m.kind === 'budget.alert') lockOnly(m.key);
      else if (m.kind === 'budget.release' || m.kind === 'budget.expire')
        for (const id of m.ids) reserved(id);
    }
    if (rows.size > 0)
      await this.#c.query('SELECT warden_budget_lock($1)', [JSON.stringify([...rows.values()])]);
  }

  async apply(m: BudgetMutation): Promise<void> {
    switch (m.kind) {
      case 'budget.settle':
        return this.#settle(m);
      case 'budget.release':
        return this.#release(m);
      case 'budget.expire':
        return this.#expire(m);
      case 'budget.alert':
        return this.#alert(m);
      case 'budget.limit': {
        checkLines([{ ...m.line, limit: m.limit }]);
        // `lock` created the counter if it was missing.
        await this.#c.query(
          'UPDATE budget_counters SET limit_override = $1, alerted = coalesce($4::numeric, alerted), updated_at = $2 WHERE key = $3',
          [m.limit, m.ts, text(m.line.key), m.alerted ?? null],
        );
        return;
      }
    }
  }

  async #settle(m: Extract<Mutation, { kind: 'budget.settle' }>): Promise<void> {
    checkLines(m.lines);
    const id = m.reservationId === null ? null : text(m.reservationId);
    // A reservation that no longer exists (purged) counts as released: the usage is still counted.
    const res = id === null ? undefined : this.#reservations.get(id);
    if (res?.state === 'settled' || res?.state === 'expired')
      throw budgetConflict(`reservation ${res.id} was already ${res.state}`);
    const unreserve = res?.state === 'held' ? storedLines(res) : [];
    const deltas = [
      ...unreserve.map((l) => ({ key: text(l.key), unreserve: l.amount, used: 0 })),
      ...m.lines.map((l) => ({ key: text(l.key), unreserve: 0, used: l.amount })),
    ];
    await this.#c.query(SETTLE_SQL, [
      JSON.stringify(deltas),
      m.ts,
      id,
      text(m.callId),
      m.priceVersion === null ? null : text(m.priceVersion),
      JSON.stringify(m.lines.map((l) => ({ key: text(l.key), metric: l.metric, amount: l.amount }))),
      res ? id : null,
      'settled',
    ]);
    // A released one becomes settled too, so a second settle is refused rather than counted again.
    if (res) this.#reservations.set(res.id, { ...res, state: 'settled', updated_at: m.ts });
  }

  async #release(m: Extract<Mutation, { kind: 'budget.release' }>): Promise<void> {
    const rows = this.#leaseEnded(m.ids, m.now);
    const ids = rows.map((r) => r.id);
    const amounts = rows.flatMap((r) => storedLines(r).map((l) => ({ key: text(l.key), amount: l.amount })));
    await this.#c.query(RELEASE_SQL, [JSON.stringify(amounts), m.now, ids]);
    for (const row of rows) this.#reservations.set(row.id, { ...row, state: 'released', updated_at: m.now });
  }

  /** Charges each reservation what it holds, as a settle of exactly that would. */
  async #expire(m: Extract<Mutation, { kind: 'budget.expire' }>): Promise<void> {
    for (const row of this.#leaseEnded(m.ids, m.now)) {
      const lines = storedLines(row);
      await this.#c.query(SETTLE_SQL, [
        JSON.stringify(lines.map((l) => ({ key: text(l.key), unreserve: l.amount, used: l.amount }))),
        m.now,
        row.id,
        row.call_id,
        null,
        JSON.stringify(lines.map((l) => ({ key: text(l.key), metric: l.metric, amount: l.amount }))),
        row.id,
        'expired',
      ]);
      this.#reservations.set(row.id, { ...row, state: 'expired', updated_at: m.now });
    }
  }

  /** The locked reservations `ids` (in key order), each held with its lease ended by `now`; else BUDGET_CONFLICT. */
  #leaseEnded(ids: readonly string[], now: string): ReservationRow[] {
    return [...new Set(ids.map(text))].sort(compareKeys).map((id) => {
      const row = this.#reservations.get(id);
      if (!row) throw budgetConflict(`no reservation has id ${id}`);
      if (row.state !== 'held') throw budgetConflict(`reservation ${id} is already ${row.state}`);
      if (row.lease_until > now) throw budgetConflict(`reservation ${id} is leased until ${row.lease_until}`);
      return row;
    });
  }

  async #alert(m: Extract<Mutation, { kind: 'budget.alert' }>): Promise<void> {
    const r = await this.#c.query(
      'UPDATE budget_counters SET alerted = $1, updated_at = $2 WHERE key = $3 AND alerted < $1',
      [m.threshold, m.ts, text(m.key)],
    );
    if (r.rowCount !== 0) return;
    const row = await this.#c.query<{ alerted: string }>(
      'SELECT alerted FROM budget_counters WHERE key = $1',
      [text(m.key)],
    );
    const alerted = row.rows[0]?.alerted;
    throw budgetConflict(
      alerted === undefined
        ? `no budget counter has key ${m.key}`
        : `budget counter ${m.key}: alert ${Number(alerted)}% was already announced`,
    );
  }
}

/** A reservation's lines as stored. */
function storedLines(row: ReservationRow): BudgetLine[] {
  return JSON.parse(row.lines) as BudgetLine[];
}

/**
 * Deletes the reservations and counters (with their ledger rows) that ended before `before`. Rows another
 * transaction holds are skipped, not waited for: they are in use now, so not finished.
 */
export async function purgeBudgets(c: pg.ClientBase, before: string): Promise<void> {
  const [reservations, counters] = BUDGET_FINISHED.map(([, , where]) => where);
  await c.query(
    `DELETE FROM budget_reservations
      WHERE id IN (SELECT id FROM budget_reservations WHERE ${reservations} FOR UPDATE SKIP LOCKED)`,
    [before],
  );
  await c.query(
    `WITH gone AS (
       DELETE FROM budget_counters
        WHERE key IN (SELECT key FROM budget_counters WHERE ${counters} FOR UPDATE SKIP LOCKED)
       RETURNING key)
     DELETE FROM budget_ledger WHERE counter_key IN (SELECT key FROM gone)`,
    [before],
  );
}
