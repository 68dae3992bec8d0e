import { WardenError } from '@warden/core';
import { toApproval } from './approval-rows.js';
import type { ApprovalPage, ApprovalQuery } from './store.js';

/**
 * Filters of an approval listing and the approvals column each one reads, the same in both dialects: a
 * filter added here is served by every store.
 */
export const APPROVAL_FILTERS = [
  ['status', 'status'],
  ['agent', 'agent'],
  ['session', 'session'],
] as const satisfies readonly (readonly [keyof ApprovalQuery, string])[];

/** Where a listing continues: after this request in (created_at DESC, id DESC) order. */
export interface ApprovalCursor {
  readonly createdAt: string;
  readonly id: string;
}

const PREFIX = 'approval:';

/** Cursors are opaque to callers: the sort key of the last request seen, as JSON, base64url-encoded. */
export function encodeApprovalCursor(a: ApprovalCursor): string {
  return Buffer.from(PREFIX + JSON.stringify([a.createdAt, a.id])).toString('base64url');
}

/** The request a cursor continues after; QUERY_INVALID when it was not made by encodeApprovalCursor. */
export function decodeApprovalCursor(cursor: string): ApprovalCursor {
  const text = Buffer.from(cursor, 'base64url').toString();
  const key = text.startsWith(PREFIX) ? parseKey(text.slice(PREFIX.length)) : undefined;
  if (!key) {
    throw new WardenError('QUERY_INVALID', 'cursor is not one Warden returned; pass nextCursor back as is');
  }
  return key;
}

function parseKey(json: string): ApprovalCursor | undefined {
  try {
    const v: unknown = JSON.parse(json);
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string')) {
      return { createdAt: v[0] as string, id: v[1] as string };
    }
  } catch {
    // Not JSON: reported as a malformed cursor by the caller.
  }
  return undefined;
}

/** A page from up to limit + 1 rows: the extra row only says that another page follows. */
export function toApprovalPage(rows: readonly { body: string }[], limit: number): ApprovalPage {
  const approvals = rows.slice(0, limit).map(toApproval);
  const last = approvals[approvals.length - 1];
  return {
    approvals,
    nextCursor: rows.length > limit && last ? encodeApprovalCursor(last) : null,
  };
}

/**
 * The due time of a pending request, as an SQL expression both dialects evaluate alike: its escalation
 * time while that is still to come and earlier than its expiry, else its expiry. `notEscalated` is the
 * dialect's test of the escalated flag.
 */
export function dueAtSql(notEscalated: string): string {
  return `CASE WHEN ${notEscalated} AND escalate_at < expires_at THEN escalate_at ELSE expires_at END`;
}
