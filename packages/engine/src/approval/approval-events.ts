import {
  type Actor,
  type ApprovalRecord,
  type AuditEvent,
  type AuditEventType,
  tally,
  uuidv7,
} from '@warden/core';
import type { Mutation, NotificationRecord } from '../store/store.js';

/** A webhook and the approval events it wants (from the server configuration). */
export interface NotificationTarget {
  readonly name: string;
  readonly events: readonly string[];
}

/**
 * Event types a webhook can subscribe to: approval requests and their outcomes, and the budget and
 * breaker events a person must hear about (an alert threshold crossed, a budget refusing a call, a
 * session paused, a loop breaker tripped).
 */
export const NOTIFIED_EVENTS = [
  'approval.requested',
  'approval.escalated',
  'approval.decided',
  'budget.alert',
  'budget.exceeded',
  'session.paused',
  'breaker.tripped',
] as const;

/** The fields every approval event shares: the call it is about, and the request id in data. */
export function approvalEvent(
  type: AuditEventType,
  a: ApprovalRecord,
  actor: Actor,
  instance: string,
  ts: string,
  data: Record<string, unknown> = {},
  extra: Partial<AuditEvent> = {},
): AuditEvent {
  return {
    id: uuidv7(),
    ts,
    type,
    actor,
    instance,
    agent: a.agent,
    session: a.session,
    tool: a.tool,
    callId: a.callId,
    ...(a.triggeredBy ? { triggeredBy: a.triggeredBy } : {}),
    ...(a.delegationChain.length ? { delegationChain: [...a.delegationChain] } : {}),
    policyVersion: a.policyVersion,
    data: { approvalId: a.id, ...data },
    ...extra,
  };
}

/** The `approval.requested` event: what is asked, bound to the exact arguments, and who may decide. */
export function requestedEvent(
  a: ApprovalRecord,
  instance: string,
  by: Actor = { kind: 'agent', id: a.agent },
): AuditEvent {
  return approvalEvent(
    'approval.requested',
    a,
    by,
    instance,
    a.createdAt,
    {
      ruleId: a.ruleId,
      reasons: a.reasons,
      requirements: a.requirements,
      requireReason: a.requireReason,
      expiresAt: a.expiresAt,
      ...(a.escalateAt ? { escalateAt: a.escalateAt } : {}),
    },
    { argsHmac: a.argsHmac, ...(a.target ? { target: a.target } : {}) },
  );
}

/** The `approval.decided` event for a request that has just left `pending`. */
export function decidedApprovalEvent(a: ApprovalRecord, actor: Actor, instance: string): AuditEvent {
  const approvers = [...new Set(a.votes.filter((v) => v.vote === 'approve').map((v) => v.principal))];
  if (a.override && a.status === 'approved' && a.decidedBy) approvers.push(a.decidedBy);
  return approvalEvent(
    'approval.decided',
    a,
    actor,
    instance,
    a.updatedAt,
    {
      outcome: a.status,
      ...(a.override ? { override: true } : {}),
      ...(a.outcomeReason ? { reason: a.outcomeReason } : {}),
      progress: tally(a).progress,
      ...(a.status === 'expired' ? { onTimeout: a.onTimeout } : {}),
    },
    approvers.length ? { approvers } : {},
  );
}

/** Outbox rows for the webhooks that want this event, committed with it so none is lost in a crash. */
export function outboxFor(
  targets: readonly NotificationTarget[],
  event: AuditEvent,
  approvalId: string | null,
): Mutation[] {
  return targets
    .filter((t) => t.events.includes(event.type))
    .map((t) => {
      const notification: NotificationRecord = {
        id: uuidv7(),
        target: t.name,
        eventType: event.type,
        eventId: event.id,
        approvalId,
        state: 'pending',
        attempts: 0,
        createdAt: event.ts,
        leaseOwner: null,
        leaseUntil: null,
        lastError: null,
        updatedAt: event.ts,
      };
      return { kind: 'notification.enqueue' as const, notification };
    });
}
