import type { ApprovalRecord } from '@warden/core';
import type { GrantRecord, NotificationRecord } from './store.js';

/** The approvals columns the INSERT writes, in the order of `approvalValues`; `id` first, `body` last. */
export const APPROVAL_COLUMNS =
  'id, call_id, version, status, agent, session, created_at, expires_at, escalate_at, escalated, updated_at, body';

/**
 * The SET list of an approval update: every column but `id`, in APPROVAL_COLUMNS order, each given the
 * placeholder `param(i)` for its position i (1-based) among the update's values.
 */
export function approvalUpdateSet(param: (i: number) => string): string {
  return APPROVAL_COLUMNS.split(', ')
    .slice(1)
    .map((col, i) => `${col} = ${param(i + 1)}`)
    .join(', ');
}

/**
 * An approval's column values, in APPROVAL_COLUMNS order. `text` maps the query copies of strings (the
 * PostgreSQL store passes its U+0000-safe mapping); the body is JSON, which escapes every control
 * character and lone surrogate, so it holds the record exactly in both dialects.
 */
export function approvalValues(
  a: ApprovalRecord,
  text: (s: string) => string = (s) => s,
): [string, string, number, string, string, string, string, string, string | null, boolean, string, string] {
  return [
    text(a.id),
    text(a.callId),
    a.version,
    text(a.status),
    text(a.agent),
    text(a.session),
    text(a.createdAt),
    text(a.expiresAt),
    a.escalateAt === null ? null : text(a.escalateAt),
    a.escalated,
    text(a.updatedAt),
    JSON.stringify(a),
  ];
}

/** A stored approval row as the Store returns it: the record is its body. */
export function toApproval(r: { body: string }): ApprovalRecord {
  return JSON.parse(r.body) as ApprovalRecord;
}

/** A grant as both dialects store it (snake_case columns; `when` is `cond`, a reserved word in SQL). */
export type GrantRow = {
  id: string;
  agent: string;
  tool: string;
  cond: string | null;
  session: string | null;
  expires_at: string;
  reason: string;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
  revoked_by: string | null;
};

/** The grants columns reads select and the INSERT writes, in the order of `grantValues`. */
export const GRANT_COLUMNS =
  'id, agent, tool, cond, session, expires_at, reason, created_by, created_at, revoked_at, revoked_by';

/** A grant's column values, in GRANT_COLUMNS order. */
export function grantValues(g: GrantRecord): (string | null)[] {
  return [
    g.id,
    g.agent,
    g.tool,
    g.when,
    g.session,
    g.expiresAt,
    g.reason,
    g.createdBy,
    g.createdAt,
    g.revokedAt,
    g.revokedBy,
  ];
}

/** A stored grant row as the Store returns it. */
export function toGrant(r: GrantRow): GrantRecord {
  return {
    id: r.id,
    agent: r.agent,
    tool: r.tool,
    when: r.cond,
    session: r.session,
    expiresAt: r.expires_at,
    reason: r.reason,
    createdBy: r.created_by,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
  };
}

/** An outbox row as both dialects store it (snake_case columns). */
export type NotificationRow = {
  id: string;
  target: string;
  event_type: string;
  event_id: string;
  /** NULL for budget alerts and session pauses. */
  approval_id: string | null;
  state: NotificationRecord['state'];
  attempts: number;
  created_at: string;
  lease_owner: string | null;
  lease_until: string | null;
  last_error: string | null;
  updated_at: string;
};

/** The notifications columns reads select and the INSERT writes, in the order of `notificationValues`. */
export const NOTIFICATION_COLUMNS =
  'id, target, event_type, event_id, approval_id, state, attempts, created_at, lease_owner, lease_until, last_error, updated_at';

/** A notification's column values, in NOTIFICATION_COLUMNS order. */
export function notificationValues(n: NotificationRecord): (string | number | null)[] {
  return [
    n.id,
    n.target,
    n.eventType,
    n.eventId,
    n.approvalId,
    n.state,
    n.attempts,
    n.createdAt,
    n.leaseOwner,
    n.leaseUntil,
    n.lastError,
    n.updatedAt,
  ];
}

/** A stored outbox row as the Store returns it. */
export function toNotification(r: NotificationRow): NotificationRecord {
  return {
    id: r.id,
    target: r.target,
    eventType: r.event_type,
    eventId: r.event_id,
    approvalId: r.approval_id,
    state: r.state,
    attempts: r.attempts,
    createdAt: r.created_at,
    leaseOwner: r.lease_owner,
    leaseUntil: r.lease_until,
    lastError: r.last_error,
    updatedAt: r.updated_at,
  };
}
