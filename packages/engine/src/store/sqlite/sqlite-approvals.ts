import { type ApprovalRecord, WardenError } from '@warden/core';
import type Database from 'better-sqlite3';
import { APPROVAL_FILTERS, decodeApprovalCursor, dueAtSql, toApprovalPage } from '../approval-query.js';
import {
  checkVersion,
  duplicateApproval,
  grantExists,
  grantNotRevocable,
  staleApproval,
} from '../approval-refusals.js';
import {
  APPROVAL_COLUMNS,
  approvalUpdateSet,
  approvalValues,
  GRANT_COLUMNS,
  type GrantRow,
  grantValues,
  NOTIFICATION_COLUMNS,
  type NotificationRow,
  notificationValues,
  toApproval,
  toGrant,
  toNotification,
} from '../approval-rows.js';
import type {
  ApprovalPage,
  ApprovalQuery,
  GrantQuery,
  GrantRecord,
  Mutation,
  NotificationRecord,
  StateCounts,
} from '../store.js';
import { BUDGET_FINISHED } from './sqlite-budgets.js';

/** The mutations SqliteApprovals applies. */
export type ApprovalMutation = Extract<
  Mutation,
  {
    kind:
      | 'approval.save'
      | 'grant.add'
      | 'grant.revoke'
      | 'notification.enqueue'
      | 'notification.finish'
      | 'state.purge';
  }
>;

/**
 * The rows `state.purge` deletes, by table: those that ended before `@before`. Timestamps are fixed-width
 * ISO text, so text order is time order; a NULL revoked_at compares as unknown, so only the expiry counts.
 */
const FINISHED: readonly (readonly ['approvals' | 'grants' | 'notifications', string])[] = [
  ['approvals', "status <> 'pending' AND updated_at < @before"],
  ['grants', 'revoked_at < @before OR expires_at < @before'],
  ['notifications', "state IN ('delivered', 'failed') AND updated_at < @before"],
];

/**
 * Approval requests, grants and the notification outbox in SQLite. Reads and writes run on the store's
 * connection through its statement cache; the store wraps them in its error handling and transactions.
 */
export class SqliteApprovals {
  readonly #db: Database.Database;
  readonly #prep: (sql: string) => Database.Statement;

  constructor(db: Database.Database, prep: (sql: string) => Database.Statement) {
    this.#db = db;
    this.#prep = prep;
  }

  approval(col: 'id' | 'call_id', value: string): ApprovalRecord | undefined {
    const row = this.#prep(`SELECT body FROM approvals WHERE ${col} = ?`).get(value) as
      | { body: string }
      | undefined;
    return row ? toApproval(row) : undefined;
  }

  list(q: ApprovalQuery): ApprovalPage {
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [filter, col] of APPROVAL_FILTERS) {
      if (q[filter] === undefined) continue;
      where.push(`${col} = ?`);
      params.push(q[filter]);
    }
    if (q.cursor !== undefined) {
      const after = decodeApprovalCursor(q.cursor);
      where.push('(created_at, id) < (?, ?)');
      params.push(after.createdAt, after.id);
    }
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const sql = `SELECT body FROM approvals ${filter} ORDER BY created_at DESC, id DESC LIMIT ?`;
    return toApprovalPage(this.#prep(sql).all(...params, q.limit + 1) as { body: string }[], q.limit);
  }

  due(now: string, limit: number): ApprovalRecord[] {
    const rows = this.#prep(
      `SELECT body FROM approvals
        WHERE status = 'pending' AND (expires_at <= @now OR (escalate_at <= @now AND escalated = 0))
        ORDER BY ${dueAtSql('escalated = 0')}, id LIMIT @limit`,
    ).all({ now, limit }) as { body: string }[];
    return rows.map(toApproval);
  }

  pending(): number {
    return (this.#prep("SELECT count(*) AS n FROM approvals WHERE status = 'pending'").get() as { n: number })
      .n;
  }

  grant(id: string): GrantRecord | undefined {
    const row = this.#prep(`SELECT ${GRANT_COLUMNS} FROM grants WHERE id = ?`).get(id) as
      | GrantRow
      | undefined;
    return row ? toGrant(row) : undefined;
  }

  grants(q: GrantQuery): GrantRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.agent !== undefined) {
      where.push('agent = ?');
      params.push(q.agent);
    }
    if (!q.all) {
      where.push('revoked_at IS NULL AND expires_at > ?');
      params.push(q.now);
    }
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const sql = `SELECT ${GRANT_COLUMNS} FROM grants ${filter} ORDER BY created_at DESC, id DESC LIMIT ?`;
    return (this.#prep(sql).all(...params, q.limit) as GrantRow[]).map(toGrant);
  }

  /**
   * How many rows of each table `state.purge` would delete with this `before` (the budget tables' too),
   * read in one statement.
   */
  finished(before: string): StateCounts {
    const counts = [
      ...FINISHED.map(([table, where]) => [table, table, where] as const),
      ...BUDGET_FINISHED,
    ].map(([field, table, where]) => `(SELECT count(*) FROM ${table} WHERE ${where}) AS ${field}`);
    return this.#prep(`SELECT ${counts.join(', ')}`).get({ before }) as StateCounts;
  }

  /**
   * Leases the oldest due rows for `targets` to `owner`; BEGIN IMMEDIATE, so two processes never claim
   * one row. The targets go in as one JSON array, so the statement is the same whatever their number.
   */
  claim(
    owner: string,
    now: string,
    leaseUntil: string,
    limit: number,
    targets: readonly string[],
  ): NotificationRecord[] {
    if (targets.length === 0) return [];
    return this.#db
      .transaction(() => {
        const rows = this.#prep(
          `SELECT ${NOTIFICATION_COLUMNS} FROM notifications
            WHERE state = 'pending' AND (lease_until IS NULL OR lease_until <= ?)
              AND target IN (SELECT value FROM json_each(?))
            ORDER BY created_at, id LIMIT ?`,
        ).all(now, JSON.stringify(targets), limit) as NotificationRow[];
        const lease = this.#prep(
          'UPDATE notifications SET lease_owner = ?, lease_until = ?, updated_at = ? WHERE id = ?',
        );
        return rows.map((r) => {
          lease.run(owner, leaseUntil, now, r.id);
          return toNotification({ ...r, lease_owner: owner, lease_until: leaseUntil, updated_at: now });
        });
      })
      .immediate();
  }

  /** Applies one mutation inside the commit's transaction. */
  apply(m: ApprovalMutation): void {
    switch (m.kind) {
      case 'approval.save':
        if (m.expectVersion === null) this.#insert(m.approval);
        else this.#update(m.approval, m.expectVersion);
        return;
      case 'grant.add': {
        const r = this.#prep(
          `INSERT INTO grants (${GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        ).run(...grantValues(m.grant));
        if (r.changes === 0) throw grantExists(m.grant.id);
        return;
      }
      case 'grant.revoke':
        this.#revokeGrant(m);
        return;
      case 'notification.enqueue':
        this.#prep(
          `INSERT INTO notifications (${NOTIFICATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(...notificationValues(m.notification));
        return;
      case 'notification.finish': {
        const r = this.#prep(
          `UPDATE notifications SET state = ?, attempts = ?, last_error = ?, updated_at = ?,
             lease_owner = NULL, lease_until = NULL
           WHERE id = ? AND lease_owner = ?`,
        ).run(m.state, m.attempts, m.lastError, m.ts, m.id, m.owner);
        // Another instance took the row over (or finished it): refusing keeps this outcome's event out.
        if (r.changes === 0) {
          throw new WardenError(
            'APPROVAL_CONFLICT',
            `notification ${m.id}: the notification's lease was lost`,
          );
        }
        return;
      }
      case 'state.purge':
        this.#purgeFinished(m.before);
        return;
    }
  }

  /** Deletes what ended before `before`; a legal hold keeps it all, as it keeps the audit events. */
  #purgeFinished(before: string): void {
    const holds = this.#prep('SELECT count(*) AS n FROM legal_holds').get() as { n: number };
    if (holds.n > 0)
      throw new WardenError('LEGAL_HOLD_ACTIVE', `${holds.n} legal hold(s) in place; nothing is purged`);
    for (const [table, where] of FINISHED) this.#prep(`DELETE FROM ${table} WHERE ${where}`).run({ before });
  }

  #insert(a: ApprovalRecord): void {
    checkVersion(a, null);
    const r = this.#prep(
      `INSERT INTO approvals (${APPROVAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ).run(...sqliteValues(a));
    if (r.changes === 0) throw duplicateApproval(a);
  }

  #update(a: ApprovalRecord, expectVersion: number): void {
    checkVersion(a, expectVersion);
    const [id, ...rest] = sqliteValues(a);
    const r = this.#prep(
      `UPDATE approvals SET ${approvalUpdateSet(() => '?')} WHERE id = ? AND version = ?`,
    ).run(...rest, id, expectVersion);
    if (r.changes > 0) return;
    const row = this.#prep('SELECT version FROM approvals WHERE id = ?').get(a.id) as
      | { version: number }
      | undefined;
    throw staleApproval(a.id, expectVersion, row?.version);
  }

  #revokeGrant(m: Extract<Mutation, { kind: 'grant.revoke' }>): void {
    const r = this.#prep(
      'UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL',
    ).run(m.ts, m.by, m.id);
    if (r.changes > 0) return;
    const row = this.#prep('SELECT revoked_at FROM grants WHERE id = ?').get(m.id) as
      | { revoked_at: string }
      | undefined;
    throw grantNotRevocable(m.id, row?.revoked_at);
  }
}

/** SQLite has no boolean: the escalated flag is stored as 0 or 1. */
function sqliteValues(a: ApprovalRecord): (string | number | null)[] {
  return approvalValues(a).map((v) => (typeof v === 'boolean' ? Number(v) : v));
}
