import type { AuditEvent } from '@warden/core';

/**
 * The query columns of audit_events, taken from the event whose canonical JSON is the stored body, so
 * they hold what SQLite's columns generated from the body hold. Short keys: this JSON is sent with every
 * appended batch and read back with json_to_recordset.
 */
export const EVENT_COLUMNS_RECORD =
  'ts text, ty text, ac text, ag text, se text, tl text, ci text, ef text, ru text, tr text, ap text[]';

/** The columns the record above fills, in its order. */
export const EVENT_COLUMN_NAMES =
  'ts, type, actor, agent, session, tool, call_id, effect, rule_id, triggered_by, approvers';

/** The query columns of many events as one JSON array, for json_to_recordset. */
export function eventColumnsJson(events: readonly AuditEvent[]): string {
  return JSON.stringify(events.map(eventColumns));
}

function eventColumns(e: AuditEvent) {
  return {
    ts: columnText(e.ts),
    ty: columnText(e.type),
    ac: columnText(e.actor?.id),
    ag: columnText(e.agent),
    se: columnText(e.session),
    tl: columnText(e.tool),
    ci: columnText(e.callId),
    ef: columnText(e.decision?.effect),
    ru: columnText(e.decision?.ruleId),
    tr: columnText(e.triggeredBy),
    ap: Array.isArray(e.approvers)
      ? e.approvers.filter((a) => typeof a === 'string').map(columnText)
      : undefined,
  };
}

/**
 * A string as PostgreSQL text can hold it: U+0000 (which text cannot hold) and lone surrogates (which
 * UTF-8 cannot encode) become U+FFFD. Query values go through the same function, so they still match.
 * The body keeps the exact string, escaped.
 */
export function columnText(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v;
  return s.isWellFormed() ? s : s.toWellFormed();
}
