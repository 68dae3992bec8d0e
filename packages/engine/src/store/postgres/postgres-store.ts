import type {
  ApprovalRecord,
  AuditEvent,
  BudgetCounter,
  ChainedRow,
  ChainHead,
  ReservationRecord,
  ReserveOutcome,
  SignedCheckpoint,
} from '@warden/core';
import { isWardenError, type WardenError } from '@warden/core';
import { type AuditQuery, EQUALITY_FILTERS, encodeCursor, seqBound } from '../audit-query.js';
import { prepareUnits } from '../commit-plan.js';
import { type ColumnValue, EVENT_QUERY_COLUMNS } from '../event-columns.js';
import {
  numbered,
  PEOPLE_BY_EMAIL_SQL,
  PERSON_BY_EMAIL_SQL,
  PERSON_BY_NAME_SQL,
  PERSON_SQL,
  type PersonRecord,
  type PersonRow,
  toPerson,
} from '../people-rows.js';
import { addPostgresRollups, rollupCells, rollupSelect } from '../rollups/postgres-rollups.js';
import type { RollupCell, RollupQuery } from '../rollups/rollup.js';
import type { RollupRow } from '../rollups/rollup-sums.js';
import {
  API_KEY_COLUMNS,
  type ApiKeyRow,
  foundCall,
  POLICY_VERSION_COLUMNS,
  type PolicyVersionRow,
  type SessionRow,
  toApiKey,
  toPolicyVersion,
  toRecord,
  toSession,
  toSessionUsage,
  type UsageRow,
} from '../row-mapping.js';
import { decodeSessionCursor, SESSION_FILTERS, toSessionPage } from '../session-query.js';
import type {
  ApiKeyRecord,
  ApprovalPage,
  ApprovalQuery,
  AuditPage,
  BudgetCounterQuery,
  CommitOutcome,
  CommitResult,
  CommitUnit,
  FoundCall,
  GrantQuery,
  GrantRecord,
  LegalHold,
  NotificationRecord,
  PolicyVersionRecord,
  SessionPage,
  SessionQuery,
  SessionRecord,
  SessionUsage,
  StateCounts,
  Store,
  StoredColumnsRow,
} from '../store.js';
import {
  type CommitDoubt,
  commitInDoubt,
  markCommitInDoubt,
  nameCallEnd,
  toStoreError,
} from '../store-errors.js';
import * as approvals from './postgres-approvals.js';
import * as budgets from './postgres-budgets.js';
import { commitUnits } from './postgres-commit.js';
import { PostgresDriver, type PostgresPoolOptions, redactUrl } from './postgres-driver.js';
import { columnText, EventPayload, postgresColumnValues } from './postgres-event-payload.js';
import { PostgresListener } from './postgres-listener.js';
import { migratePostgres } from './postgres-migrations.js';
import { PartitionsAhead } from './postgres-partitions-ahead.js';

/**
 * Opens a PostgreSQL store and brings its schema up to date. Many Warden instances may share the database
 * and open it at once. Throws STORE_UNAVAILABLE when the server cannot be reached.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresPoolOptions = {},
): Promise<PostgresStore> {
  const location = redactUrl(url);
  const driver = new PostgresDriver(url, options);
  try {
    const client = await driver.connect();
    try {
      await migratePostgres(client);
      client.release();
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
  } catch (err) {
    await driver.end().catch(() => {});
    throw toStoreError(err, `opening ${location}`);
  }
  const store = new PostgresStore(driver, location, new PostgresListener(url));
  await store.partitions.before([]);
  return store;
}

type Row = ChainedRow;

/** The shared store: one PostgreSQL database behind a connection pool, written by any number of instances. */
/**
 * A call's events, through audit_calls. Its only indexes are the partial unique ones, so each branch
 * names the type its index covers (a bare `call_id = $1` scanned the whole table on every completion);
 * LATERAL: a nested loop probing (seq, ts) per row, whatever the plan cached for the statement. Exported
 * for its plan test.
 */
export const FIND_CALL_SQL = `
SELECT e.seq, e.prev, e.hash, e.body, e.type FROM (
    SELECT seq, ts FROM audit_calls WHERE call_id = $1 AND type = 'call.decided'
    UNION ALL
    SELECT seq, ts FROM audit_calls WHERE call_id = $1 AND type IN ('call.completed', 'call.voided')
  ) c
  CROSS JOIN LATERAL (
    SELECT seq, prev, hash, body, type FROM audit_events WHERE seq = c.seq AND ts = c.ts
    UNION ALL
    -- A row without a ts (a range partition cannot hold one) is in the default partition.
    SELECT seq, prev, hash, body, type FROM audit_events_default WHERE c.ts IS NULL AND seq = c.seq AND ts IS NULL
  ) e`;

export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly location: string;
  /** Present when the store was opened with a listener, as openPostgresStore always opens it. */
  readonly watch?: (fn: () => void) => Promise<() => void>;
  readonly #db: PostgresDriver;
  readonly #listener: PostgresListener | undefined;
  /** Creates the monthly audit partitions ahead of the events that need them. */
  readonly partitions: PartitionsAhead;
  /** The head the last commit of this instance left: the next commit links onto it before the lock. */
  #head: ChainHead | undefined;

  constructor(driver: PostgresDriver, location: string, listener?: PostgresListener) {
    this.#db = driver;
    this.partitions = new PartitionsAhead(driver);
    this.location = location;
    this.#listener = listener;
    if (listener) this.watch = (fn) => listener.watch(fn);
  }

  async commit(units: readonly CommitUnit[]): Promise<CommitResult[]> {
    const prepared = prepareUnits(units);
    const payload = new EventPayload(prepared);
    let xid: string | undefined;
    try {
      await this.partitions.before(payload.events);
      let head: ChainHead | undefined;
      const results = await this.#db.transaction('writing audit events', async (client) => {
        const committed = await commitUnits(client, prepared, payload, this.#head, (written) =>
          // Rollups: the deltas of the events chained (the units written), under the chain lock.
          addPostgresRollups(client, written),
        );
        xid = committed.xid;
        head = committed.head;
        return committed.results;
      });
      if (head) this.#head = head;
      if (units.some((u) => u.mutations?.some((m) => m.kind === 'audit.purge'))) this.partitions.forget();
      return results;
    } catch (err) {
      // COMMIT went unanswered: say which transaction it was, so its outcome can be asked for later.
      if (commitInDoubt(err) && xid !== undefined) markCommitInDoubt(err as WardenError, { xid });
      throw await nameCallEnd(err, units, (id) => this.findCall(id));
    }
  }

  async commitOutcome(doubt: CommitDoubt): Promise<CommitOutcome> {
    // No xid: the commit chained no events (it took no chain lock), so it held no decision to look for.
    if (doubt.xid === undefined) return 'unknown';
    try {
      // 'committed' promises that every later read sees what it wrote (the engine then takes a decision
      // missing from the trail as never landed: after a crash the id of a lost transaction is reused), so a
      // commit not visible yet (held back for a synchronous standby) counts as in progress.
      const rows = await this.#db.query<{ status: string | null; visible: boolean | null }>(
        'asking how a commit ended',
        'SELECT txid_status($1::bigint) AS status, pg_visible_in_snapshot($1::text::xid8, pg_current_snapshot()) AS visible',
        [doubt.xid],
      );
      const status = rows[0]?.status;
      if (status === 'in progress') return 'in-progress';
      if (status === 'committed') return rows[0]?.visible ? 'committed' : 'in-progress';
      if (status === 'aborted') return status;
      // NULL: too old for the commit log to tell; what the trail holds is the answer.
      return 'unknown';
    } catch (err) {
      // "in the future": the server restarted without ever making that transaction id durable.
      if (isWardenError(err, 'INTERNAL') && /in the future/.test(err.message)) return 'aborted';
      throw err;
    }
  }

  async head(): Promise<ChainHead> {
    const rows = await this.#db.query<ChainHead>(
      'reading the chain head',
      'SELECT seq, hash FROM audit_head WHERE id = 1',
    );
    return rows[0] as ChainHead;
  }

  async readChain(afterSeq: number, limit: number): Promise<ChainedRow[]> {
    return this.#db.query<Row>(
      'reading the chain',
      'SELECT seq, prev, hash, body FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2',
      [afterSeq, limit],
    );
  }

  async readColumns(afterSeq: number, limit: number): Promise<StoredColumnsRow[]> {
    const rows = await this.#db.query<{ seq: number; body: string } & Record<string, unknown>>(
      'reading query columns',
      `SELECT seq, body, ${EVENT_QUERY_COLUMNS.join(', ')}, approvers FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [afterSeq, limit],
    );
    return rows.map((r) => ({ seq: r.seq, body: r.body, columns: r }));
  }

  expectedColumns(event: AuditEvent): Readonly<Record<string, ColumnValue>> {
    return postgresColumnValues(event);
  }

  async queryAudit(q: AuditQuery): Promise<AuditPage> {
    const id = q.eventId;
    if (id === undefined) return this.#queryAudit(q);
    const page = await this.#queryAudit(q, (p) => `event_id = ${p}`, columnText(id));
    if (page.records.length > 0) return page;
    // Events recorded before schema 4 have no event_id (the index finds them): look for the id in their
    // bodies as text (a body holding U+0000 cannot be cast to jsonb), then keep those whose own id it is.
    // One event at most has the id, so the page is never continued.
    const needle = `"id":${JSON.stringify(id)}`;
    const legacy = await this.#queryAudit(
      { ...q, limit: 10_000 },
      (p) => `event_id IS NULL AND strpos(body, ${p}) > 0`,
      needle,
    );
    return { records: legacy.records.filter((r) => r.event.id === id).slice(0, q.limit), nextCursor: null };
  }

  /** One page of the query, with an extra condition on one more parameter. */
  async #queryAudit(q: AuditQuery, extra?: (p: string) => string, extraValue?: unknown): Promise<AuditPage> {
    const bound = seqBound(q);
    const params: unknown[] = [bound.seq];
    const where: string[] = [`seq ${bound.op} $1`];
    const add = (sql: (p: string) => string, v: unknown) => {
      params.push(v);
      where.push(sql(`$${params.length}`));
    };
    const eq = (col: string, v: string | undefined) => {
      if (v !== undefined) add((p) => `${col} = ${p}`, columnText(v));
    };
    if (q.from) add((p) => `ts >= ${p}`, q.from);
    if (q.to) add((p) => `ts < ${p}`, q.to);
    for (const [filter, col] of EQUALITY_FILTERS) eq(col, q[filter]);
    if (q.approver !== undefined) add((p) => `${p} = ANY (approvers)`, columnText(q.approver));
    if (extra) add(extra, extraValue);
    params.push(q.limit + 1);
    const sql = `SELECT seq, prev, hash, body FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq ${bound.order} LIMIT $${params.length}`;
    const rows = await this.#db.query<Row>('querying the audit trail', sql, params);
    const page = rows.slice(0, q.limit).map(toRecord);
    const last = page[page.length - 1];
    return { records: page, nextCursor: rows.length > q.limit && last ? encodeCursor(last.seq) : null };
  }

  async findCall(callId: string): Promise<FoundCall> {
    // audit_calls (schema 12) names the call's events by seq and ts, so each is read from its own
    // partition (run-time pruning on ts); prepared, as every completion asks.
    const rows = await this.#db.query<Row & { type: string }>(
      'finding a call',
      FIND_CALL_SQL,
      [columnText(callId)],
      'warden_find_call',
    );
    return foundCall(rows);
  }

  async checkpoints(range: { fromSeq?: number; toSeq?: number } = {}): Promise<SignedCheckpoint[]> {
    const rows = await this.#db.query<{ signed: string }>(
      'reading checkpoints',
      'SELECT signed FROM checkpoints WHERE seq >= $1 AND seq <= $2 ORDER BY id',
      [range.fromSeq ?? 0, range.toSeq ?? Number.MAX_SAFE_INTEGER],
    );
    return rows.map((r) => JSON.parse(r.signed) as SignedCheckpoint);
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const rows = await this.#db.query<SessionRow>(
      'reading a session',
      'SELECT * FROM sessions WHERE id = $1',
      [id],
      'warden_get_session',
    );
    return rows[0] ? toSession(rows[0]) : undefined;
  }

  async legalHolds(): Promise<LegalHold[]> {
    const rows = await this.#db.query<{ id: string; reason: string; placed_by: string; placed_at: string }>(
      'reading legal holds',
      'SELECT id, reason, placed_by, placed_at FROM legal_holds ORDER BY placed_at, n',
    );
    return rows.map((r) => ({ id: r.id, reason: r.reason, placedBy: r.placed_by, placedAt: r.placed_at }));
  }

  async publicKeys(): Promise<{ keyId: string; pem: string }[]> {
    return this.#db.query<{ keyId: string; pem: string }>(
      'reading signing keys',
      'SELECT key_id AS "keyId", pem FROM signing_keys ORDER BY registered_at, n',
    );
  }

  async apiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return this.#apiKeyWhere('hash', hash);
  }

  async apiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.#apiKeyWhere('id', id);
  }

  async person(issuer: string, subject: string): Promise<PersonRecord | undefined> {
    return this.#personWhere(PERSON_SQL, [issuer, subject]);
  }

  async personByEmail(email: string): Promise<PersonRecord | undefined> {
    return this.#personWhere(PERSON_BY_EMAIL_SQL, [email]);
  }

  async personByName(name: string): Promise<PersonRecord | undefined> {
    return this.#personWhere(PERSON_BY_NAME_SQL, [name]);
  }

  async peopleByEmail(email: string): Promise<PersonRecord[]> {
    const rows = await this.#db.query<PersonRow>('reading people', numbered(PEOPLE_BY_EMAIL_SQL), [
      columnText(email),
    ]);
    return rows.map(toPerson);
  }

  async #personWhere(sql: string, values: string[]): Promise<PersonRecord | undefined> {
    const rows = await this.#db.query<PersonRow>('reading a person', numbered(sql), values.map(columnText));
    return rows[0] ? toPerson(rows[0]) : undefined;
  }

  async apiKeys(): Promise<ApiKeyRecord[]> {
    const rows = await this.#db.query<ApiKeyRow>(
      'reading API keys',
      `SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, n`,
    );
    return rows.map(toApiKey);
  }

  async currentPolicy(): Promise<PolicyVersionRecord | undefined> {
    return (await this.policyHistory(1))[0];
  }

  async policyHistory(limit: number): Promise<PolicyVersionRecord[]> {
    const rows = await this.#db.query<PolicyVersionRow>(
      'reading stored policies',
      `SELECT ${POLICY_VERSION_COLUMNS} FROM policy_versions ORDER BY n DESC LIMIT $1`,
      [limit],
    );
    return rows.map(toPolicyVersion);
  }

  async listSessions(q: SessionQuery): Promise<SessionPage> {
    const params: unknown[] = [];
    const where: string[] = [];
    const add = (sql: (p: string) => string, v: unknown) => {
      params.push(v);
      where.push(sql(`$${params.length}`));
    };
    for (const [filter, col] of SESSION_FILTERS) {
      if (q[filter] !== undefined) add((p) => `${col} = ${p}`, columnText(q[filter]));
    }
    if (q.cursor !== undefined) {
      const after = decodeSessionCursor(q.cursor);
      params.push(columnText(after.updatedAt), columnText(after.id));
      where.push(`(updated_at, id) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(q.limit + 1);
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const sql = `SELECT * FROM sessions ${filter} ORDER BY updated_at DESC, id DESC LIMIT $${params.length}`;
    const rows = await this.#db.query<SessionRow>('listing sessions', sql, params);
    return toSessionPage(rows, q.limit);
  }

  async sessionUsage(id: string): Promise<SessionUsage> {
    // One statement, so the counts and the completions come from one snapshot. Bodies are summed in JS:
    // a body holding U+0000 cannot be cast to jsonb.
    const rows = await this.#db.query<UsageRow>(
      'reading session usage',
      `SELECT 'call.decided' AS type, effect, count(*) AS n, NULL AS body FROM audit_events
         WHERE session = $1 AND type = 'call.decided' GROUP BY effect
       UNION ALL
       SELECT 'call.completed', NULL, 1, body FROM audit_events WHERE session = $1 AND type = 'call.completed'`,
      [columnText(id)],
    );
    return toSessionUsage(rows);
  }

  async rollups(q: RollupQuery): Promise<RollupCell[]> {
    const { sql, params } = rollupSelect(q);
    return rollupCells(await this.#db.query<RollupRow>('reading rollups', sql, params));
  }

  async oldestEvent(): Promise<{ seq: number; ts: string } | undefined> {
    const rows = await this.#db.query<{ seq: number; ts: string }>(
      'reading the oldest event',
      'SELECT seq, ts FROM audit_events ORDER BY seq LIMIT 1',
    );
    return rows[0];
  }

  async lastSeqBefore(before: string): Promise<number> {
    const rows = await this.#db.query<{ s: number }>(
      'finding events to purge',
      `SELECT coalesce((SELECT min(seq) FROM audit_events WHERE ts >= $1) - 1, (SELECT seq FROM audit_head WHERE id = 1)) AS s`,
      [before],
    );
    return (rows[0] as { s: number }).s;
  }

  async ping(): Promise<void> {
    await this.#db.query('checking the database', 'SELECT 1');
  }

  async approval(id: string): Promise<ApprovalRecord | undefined> {
    return approvals.readApproval(this.#db, 'id', id);
  }

  async approvalByCall(callId: string): Promise<ApprovalRecord | undefined> {
    return approvals.readApproval(this.#db, 'call_id', callId);
  }

  async listApprovals(q: ApprovalQuery): Promise<ApprovalPage> {
    return approvals.listApprovals(this.#db, q);
  }

  async dueApprovals(now: string, limit: number): Promise<ApprovalRecord[]> {
    return approvals.dueApprovals(this.#db, now, limit);
  }

  async pendingApprovals(): Promise<number> {
    return approvals.pendingApprovals(this.#db);
  }

  async finishedState(before: string): Promise<StateCounts> {
    return approvals.countFinished(this.#db, before);
  }

  async grant(id: string): Promise<GrantRecord | undefined> {
    return approvals.readGrant(this.#db, id);
  }

  async listGrants(q: GrantQuery): Promise<GrantRecord[]> {
    return approvals.listGrants(this.#db, q);
  }

  async claimNotifications(
    owner: string,
    now: string,
    leaseUntil: string,
    limit: number,
    targets: readonly string[],
  ): Promise<NotificationRecord[]> {
    return approvals.claimNotifications(this.#db, owner, now, leaseUntil, limit, targets);
  }

  async reserve(r: ReservationRecord): Promise<ReserveOutcome> {
    return budgets.reserve(this.#db, r);
  }

  async reservation(id: string): Promise<ReservationRecord | undefined> {
    return budgets.readReservation(this.#db, id);
  }

  async expiredReservations(now: string, limit: number): Promise<ReservationRecord[]> {
    return budgets.expiredReservations(this.#db, now, limit);
  }

  async budgetCounters(q: BudgetCounterQuery): Promise<BudgetCounter[]> {
    return budgets.budgetCounters(this.#db, q);
  }

  async ledgerTotals(keys?: readonly string[]): Promise<Map<string, number>> {
    return budgets.ledgerTotals(this.#db, keys);
  }

  async close(): Promise<void> {
    await this.#listener?.close();
    await this.#db.end();
  }

  async #apiKeyWhere(col: 'id' | 'hash', value: string): Promise<ApiKeyRecord | undefined> {
    const rows = await this.#db.query<ApiKeyRow>(
      'reading an API key',
      `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE ${col} = $1`,
      // An id from a URL may hold U+0000, which text cannot: it then finds nothing rather than failing.
      [columnText(value)],
    );
    return rows[0] ? toApiKey(rows[0]) : undefined;
  }
}
