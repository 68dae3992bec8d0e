import type { AuditEvent } from '@warden/core';

/**
 * The query columns of audit_events, named as in the table. Both dialects' INSERT writes them through
 * `eventQueryColumns` and deep verification re-derives them through it, so the two cannot drift.
 * `approvers` exists only on PostgreSQL (SQLite reads approvers from the body).
 */
export const EVENT_QUERY_COLUMNS = [
  'ts',
  'type',
  'actor',
  'agent',
  'session',
  'tool',
  'call_id',
  'effect',
  'rule_id',
  'triggered_by',
  'event_id',
] as const;

export type EventQueryColumn = (typeof EVENT_QUERY_COLUMNS)[number] | 'approvers';

/** A column's value as a dialect stores it: text, NULL, or (approvers) an array of text. */
export type ColumnValue = string | null | readonly string[];

/** The query columns of one event, each turned into stored text by the dialect's `text`. */
export type EventQueryValues = Record<(typeof EVENT_QUERY_COLUMNS)[number], string | null> & {
  readonly approvers: readonly string[] | null;
};

/**
 * Derives the query columns from the very event the body encodes. `text` is how the dialect stores a
 * string (see sqliteText, columnText): anything else, or a missing field, is NULL.
 */
export function eventQueryColumns(e: AuditEvent, text: (v: string) => string): EventQueryValues {
  const t = (v: unknown) => (typeof v === 'string' ? text(v) : null);
  return {
    ts: t(e.ts),
    type: t(e.type),
    actor: t(e.actor?.id),
    agent: t(e.agent),
    session: t(e.session),
    tool: t(e.tool),
    call_id: t(e.callId),
    effect: t(e.decision?.effect),
    rule_id: t(e.decision?.ruleId),
    triggered_by: t(e.triggeredBy),
    event_id: t(e.id),
    approvers: Array.isArray(e.approvers)
      ? e.approvers.filter((a): a is string => typeof a === 'string').map(text)
      : null,
  };
}

/**
 * A string as SQLite gives it back: the driver writes a lone surrogate as bytes it reads back as three
 * U+FFFD, so it is made well-formed (one U+FFFD) before it is written. U+0000 is kept.
 */
export function sqliteText(s: string): string {
  return s.isWellFormed() ? s : s.toWellFormed();
}

/** The SQLite INSERT's query column values, in EVENT_QUERY_COLUMNS order. */
export function sqliteColumnValues(e: AuditEvent): (string | null)[] {
  const c = eventQueryColumns(e, sqliteText);
  return EVENT_QUERY_COLUMNS.map((name) => c[name]);
}

/** The first column of `stored` that differs from what `expected` derives, or undefined. */
export function firstColumnMismatch(
  stored: Readonly<Record<string, unknown>>,
  expected: Readonly<Record<string, ColumnValue>>,
): { column: string; stored: unknown; expected: ColumnValue } | undefined {
  for (const [column, want] of Object.entries(expected)) {
    const got = stored[column] ?? null;
    const same = Array.isArray(want)
      ? Array.isArray(got) && got.length === want.length && got.every((v, i) => v === want[i])
      : got === want;
    if (!same) return { column, stored: got, expected: want };
  }
  return undefined;
}
