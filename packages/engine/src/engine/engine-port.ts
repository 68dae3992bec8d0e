import type { Actor, AuditEvent, AuditEventType, CompiledPolicy } from '@warden/core';
import type { NotificationTarget } from '../approval/approval-events.js';
import type { CommitResult, CommitUnit, Store } from '../store/store.js';

/**
 * What the engine's services (approvals, grants, budgets, tasks, session control) need from the engine:
 * the store to read, one way to write, and the stamps every event carries. Narrower than `Engine`, so a
 * service cannot decide calls, swap the policy or reach another service behind the engine's back.
 */
export interface EnginePort {
  /** The store, for reads (writes go through `commit`). */
  readonly store: Store;
  /** Names this process in every event it writes. */
  readonly instanceId: string;
  /** Webhooks that approval, budget and pause events are queued for. */
  readonly notificationTargets: readonly NotificationTarget[];
  /**
   * Commits a unit: redacted by the policy in force, group-committed with other units, and the engine's
   * commit listeners (live streams, checkpoints) notified.
   */
  commit(unit: CommitUnit): Promise<CommitResult>;
  /** An event written by a person or by Warden itself, stamped with this instance, a new id and now. */
  event(type: AuditEventType, actor: Actor, fields?: Partial<AuditEvent>): AuditEvent;
  /** The compiled policy in force (read each time: it changes when a new policy is adopted). */
  policy(): CompiledPolicy;
  /** The time, as the engine reads it. */
  now(): Date;
}
