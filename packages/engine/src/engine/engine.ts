import { hostname } from 'node:os';
import {
  type Actor,
  type AuditEvent,
  type AuditEventType,
  type CompiledPolicy,
  type Decision,
  type Effect,
  evaluate,
  isWardenError,
  type SignedCheckpoint,
  signCheckpoint,
  type ToolCall,
  ToolCallSchema,
  uuidv7,
  WardenError,
} from '@warden/core';
import { type RetentionOptions, scheduleRetention } from '../audit/retention-schedule.js';
import type { KeyRing } from '../keys/key-ring.js';
import { GroupCommitter } from '../store/group-committer.js';
import type { CommitResult, CommitUnit, SessionRecord, Store } from '../store/store.js';
import {
  type CallOutcome,
  completedEvent,
  DEFAULT_LIMITS,
  type DecidedCall,
  decidedEvent,
  type EventContext,
  type StorageLimits,
} from './call-events.js';
import { Checkpointer } from './checkpointer.js';

/** Task-scoped grants (the approvals issue fills this in): may turn a decision into another one. */
export type GrantHook = (call: ToolCall, decision: Decision) => Promise<Decision> | Decision;

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
  readonly grants?: GrantHook;
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
  | 'INTERNAL';

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
  readonly #grants: GrantHook | undefined;
  readonly #limits: StorageLimits;
  readonly #closeStore: boolean;
  readonly #retention: { stop(): void } | undefined;
  readonly #commitListeners = new Set<() => void>();
  #policy: CompiledPolicy;
  #ctx: EventContext;

  constructor(options: EngineOptions) {
    this.store = options.store;
    this.keys = options.keys;
    this.instanceId = options.instanceId ?? `${hostname()}:${process.pid}`;
    this.#committer = new GroupCommitter(options.store);
    this.#grants = options.grants;
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
  }

  /** The policy in force. */
  get policy(): CompiledPolicy {
    return this.#policy;
  }

  /**
   * Decides a call and records the decision durably before answering. Never throws for a governance
   * outcome or a store failure: an invalid call, a paused session or an unavailable store is a block.
   */
  async check(input: unknown): Promise<CheckResult> {
    const now = new Date();
    const ts = now.toISOString();
    const callId = uuidv7();
    const parsed = ToolCallSchema.safeParse(input);
    if (!parsed.success) return this.#invalid(input, callId, ts, parsed.error.issues);
    const call: ToolCall = { ...parsed.data, now };
    const sessionId = call.session ?? uuidv7();
    const policy = this.#policy;
    try {
      // A session id the engine just made cannot exist yet: no lookup.
      const session = call.session === undefined ? undefined : await this.store.getSession(sessionId);
      const decided: DecidedCall = { ...call, callId, ts, session: sessionId };
      const blocked = sessionBlock(session) ?? foreignSession(session, call);
      if (blocked)
        return await this.#record(decided, engineDecision(policy, blocked.code, blocked.reason), []);
      let decision = evaluate(policy, { ...call, session: sessionId });
      if (this.#grants) decision = await this.#grants(call, decision);
      const ensure = session ? [] : [newSession(sessionId, call, ts)];
      return await this.#record(decided, decision, ensure);
    } catch (err) {
      return this.#unavailable(err, callId, sessionId, policy);
    }
  }

  /**
   * Records how an allowed call ended. Throws CALL_NOT_FOUND, CALL_NOT_RUNNABLE or CALL_ALREADY_COMPLETED.
   * With `agent`, another agent's call is CALL_NOT_FOUND: an agent learns nothing about others' calls.
   */
  async complete(
    callId: string,
    outcome: CallOutcome,
    agent?: string,
  ): Promise<{ auditSeq: number; decided: AuditEvent }> {
    if (outcome.status !== 'ok' && outcome.status !== 'error') {
      throw new WardenError('CALL_INVALID', 'outcome.status must be "ok" or "error"');
    }
    const { decided, completed } = await this.store.findCall(callId);
    if (!decided || (agent !== undefined && decided.event.agent !== agent)) {
      throw new WardenError('CALL_NOT_FOUND', `no decided call has id ${callId}`);
    }
    if (completed) throw new WardenError('CALL_ALREADY_COMPLETED', `call ${callId} was already completed`);
    if (decided.event.decision?.effect !== 'allow') {
      throw new WardenError(
        'CALL_NOT_RUNNABLE',
        `call ${callId} was not allowed (${decided.event.decision?.effect})`,
      );
    }
    const event = completedEvent(this.#ctx, decided.event, outcome, new Date().toISOString(), uuidv7());
    const result = await this.#commit({ events: [event] });
    return { auditSeq: (result.events[0] as { seq: number }).seq, decided: decided.event };
  }

  /**
   * Replaces the policy; the change is recorded (old and new version, who) before it takes effect. With
   * `sources`, the policy text is stored too, so other instances and restarts pick it up.
   */
  async setPolicy(
    next: CompiledPolicy,
    by: Actor,
    sources?: readonly { path: string; text: string }[],
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
      ...(record ? { mutations: [{ kind: 'policy.store' as const, policy: record }] } : {}),
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
    const result = await this.#committer.submit(unit);
    this.#checkpointer.noteEvents(unit.events.length);
    for (const fn of this.#commitListeners) fn();
    return result;
  }

  async #record(
    call: DecidedCall,
    decision: EngineDecision,
    mutations: CommitUnit['mutations'],
  ): Promise<CheckResult> {
    const event = decidedEvent(this.#ctx, call, decision, {
      ...(decision.code ? { code: decision.code } : {}),
      policyVersion: decision.policyVersion,
    });
    const result = await this.#commit({ events: [event], ...(mutations?.length ? { mutations } : {}) });
    return resultOf(call.callId, call.session, decision, (result.events[0] as { seq: number }).seq);
  }

  async #invalid(
    input: unknown,
    callId: string,
    ts: string,
    issues: readonly { path: PropertyKey[]; message: string }[],
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

type EngineDecision = Omit<Decision, 'conditionErrors' | 'approval'> & { code?: EngineBlockCode };

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
 * delegate; otherwise it could spend the session's budget or hide its calls among another agent's.
 */
function foreignSession(
  s: SessionRecord | undefined,
  call: ToolCall,
): { code: EngineBlockCode; reason: string } | undefined {
  if (!s || s.agent === call.agent || (call.delegationChain ?? []).includes(s.agent)) return undefined;
  return {
    code: 'SESSION_FOREIGN',
    reason: `session ${s.id} belongs to agent ${s.agent}; ${call.agent} may join it only as its delegate (delegationChain)`,
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
  return { kind: 'session.ensure' as const, session };
}

function resultOf(
  callId: string,
  session: string,
  d: EngineDecision,
  auditSeq: number | undefined,
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
  };
}
