import {
  BUDGET_METRICS,
  BUDGET_SCOPES,
  BUDGET_WINDOWS,
  type BudgetMetric,
  type BudgetScope,
  type BudgetWindow,
} from '@warden/api';

/**
 * The shapes budgets are accounted in. A budget (from the policy) becomes, for one call, one *line* per
 * scope instance and window it draws on: the counter that line names is what is reserved against,
 * settled into and compared with the limit. Counters live in the database, so every instance sees one.
 */

/** Metrics, scopes and windows are wire words (budgets are reported over the API): see @warden/api. */
export {
  BUDGET_METRICS,
  BUDGET_SCOPES,
  BUDGET_WINDOWS,
  type BudgetMetric,
  type BudgetScope,
  type BudgetWindow,
};

/** One counter a call draws on, and how much. */
export interface BudgetLine {
  /** `${budgetId}|${scopeKey}|${windowStart}`: unique per counter. */
  readonly key: string;
  readonly budgetId: string;
  /** `session:<id>`, `agent:<name>`, `team:<group>`, `global` or `tag:<label>=<value>`. */
  readonly scopeKey: string;
  readonly metric: BudgetMetric;
  readonly window: BudgetWindow;
  /** ISO UTC start of the window; for a session window, `session`. */
  readonly windowStart: string;
  /** ISO UTC end (exclusive); null for a session window. */
  readonly windowEnd: string | null;
  /** The limit in the policy in force (a raised limit stored on the counter wins). */
  readonly limit: number;
  /** Amount reserved or settled, in the metric's unit. */
  readonly amount: number;
}

/** A counter as stored. */
export interface BudgetCounter {
  readonly key: string;
  readonly budgetId: string;
  readonly scopeKey: string;
  readonly metric: BudgetMetric;
  readonly window: BudgetWindow;
  readonly windowStart: string;
  readonly windowEnd: string | null;
  /** The policy's limit as last seen. */
  readonly limit: number;
  /** A limit raised by a human for this window (on resume); wins over `limit` when set. */
  readonly limitOverride: number | null;
  /** Settled usage: always equals the sum of the counter's ledger rows. */
  readonly used: number;
  /** Held by reservations not yet settled or released. */
  readonly reserved: number;
  /** The highest alert threshold (percent) already announced in this window; 0 for none. */
  readonly alerted: number;
  readonly updatedAt: string;
}

/** The limit that applies to a counter. */
export function effectiveLimit(c: Pick<BudgetCounter, 'limit' | 'limitOverride'>): number {
  return c.limitOverride ?? c.limit;
}

/** Money and tokens held for one admitted call or LLM request until it settles or its lease runs out. */
export interface ReservationRecord {
  readonly id: string;
  readonly callId: string;
  readonly session: string;
  readonly agent: string;
  readonly lines: readonly BudgetLine[];
  readonly state: 'held' | 'settled' | 'released' | 'expired';
  readonly createdAt: string;
  readonly leaseUntil: string;
  readonly updatedAt: string;
}

/** The answer to a reservation: admitted, or the first line that would go over. */
export type ReserveOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly line: BudgetLine;
      readonly used: number;
      readonly reserved: number;
      /** The effective limit (a raised one when set). */
      readonly limit: number;
    };
