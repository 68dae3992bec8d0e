import { hostname } from 'node:os';
import {
  type Actor,
  type AuditEvent,
  type AuditEventType,
  type CompiledPolicy,
  type PriceTable,
  type SignedCheckpoint,
  signCheckpoint,
  systemActorProblem,
  type ToolCall,
  toolReach,
  uuidv7,
  WardenError,
} from '@warden/core';
import type { NotificationTarget } from '../approval/approval-events.js';
import { ApprovalService } from '../approval/approval-service.js';
import { GrantService } from '../approval/grant-service.js';
import { type RetentionOptions, scheduleRetention } from '../audit/retention-schedule.js';
import { BudgetService } from '../budget/budget-service.js';
import { SessionHistory } from '../budget/session-history.js';
import { TaskService } from '../identity/task-service.js';
import type { KeyRing } from '../keys/key-ring.js';
import { GroupCommitter } from '../store/group-committer.js';
import type { CommitResult, CommitUnit, Store } from '../store/store.js';
import { redactUnit } from '../store/unit-redaction.js';
import { afterCharge } from './after-settlement.js';
import { type CallOutcome, DEFAULT_LIMITS, type EventContext, type StorageLimits } from './call-events.js';
import { checkWithRetry } from './check/check-call.js';
import type { CheckDeps } from './check/check-deps.js';
import type { CheckOptions, CheckResult, CompleteOptions, UsageEstimate } from './check/check-types.js';
import { asWardenError, WARDEN } from './check/engine-decision.js';
import { Checkpointer } from './checkpointer.js';
import { completeCall } from './complete-call.js';
import type { EnginePort } from './engine-port.js';
import { type ProceedAnswer, proceedApproved } from './proceed-approved.js';
import { UnansweredDecisions } from './unanswered-decisions.js';

export type {
  BudgetRefusal,
  CheckOptions,
  CheckResult,
  CompleteOptions,
  EngineBlockCode,
  UsageEstimate,
} from './check/check-types.js';

export interface EngineOptions {
  readonly store: Store;
  readonly policy: CompiledPolicy;
  readonly keys: KeyRing;
  /** Names this process in every event it writes; default host:pid. */
  readonly instanceId?: string;
  /** Sign a checkpoint after this many events or this long, whichever comes first. */
  readonly checkpoint?: { readonly everyEvents?: number; readonly everyMs?: number };
  /** Purge events older than `days` from the hot store, checked every `everyMs` (default hourly). */
  readonly retention?: RetentionOptions;
  readonly limits?: Partial<StorageLimits>;
  /** Webhooks to queue approval notifications for (the server delivers them). */
  readonly notificationTargets?: readonly NotificationTarget[];
  /** Expire and escalate due approval requests this often (ms); off when unset (one-shot CLI engines). */
  readonly approvalSweepMs?: number;
  /** The price table (bundled, or with the deployment's override on top). */
  readonly prices?: PriceTable;
  /** How long a budget reservation holds before it is charged as abandoned (default 10 minutes). */
  readonly reservationLeaseMs?: number;
  /** Input tokens reserved for a call whose estimate names no tokens and no cost (default 4,096). */
  readonly defaultTokenEstimate?: number;
  /** Charge abandoned reservations this often (ms); off when unset (one-shot CLI engines). */
  readonly budgetSweepMs?: number;
  /** Reports failures that have no caller to go to (a periodic checkpoint that could not be written). */
  readonly onError?: (err: WardenError) => void;
  /** Close the store with the engine (when the engine opened it). */
  readonly closeStore?: boolean;
}

/**
 * The stateful Warden: decides calls, records everything in the audit chain, keeps sessions. A check
 * runs as its steps (`check/check-call.ts`); the services get the engine's port, never the engine.
 */
export class Engine {
  readonly store: Store;
  readonly keys: KeyRing;
  readonly instanceId: string;
  /** What the services get instead of the engine: the store, one way to commit, event stamping, the policy. */
  readonly port: EnginePort;
  readonly #committer: GroupCommitter;
  readonly #checkpointer: Checkpointer;
  readonly #sweep: NodeJS.Timeout | undefined;
  /** Approval requests: votes, overrides, expiry and escalation. */
  readonly approvals: ApprovalService;
  /** Task-scoped grants. */
  readonly grants: GrantService;
  /** Budgets: reservations, settlement, alerts. */
  readonly budgets: BudgetService;
  /** Task identity: task tokens, token exchange, verification. */
  readonly tasks: TaskService;
  readonly #budgetSweep: NodeJS.Timeout | undefined;
  readonly #onError: (err: WardenError) => void;
  /** Webhooks that approval events are queued for. */
  readonly notificationTargets: readonly NotificationTarget[];
  readonly #limits: StorageLimits;
  readonly #closeStore: boolean;
  readonly #retention: { stop(): void } | undefined;
  readonly #commitListeners = new Set<() => void>();
  /** Decisions whose commit went unacknowledged: voided once the database says they landed. */
  readonly unanswered: UnansweredDecisions;
  /** What the steps of a check and of a completion share. */
  readonly #deps: CheckDeps;
  #policy: CompiledPolicy;
  #ctx: EventContext;

  constructor(options: EngineOptions) {
    this.store = options.store;
    this.keys = options.keys;
    this.instanceId = options.instanceId ?? `${hostname()}:${process.pid}`;
    this.#committer = new GroupCommitter(options.store);
    this.notificationTargets = options.notificationTargets ?? [];
    this.port = {
      store: this.store,
      instanceId: this.instanceId,
      notificationTargets: this.notificationTargets,
      commit: (unit) => this.#commit(unit),
      event: (type, actor, fields) => this.systemEvent(type, actor, fields),
      policy: () => this.#policy,
      now: () => new Date(),
    };
    this.approvals = new ApprovalService(this.port);
    this.grants = new GrantService(this.port);
    this.tasks = new TaskService(this.port, this.keys.hmacKey);
    this.budgets = new BudgetService(this.port, {
      ...(options.prices ? { prices: options.prices } : {}),
      ...(options.reservationLeaseMs ? { leaseMs: options.reservationLeaseMs } : {}),
      ...(options.defaultTokenEstimate ? { defaultTokenEstimate: options.defaultTokenEstimate } : {}),
      // Reported, never thrown: the charge is already recorded, and the sweep goes on to the next one.
      afterCharge: (lines, call, callId) =>
        afterCharge(this.#deps, lines, call, callId).catch((err) => this.#onError(asWardenError(err))),
    });
    this.#onError = options.onError ?? (() => {});
    this.unanswered = new UnansweredDecisions({
      store: this.store,
      commit: (unit) => this.#commit(unit),
      event: (type, fields) => this.systemEvent(type, WARDEN, fields),
      cancelApproval: (id, reason) => this.approvals.cancel(id, WARDEN, reason),
      onError: this.#onError,
    });
    this.#closeStore = options.closeStore ?? false;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#policy = options.policy;
    this.#ctx = this.#eventContext();
    this.#deps = {
      port: this.port,
      hmacKey: this.keys.hmacKey,
      eventContext: () => this.#ctx,
      approvals: this.approvals,
      grants: this.grants,
      budgets: this.budgets,
      tasks: this.tasks,
      history: new SessionHistory(),
      unanswered: this.unanswered,
      onError: this.#onError,
    };
    this.#checkpointer = new Checkpointer({
      commit: (unit) => this.#committer.submit(unit),
      request: (kind) => ({
        kind,
        keyId: this.keys.keyId,
        ts: new Date().toISOString(),
        sign: (body) => signCheckpoint(body, this.keys.signingKey),
      }),
      everyEvents: options.checkpoint?.everyEvents ?? 10_000,
      everyMs: options.checkpoint?.everyMs ?? 60_000,
      onError: options.onError ?? (() => {}),
    });
    this.#retention = options.retention
      ? scheduleRetention(this, options.retention, options.onError ?? (() => {}))
      : undefined;
    this.#budgetSweep = options.budgetSweepMs
      ? guardedInterval(options.budgetSweepMs, () => this.budgets.sweep(), this.#onError)
      : undefined;
    if (options.approvalSweepMs) {
      const onError = options.onError ?? (() => {});
      let sweeping = false;
      this.#sweep = setInterval(() => {
        // A slow database must not stack sweeps on top of each other.
        if (sweeping) return;
        sweeping = true;
        this.approvals
          .sweep()
          .catch((err) => onError(asWardenError(err)))
          .finally(() => {
            sweeping = false;
          });
      }, options.approvalSweepMs);
      this.#sweep.unref();
    }
  }

  /** The policy in force. */
  get policy(): CompiledPolicy {
    return this.#policy;
  }

  /**
   * Decides a call and records the decision durably before answering. Never throws for a governance
   * outcome or a store failure: an invalid call, a paused session or an unavailable store is a block.
   */
  async check(input: unknown, options: CheckOptions = {}): Promise<CheckResult> {
    return checkWithRetry(this.#deps, { validated: false, body: input }, options);
  }

  /**
   * `check` for a call its caller has already validated (the HTTP API parses the body against the API's
   * call schema refined with the domain's rules, which `ToolCallSchema` equals): the same steps and the
   * same outcomes, without parsing the call a second time. Never pass it a body from outside unvalidated:
   * `check` is the door for those.
   */
  async checkValidated(call: ToolCall, options: CheckOptions = {}): Promise<CheckResult> {
    return checkWithRetry(this.#deps, { validated: true, call }, options);
  }

  /**
   * Records how an allowed call ended. Throws CALL_NOT_FOUND, CALL_NOT_RUNNABLE, CALL_ALREADY_COMPLETED or CALL_VOIDED.
   * With `agent`, another agent's call is CALL_NOT_FOUND: an agent learns nothing about others' calls.
   */
  async complete(
    callId: string,
    outcome: CallOutcome,
    agent?: string,
    options: CompleteOptions = {},
  ): Promise<{ auditSeq: number; decided: AuditEvent }> {
    return completeCall(this.#deps, callId, outcome, agent, options);
  }

  /**
   * The tools, of those named, an agent could ever be allowed or sent for review: not certainly blocked
   * by the policy in force, or — when no rule names them — covered by an active grant of the session
   * (any session when none is given). For least-privilege tool listings.
   */
  async visibleTools(agent: string, tools: readonly string[], session?: string): Promise<string[]> {
    const policy = this.#policy;
    const reach = new Map(tools.map((t) => [t, toolReach(policy, agent, t)]));
    const unnamed = tools.filter((t) => reach.get(t) === 'unnamed');
    const granted = unnamed.length > 0 ? await this.grants.coveredTools(agent, unnamed, session) : new Set();
    return tools.filter((t) => reach.get(t) === 'may' || granted.has(t));
  }

  /**
   * Whether a call whose approval was just decided may go ahead: its session must still be open and the
   * policy in force must not now block it or require a different review. Uses the approval for the call
   * when it may; otherwise says why not. For a caller that waited for the decision with the call in hand.
   */
  async proceedApproved(
    input: ToolCall,
    approvalId: string,
    callId: string,
    estimate: UsageEstimate = {},
    options: { readonly keyId?: string } = {},
  ): Promise<ProceedAnswer> {
    return proceedApproved(this.#deps, input, approvalId, callId, estimate, options);
  }

  /**
   * Replaces the policy; the change is recorded (old and new version, who) before it takes effect. With
   * `sources`, the policy text is stored too, so other instances and restarts pick it up; with
   * `ifCurrent` too, only over that stored version (POLICY_CONFLICT otherwise).
   */
  async setPolicy(
    next: CompiledPolicy,
    by: Actor,
    sources?: readonly { path: string; text: string }[],
    options: { ifCurrent?: string | null } = {},
  ): Promise<{ oldVersion: string; newVersion: string }> {
    const oldVersion = this.#policy.version;
    const ts = new Date().toISOString();
    const event = this.systemEvent('policy.changed', by, {
      ts,
      data: { oldVersion, newVersion: next.version, name: next.name, mode: next.mode },
    });
    const record = sources && {
      version: next.version,
      name: next.name,
      mode: next.mode,
      sources,
      createdAt: ts,
      createdBy: by.id,
    };
    await this.#commit({
      events: [event],
      ...(record
        ? { mutations: [{ kind: 'policy.store' as const, policy: record, ifCurrent: options.ifCurrent }] }
        : {}),
    });
    this.adoptPolicy(next);
    return { oldVersion, newVersion: next.version };
  }

  /** Puts a policy in force without recording a change: for one another instance already recorded. */
  adoptPolicy(next: CompiledPolicy): void {
    this.#policy = next;
    this.#ctx = this.#eventContext();
  }

  /** Signs a checkpoint at the current head now. */
  async checkpoint(): Promise<SignedCheckpoint> {
    return this.#checkpointer.now();
  }

  /** Commits a unit through the group committer (for the session, retention and key services). */
  async commit(unit: CommitUnit): Promise<CommitResult> {
    return this.#commit(unit);
  }

  /** An event written by a person or by Warden itself, stamped with this instance. */
  systemEvent(type: AuditEventType, actor: Actor, fields: Partial<AuditEvent> = {}): AuditEvent {
    return { id: uuidv7(), ts: new Date().toISOString(), type, actor, instance: this.instanceId, ...fields };
  }

  /** Writes everything pending and a final checkpoint, then closes the store if the engine opened it. */
  async close(): Promise<void> {
    this.#retention?.stop();
    clearInterval(this.#sweep);
    clearInterval(this.#budgetSweep);
    await this.#committer.idle();
    // A last chance to void decisions in doubt; what stays unresolved is named in the log.
    await this.unanswered.resolve(true);
    this.unanswered.stop();
    for (const callId of this.unanswered.unresolved()) {
      this.#onError(
        new WardenError(
          'STORE_UNAVAILABLE',
          `closing with the decision of call ${callId} in doubt: if it landed, the trail says it was decided although its caller was answered STORE_UNAVAILABLE`,
          { callId },
        ),
      );
    }
    await this.#committer.idle();
    await this.#checkpointer.close();
    if (this.#closeStore) await this.store.close();
  }

  /** Calls `fn` after each commit of this engine (live event streams tail the chain on it). */
  onCommit(fn: () => void): () => void {
    this.#commitListeners.add(fn);
    return () => this.#commitListeners.delete(fn);
  }

  async #commit(unit: CommitUnit): Promise<CommitResult> {
    // Only Warden's own ids are recorded as `system`: any other would read like Warden in the trail,
    // under a name no key is refused (reserved names come from the same list).
    for (const e of unit.events) {
      const problem = systemActorProblem(e.actor);
      if (problem !== undefined) throw new WardenError('INTERNAL', `${e.type} not recorded: ${problem}`);
    }
    // Every event and state row passes here before it is hashed and stored: nothing is stored unredacted.
    const result = await this.#committer.submit(redactUnit(unit, this.#policy.redactFields));
    this.#checkpointer.noteEvents(unit.events.length);
    for (const fn of this.#commitListeners) fn();
    // The database is back: learn what became of the decisions whose commit went unanswered.
    if (this.unanswered.size > 0) void this.unanswered.resolve();
    return result;
  }

  #eventContext(): EventContext {
    return {
      instance: this.instanceId,
      hmacKey: this.keys.hmacKey,
      redactFields: this.#policy.redactFields,
      limits: this.#limits,
    };
  }
}

/** Runs `fn` every `ms`, never two at once (a slow database must not stack runs), reporting failures. */
function guardedInterval(ms: number, fn: () => Promise<unknown>, onError: (e: WardenError) => void) {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    fn()
      .catch((err) => onError(asWardenError(err)))
      .finally(() => {
        running = false;
      });
  }, ms);
  timer.unref();
  return timer;
}
