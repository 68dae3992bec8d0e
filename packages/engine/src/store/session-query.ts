import { WardenError } from '@warden/core';
import { type SessionRow, toSession } from './row-mapping.js';
import type { SessionPage, SessionQuery } from './store.js';

/**
 * Filters of a session listing and the sessions column each one reads, the same in both dialects: a
 * filter added here is served by every store.
 */
export const SESSION_FILTERS = [
  ['state', 'state'],
  ['agent', 'agent'],
] as const satisfies readonly (readonly [keyof SessionQuery, string])[];

/** Where a listing continues: after this session in (updated_at DESC, id DESC) order. */
export interface SessionCursor {
  readonly updatedAt: string;
  readonly id: string;
}

const PREFIX = 'session:';

/**
 * Cursors are opaque to callers: the sort key of the last session seen, base64url-encoded. JSON keeps
 * any id intact (it escapes U+0000 and lone surrogates).
 */
export function encodeSessionCursor(s: SessionCursor): string {
  return Buffer.from(PREFIX + JSON.stringify([s.updatedAt, s.id])).toString('base64url');
}

/** The session a cursor continues after; QUERY_INVALID when it was not made by encodeSessionCursor. */
export function decodeSessionCursor(cursor: string): SessionCursor {
  const text = Buffer.from(cursor, 'base64url').toString();
  const key = text.startsWith(PREFIX) ? parseKey(text.slice(PREFIX.length)) : undefined;
  if (!key) {
    throw new WardenError('QUERY_INVALID', 'cursor is not one Warden returned; pass nextCursor back as is');
  }
  return key;
}

function parseKey(json: string): SessionCursor | undefined {
  try {
    const v: unknown = JSON.parse(json);
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string')) {
      return { updatedAt: v[0] as string, id: v[1] as string };
    }
  } catch {
    // Not JSON: reported as a malformed cursor by the caller.
  }
  return undefined;
}

/** A page from up to limit + 1 rows: the extra row only says that another page follows. */
export function toSessionPage(rows: readonly SessionRow[], limit: number): SessionPage {
  const sessions = rows.slice(0, limit).map(toSession);
  const last = sessions[sessions.length - 1];
  return {
    sessions,
    nextCursor: rows.length > limit && last ? encodeSessionCursor(last) : null,
  };
}
