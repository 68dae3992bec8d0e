import { type ChainedRow, type ChainHead, type SignedCheckpoint, WardenError } from '@warden/core';
import type pg from 'pg';
import { linkBodies } from '../commit-plan.js';
import {
  EVENT_COLUMN_NAMES,
  EVENT_COLUMNS_RECORD,
  type EventPayload,
  type PayloadText,
} from './postgres-event-payload.js';

/** The chain head as locked, with the id of the transaction holding the lock. */
export interface LockedHead extends ChainHead {
  /** txid_current(), read in the same round trip: what to ask pg_xact_status if COMMIT goes unanswered. */
  readonly xid: string;
}

/**
 * Takes the chain lock: the one audit_head row, locked until the transaction ends. Every instance's
 * commit queues here, which makes one total order; the row it returns is the latest committed head.
 */
export async function lockChainHead(client: pg.ClientBase): Promise<LockedHead> {
  const r = await client.query<LockedHead>(
    'SELECT seq, hash, txid_current()::text AS xid FROM audit_head WHERE id = 1 FOR UPDATE',
  );
  const head = r.rows[0];
  if (!head)
    throw new WardenError('STORE_INVALID', 'the audit_head row is missing: the schema was tampered with');
  return { seq: head.seq, hash: head.hash, xid: head.xid };
}

/** The last checkpoint of the chain of checkpoints; read under the chain lock, so it is the latest. */
export async function lastCheckpoint(client: pg.ClientBase): Promise<SignedCheckpoint | undefined> {
  const r = await client.query<{ signed: string }>(
    "SELECT signed FROM checkpoints WHERE kind <> 'seal' ORDER BY id DESC LIMIT 1",
  );
  const row = r.rows[0];
  return row ? (JSON.parse(row.signed) as SignedCheckpoint) : undefined;
}

// Bodies travel newline-separated (canonical JSON never holds a raw newline) and hashes space-separated:
// splitting one text is far cheaper for the server than parsing a text[] literal of escaped JSON.
const APPEND_SQL = `
WITH appended AS (
  INSERT INTO audit_events (seq, prev, hash, body, ${EVENT_COLUMN_NAMES})
  SELECT $1::bigint + r.n - 1, r.prev, r.hash, r.body, ${EVENT_COLUMN_NAMES}
  FROM ROWS FROM (
    unnest(string_to_array($2::text, ' ')),
    unnest(string_to_array($3::text, ' ')),
    unnest(string_to_array($4::text, chr(10))),
    json_to_recordset($5::json) AS (${EVENT_COLUMNS_RECORD})
  ) WITH ORDINALITY AS r(prev, hash, body, ${EVENT_COLUMN_NAMES}, n)
), signed AS (
  INSERT INTO checkpoints (seq, kind, signed)
  SELECT c.seq, c.kind, c.signed FROM unnest($6::bigint[], $7::text[], $8::text[]) WITH ORDINALITY AS c(seq, kind, signed, n)
  ORDER BY c.n
)
UPDATE audit_head SET seq = $9, hash = $10 WHERE id = 1`;

/**
 * The events and checkpoints of one commit, linked onto the head under the chain lock and written in one
 * statement (several only for a batch of unusual size, or around a purge), which also moves audit_head.
 */
export class ChainAppend {
  /** Moves forward as events are linked. */
  readonly head: { seq: number; hash: string };
  readonly #payload: EventPayload;
  /** Linked but not yet written, starting at payload index #written. */
  #rows: ChainedRow[] = [];
  #written = 0;
  #checkpoints: SignedCheckpoint[] = [];

  constructor(head: { seq: number; hash: string }, payload: EventPayload) {
    this.head = { ...head };
    this.#payload = payload;
  }

  /** Links the next `count` bodies of the payload onto the head; they are written at the next flush. */
  append(count: number): ChainedRow[] {
    const from = this.#written + this.#rows.length;
    const rows = linkBodies(this.head, this.#payload.bodies.slice(from, from + count));
    this.#rows.push(...rows);
    return rows;
  }

  addCheckpoint(cp: SignedCheckpoint): void {
    this.#checkpoints.push(cp);
  }

  /** Writes everything linked since the last flush. */
  async flush(client: pg.ClientBase): Promise<void> {
    if (this.#rows.length === 0 && this.#checkpoints.length === 0) return;
    const from = this.#written;
    const to = from + this.#rows.length;
    const chunks = this.#payload.chunks(from, to);
    if (chunks.length === 0) chunks.push([from, to]);
    for (const [start, end] of chunks) await this.#write(client, start, end, end === to);
    this.#written = to;
    this.#rows = [];
    this.#checkpoints = [];
  }

  async #write(client: pg.ClientBase, start: number, end: number, last: boolean): Promise<void> {
    const rows = this.#rows.slice(start - this.#written, end - this.#written);
    const cps = last ? this.#checkpoints : [];
    const to = last ? this.head : (rows[rows.length - 1] as ChainedRow);
    const text = this.#payload.text(start, end);
    await client.query(APPEND_SQL, [
      rows[0]?.seq ?? 0,
      rows.map((r) => r.prev).join(' '),
      rows.map((r) => r.hash).join(' '),
      text.bodies,
      text.columns,
      cps.map((c) => c.seq),
      cps.map((c) => c.kind),
      cps.map((c) => JSON.stringify(c)),
      to.seq,
      to.hash,
    ]);
  }
}

/** What warden_append did: wrote the rows linked onto the expected head, or found another head (locked). */
export type LinkedAppend =
  | { readonly written: true; readonly rows: ChainedRow[]; readonly to: ChainHead; readonly xid: string }
  | { readonly written: false; readonly head: ChainHead; readonly xid: string };

/**
 * Links the payload onto `expected` (outside the lock) and asks warden_append (schema 12) to lock the
 * head and, if it is `expected`, write the rows and move the head, all in one prepared statement. The
 * statement is sent before this returns, so a caller may send it behind others without waiting for them.
 */
export function appendLinked(
  client: pg.ClientBase,
  expected: ChainHead,
  payload: EventPayload,
  text: PayloadText,
  announce: boolean,
): Promise<LinkedAppend> {
  const to = { seq: expected.seq, hash: expected.hash };
  const rows = expected.seq < 0 ? [] : linkBodies(to, payload.bodies);
  const reply = client.query<{ seq: number; hash: string; xid: string; appended: boolean }>({
    name: 'warden_append',
    text: 'SELECT seq, hash, xid, appended FROM warden_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
    values: [
      expected.seq,
      expected.hash,
      rows.map((r) => r.prev).join(' '),
      rows.map((r) => r.hash).join(' '),
      text.bodies,
      text.columns,
      [],
      [],
      [],
      to.seq,
      to.hash,
      announce,
    ],
  });
  return reply.then((r) => {
    const row = r.rows[0];
    if (!row)
      throw new WardenError('STORE_INVALID', 'warden_append returned nothing: the schema was tampered with');
    if (!row.appended || expected.seq < 0) {
      return { written: false, head: { seq: row.seq, hash: row.hash }, xid: row.xid };
    }
    return { written: true, rows, to, xid: row.xid };
  });
}
