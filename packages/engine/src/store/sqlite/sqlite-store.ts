import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  type ApprovalRecord,
  type AuditEvent,
  type BudgetCounter,
  type ChainedRow,
  type ChainHead,
  EMPTY_HEAD,
  type ReservationRecord,
  type ReserveOutcome,
  type SignedCheckpoint,
  WardenError,
} from '@warden/core';
import Database from 'better-sqlite3';
import { type AuditQuery, EQUALITY_FILTERS, encodeCursor, seqBound } from '../audit-query.js';
import { linkBodies, makeCheckpoint, prepareUnits, purgeOf, refusedUnit } from '../commit-plan.js';
import {
  type ColumnValue,
  EVENT_QUERY_COLUMNS,
  eventQueryColumns,
  sqliteColumnValues,
  sqliteText,
} from '../event-columns.js';
import {
  PEOPLE_BY_EMAIL_SQL,
  PERSON_BY_EMAIL_SQL,
  PERSON_BY_NAME_SQL,
  PERSON_SQL,
  type PersonRecord,
  type PersonRow,
  personValues,
  toPerson,
  UPSERT_PERSON_SQL,
} from '../people-rows.js';
import type { RollupCell, RollupQuery } from '../rollups/rollup.js';
import { SqliteRollups } from '../rollups/sqlite-rollups.js';
import {
  API_KEY_COLUMNS,
  type ApiKeyRow,
  apiKeyValues,
  foundCall,
  POLICY_VERSION_COLUMNS,
  type PolicyVersionRow,
  policyVersionValues,
  refuseUnlessCurrent,
  type SessionRow,
  toApiKey,
  toPolicyVersion,
  toRecord,
  toSession,
  toSessionUsage,
  type UsageRow,
} from '../row-mapping.js';
import { sessionExists } from '../session-exists.js';
import { decodeSessionCursor, SESSION_FILTERS, toSessionPage } from '../session-query.js';
import type {
  ApiKeyRecord,
  ApprovalPage,
  ApprovalQuery,
  AuditPage,
  BudgetCounterQuery,
  CommitResult,
  CommitUnit,
  FoundCall,
  GrantQuery,
  GrantRecord,
  LegalHold,
  Mutation,
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
import { nameCallEnd, toStoreError } from '../store-errors.js';
import { SqliteApprovals } from './sqlite-approvals.js';
import { SqliteBudgets } from './sqlite-budgets.js';
import { SQLITE_MIGRATIONS, type SqliteMigration } from './sqlite-migrations.js';
import { assertSqliteRuntime } from './sqlite-runtime.js';

/** The page size of a file the store creates (see openSqliteStore). */
export const SQLITE_PAGE_SIZE = 8192;

/** How long a write waits for another process's lock before the store reports itself unavailable. */
const BUSY_TIMEOUT_MS = 2_000;

/**
 * A call's decision, completion and voiding. Each half matches its partial unique index (schema 12 and 7):
 * one lookup each, no scan (one IN list of all three types matched no index's predicate, and SQLite then
 * read every call event through the type index).
 */
export const FIND_CALL_SQL = `SELECT seq, prev, hash, body, type FROM audit_events WHERE call_id = @id AND type = 'call.decided'
   UNION ALL
   SELECT seq, prev, hash, body, type FROM audit_events WHERE call_id = @id AND type IN ('call.completed', 'call.voided')`;

/** Opens (creating if needed) a SQLite store at `path` and brings its schema up to date. */
export function openSqliteStore(path: string): SqliteStore {
  const file = path === ':memory:' ? path : resolve(path);
  try {
    assertSqliteRuntime();
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    // 8 KB pages for a new file (an existing one keeps its size): an event row is about 1.1 KB, so a 4 KB
    // page held three and left a fifth of the table empty; 8 KB pages hold seven.
    db.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before it is acknowledged, so an acknowledged event survives power loss.
    db.pragma('synchronous = FULL');
    // A 32 MB cache and rare WAL checkpoints (every ~160 MB of WAL): index pages that many commits touch
    // are copied back once, not once per commit. The WAL file is trimmed back after each one. The cache
    // and the 64 MB memory map bound what a long-running server keeps resident (a 64 MB cache and a
    // 256 MB map measured no faster, and grew a busy server past 200 MB as its file grew).
    db.pragma('cache_size = -32768');
    db.pragma('wal_autocheckpoint = 40000');
    db.pragma('journal_size_limit = 67108864');
    db.pragma('mmap_size = 67108864');
    migrateSqlite(db);
    return new SqliteStore(db, file);
  } catch (err) {
    if (err instanceof WardenError) throw err;
    throw toStoreError(err, `opening ${file}`);
  }
}

/**
 * Applies the migrations `db` has not had yet, all in one BEGIN IMMEDIATE. Tests pass a prefix of the
 * list to build a database as an older Warden left it.
 */
export function migrateSqlite(
  db: Database.Database,
  migrations: readonly SqliteMigration[] = SQLITE_MIGRATIONS,
): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS warden_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)',
  );
  db.transaction(() => {
    const done = new Set(
      (db.prepare('SELECT version FROM warden_migrations').all() as { version: number }[]).map(
        (r) => r.version,
      ),
    );
    const newest = Math.max(0, ...done);
    const known = Math.max(...migrations.map((m) => m.version));
    if (newest > known) {
      throw new WardenError(
        'STORE_INVALID',
        `the database was written by a newer Warden (schema ${newest}); upgrade Warden`,
      );
    }
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      db.exec(m.sql);
      m.backfill?.(db);
      db.prepare('INSERT INTO warden_migrations VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
    }
  }).immediate();
}

type Row = { seq: number; prev: string; hash: string; body: string };

/** The embedded store: one SQLite file in WAL mode. Writes are serialised by BEGIN IMMEDIATE. */
export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  readonly location: string;
  readonly localFile: string | undefined;
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  readonly #stmt;
  readonly #approvals: SqliteApprovals;
  readonly #budgets: SqliteBudgets;
  readonly #rollups: SqliteRollups;

  constructor(db: Database.Database, location: string) {
    this.#db = db;
    this.location = location;
    this.localFile = location === ':memory:' ? undefined : location;
    this.#approvals = new SqliteApprovals(db, (sql) => this.#prep(sql));
    this.#budgets = new SqliteBudgets(db, (sql) => this.#prep(sql));
    this.#rollups = new SqliteRollups(db);
    this.#stmt = {
      head: db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1'),
      insert: db.prepare(
        'INSERT INTO audit_events (seq, prev, hash, body, ts, type, actor, agent, session, tool, call_id, effect, rule_id, triggered_by, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      chain: db.prepare('SELECT seq, prev, hash, body FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?'),
      lastCheckpoint: db.prepare(
        "SELECT signed FROM checkpoints WHERE kind != 'seal' ORDER BY id DESC LIMIT 1",
      ),
      insertCheckpoint: db.prepare('INSERT INTO checkpoints (seq, kind, signed) VALUES (?, ?, ?)'),
      session: db.prepare('SELECT * FROM sessions WHERE id = ?'),
      findCall: db.prepare(FIND_CALL_SQL),
    };
  }

  async commit(units: readonly CommitUnit[]): Promise<CommitResult[]> {
    const prepared = prepareUnits(units);
    try {
      return this.#db
        .transaction(() => {
          const head = { ...this.#head() };
          // The units whose events are chained: a refused reservation's replacement, not the unit given.
          const chained: CommitUnit[] = [];
          const results = prepared.map((given): CommitResult => {
            // The reservation first, in this transaction: refused, the unit built for that goes instead.
            const outcome = given.unit.reserve ? this.#budgets.admit(given.unit.reserve) : undefined;
            const refused = outcome?.ok === false ? outcome : undefined;
            const { unit, bodies } = refused ? refusedUnit(given.unit, refused) : given;
            const noted = refused ? { refused } : {};
            chained.push(unit);
            // A purge deletes last, under its record and purge checkpoint (see purgeOf).
            const purge = purgeOf(unit);
            for (const m of unit.mutations ?? []) if (m !== purge) this.#apply(m);
            const rows = linkBodies(head, bodies);
            for (const [i, r] of rows.entries()) {
              const e = unit.events[i] as AuditEvent;
              this.#stmt.insert.run(r.seq, r.prev, r.hash, r.body, ...sqliteColumnValues(e));
            }
            const events = rows.map((r) => ({ seq: r.seq, hash: r.hash }));
            if (!unit.checkpoint) return { events, ...noted };
            const last = this.#lastCheckpoint();
            if (unit.checkpoint.ifBehind && (last?.seq ?? 0) >= head.seq) return { events, ...noted };
            const checkpoint = makeCheckpoint(head, last, unit.checkpoint);
            this.#stmt.insertCheckpoint.run(checkpoint.seq, checkpoint.kind, JSON.stringify(checkpoint));
            if (purge) this.#purge(purge.throughSeq, head.seq);
            return { events, checkpoint, ...noted };
          });
          // Rollups: the deltas of the events just chained, in this transaction (store/rollups/).
          this.#rollups.add(chained);
          return results;
        })
        .immediate();
    } catch (err) {
      throw await nameCallEnd(toStoreError(err, 'writing audit events'), units, (id) => this.findCall(id));
    }
  }

  async head(): Promise<ChainHead> {
    return this.#read('reading the chain head', () => this.#head());
  }

  async readChain(afterSeq: number, limit: number): Promise<ChainedRow[]> {
    return this.#read('reading the chain', () => this.#stmt.chain.all(afterSeq, limit) as Row[]);
  }

  async readColumns(afterSeq: number, limit: number): Promise<StoredColumnsRow[]> {
    const sql = `SELECT seq, body, ${EVENT_QUERY_COLUMNS.join(', ')} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`;
    const rows = this.#read(
      'reading query columns',
      () => this.#prep(sql).all(afterSeq, limit) as (Row & Record<string, unknown>)[],
    );
    return rows.map((r) => ({ seq: r.seq, body: r.body, columns: r }));
  }

  expectedColumns(event: AuditEvent): Readonly<Record<string, ColumnValue>> {
    const { approvers: _fromBody, ...columns } = eventQueryColumns(event, sqliteText);
    return columns;
  }

  async queryAudit(q: AuditQuery): Promise<AuditPage> {
    if (q.eventId === undefined) return this.#queryAudit(q);
    const page = this.#queryAudit(q, ['event_id = ?', q.eventId]);
    if (page.records.length > 0) return page;
    // Events recorded before schema 4 have no event_id (the index finds them): look in their bodies.
    return this.#queryAudit(q, ["event_id IS NULL AND json_extract(body, '$.id') = ?", q.eventId]);
  }

  /** One page of the query, with an extra condition and its parameter. */
  #queryAudit(q: AuditQuery, extra?: readonly [string, unknown]): AuditPage {
    const bound = seqBound(q);
    const where: string[] = [`seq ${bound.op} ?`];
    const params: unknown[] = [bound.seq];
    const eq = (col: string, v: string | undefined) => {
      if (v === undefined) return;
      where.push(`${col} = ?`);
      params.push(v);
    };
    const cmp = (op: string, v: string | undefined) => {
      if (v === undefined) return;
      where.push(`ts ${op} ?`);
      params.push(v);
    };
    cmp('>=', q.from);
    cmp('<', q.to);
    for (const [filter, col] of EQUALITY_FILTERS) eq(col, q[filter]);
    if (q.approver !== undefined) {
      where.push("EXISTS (SELECT 1 FROM json_each(body, '$.approvers') WHERE value = ?)");
      params.push(q.approver);
    }
    if (extra) {
      where.push(extra[0]);
      params.push(extra[1]);
    }
    const sql = `SELECT seq, prev, hash, body FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq ${bound.order} LIMIT ?`;
    const rows = this.#read(
      'querying the audit trail',
      () => this.#prep(sql).all(...params, q.limit + 1) as Row[],
    );
    const page = rows.slice(0, q.limit).map(toRecord);
    const last = page[page.length - 1];
    return { records: page, nextCursor: rows.length > q.limit && last ? encodeCursor(last.seq) : null };
  }

  async findCall(callId: string): Promise<FoundCall> {
    return foundCall(
      this.#read(
        'finding a call',
        () => this.#stmt.findCall.all({ id: callId }) as (Row & { type: string })[],
      ),
    );
  }

  async checkpoints(range: { fromSeq?: number; toSeq?: number } = {}): Promise<SignedCheckpoint[]> {
    const rows = this.#read(
      'reading checkpoints',
      () =>
        this.#db
          .prepare('SELECT signed FROM checkpoints WHERE seq >= ? AND seq <= ? ORDER BY id')
          .all(range.fromSeq ?? 0, range.toSeq ?? Number.MAX_SAFE_INTEGER) as { signed: string }[],
    );
    return rows.map((r) => JSON.parse(r.signed) as SignedCheckpoint);
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = this.#read('reading a session', () => this.#stmt.session.get(id) as SessionRow | undefined);
    return row ? toSession(row) : undefined;
  }

  async legalHolds(): Promise<LegalHold[]> {
    const rows = this.#read('reading legal holds', () =>
      this.#prep('SELECT id, reason, placed_by, placed_at FROM legal_holds ORDER BY placed_at').all(),
    ) as { id: string; reason: string; placed_by: string; placed_at: string }[];
    return rows.map((r) => ({ id: r.id, reason: r.reason, placedBy: r.placed_by, placedAt: r.placed_at }));
  }

  async publicKeys(): Promise<{ keyId: string; pem: string }[]> {
    return this.#read('reading signing keys', () =>
      this.#prep('SELECT key_id AS keyId, pem FROM signing_keys ORDER BY registered_at').all(),
    ) as { keyId: string; pem: string }[];
  }

  async apiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return this.#apiKeyWhere('hash', hash);
  }

  async apiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.#apiKeyWhere('id', id);
  }

  async person(issuer: string, subject: string): Promise<PersonRecord | undefined> {
    return this.#personWhere(PERSON_SQL, issuer, subject);
  }

  async personByEmail(email: string): Promise<PersonRecord | undefined> {
    return this.#personWhere(PERSON_BY_EMAIL_SQL, email);
  }

  async personByName(name: string): Promise<PersonRecord | undefined> {
    return this.#personWhere(PERSON_BY_NAME_SQL, name);
  }

  async peopleByEmail(email: string): Promise<PersonRecord[]> {
    const rows = this.#read('reading people', () =>
      this.#prep(PEOPLE_BY_EMAIL_SQL).all(email),
    ) as PersonRow[];
    return rows.map(toPerson);
  }

  #personWhere(sql: string, ...values: string[]): PersonRecord | undefined {
    const row = this.#read('reading a person', () => this.#prep(sql).get(...values)) as PersonRow | undefined;
    return row ? toPerson(row) : undefined;
  }

  async apiKeys(): Promise<ApiKeyRecord[]> {
    const rows = this.#read('reading API keys', () =>
      this.#prep(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, rowid`).all(),
    ) as ApiKeyRow[];
    return rows.map(toApiKey);
  }

  async currentPolicy(): Promise<PolicyVersionRecord | undefined> {
    return (await this.policyHistory(1))[0];
  }

  async policyHistory(limit: number): Promise<PolicyVersionRecord[]> {
    const rows = this.#read('reading stored policies', () =>
      this.#db
        .prepare(`SELECT ${POLICY_VERSION_COLUMNS} FROM policy_versions ORDER BY n DESC LIMIT ?`)
        .all(limit),
    ) as PolicyVersionRow[];
    return rows.map(toPolicyVersion);
  }

  async listSessions(q: SessionQuery): Promise<SessionPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [filter, col] of SESSION_FILTERS) {
      if (q[filter] === undefined) continue;
      where.push(`${col} = ?`);
      params.push(q[filter]);
    }
    if (q.cursor !== undefined) {
      const after = decodeSessionCursor(q.cursor);
      where.push('(updated_at, id) < (?, ?)');
      params.push(after.updatedAt, after.id);
    }
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const sql = `SELECT * FROM sessions ${filter} ORDER BY updated_at DESC, id DESC LIMIT ?`;
    const rows = this.#read(
      'listing sessions',
      () => this.#prep(sql).all(...params, q.limit + 1) as SessionRow[],
    );
    return toSessionPage(rows, q.limit);
  }

  async sessionUsage(id: string): Promise<SessionUsage> {
    const rows = this.#read('reading session usage', () =>
      this.#db
        .prepare(
          `SELECT 'call.decided' AS type, effect, count(*) AS n, NULL AS body FROM audit_events
             WHERE session = @session AND type = 'call.decided' GROUP BY effect
           UNION ALL
           SELECT 'call.completed', NULL, 1, body FROM audit_events WHERE session = @session AND type = 'call.completed'`,
        )
        .all({ session: id }),
    ) as UsageRow[];
    return toSessionUsage(rows);
  }

  async rollups(q: RollupQuery): Promise<RollupCell[]> {
    return this.#read('reading rollups', () => this.#rollups.read(q));
  }

  async oldestEvent(): Promise<{ seq: number; ts: string } | undefined> {
    return this.#read('reading the oldest event', () =>
      this.#prep('SELECT seq, ts FROM audit_events ORDER BY seq LIMIT 1').get(),
    ) as { seq: number; ts: string } | undefined;
  }

  async lastSeqBefore(before: string): Promise<number> {
    return this.#read('finding events to purge', () => {
      const first = this.#prep('SELECT min(seq) AS s FROM audit_events WHERE ts >= ?').get(before) as {
        s: number | null;
      };
      return first.s === null ? this.#head().seq : first.s - 1;
    });
  }

  async ping(): Promise<void> {
    this.#read('checking the database', () => this.#prep('SELECT 1').get());
  }

  async approval(id: string): Promise<ApprovalRecord | undefined> {
    return this.#read('reading an approval request', () => this.#approvals.approval('id', id));
  }

  async approvalByCall(callId: string): Promise<ApprovalRecord | undefined> {
    return this.#read('reading an approval request', () => this.#approvals.approval('call_id', callId));
  }

  async listApprovals(q: ApprovalQuery): Promise<ApprovalPage> {
    return this.#read('listing approval requests', () => this.#approvals.list(q));
  }

  async dueApprovals(now: string, limit: number): Promise<ApprovalRecord[]> {
    return this.#read('finding due approval requests', () => this.#approvals.due(now, limit));
  }

  async pendingApprovals(): Promise<number> {
    return this.#read('counting pending approval requests', () => this.#approvals.pending());
  }

  async finishedState(before: string): Promise<StateCounts> {
    return this.#read('counting finished approval state', () => this.#approvals.finished(before));
  }

  async grant(id: string): Promise<GrantRecord | undefined> {
    return this.#read('reading a grant', () => this.#approvals.grant(id));
  }

  async listGrants(q: GrantQuery): Promise<GrantRecord[]> {
    return this.#read('listing grants', () => this.#approvals.grants(q));
  }

  async claimNotifications(
    owner: string,
    now: string,
    leaseUntil: string,
    limit: number,
    targets: readonly string[],
  ): Promise<NotificationRecord[]> {
    return this.#read('claiming notifications', () =>
      this.#approvals.claim(owner, now, leaseUntil, limit, targets),
    );
  }

  async reserve(r: ReservationRecord): Promise<ReserveOutcome> {
    return this.#read('reserving budget', () => this.#budgets.reserve(r));
  }

  async reservation(id: string): Promise<ReservationRecord | undefined> {
    return this.#read('reading a budget reservation', () => this.#budgets.reservation(id));
  }

  async expiredReservations(now: string, limit: number): Promise<ReservationRecord[]> {
    return this.#read('finding expired budget reservations', () => this.#budgets.expired(now, limit));
  }

  async budgetCounters(q: BudgetCounterQuery): Promise<BudgetCounter[]> {
    return this.#read('reading budget counters', () => this.#budgets.counters(q));
  }

  async ledgerTotals(keys?: readonly string[]): Promise<Map<string, number>> {
    return this.#read('totalling the budget ledger', () => this.#budgets.ledgerTotals(keys));
  }

  async close(): Promise<void> {
    if (!this.#db.open) return;
    try {
      // Fold the WAL back into the database so the next reader starts from a compact file.
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Another connection is reading or writing; the WAL is folded in later.
    }
    this.#db.close();
  }

  #head(): ChainHead {
    const row = this.#stmt.head.get() as ChainHead | undefined;
    if (row) return row;
    // Every event purged: the chain continues from the checkpoint that anchored the purge.
    const anchor = this.#lastCheckpoint();
    return anchor ? { seq: anchor.seq, hash: anchor.hash } : EMPTY_HEAD;
  }

  #lastCheckpoint(): SignedCheckpoint | undefined {
    const row = this.#stmt.lastCheckpoint.get() as { signed: string } | undefined;
    return row ? (JSON.parse(row.signed) as SignedCheckpoint) : undefined;
  }

  #apiKeyWhere(col: 'id' | 'hash', value: string): ApiKeyRecord | undefined {
    const row = this.#read('reading an API key', () =>
      this.#prep(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE ${col} = ?`).get(value),
    ) as ApiKeyRow | undefined;
    return row ? toApiKey(row) : undefined;
  }

  /** A prepared statement, compiled once per distinct SQL text (compiling costs more than running). */
  #prep(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  #read<T>(doing: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw toStoreError(err, doing);
    }
  }

  #apply(m: Mutation): void {
    const db = this.#db;
    switch (m.kind) {
      case 'session.ensure': {
        const s = m.session;
        const inserted = this.#prep(
          'INSERT INTO sessions (id, agent, state, state_reason, triggered_by, delegation_chain, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
        ).run(
          s.id,
          s.agent,
          s.state,
          s.stateReason,
          s.triggeredBy,
          JSON.stringify(s.delegationChain),
          s.createdAt,
          s.updatedAt,
        );
        if (m.onlyIfNew && inserted.changes === 0) throw sessionExists(s.id);
        return;
      }
      case 'session.state': {
        const row = this.#stmt.session.get(m.id) as SessionRow | undefined;
        if (!row) throw new WardenError('SESSION_NOT_FOUND', `no session has id ${m.id}`);
        if (!m.from.includes(row.state)) {
          throw new WardenError(
            'SESSION_STATE',
            `session ${m.id} is ${row.state}; cannot make it ${m.state}`,
          );
        }
        this.#prep('UPDATE sessions SET state = ?, state_reason = ?, updated_at = ? WHERE id = ?').run(
          m.state,
          m.reason,
          m.ts,
          m.id,
        );
        return;
      }
      case 'legal_hold.place':
        this.#prep('INSERT INTO legal_holds (id, reason, placed_by, placed_at) VALUES (?, ?, ?, ?)').run(
          m.hold.id,
          m.hold.reason,
          m.hold.placedBy,
          m.hold.placedAt,
        );
        return;
      case 'legal_hold.release': {
        const r = this.#prep('DELETE FROM legal_holds WHERE id = ?').run(m.id);
        if (r.changes === 0) throw new WardenError('QUERY_INVALID', `no legal hold has id ${m.id}`);
        return;
      }
      case 'key.register':
        this.#prep(
          'INSERT INTO signing_keys (key_id, pem, registered_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
        ).run(m.keyId, m.pem, m.ts);
        return;
      case 'audit.purge':
        throw new WardenError('INTERNAL', "a purge is applied after its unit's events (purgeOf)");
      case 'api_key.create':
        createApiKey(db, m);
        return;
      case 'api_key.revoke':
        revokeApiKey(db, m);
        return;
      case 'person.upsert':
        this.#prep(UPSERT_PERSON_SQL).run(...personValues(m.person));
        return;
      case 'policy.store':
        if (m.ifCurrent !== undefined) {
          const newest = this.#prep('SELECT version FROM policy_versions ORDER BY n DESC LIMIT 1').get() as
            | { version: string }
            | undefined;
          refuseUnlessCurrent(newest?.version ?? null, m.ifCurrent);
        }
        this.#prep(`INSERT INTO policy_versions (${POLICY_VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`).run(
          ...policyVersionValues(m.policy),
        );
        return;
      case 'approval.save':
      case 'grant.add':
      case 'grant.revoke':
      case 'notification.enqueue':
      case 'notification.finish':
        this.#approvals.apply(m);
        return;
      case 'state.purge':
        this.#approvals.apply(m);
        this.#budgets.purge(m.before);
        return;
      case 'budget.settle':
      case 'budget.release':
      case 'budget.expire':
      case 'budget.alert':
      case 'budget.limit':
        this.#budgets.apply(m);
        return;
    }
  }

  /**
   * Deletes events 1..throughSeq once the unit's record and purge checkpoint are written: the permission
   * row the delete trigger asks for is accepted only then (schema 6). Holds and the anchor are checked
   * here first for a clear error; the triggers check them again.
   */
  #purge(throughSeq: number, recordSeq: number): void {
    const holds = this.#prep('SELECT count(*) AS n FROM legal_holds').get() as { n: number };
    if (holds.n > 0)
      throw new WardenError('LEGAL_HOLD_ACTIVE', `${holds.n} legal hold(s) in place; nothing is purged`);
    const anchor = this.#prep("SELECT 1 FROM checkpoints WHERE seq = ? AND kind != 'seal'").get(throughSeq);
    if (!anchor)
      throw new WardenError('INTERNAL', `no signed checkpoint at seq ${throughSeq} to anchor the purge`);
    this.#prep('INSERT INTO audit_purges (record_seq, through_seq, purged_at) VALUES (?, ?, ?)').run(
      recordSeq,
      throughSeq,
      new Date().toISOString(),
    );
    this.#prep('DELETE FROM audit_events WHERE seq <= ?').run(throughSeq);
  }
}

/**
 * Stores a key. The bootstrap check and the insert run in the commit's BEGIN IMMEDIATE transaction, which
 * every writer of the file queues for, so two processes bootstrapping at once create one key.
 */
function createApiKey(db: Database.Database, m: Extract<Mutation, { kind: 'api_key.create' }>): void {
  if (m.onlyIfNone && db.prepare('SELECT 1 FROM api_keys LIMIT 1').get()) {
    throw new WardenError('KEYS_EXIST', 'API keys already exist, so no admin key was bootstrapped');
  }
  db.prepare(`INSERT INTO api_keys (${API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
    ...apiKeyValues(m.key),
  );
}

function revokeApiKey(db: Database.Database, m: Extract<Mutation, { kind: 'api_key.revoke' }>): void {
  const row = db.prepare('SELECT revoked_at FROM api_keys WHERE id = ?').get(m.id) as
    | { revoked_at: string | null }
    | undefined;
  if (!row) throw new WardenError('KEY_NOT_FOUND', `no API key has id ${m.id}`);
  if (row.revoked_at !== null) {
    throw new WardenError('KEY_REVOKED', `API key ${m.id} was already revoked at ${row.revoked_at}`);
  }
  db.prepare('UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ?').run(m.ts, m.by, m.id);
}
