import { AUDIT_EVENT_TYPES, EFFECTS, WardenError } from '@warden/core';
import { z } from 'zod';

/** Filters for an audit query; every one narrows. The same schema backs the CLI, the API and the store. */
export const AuditQuerySchema = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional().meta({ description: 'Events at or after this time.' }),
  to: z.iso.datetime({ offset: true }).optional().meta({ description: 'Events before this time.' }),
  type: z.enum(AUDIT_EVENT_TYPES).optional(),
  agent: z.string().min(1).optional(),
  session: z.string().min(1).optional(),
  tool: z.string().min(1).optional(),
  callId: z.string().min(1).optional(),
  decision: z.enum(EFFECTS).optional().meta({ description: 'The effect of call.decided events.' }),
  rule: z.string().min(1).optional().meta({ description: 'The deciding rule id.' }),
  approver: z.string().min(1).optional().meta({ description: 'A human or agent among the approvers.' }),
  triggeredBy: z.string().min(1).optional(),
  actor: z.string().min(1).optional().meta({ description: 'Who did it: agent, human, service or system.' }),
  eventId: z.string().min(1).optional().meta({ description: "One event, by its id (the body's `id`)." }),
  order: z
    .enum(['asc', 'desc'])
    .optional()
    .meta({ description: 'Oldest first (chain order, the default) or newest first.' }),
  limit: z.number().int().min(1).max(10_000).default(100),
  cursor: z.string().optional().meta({ description: 'The nextCursor of the previous page.' }),
});

/** A validated query. */
export type AuditQuery = z.output<typeof AuditQuerySchema>;
/** A query as callers write it (limit optional). */
export type AuditQueryInput = z.input<typeof AuditQuerySchema>;

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
