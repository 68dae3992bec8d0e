import type { BudgetCounter, BudgetLine, ReservationRecord, ReserveOutcome } from '@warden/core';
import type pg from 'pg';
import {
  BUDGET_COUNTER_COLUMNS,
  type BudgetCounterRow,
  checkLines,
  mergeLines,
  RESERVATION_COLUMNS,
  type ReservationRow,
  refusal,
  toBudgetCounter,
  toReservation,
} from '../budget-rows.js';
import type { BudgetCounterQuery, ReserveRefusal } from '../store.js';
import type { PostgresDriver } from './postgres-driver.js';
import { columnText } from './postgres-event-payload.js';

/**
 * Budget reads and reserve in PostgreSQL. Amounts are numeric, exact in sums; pg returns them as decimal
 * strings, turned into the nearest number only here, on the way out. Strings compared in SQL go through
 * columnText, as everywhere in this dialect, so a key holding U+0000 is stored rather than refused.
 */

const text = (s: string) => columnText(s) as string;

/** A line as warden_budget_lines and warden_budget_lock read it (snake_case JSON). */
export function sqlLine(l: BudgetLine, ts?: string): Record<string, string | number | null> {
  return {
    key: text(l.key),
    budget_id: text(l.budgetId),
    scope_key: text(l.scopeKey),
    metric: l.metric,
    win: l.window,
    window_start: text(l.windowStart),
    window_end: l.windowEnd === null ? null : text(l.windowEnd),
    lim: l.limit,
    amount: l.amount,
    ...(ts === undefined ? {} : { ts }),
  };
}

type Refused = {
  refused_key: string;
  refused_used: string;
  refused_reserved: string;
  refused_limit: string;
};

/**
 * One round trip: warden_budget_reserve (migration 4) creates or locks every counter in key order,
 * checks, and writes, in the statement's own transaction, outside any commit and the chain lock.
 */
export async function reserve(db: PostgresDriver, r: ReservationRecord): Promise<ReserveOutcome> {
  checkLines(r.lines);
  const rows = await db.query<Refused>(
    'reserving budget',
    'SELECT * FROM warden_budget_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9)',
    [
      text(r.id),
      text(r.callId),
      text(r.session),
      text(r.agent),
      JSON.stringify(r.lines.map((l) => sqlLine(l))),
      JSON.stringify(r.lines),
      r.createdAt,
      r.leaseUntil,
      r.updatedAt,
    ],
  );
  return rows[0] ? refusedBy(r, rows[0]) : { ok: true };
}

/** The refusal warden_budget_reserve answered for `r`, naming `r`'s own line. */
function refusedBy(r: ReservationRecord, row: Refused): ReserveRefusal {
  const line = mergeLines(r.lines).find((l) => text(l.key) === row.refused_key) as BudgetLine;
  return refusal(
    line,
    Number(row.refused_used),
    Number(row.refused_reserved),
    Number(row.refused_limit),
  ) as ReserveRefusal;
}

// Every reservation of a commit in one statement: warden_budget_reserve called once per reservation, in
// the order given (a lateral call per row of the ordinal scan; each call, VOLATILE, sees the writes of
// those before it), so a later unit is admitted against what the earlier ones reserved. Only refusals
// come back, each with its ordinal.
const RESERVE_IN_COMMIT_SQL = `
SELECT u.n::int AS n, r.refused_key, r.refused_used, r.refused_reserved, r.refused_limit
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
              $8::text[], $9::text[])
       WITH ORDINALITY AS u(id, call_id, session, agent, lines, stored, created_at, lease_until, ts, n)
 CROSS JOIN LATERAL warden_budget_reserve(u.id, u.call_id, u.session, u.agent, u.lines, u.stored,
       u.created_at, u.lease_until, u.ts) AS r`;

/**
 * Admits the reservations of a commit's units, in order, inside its transaction, with exactly reserve's
 * rules (the same function), in one round trip. Called under the chain lock once every counter the
 * commit changes is locked in key order (BudgetWriter.lock), so the function's own locks wait on
 * nothing: see commitUnits for the lock order. Returns the refusals by index into `reservations`.
 */
export async function reserveInCommit(
  client: pg.ClientBase,
  reservations: readonly ReservationRecord[],
): Promise<Map<number, ReserveRefusal>> {
  const refusals = new Map<number, ReserveRefusal>();
  if (reservations.length === 0) return refusals;
  for (const r of reservations) checkLines(r.lines);
  const column = (f: (r: ReservationRecord) => string) => reservations.map(f);
  const result = await client.query<Refused & { n: number }>(RESERVE_IN_COMMIT_SQL, [
    column((r) => text(r.id)),
    column((r) => text(r.callId)),
    column((r) => text(r.session)),
    column((r) => text(r.agent)),
    column((r) => JSON.stringify(r.lines.map((l) => sqlLine(l)))),
    column((r) => JSON.stringify(r.lines)),
    column((r) => r.createdAt),
    column((r) => r.leaseUntil),
    column((r) => r.updatedAt),
  ]);
  for (const row of result.rows) {
    const i = row.n - 1;
    refusals.set(i, refusedBy(reservations[i] as ReservationRecord, row));
  }
  return refusals;
}

export async function readReservation(
  db: PostgresDriver,
  id: string,
): Promise<ReservationRecord | undefined> {
  const rows = await db.query<ReservationRow>(
    'reading a budget reservation',
    `SELECT ${RESERVATION_COLUMNS} FROM budget_reservations WHERE id = $1`,
    [text(id)],
  );
  return rows[0] ? toReservation(rows[0]) : undefined;
}

export async function expiredReservations(
  db: PostgresDriver,
  now: string,
  limit: number,
): Promise<ReservationRecord[]> {
  const rows = await db.query<ReservationRow>(
    'finding expired budget reservations',
    `SELECT ${RESERVATION_COLUMNS} FROM budget_reservations
      WHERE state = 'held' AND lease_until <= $1 ORDER BY lease_until, id LIMIT $2`,
    [now, limit],
  );
  return rows.map(toReservation);
}

export async function budgetCounters(db: PostgresDriver, q: BudgetCounterQuery): Promise<BudgetCounter[]> {
  const params: unknown[] = [];
  const where: string[] = [];
  const add = (sql: (p: string) => string, v: unknown) => {
    params.push(v);
    where.push(sql(`$${params.length}`));
  };
  if (q.keys !== undefined) add((p) => `key = ANY (${p}::text[])`, q.keys.map(text));
  if (q.scopeKeys !== undefined) add((p) => `scope_key = ANY (${p}::text[])`, q.scopeKeys.map(text));
  if (q.budgetId !== undefined) add((p) => `budget_id = ${p}`, text(q.budgetId));
  if (q.activeAt !== undefined) {
    add((p) => `(window_end IS NULL OR (window_start <= ${p} AND window_end > ${p}))`, q.activeAt);
  }
  params.push(q.limit);
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const sql = `SELECT ${BUDGET_COUNTER_COLUMNS} FROM budget_counters ${filter} ORDER BY key LIMIT $${params.length}`;
  const rows = await db.query<BudgetCounterRow>('reading budget counters', sql, params);
  return rows.map((r) => toBudgetCounter(r, Number));
}

export async function ledgerTotals(
  db: PostgresDriver,
  keys?: readonly string[],
): Promise<Map<string, number>> {
  const rows = await db.query<{ key: string; total: string }>(
    'totalling the budget ledger',
    `SELECT counter_key AS key, sum(amount) AS total FROM budget_ledger
      ${keys === undefined ? '' : 'WHERE counter_key = ANY ($1::text[])'} GROUP BY counter_key`,
    keys === undefined ? [] : [keys.map(text)],
  );
  const totals = new Map<string, number>((keys ?? []).map((k) => [k, 0]));
  for (const r of rows) totals.set(r.key, Number(r.total));
  return totals;
}
