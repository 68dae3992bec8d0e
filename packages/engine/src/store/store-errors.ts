import { isWardenError, WardenError } from '@warden/core';
import type { CommitUnit, FoundCall } from './store.js';

/** SQLite result codes that mean "the database cannot be used right now", not "the request is wrong". */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|READONLY|IOERR|CANTOPEN|FULL|PROTOCOL|NOTADB|CORRUPT)/;
/**
 * PostgreSQL SQLSTATE classes and codes with the same meaning: connection, resources, read-only, shutdown,
 * and the timeouts: 57014 (statement_timeout) and 55P03 (lock_timeout, e.g. behind a stuck chain lock).
 */
const PG_UNAVAILABLE = /^(08|53|57P|58)|^25006$|^40001$|^57014$|^55P03$/;
const NODE_NET = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN)$/;
/** pg's own errors: a lost connection, no pooled connection within connectionTimeoutMillis, query_timeout. */
const PG_CONNECTION_TEXT =
  /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect|Query read timeout/i;

/** Unique indexes whose violation is a caller mistake with its own code. */
const CONSTRAINTS: Record<string, [WardenError['code'], string]> = {
  audit_events_call_completed: ['CALL_ALREADY_COMPLETED', 'the call was already completed'],
  audit_events_call_decided: ['INTERNAL', 'a call id was decided twice'],
  // A call ends once: a second end is a completion or a void meeting the other (or a second void).
  audit_events_call_end: ['CALL_VOIDED', 'the call was already completed or voided'],
  // SQLite names the column rather than the partial index; call ids are fresh UUIDv7s, so a clash on
  // call_id can only be a second completion.
  'audit_events.call_id': ['CALL_ALREADY_COMPLETED', 'the call was already completed'],
};

/**
 * Turns a driver error into a WardenError: STORE_UNAVAILABLE when the database is down, read-only,
 * locked or full (the engine then fails closed), a specific code for known constraint violations,
 * INTERNAL otherwise. `doing` says what was attempted, for the message.
 */
export function toStoreError(err: unknown, doing: string): WardenError {
  if (isWardenError(err)) return err;
  const e = err as { code?: unknown; message?: unknown; constraint?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  for (const [name, [wcode, text]] of Object.entries(CONSTRAINTS)) {
    if (e?.constraint === name || message.includes(name)) return new WardenError(wcode, text);
  }
  if (
    SQLITE_UNAVAILABLE.test(code) ||
    PG_UNAVAILABLE.test(code) ||
    NODE_NET.test(code) ||
    PG_CONNECTION_TEXT.test(message)
  ) {
    return new WardenError('STORE_UNAVAILABLE', `the database is unavailable while ${doing}: ${message}`, {
      driverCode: code,
    });
  }
  return new WardenError('INTERNAL', `database error while ${doing}: ${message}`, { driverCode: code });
}

/**
 * A commit whose acknowledgement was lost (the connection broke during COMMIT): it may have landed or
 * not. `xid` is its PostgreSQL transaction id, for Store.commitOutcome once the database is back.
 */
/**
 * A second end of a call, named by how the call did end: the unique index cannot say (PostgreSQL's covers
 * completions and voids alike, SQLite names only the column), so the call is read back. CALL_VOIDED when
 * it was voided, CALL_ALREADY_COMPLETED when it was completed; any other error, or a call that cannot be
 * read, is returned as it is.
 */
export async function nameCallEnd(
  err: unknown,
  units: readonly CommitUnit[],
  findCall: (callId: string) => Promise<FoundCall>,
): Promise<unknown> {
  if (!isWardenError(err, 'CALL_VOIDED') && !isWardenError(err, 'CALL_ALREADY_COMPLETED')) return err;
  for (const unit of units) {
    for (const e of unit.events) {
      if ((e.type !== 'call.completed' && e.type !== 'call.voided') || !e.callId) continue;
      const found = await findCall(e.callId).catch(() => undefined);
      if (found?.voided) {
        return new WardenError(
          'CALL_VOIDED',
          `call ${e.callId} was voided (audit event ${found.voided.seq})`,
          {
            callId: e.callId,
          },
        );
      }
      if (found?.completed) {
        return new WardenError('CALL_ALREADY_COMPLETED', `call ${e.callId} was already completed`, {
          callId: e.callId,
        });
      }
    }
  }
  return err;
}

export interface CommitDoubt {
  readonly xid?: string;
}

// Kept beside the error rather than in its details, which may be shown to a caller.
const doubts = new WeakMap<object, CommitDoubt>();

/** Marks `err` as the failure of a commit whose outcome is unknown; returns it. */
export function markCommitInDoubt(err: WardenError, doubt: CommitDoubt): WardenError {
  doubts.set(err, doubt);
  return err;
}

/** The doubt `err` carries when it is the failure of a commit whose outcome is unknown. */
export function commitInDoubt(err: unknown): CommitDoubt | undefined {
  return typeof err === 'object' && err !== null ? doubts.get(err) : undefined;
}
