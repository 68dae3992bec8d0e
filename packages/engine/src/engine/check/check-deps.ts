import type { WardenError } from '@warden/core';
import type { ApprovalService } from '../../approval/approval-service.js';
import type { GrantService } from '../../approval/grant-service.js';
import type { BudgetService } from '../../budget/budget-service.js';
import type { SessionHistory } from '../../budget/session-history.js';
import type { TaskService } from '../../identity/task-service.js';
import type { EventContext } from '../call-events.js';
import type { EnginePort } from '../engine-port.js';
import type { UnansweredDecisions } from '../unanswered-decisions.js';

/**
 * What the steps of a check (and of a completion) share: the engine's port, its keys' HMAC half, the
 * services they consult, and the per-instance state (loop history, decisions in doubt). Built once by
 * the engine; steps are plain functions over it.
 */
export interface CheckDeps {
  readonly port: EnginePort;
  /** Fingerprints arguments and calls (an approval binds to the fingerprint, never to the secrets). */
  readonly hmacKey: Buffer;
  /** How call events are stamped, redacted and capped under the policy in force. */
  eventContext(): EventContext;
  readonly approvals: ApprovalService;
  readonly grants: GrantService;
  readonly budgets: BudgetService;
  readonly tasks: TaskService;
  /** Recent calls per session, for the loop breakers. */
  readonly history: SessionHistory;
  /** Decisions whose commit went unacknowledged. */
  readonly unanswered: UnansweredDecisions;
  /** Reports failures that have no caller to go to. */
  readonly onError: (err: WardenError) => void;
}
