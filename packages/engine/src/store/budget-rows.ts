import {
  type BudgetCounter,
  type BudgetLine,
  type ReservationRecord,
  type ReserveOutcome,
  WardenError,
} from '@warden/core';

/**
 * Budget rows as both dialects store them, and the rules both apply to them. Counter keys are compared
 * byte-wise (UTF-8), as SQLite's BINARY and PostgreSQL's "C" collation compare them: "key order", the
 * order locks are taken in and the first refused line is chosen by, is the same everywhere.
 */

/** A counter row (snake_case). PostgreSQL returns its numeric columns as decimal strings. */
export type BudgetCounterRow = {
  key: string;
  budget_id: string;
  scope_key: string;
  metric: BudgetCounter['metric'];
  win: BudgetCounter['window'];
  window_start: string;
  window_end: string | null;
  lim: number | string;
  limit_override: number | string | null;
  used: number | string;
  reserved: number | string;
  alerted: number | string;
  updated_at: string;
};

/** The budget_counters columns reads select, in BudgetCounterRow's order. */
export const BUDGET_COUNTER_COLUMNS =
  'key, budget_id, scope_key, metric, win, window_start, window_end, lim, limit_override, used, reserved, alerted, updated_at';

/** A counter row as the Store returns it; `num` turns a stored amount into a number (dialect-specific). */
export function toBudgetCounter(r: BudgetCounterRow, num: (v: number | string) => number): BudgetCounter {
  return {
    key: r.key,
    budgetId: r.budget_id,
    scopeKey: r.scope_key,
    metric: r.metric,
    window: r.win,
    windowStart: r.window_start,
    windowEnd: r.window_end,
    limit: num(r.lim),
    limitOverride: r.limit_override === null ? null : num(r.limit_override),
    used: num(r.used),
    reserved: num(r.reserved),
    alerted: Number(r.alerted),
    updatedAt: r.updated_at,
  };
}

/** A reservation row (snake_case; the lines as JSON text). */
export type ReservationRow = {
  id: string;
  call_id: string;
  session: string;
  agent: string;
  lines: string;
  state: ReservationRecord['state'];
  created_at: string;
  lease_until: string;
  updated_at: string;
};

/** The budget_reservations columns reads select, in ReservationRow's order. */
export const RESERVATION_COLUMNS =
  'id, call_id, session, agent, lines, state, created_at, lease_until, updated_at';

export function toReservation(r: ReservationRow): ReservationRecord {
  return {
    id: r.id,
    callId: r.call_id,
    session: r.session,
    agent: r.agent,
    lines: JSON.parse(r.lines) as BudgetLine[],
    state: r.state,
    createdAt: r.created_at,
    leaseUntil: r.lease_until,
    updatedAt: r.updated_at,
  };
}

/** Byte-wise (UTF-8) order of counter keys, as both databases sort them. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Refuses lines no counter could hold: amounts and limits must be finite and not negative. The engine
 * computes them, so a bad one is a bug (INTERNAL), caught before it reaches a counter.
 */
export function checkLines(lines: readonly BudgetLine[]): void {
  for (const l of lines) {
    for (const [name, v] of [
      ['amount', l.amount],
      ['limit', l.limit],
    ] as const) {
      if (!Number.isFinite(v) || v < 0) {
        throw new WardenError('INTERNAL', `budget line ${l.key}: ${name} ${v} is not a finite amount >= 0`);
      }
    }
  }
}

/**
 * The lines one per counter, in key order: a counter named by two lines takes the sum of their amounts
 * (the first line's other fields). SQLite's reserve and settle work from this; PostgreSQL merges in SQL.
 */
export function mergeLines(lines: readonly BudgetLine[]): BudgetLine[] {
  const byKey = new Map<string, BudgetLine>();
  for (const l of lines) {
    const seen = byKey.get(l.key);
    byKey.set(l.key, seen ? { ...seen, amount: seen.amount + l.amount } : l);
  }
  return [...byKey.values()].sort((a, b) => compareKeys(a.key, b.key));
}

/** The refusal of `line`, with its counter's figures. */
export function refusal(line: BudgetLine, used: number, reserved: number, limit: number): ReserveOutcome {
  return { ok: false, line, used, reserved, limit };
}

/** The BUDGET_CONFLICT a settle, release or alert that lost a race (or came twice) is refused with. */
export function budgetConflict(message: string): WardenError {
  return new WardenError('BUDGET_CONFLICT', message);
}
