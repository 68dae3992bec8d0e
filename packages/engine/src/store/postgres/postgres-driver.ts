import { isWardenError, WardenError } from '@warden/core';
import pg from 'pg';
import { markCommitInDoubt, toStoreError } from '../store-errors.js';

/** How long to wait for a connection (new or from the pool) before reporting the store unavailable. */
const CONNECT_TIMEOUT_MS = 3_000;
/** Server-side cap on one statement; generous, as an audit query may scan a large table. */
const STATEMENT_TIMEOUT_MS = 30_000;
/** Cap on waiting for a lock: a commit queued behind a stuck holder of the chain lock fails closed. */
const LOCK_TIMEOUT_MS = 10_000;
/** Client-side cap, for a server that stops answering without closing the connection. */
const QUERY_TIMEOUT_MS = 35_000;
/** A process that freezes inside a transaction loses its session, and with it the chain lock. */
const IDLE_IN_TRANSACTION_MS = 10_000;
/** A deadlock victim rolled back completely, so running its transaction again is safe. */
const DEADLOCK = '40P01';
const DEADLOCK_ATTEMPTS = 3;
const INT8_OID = 20;

/** Connection settings of a pool: pool size and the timeouts that keep every call bounded. */
export interface PostgresPoolOptions {
  readonly poolSize?: number;
}

/**
 * The one place that talks to pg: a pool whose connections come back after an outage on their own,
 * queries and transactions whose every failure is a WardenError, and clients that are destroyed rather
 * than reused when their connection state is unknown.
 */
export class PostgresDriver {
  readonly #pool: pg.Pool;
  #ended = false;

  constructor(url: string, options: PostgresPoolOptions = {}) {
    this.#pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      lock_timeout: LOCK_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
      keepAlive: true,
      application_name: 'warden',
      // A statement is sent without waiting for the replies to those before it (each has its own Sync), so
      // a commit's BEGIN, state changes and append travel together; a caller that awaits each statement
      // sees no difference.
      pipeline: true,
      // seq, ids and counts are bigint; every value Warden stores fits a double exactly.
      types: {
        getTypeParser: (oid, format) =>
          oid === INT8_OID && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format),
      },
    });
    // An idle client whose server went away is removed by the pool; the next query reconnects. Without a
    // listener the 'error' event would crash the process.
    this.#pool.on('error', () => {});
    // The pool listens for errors only while a client is idle; one breaking inside a transaction, between
    // two queries, must not crash the process either: its next query fails and it is destroyed.
    this.#pool.on('connect', (client) => client.on('error', () => {}));
  }

  /**
   * Runs one statement on any pooled connection. A `name` prepares it once per connection (parse and
   * plan once, not per call): for the statements of the hot path.
   */
  async query<R extends pg.QueryResultRow>(
    doing: string,
    sql: string,
    params?: unknown[],
    name?: string,
  ): Promise<R[]> {
    try {
      if (name !== undefined) return (await this.#pool.query<R>({ name, text: sql, values: params })).rows;
      return (await this.#pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw toStoreError(err, doing);
    }
  }

  /**
   * Runs `fn` in one transaction on one connection and commits; on any failure rolls back and throws a
   * WardenError. A deadlock victim is run again (the whole of `fn`, so it must build its state inside).
   * When COMMIT itself fails the transaction may have landed: that failure is STORE_UNAVAILABLE marked
   * in doubt (commitInDoubt), whatever the driver said.
   */
  async transaction<T>(doing: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once(fn);
      } catch (err) {
        if (err instanceof CommitUnacknowledged) throw inDoubt(err.cause, doing);
        if (attempt < DEADLOCK_ATTEMPTS && (err as { code?: unknown })?.code === DEADLOCK) continue;
        throw toStoreError(err, doing);
      }
    }
  }

  /** Checks a client out for work outside a transaction wrapper (migrations); the caller releases it. */
  async connect(): Promise<pg.PoolClient> {
    return this.#pool.connect();
  }

  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#pool.end();
  }

  async #once<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      // Sent, not awaited: the transaction's first statements follow it on the wire (pipeline), and a
      // failed BEGIN fails them too. Awaited before COMMIT so its error is not lost.
      const begun = client.query('BEGIN');
      begun.catch(() => {});
      const result = await fn(client);
      await begun;
      try {
        await client.query('COMMIT');
      } catch (err) {
        // The server may have made the commit durable and lost only the reply (stopped, connection cut):
        // the connection's state is unknown, so it is destroyed, not rolled back.
        client.release(err instanceof Error ? err : new Error(String(err)));
        throw new CommitUnacknowledged(err);
      }
      client.release();
      return result;
    } catch (err) {
      if (!(err instanceof CommitUnacknowledged)) await rollback(client, err);
      throw err;
    }
  }
}

/** COMMIT was sent and failed: the transaction may or may not have landed. */
class CommitUnacknowledged extends Error {
  constructor(cause: unknown) {
    super('COMMIT was not acknowledged', { cause });
  }
}

function inDoubt(cause: unknown, doing: string): WardenError {
  const e = cause as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(cause);
  const err = new WardenError(
    'STORE_UNAVAILABLE',
    `the database did not acknowledge the commit while ${doing} (it may have landed): ${message}`,
    { driverCode: typeof e?.code === 'string' ? e.code : '' },
  );
  return markCommitInDoubt(err, {});
}

/**
 * Rolls back and returns the client to the pool when its connection is known to be in step (the server
 * reported the error, or Warden refused something); destroys it otherwise, e.g. after a client-side
 * timeout, when a late reply could still arrive.
 */
async function rollback(client: pg.PoolClient, cause: unknown): Promise<void> {
  if (!(cause instanceof pg.DatabaseError) && !isWardenError(cause)) {
    client.release(cause instanceof Error ? cause : new Error(String(cause)));
    return;
  }
  try {
    await client.query('ROLLBACK');
    client.release();
  } catch (err) {
    client.release(err as Error);
  }
}

/** The URL without its password (in the authority or as a `password` parameter): safe to print. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    parsed.searchParams.delete('password');
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1@').replace(/([?&]password=)[^&]*/i, '$1***');
  }
}
