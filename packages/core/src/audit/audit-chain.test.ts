import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../canonical/canonical-json.js';
import { chainEvents, EMPTY_HEAD, GENESIS_HASH, linkHash } from './audit-chain.js';
import type { AuditEvent } from './audit-event.js';

const event = (i: number): AuditEvent => ({
  id: `evt-${i}`,
  ts: '2025-03-01T12:00:00.000Z',
  type: 'session.created',
  actor: { kind: 'human', id: 'ana' },
  labels: { z: 'last', a: 'first' },
});
const events = Array.from({ length: 20 }, (_, i) => event(i + 1));

describe('linkHash', () => {
  it('is the SHA-256 hex of "seq \\n prev \\n body"', () => {
    const expected = createHash('sha256').update(`7\n${GENESIS_HASH}\n{"a":1}`, 'utf8').digest('hex');
    expect(linkHash(7, GENESIS_HASH, '{"a":1}')).toBe(expected);
    expect(linkHash(1, GENESIS_HASH, '{"s":"é€🙂"}')).toBe(
      createHash('sha256').update(`1\n${GENESIS_HASH}\n{"s":"é€🙂"}`).digest('hex'),
    );
  });

  it('depends on each of seq, prev and body', () => {
    const base = linkHash(5, GENESIS_HASH, '{}');
    expect(linkHash(6, GENESIS_HASH, '{}')).not.toBe(base);
    expect(linkHash(5, 'f'.repeat(64), '{}')).not.toBe(base);
    expect(linkHash(5, GENESIS_HASH, '{ }')).not.toBe(base);
  });
});

describe('chainEvents', () => {
  it('starts from genesis with seq 1 and links every row to the one before', () => {
    expect(GENESIS_HASH).toBe('0'.repeat(64));
    expect(EMPTY_HEAD).toEqual({ seq: 0, hash: GENESIS_HASH });
    const { rows, head } = chainEvents(EMPTY_HEAD, events);
    expect(rows.map((r) => r.seq)).toEqual(events.map((_, i) => i + 1));
    let prev = GENESIS_HASH;
    for (const [i, row] of rows.entries()) {
      expect(row.prev).toBe(prev);
      expect(row.body).toBe(canonicalJson(events[i]));
      expect(row.hash).toBe(linkHash(row.seq, prev, row.body));
      prev = row.hash;
    }
    expect(head).toEqual({ seq: 20, hash: prev });
  });

  it('stores the canonical body, so key order does not change the hash', () => {
    const reordered = JSON.parse(
      JSON.stringify(event(1), ['type', 'ts', 'labels', 'z', 'a', 'id', 'actor', 'kind']),
    );
    expect(Object.keys(reordered)[0]).toBe('type');
    expect(chainEvents(EMPTY_HEAD, [reordered]).rows).toEqual(chainEvents(EMPTY_HEAD, [event(1)]).rows);
  });

  it('chains in batches exactly as in one go', () => {
    const all = chainEvents(EMPTY_HEAD, events);
    const first = chainEvents(EMPTY_HEAD, events.slice(0, 7));
    const rest = chainEvents(first.head, events.slice(7));
    expect([...first.rows, ...rest.rows]).toEqual(all.rows);
    expect(rest.head).toEqual(all.head);
  });

  it('returns the head unchanged for no events', () => {
    const head = { seq: 41, hash: 'a'.repeat(64) };
    expect(chainEvents(head, [])).toEqual({ rows: [], head });
  });
});
