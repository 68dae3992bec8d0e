import { type AuditEvent, WardenError } from '@warden/core';
import type { PreparedUnit } from '../commit-plan.js';
import { type EventQueryValues, eventQueryColumns } from '../event-columns.js';

/** Above this much body text a batch goes in several statements, to bound the size of one message. */
const MAX_STATEMENT_BODY_CHARS = 32 << 20;

/**
 * The query columns of audit_events as json_to_recordset reads them. They are taken from the event whose
 * canonical JSON is the stored body, so they hold what SQLite's columns generated from the body hold.
 */
export const EVENT_COLUMNS_RECORD =
  'ts text, ty text, ac text, ag text, se text, tl text, ci text, ef text, ru text, tr text, ap text[], ev text';

/** The columns the record above fills, in its order. */
export const EVENT_COLUMN_NAMES =
  'ts, type, actor, agent, session, tool, call_id, effect, rule_id, triggered_by, approvers, event_id';

/** A range of a batch as the append statement takes it. */
export interface PayloadText {
  /** The bodies, newline-separated: canonical JSON never holds a raw newline. */
  readonly bodies: string;
  /** The query columns, a JSON array for json_to_recordset. */
  readonly columns: string;
}

/**
 * Everything a commit writes that does not depend on the chain head, built before the chain lock is
 * taken so that the lock is held only for hashing and the statement itself.
 */
export class EventPayload {
  readonly events: readonly AuditEvent[];
  readonly bodies: readonly string[];
  readonly #whole: PayloadText | undefined;

  constructor(prepared: readonly PreparedUnit[]) {
    this.events = prepared.flatMap((p) => p.unit.events);
    this.bodies = prepared.flatMap((p) => p.bodies);
    if (this.bodies.some((b) => b.includes('\n'))) {
      throw new WardenError('INTERNAL', 'an event body is not canonical JSON: it holds a raw newline');
    }
    const one = this.chunks(0, this.bodies.length).length === 1;
    this.#whole = one ? this.#text(0, this.bodies.length) : undefined;
  }

  /** The statements events [from, to) are written in: [start, end) ranges of bounded size. */
  chunks(from: number, to: number): [number, number][] {
    const ranges: [number, number][] = [];
    for (let start = from; start < to; ) {
      let end = start;
      for (let chars = 0; end < to && (end === start || chars < MAX_STATEMENT_BODY_CHARS); end++) {
        chars += (this.bodies[end] as string).length;
      }
      ranges.push([start, end]);
      start = end;
    }
    return ranges;
  }

  /** Events [from, to) as the append statement takes them. */
  text(from: number, to: number): PayloadText {
    if (this.#whole && from === 0 && to === this.bodies.length) return this.#whole;
    return this.#text(from, to);
  }

  #text(from: number, to: number): PayloadText {
    return {
      bodies: this.bodies.slice(from, to).join('\n'),
      columns: JSON.stringify(this.events.slice(from, to).map(eventColumns)),
    };
  }
}

/** The query columns of one event under the record's short names (see EVENT_COLUMNS_RECORD). */
function eventColumns(e: AuditEvent) {
  const c = postgresColumnValues(e);
  return {
    ts: c.ts ?? undefined,
    ty: c.type ?? undefined,
    ac: c.actor ?? undefined,
    ag: c.agent ?? undefined,
    se: c.session ?? undefined,
    tl: c.tool ?? undefined,
    ci: c.call_id ?? undefined,
    ef: c.effect ?? undefined,
    ru: c.rule_id ?? undefined,
    tr: c.triggered_by ?? undefined,
    ap: c.approvers ?? undefined,
    ev: c.event_id ?? undefined,
  };
}

/** The query columns PostgreSQL stores for an event: what the INSERT writes and deep verification expects. */
export function postgresColumnValues(e: AuditEvent): EventQueryValues {
  return eventQueryColumns(e, (v) => columnText(v) as string);
}

/**
 * A string as PostgreSQL text and json can hold it: U+0000 (which text cannot hold) and lone surrogates
 * (which UTF-8 cannot encode) become U+FFFD. Query values go through the same function, so they still
 * match. The body keeps the exact string, escaped.
 */
export function columnText(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v;
  return s.isWellFormed() ? s : s.toWellFormed();
}
