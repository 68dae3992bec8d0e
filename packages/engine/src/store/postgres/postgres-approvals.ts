import { type ApprovalRecord, WardenError } from '@warden/core';
import type pg from 'pg';
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
import { BUDGET_FINISHED } from './postgres-budget-mutations.js';
import type { PostgresDriver } from './postgres-driver.js';
import { columnText } from './postgres-event-payload.js';

/**
 * Approval requests, grants and the notification outbox in PostgreSQL: the reads (on any pooled
 * connection) and the mutations (inside a commit's transaction). Values compared in SQL go through
 * columnText, as the query columns were written with it, so an id holding U+0000 finds nothing rather than
 * failing.
 */

const text = (s: string) => columnText(s) as string;

export async function readApproval(
  db: PostgresDriver,
  col: 'id' | 'call_id',
  value: string,
): Promise<ApprovalRecord | undefined> {
  const rows = await db.query<{ body: string }>(
    'reading an approval request',
    `SELECT body FROM approvals WHERE ${col} = $1`,
    [text(value)],
  );
  return rows[0] ? toApproval(rows[0]) : undefined;
}

export async function listApprovals(db: PostgresDriver, q: ApprovalQuery): Promise<ApprovalPage> {
  const params: unknown[] = [];
  const where: string[] = [];
  for (const [filter, col] of APPROVAL_FILTERS) {
    const v = q[filter];
    if (v === undefined) continue;
    params.push(text(v));
    where.push(`${col} = $${params.length}`);
  }
  if (q.cursor !== undefined) {
    const after = decodeApprovalCursor(q.cursor);
    params.push(text(after.createdAt), text(after.id));
    where.push(`(created_at, id) < ($${params.length - 1}, $${params.length})`);
  }
  params.push(q.limit + 1);
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const sql = `SELECT body FROM approvals ${filter} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`;
  return toApprovalPage(await db.query<{ body: string }>('listing approval requests', sql, params), q.limit);
}

export async function dueApprovals(
  db: PostgresDriver,
  now: string,
  limit: number,
): Promise<ApprovalRecord[]> {
  const rows = await db.query<{ body: string }>(
    'finding due approval requests',
    `SELECT body FROM approvals
      WHERE status = 'pending' AND (expires_at <= $1 OR (escalate_at <= $1 AND NOT escalated))
      ORDER BY ${dueAtSql('NOT escalated')}, id LIMIT $2`,
    [now, limit],
  );
  return rows.map(toApproval);
}

export async function pendingApprovals(db: PostgresDriver): Promise<number> {
  const rows = await db.query<{ n: number }>(
    'counting pending approval requests',
    "SELECT count(*) AS n FROM approvals WHERE status = 'pending'",
  );
  return (rows[0] as { n: number }).n;
}

/**
 * The rows `state.purge` deletes, by table: those that ended before $1. Timestamps are fixed-width ISO
 * text compared bytewise (COLLATE "C" where the column has the database's collation), as in SQLite; a
 * NULL revoked_at compares as unknown, so only the expiry counts.
 */
const FINISHED: readonly (readonly ['approvals' | 'grants' | 'notifications', string])[] = [
  ['approvals', "status <> 'pending' AND updated_at < $1"],
  ['grants', 'revoked_at COLLATE "C" < $1 OR expires_at < $1'],
  ['notifications', `state IN ('delivered', 'failed') AND updated_at COLLATE "C" < $1`],
];

/**
 * How many rows of each table `state.purge` would delete with this `before` (the budget tables' too),
 * read in one snapshot.
 */
export async function countFinished(db: PostgresDriver, before: string): Promise<StateCounts> {
  const counts = [
    ...FINISHED.map(([table, where]) => [table, table, where] as const),
    ...BUDGET_FINISHED,
  ].map(([field, table, where]) => `(SELECT count(*) FROM ${table} WHERE ${where})::int AS "${field}"`);
  const rows = await db.query<StateCounts>(
    'counting finished approval state',
    `SELECT ${counts.join(', ')}`,
    [before],
  );
  return rows[0] as StateCounts;
}

export async function readGrant(db: PostgresDriver, id: string): Promise<GrantRecord | undefined> {
  const rows = await db.query<GrantRow>(
    'reading a grant',
    `SELECT ${GRANT_COLUMNS} FROM grants WHERE id = $1`,
    [text(id)],
  );
  return rows[0] ? toGrant(rows[0]) : undefined;
}

export async function listGrants(db: PostgresDriver, q: GrantQuery): Promise<GrantRecord[]> {
  const params: unknown[] = [];
  const where: string[] = [];
  if (q.agent !== undefined) {
    params.push(text(q.agent));
    where.push(`agent = $${params.length}`);
  }
  if (!q.all) {
    params.push(q.now);
    where.push(`revoked_at IS NULL AND expires_at > $${params.length}`);
  }
  params.push(q.limit);
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const sql = `SELECT ${GRANT_COLUMNS} FROM grants ${filter} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`;
  return (await db.query<GrantRow>('listing grants', sql, params)).map(toGrant);
}

/**
 * Leases the oldest due rows for `targets` to `owner` in one statement. SKIP LOCKED: a row another
 * instance is claiming right now is passed over rather than waited for, and a row it has just claimed no
 * longer qualifies when re-checked, so two instances never claim the same row.
 */
export async function claimNotifications(
  db: PostgresDriver,
  owner: string,
  now: string,
  leaseUntil: string,
  limit: number,
  targets: readonly string[],
): Promise<NotificationRecord[]> {
  if (targets.length === 0) return [];
  const rows = await db.query<NotificationRow>(
    'claiming notifications',
    `WITH claimed AS (
       UPDATE notifications SET lease_owner = $1, lease_until = $3, updated_at = $2
        WHERE id IN (SELECT id FROM notifications
                      WHERE state = 'pending' AND (lease_until IS NULL OR lease_until <= $2)
                        AND target = ANY($5::text[])
                      ORDER BY created_at, id LIMIT $4
                      FOR UPDATE SKIP LOCKED)
        RETURNING ${NOTIFICATION_COLUMNS})
     SELECT * FROM claimed ORDER BY created_at, id`,
    [owner, now, leaseUntil, limit, targets.map(text)],
  );
  return rows.map(toNotification);
}

/**
 * Writes an approval request. An insert that clashes (same id or same call) does nothing rather than
 * raising, so the transaction stays usable and the refusal is APPROVAL_CONFLICT. An update applies only
 * over the expected version; one racing another waits for its row lock, then finds the version moved.
 */
export async function saveApproval(
  c: pg.ClientBase,
  m: Extract<Mutation, { kind: 'approval.save' }>,
): Promise<void> {
  const a = m.approval;
  checkVersion(a, m.expectVersion);
  const values = approvalValues(a, text);
  if (m.expectVersion === null) {
    const placeholders = values.map((_, i) => `$${i + 1}`).join(', ');
    const r = await c.query(
      `INSERT INTO approvals (${APPROVAL_COLUMNS}) VALUES (${placeholders}) ON CONFLICT DO NOTHING RETURNING id`,
      values,
    );
    if (r.rowCount === 0) throw duplicateApproval(a);
    return;
  }
  const r = await c.query(
    `UPDATE approvals SET ${approvalUpdateSet((i) => `$${i + 1}`)}
      WHERE id = $1 AND version = $${values.length + 1} RETURNING id`,
    [...values, m.expectVersion],
  );
  if (r.rowCount !== 0) return;
  const stored = await c.query<{ version: number }>('SELECT version FROM approvals WHERE id = $1', [
    values[0],
  ]);
  throw staleApproval(a.id, m.expectVersion, stored.rows[0]?.version);
}

/** Locks the requests a commit updates, in id order, so two commits updating the same ones never deadlock. */
export async function lockApprovals(c: pg.ClientBase, ms: readonly Mutation[]): Promise<void> {
  const ids = ms.flatMap((m) =>
    m.kind === 'approval.save' && m.expectVersion !== null ? [text(m.approval.id)] : [],
  );
  if (ids.length < 2) return;
  await c.query('SELECT 1 FROM approvals WHERE id = ANY ($1::text[]) ORDER BY id FOR UPDATE', [ids]);
}

export async function addGrant(c: pg.ClientBase, g: GrantRecord): Promise<void> {
  const values = grantValues(g);
  const r = await c.query(
    `INSERT INTO grants (${GRANT_COLUMNS}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})
     ON CONFLICT DO NOTHING RETURNING id`,
    values,
  );
  if (r.rowCount === 0) throw grantExists(g.id);
}

/** One statement, so of two revocations at once the second finds the grant revoked. */
export async function revokeGrant(
  c: pg.ClientBase,
  m: Extract<Mutation, { kind: 'grant.revoke' }>,
): Promise<void> {
  const r = await c.query(
    'UPDATE grants SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL RETURNING id',
    [m.ts, m.by, text(m.id)],
  );
  if (r.rowCount !== 0) return;
  const row = await c.query<{ revoked_at: string }>('SELECT revoked_at FROM grants WHERE id = $1', [
    text(m.id),
  ]);
  throw grantNotRevocable(m.id, row.rows[0]?.revoked_at);
}

export async function enqueueNotification(c: pg.ClientBase, n: NotificationRecord): Promise<void> {
  const values = notificationValues(n);
  await c.query(
    `INSERT INTO notifications (${NOTIFICATION_COLUMNS}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})`,
    values,
  );
}

/**
 * Applies only while `owner` still holds the claim: a holder whose lease was taken over (or whose row was
 * finished already) is refused, so the unit, its approval.notified event included, is not written.
 */
export async function finishNotification(
  c: pg.ClientBase,
  m: Extract<Mutation, { kind: 'notification.finish' }>,
): Promise<void> {
  const r = await c.query(
    `UPDATE notifications SET state = $1, attempts = $2, last_error = $3, updated_at = $4,
       lease_owner = NULL, lease_until = NULL
     WHERE id = $5 AND lease_owner = $6`,
    [m.state, m.attempts, m.lastError === null ? null : text(m.lastError), m.ts, text(m.id), m.owner],
  );
  if (r.rowCount === 0) {
    throw new WardenError('APPROVAL_CONFLICT', `notification ${m.id}: the notification's lease was lost`);
  }
}

/**
 * Deletes what ended before `before`; a legal hold keeps it all, as it keeps the audit events. Rows
 * another transaction holds are skipped, not waited for: they are changing now (an approved request
 * being used), so they are not finished, and a commit under the chain lock never waits on row locks.
 */
export async function purgeFinished(c: pg.ClientBase, before: string): Promise<void> {
  const r = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM legal_holds');
  const holds = (r.rows[0] as { n: number }).n;
  if (holds > 0)
    throw new WardenError('LEGAL_HOLD_ACTIVE', `${holds} legal hold(s) in place; nothing is purged`);
  for (const [table, where] of FINISHED) {
    await c.query(
      `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${where} FOR UPDATE SKIP LOCKED)`,
      [before],
    );
  }
}
