import { type AuditQuery, type AuditQueryInput, AuditQuerySchema } from '@warden/api';
import { WardenError } from '@warden/core';

/** Filters for an audit query; every one narrows. The same schema backs the CLI, the API (see @warden/api) and the store. */
export { type AuditQuery, type AuditQueryInput, AuditQuerySchema };

/** Validates a query, throwing QUERY_INVALID with every problem named. */
export function parseAuditQuery(input: unknown): AuditQuery {
  const parsed = AuditQuerySchema.safeParse(input);
  if (parsed.success) {
    const q = parsed.data;
    if (q.from && q.to && Date.parse(q.from) >= Date.parse(q.to)) {
      throw new WardenError('QUERY_INVALID', `from (${q.from}) must be before to (${q.to})`);
    }
    if (q.cursor !== undefined) decodeCursor(q.cursor);
    return { ...q, ...(q.from ? { from: isoUtc(q.from) } : {}), ...(q.to ? { to: isoUtc(q.to) } : {}) };
  }
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`);
  throw new WardenError('QUERY_INVALID', `invalid audit query: ${problems.join('; ')}`, { problems });
}

/** Times are stored as UTC ISO strings with milliseconds, so string comparison is time order. */
function isoUtc(t: string): string {
  return new Date(t).toISOString();
}

/**
 * Equality filters and the query column each one reads, the same in both dialects: a filter added here
 * is served by every store.
 */
export const EQUALITY_FILTERS = [
  ['type', 'type'],
  ['agent', 'agent'],
  ['session', 'session'],
  ['tool', 'tool'],
  ['callId', 'call_id'],
  ['decision', 'effect'],
  ['rule', 'rule_id'],
  ['triggeredBy', 'triggered_by'],
  ['actor', 'actor'],
] as const satisfies readonly (readonly [keyof AuditQuery, string])[];

/** The condition on seq a page starts from: after the cursor (oldest first) or before it (newest first). */
export function seqBound(q: AuditQuery): { op: '>' | '<'; seq: number; order: 'ASC' | 'DESC' } {
  const desc = q.order === 'desc';
  const seq = q.cursor ? decodeCursor(q.cursor) : desc ? Number.MAX_SAFE_INTEGER : 0;
  return { op: desc ? '<' : '>', seq, order: desc ? 'DESC' : 'ASC' };
}

/** Cursors are opaque to callers: the last sequence number seen, base64url-encoded. */
export function encodeCursor(seq: number): string {
  return Buffer.from(`seq:${seq}`).toString('base64url');
}

/** The sequence number a cursor continues after; QUERY_INVALID when it was not made by encodeCursor. */
export function decodeCursor(cursor: string): number {
  const m = /^seq:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m)
    throw new WardenError('QUERY_INVALID', 'cursor is not one Warden returned; pass nextCursor back as is');
  return Number(m[1]);
}
