import { hash } from 'node:crypto';
import { canonicalJson } from '../canonical/canonical-json.js';
import type { AuditEvent, ChainedRow } from './audit-event.js';

/** The `prev` of the first event ever written. */
export const GENESIS_HASH = '0'.repeat(64);

/** The last link of a chain: the next event gets `seq + 1` and `prev = hash`. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** The head of an empty chain. */
export const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS_HASH };

/**
 * The hash of one link: SHA-256 over its sequence number, the previous hash and the canonical body.
 * Covering `seq` makes a renumbered, swapped or re-inserted event detectable; covering `prev` makes
 * every hash depend on the whole history before it.
 */
export function linkHash(seq: number, prev: string, body: string): string {
  return sha256Hex(`${seq}\n${prev}\n${body}`);
}

/** Hex SHA-256 of a string's UTF-8 bytes (one-shot: the fastest form Node offers). */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

/** Chains `events` onto `head`, returning the rows to store and the new head. Pure. */
export function chainEvents(
  head: ChainHead,
  events: readonly AuditEvent[],
): { rows: ChainedRow[]; head: ChainHead } {
  const rows: ChainedRow[] = [];
  let { seq, hash: prev } = head;
  for (const event of events) {
    seq += 1;
    const body = canonicalJson(event);
    const h = linkHash(seq, prev, body);
    rows.push({ seq, prev, hash: h, body });
    prev = h;
  }
  return { rows, head: { seq, hash: prev } };
}
