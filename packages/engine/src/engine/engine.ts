import { hostname } from 'node:os';
import type { BudgetRefusal } from '@warden/api';
import {
  type Actor,
  type ApprovalRecord,
  type AuditEvent,
  type AuditEventType,
  type AuditRecord,
  approvalLetsRun,
  type BudgetLine,
  type CompiledPolicy,
  canonicalJson,
  type Decision,
  detectBurn,
  detectRunaway,
  dueAction,
  type Effect,
  evaluate,
  historyNeeded,
  isWardenError,
  type MeteredCall,
  openApproval,
  type PriceTable,
  type SignedCheckpoint,
  signCheckpoint,
  systemActorProblem,
  type ToolCall,
  ToolCallSchema,
  type Trip,
  toJsonSafe,
  toolReach,
  type Usage,
  useApproval,
  uuidv7,
  voidApproval,
  WARDEN_ACTOR,
  WardenError,
} from '@warden/core';
import {
  approvalEvent,
  type NotificationTarget,
  outboxFor,
  requestedEvent,
} from '../approval/approval-events.js';
import { ApprovalService } from '../approval/approval-service.js';
import { GrantService } from '../approval/grant-service.js';
import { type RetentionOptions, scheduleRetention } from '../audit/retention-schedule.js';
import { BudgetService, type ChargedTo, reservationIdOf } from '../budget/budget-service.js';
import { type SeenCall, SessionHistory } from '../budget/session-history.js';
import { identityGate } from '../identity/identity-gate.js';
import { TaskService } from '../identity/task-service.js';
import type { TaskClaims } from '../identity/task-token.js';
import type { KeyRing } from '../keys/key-ring.js';
import { encodeCursor } from '../store/audit-query.js';
import { GroupCommitter } from '../store/group-committer.js';
import { isSessionExists } from '../store/session-exists.js';
import type { CommitResult, CommitUnit, Mutation, SessionRecord, Store } from '../store/store.js';
import { commitInDoubt } from '../store/store-errors.js';
import { redactUnit } from '../store/unit-redaction.js';
import {
  argsFingerprint,
  type CallOutcome,
  callActor,
  callFingerprint,
  completedEvent,
  DEFAULT_LIMITS,
  type DecidedCall,
  decidedEvent,
  type EventContext,
  type StorageLimits,
} from './call-events.js';
import { Checkpointer } from './checkpointer.js';
import { UnansweredDecisions } from './unanswered-decisions.js';

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

/** Codes for decisions the engine makes without consulting the policy. */
export type EngineBlockCode =
  | 'CALL_INVALID'
  | 'SESSION_FOREIGN'
  | 'SESSION_PAUSED'
  | 'SESSION_CLOSED'
  | 'STORE_UNAVAILABLE'
  | 'APPROVAL_NOT_FOUND'
  | 'APPROVAL_MISMATCH'
  | 'APPROVAL_DECIDED'
  | 'BUDGET_EXCEEDED'
  | 'RUNAWAY_DETECTED'
  | 'PRICE_UNKNOWN'
  | 'ESTIMATE_UNBOUNDED'
  | 'TASK_TOKEN_INVALID'
  | 'TASK_TOKEN_MISMATCH'
  | 'IDENTITY_REQUIRED'
  | 'INTERNAL';

/** What a call or LLM request may consume, reserved against its budgets before it runs. */
export interface UsageEstimate {
  readonly model?: string;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly costUsd?: number;
  /** Usage already spent (reported after the fact): reserve nothing, even for an all-zero estimate. */
  readonly spent?: boolean;
  /** Why the cost cannot be bounded: refused by a tokens or USD budget (ESTIMATE_UNBOUNDED). */
  readonly unbounded?: string;
}

/** Options of one check. */
export interface CheckOptions {
  /** Redeem this approved request: the call must match the approved one exactly (session, tool, arguments). */
  readonly approvalId?: string;
  /** What the call may consume; reserved in every budget that applies before it is allowed. */
  readonly estimate?: UsageEstimate;
  /**
   * `proxy`: the LLM metering proxy decides this request and settles it from the provider's own usage;
   * the agent cannot complete it (it would report its own usage).
   */
  readonly meteredBy?: 'proxy';
  /** The API key the agent called with: recorded in the actor of every event the call makes. */
  readonly keyId?: string;
  /**
   * The task token the call came with (Warden-Task-Token): the call's session, initiator and delegation
   * chain are the token's; a body that disagrees is blocked TASK_TOKEN_MISMATCH, a bad token
   * TASK_TOKEN_INVALID (both recorded, with `identity.refused`).
   */
  readonly taskToken?: string;
}

/** Options of one completion. */
export interface CompleteOptions {
  /** The LLM metering proxy settling a request it forwarded (required for those). */
  readonly meteredBy?: 'proxy';
  /** The API key the agent completed with: recorded in the actor of the completion. */
  readonly keyId?: string;
}

/** The budget that refused a call (code BUDGET_EXCEEDED): a wire shape, defined in @warden/api. */
export type { BudgetRefusal };

/** The answer to `check`: what the caller must do, why, and where it is recorded. */
export interface CheckResult {
  readonly callId: string;
  readonly session: string;
  readonly effect: Effect;
  readonly policyEffect: Effect;
  readonly ruleId: string | null;
  readonly matchedRuleIds: readonly string[];
  readonly reasons: readonly string[];
  readonly policyVersion: string;
  readonly approvals: Decision['approvals'];
  /** Set when the engine blocked before or regardless of the policy. */
  readonly code?: EngineBlockCode;
  /** The approval request a review opened (pending), or the approved one this call redeemed. */
  readonly approval?: {
    readonly id: string;
    readonly status: ApprovalRecord['status'];
    readonly expiresAt: string;
  };
  /** The grant that lifted the default block. */
  readonly grantId?: string;
  /** The budget reservation an allowed call holds until it completes (or its lease runs out). */
  readonly reservationId?: string;
  /** Set with code BUDGET_EXCEEDED. */
  readonly budget?: BudgetRefusal;
  /** The sequence number of the decision's audit event; absent only when the store was unavailable. */
  readonly auditSeq?: number;
}

/** The stateful Warden: decides calls, records everything in the audit chain, keeps sessions. */
export class Engine {
  readonly store: Store;
  readonly keys: KeyRing;
  readonly instanceId: string;
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
  readonly #history = new SessionHistory();
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
  #policy: CompiledPolicy;
  #ctx: EventContext;

  constructor(options: EngineOptions) {
    this.store = options.store;
    this.keys = options.keys;
    this.instanceId = options.instanceId ?? `${hostname()}:${process.pid}`;
    this.#committer = new GroupCommitter(options.store);
    this.approvals = new ApprovalService(this);
    this.grants = new GrantService(this);
    this.tasks = new TaskService(this);
    this.budgets = new BudgetService(this, {
      ...(options.prices ? { prices: options.prices } : {}),
      ...(options.reservationLeaseMs ? { leaseMs: options.reservationLeaseMs } : {}),
      ...(options.defaultTokenEstimate ? { defaultTokenEstimate: options.defaultTokenEstimate } : {}),
      // Reported, never thrown: the charge is already recorded, and the sweep goes on to the next one.
      afterCharge: (lines, call, callId) =>
        this.#afterCharge(lines, call, callId).catch((err) => this.#onError(asWardenError(err))),
    });
    this.#onError = options.onError ?? (() => {});
    this.unanswered = new UnansweredDecisions({
      store: this.store,
      commit: (unit) => this.#commit(unit),
      event: (type, fields) => this.systemEvent(type, WARDEN, fields),
      cancelApproval: (id, reason) => this.approvals.cancel(id, WARDEN, reason),
      onError: this.#onError,
    });
    this.notificationTargets = options.notificationTargets ?? [];
    this.#closeStore = options.closeStore ?? false;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#policy = options.policy;
    this.#ctx = this.#eventContext();
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
    try {
      return await this.#check(input, options, false);
    } catch (err) {
      if (!isSessionExists(err)) throw err;
      // Its new session was created by someone else meanwhile (a task, another agent): decided again
      // over the session as it now is, never assumed to be the caller's.
      return this.#check(input, options, true);
    }
  }

  async #check(input: unknown, options: CheckOptions, again: boolean): Promise<CheckResult> {
    const now = new Date();
    const ts = now.toISOString();
    const callId = uuidv7();
    const parsed = ToolCallSchema.safeParse(input);
    if (!parsed.success) return this.#invalid(input, callId, ts, parsed.error.issues, options.keyId);
    const policy = this.#policy;
    let call: ToolCall = { ...parsed.data, now };
    let sessionId = call.session ?? uuidv7();
    try {
      const gate = await identityGate(this.tasks, policy, call, options);
      call = gate.call;
      sessionId = call.session ?? sessionId;
      // A session id the engine just made cannot exist yet: no lookup.
      const session = call.session === undefined ? undefined : await this.store.getSession(sessionId);
      // The fingerprint is computed once: the loop breakers and the decision event both need it.
      const argsHmac = argsFingerprint(this.keys.hmacKey, call.args);
      const decided: DecidedCall = {
        ...call,
        callId,
        ts,
        session: sessionId,
        argsHmac,
        identity: gate.identity,
        ...(options.keyId ? { keyId: options.keyId } : {}),
      };
      if (!gate.ok) {
        // A token that proves nothing does not let its caller write into another agent's session: the
        // refusal is recorded in a session of its own, naming the one it claimed.
        const elsewhere =
          gate.code === 'TASK_TOKEN_INVALID' && session !== undefined && session.agent !== call.agent;
        const at = elsewhere ? { ...decided, session: uuidv7() } : decided;
        const refusal = gate.refusal
          ? [
              this.tasks.refusalEvent(
                gate.refusal,
                { ...at, callId, ...(elsewhere ? { claimedSession: sessionId } : {}) },
                callActor(decided),
              ),
            ]
          : [];
        return await this.#record(at, engineDecision(policy, gate.code, gate.reason), [], {
          events: refusal,
        });
      }
      const blocked =
        sessionBlock(session) ??
        foreignSession(session, call, gate.claims) ??
        (await this.#taskSession(session, gate.claims));
      if (blocked)
        return await this.#record(decided, engineDecision(policy, blocked.code, blocked.reason), []);
      let decision: EngineDecision = evaluate(policy, { ...call, session: sessionId });
      const ensure = session ? [] : [newSession(sessionId, call, ts)];
      const trip = await this.#runaway(call, sessionId, session, ts, callId, argsHmac);
      if (trip && policy.mode === 'monitor') {
        decision = {
          ...decision,
          reasons: [...decision.reasons, `monitor mode: would be blocked (RUNAWAY_DETECTED): ${trip.reason}`],
        };
      } else if (trip) {
        const stop = engineDecision(
          policy,
          'RUNAWAY_DETECTED',
          `${trip.reason}; session ${sessionId} is paused until a human resumes it`,
        );
        return await this.#recordPausing(decided, stop, ensure, this.#tripEvent(decided, trip));
      }
      if (options.approvalId !== undefined) {
        return await this.#redeem(decided, call, decision, ensure, options.approvalId, options.estimate);
      }
      // A grant lifts only the default block: a block rule or a review always stands.
      if (decision.ruleId === null && decision.policyEffect === 'block') {
        const stake = session ?? { agent: call.agent, triggeredBy: null, delegationChain: [] };
        const grant = await this.grants.find(call, sessionId, now, stake);
        if (grant) decision = grantDecision(decision, grant.id, grant.createdBy, grant.reason);
      }
      if (options.meteredBy) decision = { ...decision, meteredBy: options.meteredBy };
      return await this.#admit(decided, decision, ensure, options.estimate);
    } catch (err) {
      if (!again && isSessionExists(err)) throw err;
      return this.#unavailable(err, callId, sessionId, policy);
    }
  }

  /**
   * A session a task started may be joined only with that task's token (or a child of it): a call
   * without one cannot add its own claims to the task's trail or spend its budgets.
   */
  async #taskSession(
    s: SessionRecord | undefined,
    claims: TaskClaims | undefined,
  ): Promise<{ code: EngineBlockCode; reason: string } | undefined> {
    if (!s || claims?.session === s.id) return undefined;
    const task = await this.tasks.sessionTask(s.id);
    if (task === null) return undefined;
    return {
      code: 'IDENTITY_REQUIRED',
      reason: `session ${s.id} was started by task ${task}; calls into it need a token of that task (Warden-Task-Token)`,
    };
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
    if (outcome.status !== 'ok' && outcome.status !== 'error') {
      throw new WardenError('CALL_INVALID', 'outcome.status must be "ok" or "error"');
    }
    const { decided, completed, voided } = await this.store.findCall(callId);
    if (!decided || (agent !== undefined && decided.event.agent !== agent)) {
      throw new WardenError('CALL_NOT_FOUND', `no decided call has id ${callId}`);
    }
    if (completed) throw new WardenError('CALL_ALREADY_COMPLETED', `call ${callId} was already completed`);
    if (voided) throw callVoided(callId, voided.seq);
    // Its caller was answered STORE_UNAVAILABLE although the decision landed: void it first, never complete it.
    if (this.unanswered.has(callId)) await this.#refuseUnanswered(callId);
    if (decided.event.decision?.meteredBy === 'proxy' && options.meteredBy !== 'proxy') {
      throw new WardenError(
        'CALL_NOT_RUNNABLE',
        `call ${callId} is an LLM request the metering proxy forwarded; the proxy settles it from the provider's usage`,
      );
    }
    const effect = decided.event.decision?.effect;
    const by = options.keyId
      ? callActor({ agent: decided.event.agent ?? '', keyId: options.keyId })
      : undefined;
    if (effect === 'review') await this.#useOwnApproval(callId, decided.event, by);
    else if (effect !== 'allow') {
      throw new WardenError('CALL_NOT_RUNNABLE', `call ${callId} was not allowed (${effect})`);
    }
    const ts = new Date().toISOString();
    const usage = this.budgets.price(outcome.usage);
    const priced = usage ? { ...outcome, usage } : outcome;
    const event = completedEvent(this.#ctx, decided.event, priced, ts, uuidv7(), by);
    let settle = await this.budgets.settlement(decided.event, usage, ts);
    let result: CommitResult;
    for (let attempt = 0; ; attempt++) {
      try {
        result = await this.#commit({ events: [event], ...(settle ? { mutations: [settle.mutation] } : {}) });
        break;
      } catch (err) {
        const budgetConflict = isWardenError(err, 'BUDGET_CONFLICT');
        const ended = isWardenError(err, 'CALL_VOIDED') || isWardenError(err, 'CALL_ALREADY_COMPLETED');
        if (!budgetConflict && !ended) throw err;
        const now = await this.store.findCall(callId);
        if (now.voided) throw callVoided(callId, now.voided.seq);
        // The lease sweep charged the reservation meanwhile: settle again, on top of that charge.
        if (budgetConflict && attempt === 0 && !now.completed) {
          settle = await this.budgets.settlement(decided.event, usage, ts);
          continue;
        }
        // Ended meanwhile (the database allows one completion or void per call), or settled by a
        // concurrent completion of the same call.
        throw new WardenError('CALL_ALREADY_COMPLETED', `call ${callId} was already completed`);
      }
    }
    await this.#afterCompletion(decided.event, usage, settle?.lines);
    return { auditSeq: (result.events[0] as { seq: number }).seq, decided: decided.event };
  }

  /** Voids a decision whose caller was answered STORE_UNAVAILABLE (as far as the database can tell now); always throws CALL_VOIDED. */
  async #refuseUnanswered(callId: string): Promise<never> {
    await this.unanswered.resolve(true);
    const { voided } = await this.store.findCall(callId);
    if (voided) throw callVoided(callId, voided.seq);
    throw new WardenError(
      'CALL_VOIDED',
      `call ${callId} may not run or be completed: its caller was answered STORE_UNAVAILABLE, and its decision is voided once the database can tell it landed`,
    );
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

  async #record(
    call: DecidedCall,
    decision: EngineDecision,
    mutations: CommitUnit['mutations'],
    extra: RecordExtra = {},
  ): Promise<CheckResult> {
    // A review opens its approval request in the same commit: no call is ever held without one.
    const opening = decision.effect === 'review' && !decision.approvalId;
    const approvalId = opening ? `apr_${uuidv7()}` : decision.approvalId;
    const event = decidedEvent(this.#ctx, call, decision, {
      ...(decision.code ? { code: decision.code } : {}),
      policyVersion: decision.policyVersion,
      ...(decision.grantId ? { grantId: decision.grantId } : {}),
      ...(approvalId ? { approvalId } : {}),
      ...(decision.reservationId ? { reservationId: decision.reservationId } : {}),
      ...(decision.meteredBy ? { meteredBy: decision.meteredBy } : {}),
    });
    const events = [event, ...(extra.events ?? [])];
    const all = [...(mutations ?? []), ...(extra.mutations ?? [])];
    let approval = extra.approval;
    if (opening && approvalId) {
      approval = this.#openApproval(approvalId, event, decision, callFingerprint(this.keys.hmacKey, call));
      const requested = requestedEvent(approval, this.instanceId, callActor(call));
      events.push(requested);
      all.push({ kind: 'approval.save', approval, expectVersion: null });
      all.push(...outboxFor(this.notificationTargets, requested, approvalId));
    }
    let result: CommitResult;
    try {
      result = await this.#commit({ events, ...(all.length ? { mutations: all } : {}) });
    } catch (err) {
      // The caller is about to be answered STORE_UNAVAILABLE; if the decision landed anyway, void it.
      const doubt = commitInDoubt(err);
      if (doubt) this.unanswered.track(call.callId, doubt);
      throw err;
    }
    return resultOf(call.callId, call.session, decision, (result.events[0] as { seq: number }).seq, approval);
  }

  #openApproval(id: string, event: AuditEvent, decision: EngineDecision, callHmac: string): ApprovalRecord {
    return openApproval({
      id,
      callId: event.callId as string,
      agent: event.agent as string,
      session: event.session as string,
      tool: event.tool as string,
      args: event.args ?? {},
      argsHmac: event.argsHmac as string,
      callHmac,
      ...(event.flags?.length ? { argsFlags: event.flags } : {}),
      target: event.target ?? null,
      ruleId: decision.ruleId,
      policyVersion: decision.policyVersion,
      reasons: decision.reasons,
      triggeredBy: event.triggeredBy ?? null,
      delegationChain: event.delegationChain ?? [],
      requirements: decision.approvals?.length ? decision.approvals : [this.#policy.defaultApproval],
      approverGroups: this.#policy.approverGroups,
      now: new Date(event.ts),
    });
  }

  /**
   * A call presented with an approval: allowed once if it is the approved call (same session, tool and
   * arguments) and the policy does not now block it; a changed call voids the approval.
   */
  async #redeem(
    call: DecidedCall,
    tool: ToolCall,
    decision: EngineDecision,
    ensure: Mutation[],
    approvalId: string,
    estimate: UsageEstimate | undefined,
  ): Promise<CheckResult> {
    // The policy in force now wins: a call it blocks stays blocked, whatever was approved.
    if (decision.effect === 'block') return this.#record(call, { ...decision, approvalId }, ensure);
    for (let attempt = 0; ; attempt++) {
      const stored = await this.store.approval(approvalId);
      // A request whose time ran out is expired first, as every other channel sees it.
      const a =
        stored && dueAction(stored, new Date()) === 'expire' ? await this.approvals.get(approvalId) : stored;
      const now = new Date();
      const block = (code: EngineBlockCode, reason: string, extra?: RecordExtra) =>
        this.#record(call, { ...engineDecision(this.#policy, code, reason), approvalId }, ensure, extra);
      if (!a || a.agent !== tool.agent) {
        return block(
          'APPROVAL_NOT_FOUND',
          `no approval request ${approvalId} belongs to agent ${tool.agent}`,
        );
      }
      const differs = [
        a.session !== call.session && 'session',
        a.tool !== tool.tool && 'tool',
        a.argsHmac !== argsFingerprint(this.keys.hmacKey, tool.args) && 'arguments',
        a.callHmac !== undefined &&
          a.callHmac !== callFingerprint(this.keys.hmacKey, call) &&
          'target, labels, triggeredBy or delegation chain',
      ].filter(Boolean);
      // A review the policy now words differently (more approvers, other groups) needs a new approval.
      if (differs.length === 0 && decision.effect === 'review' && !sameRequirements(a, decision)) {
        differs.push('review requirements (the policy changed since it was approved)');
      }
      try {
        if (differs.length > 0) {
          const reason = `the ${differs.join(' and ')} ${differs.length === 1 ? 'differs' : 'differ'} from the approved call; approval ${a.id} is void, ask again`;
          if (a.status !== 'approved') return await block('APPROVAL_MISMATCH', reason);
          const voided = voidApproval(a, reason, now);
          const ev = approvalEvent(
            'approval.voided',
            voided,
            callActor(call),
            this.instanceId,
            voided.updatedAt,
            {
              reason,
              presentedBy: call.callId,
            },
          );
          return await block('APPROVAL_MISMATCH', reason, {
            events: [ev],
            mutations: [{ kind: 'approval.save', approval: voided, expectVersion: a.version }],
          });
        }
        if (a.status === 'pending') {
          return await this.#record(call, { ...decision, effect: 'review', approvalId: a.id }, ensure, {
            approval: a,
          });
        }
        if (!approvalLetsRun(a)) {
          return await block('APPROVAL_DECIDED', `approval ${a.id} is ${a.status}; the call may not run`);
        }
        let used: ApprovalRecord;
        try {
          used = useApproval(a, call.callId, now);
        } catch (err) {
          // Approved but left unused past its window: stale, like a denied one.
          if (isWardenError(err, 'APPROVAL_DECIDED')) return await block('APPROVAL_DECIDED', err.message);
          throw err;
        }
        const approvers = a.votes.filter((v) => v.vote === 'approve').map((v) => v.principal);
        const allow: EngineDecision = {
          ...decision,
          effect: 'allow',
          ruleId: a.ruleId,
          reasons: [`approved by ${approvers.join(', ') || a.decidedBy || 'expiry'} (approval ${a.id})`],
          approvalId: a.id,
        };
        const ev = approvalEvent('approval.used', used, callActor(call), this.instanceId, used.updatedAt, {
          usedByCall: call.callId,
        });
        // Budgets still apply: an approved call that would go over is refused and the approval stays unused.
        return await this.#admit(call, allow, ensure, estimate, {
          events: [ev],
          mutations: [{ kind: 'approval.save', approval: used, expectVersion: a.version }],
          approval: used,
        });
      } catch (err) {
        if (!isWardenError(err, 'APPROVAL_CONFLICT') || attempt >= 8) throw err;
      }
    }
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
  ): Promise<
    { readonly allowed: true } | { readonly allowed: false; readonly code: string; readonly reason: string }
  > {
    const session = input.session ? await this.store.getSession(input.session) : undefined;
    const stopped = sessionBlock(session);
    if (stopped) return { allowed: false, ...stopped };
    const decision = evaluate(this.#policy, { ...input, now: new Date() });
    const a = await this.approvals.get(approvalId);
    if (decision.effect === 'block') {
      return {
        allowed: false,
        code: 'APPROVAL_MISMATCH',
        reason: `the policy now blocks this call: ${decision.reasons.join('; ')}`,
      };
    }
    if (decision.effect === 'review' && !sameRequirements(a, decision)) {
      return {
        allowed: false,
        code: 'APPROVAL_MISMATCH',
        reason: 'the review requirements changed since the request opened; ask again',
      };
    }
    const gate = await this.#reserveFor(
      callId,
      {
        agent: input.agent,
        session: a.session,
        tool: input.tool,
        ...(input.labels ? { labels: input.labels } : {}),
      },
      estimate,
      new Date(),
    );
    if (!gate.ok && this.#policy.mode !== 'monitor') {
      if (gate.code === 'BUDGET_EXCEEDED') {
        const exceeded = this.systemEvent('budget.exceeded', WARDEN, {
          agent: input.agent,
          session: a.session,
          tool: input.tool,
          callId,
          data: { ...(gate.budget ?? {}), reason: gate.reason, paused: gate.spent === true },
        });
        // Only a pause is news for a person: a call that merely does not fit is the caller's answer, and
        // notifying each one would let an agent retrying such calls flood every webhook. Recorded, not sent.
        if (gate.spent) await this.#pauseLater(a.session, input.agent, gate.code, gate.reason, [exceeded]);
        else await this.#commit({ events: [exceeded] });
      }
      return { allowed: false, code: gate.code, reason: gate.reason };
    }
    try {
      await this.approvals.use(approvalId, callId, callActor({ agent: input.agent, ...options }));
    } catch (err) {
      if (gate.ok && gate.reservationId) {
        const call = { callId, ts: new Date().toISOString(), agent: input.agent, session: a.session };
        await this.#releaseNow(gate.reservationId, call, 'the approval could not be used');
      }
      throw err;
    }
    return { allowed: true };
  }

  /** Completing a reviewed call uses its approval; refused unless the approval lets it run. */
  async #useOwnApproval(callId: string, decided: AuditEvent, by?: Actor): Promise<void> {
    // The approval the call opened, or the one it presented (a redeem that waited for the decision).
    const presented = decided.decision?.approvalId;
    const a = presented ? await this.store.approval(presented) : await this.store.approvalByCall(callId);
    if (a?.status === 'used' && a.usedByCall === callId) return;
    if (a && approvalLetsRun(a)) {
      // Used here without the call in hand (its arguments are stored redacted): the session must still be
      // open and the policy the one it was approved under; otherwise present it again with approvalId.
      const stopped = sessionBlock(await this.store.getSession(a.session));
      if (stopped) throw new WardenError('CALL_NOT_RUNNABLE', stopped.reason, { code: stopped.code });
      if (this.#policy.version !== a.policyVersion) {
        throw new WardenError(
          'CALL_NOT_RUNNABLE',
          `the policy changed since approval ${a.id} was granted; present the call again with approvalId to have it checked under the policy in force`,
          { approvalId: a.id },
        );
      }
      await this.approvals.use(a.id, callId, by);
      return;
    }
    throw new WardenError(
      'CALL_NOT_RUNNABLE',
      `call ${callId} is held for review and its approval is ${a?.status ?? 'missing'}; it may not run`,
      a ? { approvalId: a.id, status: a.status } : {},
    );
  }

  /**
   * Reserves what a call may spend in every budget that applies to it. PRICE_UNKNOWN when a USD budget
   * applies and the model cannot be priced; BUDGET_EXCEEDED names the first budget that would go over.
   */
  async #reserveFor(
    callId: string,
    call: MeteredCall,
    estimate: UsageEstimate,
    now: Date,
  ): Promise<BudgetGate> {
    let lines: BudgetLine[];
    try {
      lines = this.budgets.plan(call, estimate, now.getTime());
    } catch (err) {
      if (isWardenError(err, 'PRICE_UNKNOWN'))
        return { ok: false, code: 'PRICE_UNKNOWN', reason: err.message };
      if (isWardenError(err, 'ESTIMATE_UNBOUNDED'))
        return { ok: false, code: 'ESTIMATE_UNBOUNDED', reason: err.message };
      throw err;
    }
    if (lines.length === 0) return { ok: true };
    const outcome = await this.budgets.reserve(callId, call, lines, now);
    if (outcome.ok) return { ok: true, reservationId: reservationIdOf(callId) };
    const { line, used, reserved, limit } = outcome;
    // Spent, the session pauses. Otherwise only this call's estimate does not fit beside what calls in
    // flight hold (and may settle lower): it is refused, and a smaller call may still go ahead. For calls,
    // admission is the spend, so a call that does not fit means the budget is spent.
    const spent = line.metric === 'calls' || used >= limit;
    const unit = line.metric === 'usd' ? ' USD' : line.metric === 'tokens' ? ' tokens' : ' calls';
    const window = line.window === 'session' ? 'this session' : `the ${line.window} from ${line.windowStart}`;
    return {
      ok: false,
      code: 'BUDGET_EXCEEDED',
      spent,
      reason: `budget ${line.budgetId} (${line.scopeKey}) would go over its limit of ${limit}${unit} for ${window}: ${used} used, ${reserved} reserved, ${line.amount} more asked`,
      budget: {
        budgetId: line.budgetId,
        scopeKey: line.scopeKey,
        metric: line.metric,
        limit,
        used,
        reserved,
        requested: line.amount,
      },
    };
  }

  /**
   * Records an allowed call once its budgets admit it: with its reservation, or, when a budget would go
   * over, as a block, which pauses the session when the budget is spent (in monitor mode: allowed, with
   * what would have happened).
   * `extra` (e.g. using an approval) is written only when the call is admitted.
   */
  async #admit(
    call: DecidedCall,
    decision: EngineDecision,
    ensure: Mutation[],
    estimate: UsageEstimate | undefined,
    extra: RecordExtra = {},
  ): Promise<CheckResult> {
    if (decision.effect !== 'allow' || decision.code || call.tool === undefined) {
      return this.#record(call, decision, ensure, extra);
    }
    const metered: MeteredCall = {
      agent: call.agent,
      session: call.session,
      tool: call.tool,
      ...(call.labels ? { labels: call.labels } : {}),
    };
    const gate = await this.#reserveFor(call.callId, metered, estimate ?? {}, new Date(call.ts));
    if (gate.ok) {
      if (!gate.reservationId) return this.#record(call, decision, ensure, extra);
      try {
        return await this.#record(call, { ...decision, reservationId: gate.reservationId }, ensure, extra);
      } catch (err) {
        await this.#releaseNow(gate.reservationId, call, 'the decision could not be recorded');
        throw err;
      }
    }
    if (decision.mode === 'monitor') {
      const reasons = [...decision.reasons, `monitor mode: would be blocked (${gate.code}): ${gate.reason}`];
      return this.#record(call, { ...decision, reasons }, ensure, extra);
    }
    const stop: EngineDecision = {
      ...engineDecision(this.#policy, gate.code, gate.reason),
      ...(gate.budget ? { budget: gate.budget } : {}),
    };
    if (gate.code === 'PRICE_UNKNOWN' || gate.code === 'ESTIMATE_UNBOUNDED')
      return this.#record(call, stop, ensure);
    // A call that merely does not fit is refused in its own decision (BUDGET_EXCEEDED, with the budget):
    // no budget.exceeded and no notification per refusal, which an agent looping such calls would flood.
    if (!gate.spent) return this.#record(call, stop, ensure);
    const exceeded = this.systemEvent('budget.exceeded', WARDEN, {
      ts: call.ts,
      agent: call.agent,
      session: call.session,
      tool: call.tool,
      callId: call.callId,
      data: { ...(gate.budget ?? {}), reason: gate.reason, paused: true },
    });
    return this.#recordPausing(call, stop, ensure, [exceeded]);
  }

  /**
   * Gives back a reservation at once when the call it was made for will not run (its decision could not
   * be recorded), instead of holding the budget until the lease runs out. Best effort: when the store is
   * what failed, the lease sweep releases it later.
   */
  async #releaseNow(
    reservationId: string,
    call: Pick<DecidedCall, 'callId' | 'agent' | 'session'>,
    why: string,
  ): Promise<void> {
    try {
      const held = await this.store.reservation(reservationId);
      if (held?.state !== 'held') return;
      await this.#commit({
        events: [
          this.systemEvent('budget.released', WARDEN, {
            agent: call.agent,
            session: call.session,
            callId: call.callId,
            data: { reservationId, reason: why },
          }),
        ],
        // Released as if its lease had ended now: the mutation releases only leases that have ended.
        mutations: [{ kind: 'budget.release', ids: [reservationId], now: held.leaseUntil }],
      });
    } catch {
      // The sweep releases it when the lease ends.
    }
  }

  /** Records a block that pauses its session, with the events saying why; notifications queued with them. */
  async #recordPausing(
    call: DecidedCall,
    decision: EngineDecision,
    ensure: Mutation[],
    why: AuditEvent[],
  ): Promise<CheckResult> {
    const reason = decision.reasons[0] ?? 'paused by Warden';
    const paused = this.systemEvent('session.paused', WARDEN, {
      ts: call.ts,
      agent: call.agent,
      session: call.session,
      data: { reason, code: decision.code ?? null },
    });
    const pause: Mutation = {
      kind: 'session.state',
      id: call.session,
      state: 'paused',
      from: ['active'],
      reason,
      ts: call.ts,
    };
    try {
      return await this.#record(call, decision, [...ensure, pause], {
        events: [...why, paused],
        mutations: [...why, paused].flatMap((e) => outboxFor(this.notificationTargets, e, null)),
      });
    } catch (err) {
      // Paused (or closed) meanwhile by another call: the block and its reasons stand without a new pause.
      if (!isWardenError(err, 'SESSION_STATE')) throw err;
      return this.#record(call, decision, ensure, {
        events: why,
        mutations: why.flatMap((e) => outboxFor(this.notificationTargets, e, null)),
      });
    }
  }

  /** Pauses a session after the fact (a breach found on settlement, a token burn), with the reasons. */
  async #pauseLater(session: string, agent: string, code: string, reason: string, why: AuditEvent[]) {
    const ts = new Date().toISOString();
    const paused = this.systemEvent('session.paused', WARDEN, {
      ts,
      agent,
      session,
      data: { reason, code },
    });
    const pause: Mutation = {
      kind: 'session.state',
      id: session,
      state: 'paused',
      from: ['active'],
      reason,
      ts,
    };
    try {
      await this.#commit({
        events: [...why, paused],
        mutations: [pause, ...[...why, paused].flatMap((e) => outboxFor(this.notificationTargets, e, null))],
      });
    } catch (err) {
      if (!isWardenError(err, 'SESSION_STATE')) throw err;
      await this.#commit({
        events: why,
        mutations: why.flatMap((e) => outboxFor(this.notificationTargets, e, null)),
      });
    }
  }

  /**
   * The loop detectors, run on every call of an existing session before it is decided: the call joins
   * the session's recent history either way, and a trip says why the session must pause.
   */
  async #runaway(
    call: ToolCall,
    sessionId: string,
    session: SessionRecord | undefined,
    ts: string,
    callId: string,
    argsHmac: string,
  ): Promise<Trip | undefined> {
    // A call that starts a session cannot be a loop yet; the next call seeds from the audit trail.
    if (!session) return undefined;
    const settings = this.#policy.budgets.forAgent(call.agent).breakers;
    const judged = settings.repeat || settings.pingPong || settings.rate;
    if (!judged) {
      // The token-burn breaker still needs the history restarted at a resume (it drops older burns).
      if (settings.tokenBurn && !this.#history.current(sessionId, session.updatedAt))
        this.#history.seed(sessionId, session.updatedAt, [], 0);
      return undefined;
    }
    const at = Date.parse(ts);
    const need = historyNeeded(settings);
    const maxAge = Math.max(
      settings.repeat?.withinMs ?? 0,
      settings.pingPong?.withinMs ?? 0,
      settings.rate ? 60_000 : 0,
    );
    const from = new Date(Math.max(Date.parse(session.updatedAt), at - maxAge)).toISOString();
    const seen = (records: readonly AuditRecord[]): SeenCall[] =>
      records
        .map((r) => r.event)
        .filter(
          (e) => e.tool !== undefined && e.argsHmac !== undefined && !ENGINE_ONLY.has(e.decision?.code ?? ''),
        )
        .map((e) => ({
          tool: e.tool as string,
          argsHmac: e.argsHmac as string,
          at: Date.parse(e.ts),
          callId: e.callId as string,
        }));
    if (!this.#history.current(sessionId, session.updatedAt)) {
      const page = await this.store.queryAudit({
        session: sessionId,
        type: 'call.decided',
        from,
        limit: 10_000,
      });
      const last = page.records.at(-1)?.seq ?? 0;
      this.#history.seed(sessionId, session.updatedAt, seen(page.records).slice(-need), last);
    } else if (this.store.dialect === 'postgres') {
      // Other instances may serve the same session: read the decisions they recorded since the last look,
      // so a loop spread across instances is caught as soon as on one.
      const page = await this.store.queryAudit({
        session: sessionId,
        type: 'call.decided',
        from,
        ...(this.#history.lastSeq(sessionId) > 0
          ? { cursor: encodeCursor(this.#history.lastSeq(sessionId)) }
          : {}),
        limit: 1_000,
      });
      const last = page.records.at(-1)?.seq;
      if (last !== undefined) this.#history.merge(sessionId, seen(page.records), last, need, maxAge);
    }
    const trace: SeenCall = {
      tool: call.tool,
      argsHmac,
      at,
      callId,
    };
    const trip = detectRunaway(this.#history.traces(sessionId), trace, settings);
    this.#history.push(sessionId, trace, need, maxAge);
    return trip;
  }

  #tripEvent(call: DecidedCall, trip: Trip): AuditEvent[] {
    return [
      this.systemEvent('breaker.tripped', WARDEN, {
        ts: call.ts,
        agent: call.agent,
        session: call.session,
        ...(call.tool ? { tool: call.tool } : {}),
        callId: call.callId,
        data: { breaker: trip.breaker, reason: trip.reason, ...trip.detail },
      }),
    ];
  }

  /**
   * After a completion: alerts and a hard breach from the settlement, and the token-burn breaker. A
   * failure here is reported, never thrown: the completion itself is already recorded.
   */
  async #afterCompletion(
    decided: AuditEvent,
    usage: Usage | undefined,
    lines: readonly BudgetLine[] | undefined,
  ) {
    const session = decided.session as string;
    const agent = decided.agent as string;
    // Monitor mode records and allows: alerts go out, but nothing is paused.
    const monitor = this.#policy.mode === 'monitor';
    try {
      if (lines?.length) {
        const metered: MeteredCall = { agent, session, tool: decided.tool as string };
        await this.#afterCharge(lines, metered, decided.callId as string);
      }
      const tokens = (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0);
      const settings = this.#policy.budgets.forAgent(agent).breakers;
      if (tokens > 0 && settings.tokenBurn && !monitor) {
        const now = Date.now();
        const samples = this.#history.burn(session, { at: now, tokens }, settings.tokenBurn.overMs);
        const trip = detectBurn(samples, now, settings);
        if (trip) {
          const reason = `${trip.reason}; session ${session} is paused until a human resumes it`;
          const event = this.systemEvent('breaker.tripped', WARDEN, {
            agent,
            session,
            callId: decided.callId as string,
            data: { breaker: trip.breaker, reason: trip.reason, ...trip.detail },
          });
          await this.#pauseLater(session, agent, 'RUNAWAY_DETECTED', reason, [event]);
        }
      }
    } catch (err) {
      this.#onError(asWardenError(err));
    }
  }

  /**
   * After spend was charged to budget lines (a completion's settlement, or the sweep charging an expired
   * reservation its estimate): announces the thresholds crossed and pauses the session on a hard breach.
   */
  async #afterCharge(lines: readonly BudgetLine[], call: ChargedTo, callId: string): Promise<void> {
    const breach = await this.budgets.afterSettle(lines, call);
    if (!breach || this.#policy.mode === 'monitor') return;
    const limit = breach.limitOverride ?? breach.limit;
    const reason = `budget ${breach.budgetId} (${breach.scopeKey}) went over its limit: ${breach.used} used of ${limit} ${breach.metric}; session ${call.session} is paused until a human resumes it`;
    const exceeded = this.systemEvent('budget.exceeded', WARDEN, {
      agent: call.agent,
      session: call.session,
      callId,
      data: {
        budgetId: breach.budgetId,
        scopeKey: breach.scopeKey,
        metric: breach.metric,
        limit,
        used: breach.used,
        reason,
      },
    });
    await this.#pauseLater(call.session, call.agent, 'BUDGET_EXCEEDED', reason, [exceeded]);
  }

  async #invalid(
    input: unknown,
    callId: string,
    ts: string,
    issues: readonly { path: PropertyKey[]; message: string }[],
    keyId: string | undefined,
  ) {
    const raw = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
    const problems = issues.map((i) => `${i.path.map(String).join('.') || 'call'}: ${i.message}`);
    const decision = engineDecision(
      this.#policy,
      'CALL_INVALID',
      `the call is invalid: ${problems.join('; ')}`,
    );
    // The invalid call's own session id only when it can be stored as one (no control characters).
    const usable =
      typeof raw.session === 'string' && ToolCallSchema.shape.session.safeParse(raw.session).success;
    const sessionId = usable ? (raw.session as string) : uuidv7();
    const agent = typeof raw.agent === 'string' && raw.agent.length > 0 ? raw.agent.slice(0, 200) : 'unknown';
    const call: DecidedCall = {
      callId,
      ts,
      agent,
      session: sessionId,
      ...(typeof raw.tool === 'string' ? { tool: raw.tool.slice(0, 500) } : {}),
      args: raw.args,
      // Nothing the body claims is believed; a token it came with is not even read.
      identity: { agent: keyId ? { method: 'api_key', keyId } : { method: 'claimed' } },
    };
    try {
      return await this.#record(call, decision, []);
    } catch (err) {
      return this.#unavailable(err, callId, sessionId, this.#policy);
    }
  }

  #unavailable(err: unknown, callId: string, session: string, policy: CompiledPolicy): CheckResult {
    const werr = isWardenError(err) ? err : new WardenError('INTERNAL', String(err));
    const code = werr.code === 'STORE_UNAVAILABLE' ? 'STORE_UNAVAILABLE' : 'INTERNAL';
    const reason =
      werr.code === 'STORE_UNAVAILABLE'
        ? 'the audit store is unavailable, so nothing can be recorded: blocked until it returns'
        : `the decision could not be recorded (${werr.code}), so the call is blocked`;
    return resultOf(callId, session, engineDecision(policy, code, reason), undefined);
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

/** What a decision's commit carries besides the decision itself. */
interface RecordExtra {
  readonly events?: AuditEvent[];
  readonly mutations?: Mutation[];
  readonly approval?: ApprovalRecord;
}

type EngineDecision = Omit<Decision, 'conditionErrors' | 'approval'> & {
  code?: EngineBlockCode;
  grantId?: string;
  approvalId?: string;
  reservationId?: string;
  budget?: BudgetRefusal;
  meteredBy?: 'proxy';
};

/** Whether a call may spend: admitted (with its reservation, when a budget applies) or why not. */
type BudgetGate =
  | { readonly ok: true; readonly reservationId?: string }
  | {
      readonly ok: false;
      readonly code: 'BUDGET_EXCEEDED' | 'PRICE_UNKNOWN' | 'ESTIMATE_UNBOUNDED';
      readonly reason: string;
      /** With BUDGET_EXCEEDED: whether the budget is spent (the session pauses) or only this call does not fit. */
      readonly spent?: boolean;
      readonly budget?: BudgetRefusal;
    };

const WARDEN: Actor = WARDEN_ACTOR;

function grantDecision(d: EngineDecision, grantId: string, by: string, reason: string): EngineDecision {
  return {
    ...d,
    effect: d.mode === 'monitor' ? 'allow' : 'allow',
    policyEffect: 'allow',
    reasons: [`allowed by grant ${grantId} from ${by}: ${reason}`],
    grantId,
  };
}

/** Whether the review the policy now asks for is the one the approval was granted under. */
function sameRequirements(a: ApprovalRecord, d: Pick<EngineDecision, 'approvals'>): boolean {
  return canonicalJson(toJsonSafe(a.requirements)) === canonicalJson(toJsonSafe(d.approvals ?? []));
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

function callVoided(callId: string, seq: number): WardenError {
  return new WardenError(
    'CALL_VOIDED',
    `call ${callId} was voided (audit event ${seq}): its caller was answered STORE_UNAVAILABLE, so it may not run or be completed`,
    { voidedSeq: seq },
  );
}

function asWardenError(err: unknown): WardenError {
  return isWardenError(err) ? err : new WardenError('INTERNAL', String(err));
}

/** Calls the engine refused before they could run: they are not part of what a session did. */
const ENGINE_ONLY = new Set([
  'SESSION_PAUSED',
  'SESSION_CLOSED',
  'SESSION_FOREIGN',
  'CALL_INVALID',
  'RUNAWAY_DETECTED',
  'TASK_TOKEN_INVALID',
  'TASK_TOKEN_MISMATCH',
  'IDENTITY_REQUIRED',
]);

function engineDecision(policy: CompiledPolicy, code: EngineBlockCode, reason: string): EngineDecision {
  return {
    effect: 'block',
    policyEffect: 'block',
    mode: policy.mode,
    ruleId: null,
    matchedRuleIds: [],
    reasons: [reason],
    policyVersion: policy.version,
    approvals: undefined,
    code,
  };
}

function sessionBlock(s: SessionRecord | undefined): { code: EngineBlockCode; reason: string } | undefined {
  if (s?.state === 'paused') {
    return {
      code: 'SESSION_PAUSED',
      reason: `session ${s.id} is paused${s.stateReason ? `: ${s.stateReason}` : ''}; a human must resume it`,
    };
  }
  if (s?.state === 'closed')
    return { code: 'SESSION_CLOSED', reason: `session ${s.id} is closed; start a new session` };
  return undefined;
}

/**
 * A session belongs to the agent that started it. Another agent may join it only as that agent's
 * delegate, proven by a task token for the session (a token exchange from the session's task); a
 * claimed delegationChain proves nothing, or any agent could spend the session's budget, trip its
 * breakers or hide its calls among another agent's.
 */
function foreignSession(
  s: SessionRecord | undefined,
  call: ToolCall,
  claims: TaskClaims | undefined,
): { code: EngineBlockCode; reason: string } | undefined {
  if (!s || s.agent === call.agent || claims?.session === s.id) return undefined;
  return {
    code: 'SESSION_FOREIGN',
    reason: `session ${s.id} belongs to agent ${s.agent}; ${call.agent} may join it only with a task token for it (delegated by token exchange; a claimed delegationChain is not enough)`,
  };
}

function newSession(id: string, call: ToolCall, ts: string) {
  const session: SessionRecord = {
    id,
    agent: call.agent,
    state: 'active',
    stateReason: null,
    triggeredBy: call.triggeredBy ?? null,
    delegationChain: call.delegationChain ?? [],
    createdAt: ts,
    updatedAt: ts,
  };
  // Only if new: a session someone else creates between the lookup and the commit is not the caller's.
  return { kind: 'session.ensure' as const, session, onlyIfNew: true };
}

function resultOf(
  callId: string,
  session: string,
  d: EngineDecision,
  auditSeq: number | undefined,
  approval?: ApprovalRecord,
): CheckResult {
  return {
    callId,
    session,
    effect: d.effect,
    policyEffect: d.policyEffect,
    ruleId: d.ruleId,
    matchedRuleIds: d.matchedRuleIds,
    reasons: d.reasons,
    policyVersion: d.policyVersion,
    approvals: d.approvals,
    ...(d.code ? { code: d.code } : {}),
    ...(auditSeq !== undefined ? { auditSeq } : {}),
    ...(approval
      ? { approval: { id: approval.id, status: approval.status, expiresAt: approval.expiresAt } }
      : {}),
    ...(d.grantId ? { grantId: d.grantId } : {}),
    ...(d.reservationId ? { reservationId: d.reservationId } : {}),
    ...(d.budget ? { budget: d.budget } : {}),
  };
}
