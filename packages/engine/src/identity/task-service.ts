import {
  type Actor,
  type AuditEvent,
  type CallIdentity,
  isWardenError,
  ToolCallSchema,
  uuidv7,
  WardenError,
} from '@warden/core';
import type { EnginePort } from '../engine/engine-port.js';
import { isSessionExists } from '../store/session-exists.js';
import type { SessionRecord } from '../store/store.js';
import { deriveTaskSigningKey, type TaskSigningKey, taskJwks } from './task-signing-key.js';
import {
  MAX_CHAIN,
  type RefusalReason,
  refused,
  signTaskToken,
  type TaskClaims,
  type TaskInitiator,
  verifyTaskToken,
} from './task-token.js';

/** Default and longest lifetime of a task token. */
export const DEFAULT_TASK_TTL_SECONDS = 3_600;
export const MAX_TASK_TTL_SECONDS = 86_400;

/** What starting a task needs: the agent, who initiates it (verified by the caller), and options. */
export interface TaskStart {
  readonly agent: string;
  readonly initiator: TaskInitiator;
  /** A new session id for the task (default: one Warden makes); an existing session is refused. */
  readonly session?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Lifetime in seconds (default 1 h, at most 24 h). */
  readonly ttlSeconds?: number;
  /**
   * The configured identity provider's issuer. A person a service key vouches for (method `api_key`) is
   * then resolved against the people who signed in through it, so separation of duties knows them by
   * issuer and subject when they sign in by SSO.
   */
  readonly idpIssuer?: string;
  /**
   * The person's ID token the task is started with: `id` names it (a hash of its issuer and `jti`, or of
   * the whole token) and `issuedAt` is its `iat`. Each ID token starts one task: `task.started` records
   * `data.idTokenId`, and a second start with it is ID_TOKEN_INVALID (reason `replayed`).
   */
  readonly idToken?: { readonly id: string; readonly issuedAt: Date };
  /**
   * How the initiator was verified when neither an ID token nor a vouching key says it: `sso_sign_in`, a
   * person signed in through the identity provider starting the task for themselves. Recorded as
   * `data.via` on `task.started`.
   */
  readonly via?: 'sso_sign_in';
}

/** How far back a used ID token is looked for before its `iat` (clocks of the IdP and Warden disagree). */
const ID_TOKEN_SKEW_MS = 5 * 60_000;

/** A token Warden issued, with what it binds. */
export interface IssuedTaskToken {
  readonly token: string;
  readonly tokenId: string;
  readonly taskId: string;
  readonly session: string;
  readonly agent: string;
  readonly expiresAt: string;
  readonly initiator: TaskInitiator;
  readonly delegationChain: readonly string[];
}

/** Who presents a token: the agent a key authenticated, and that key. */
export interface Presenter {
  readonly agent: string;
  readonly keyId?: string;
}

/**
 * Task identity (`engine.tasks`): starts tasks, exchanges a parent's token for a sub-agent's (RFC 8693),
 * and verifies presented tokens. In the engine, so embedded SDKs, /mcp, the LLM proxy and the HTTP API
 * verify alike. Refusals are recorded as `identity.refused` (the reason and the token's jti, never the
 * token).
 */
export class TaskService {
  readonly #engine: EnginePort;
  readonly #key: TaskSigningKey;
  /** Verified tokens (the claims never change; expiry is checked on every use). */
  readonly #verified = new Map<string, TaskClaims>();
  /** Which task started a session (null: none); fixed when the session is created, so it can be kept. */
  readonly #sessionTasks = new Map<string, string | null>();
  /** ID tokens starting a task in this process right now (the trail answers for the others). */
  readonly #startingWith = new Set<string>();

  /** `hmacKey`: the engine's HMAC key, from which the task-token signing key is derived. */
  constructor(engine: EnginePort, hmacKey: Buffer) {
    this.#engine = engine;
    this.#key = deriveTaskSigningKey(hmacKey);
  }

  /** The `kid` task tokens are signed under. */
  get keyId(): string {
    return this.#key.kid;
  }

  /** The public key, as a JWK Set. */
  jwks(): { keys: Record<string, string>[] } {
    return taskJwks(this.#key);
  }

  /**
   * Starts a task: a new session owned by `agent`, triggered by the initiator, and a token binding them
   * with an empty chain. Records `task.started` in the session's creating commit.
   */
  async start(spec: TaskStart, by: Actor): Promise<IssuedTaskToken> {
    const once = spec.idToken;
    if (!once) return this.#start(spec, by);
    if (this.#startingWith.has(once.id)) throw replayed('is starting another task right now');
    this.#startingWith.add(once.id);
    try {
      await this.#refuseUsed(once);
      return await this.#start(spec, by);
    } finally {
      this.#startingWith.delete(once.id);
    }
  }

  /**
   * ID_TOKEN_INVALID when an ID token already started a task: read from the trail (`task.started` since
   * shortly before the token was issued, by the indexed type and time), so every instance on the
   * database sees it. The verifier accepts an ID token only a few minutes after it was issued, which
   * bounds the range read.
   */
  async #refuseUsed(once: { readonly id: string; readonly issuedAt: Date }): Promise<void> {
    const from = new Date(once.issuedAt.getTime() - ID_TOKEN_SKEW_MS).toISOString();
    let cursor: string | undefined;
    for (;;) {
      const page = await this.#engine.store.queryAudit({
        type: 'task.started',
        from,
        limit: 1_000,
        ...(cursor ? { cursor } : {}),
      });
      const used = page.records.find((r) => r.event.data?.idTokenId === once.id);
      if (used) throw replayed(`already started task ${String(used.event.data?.taskId)}`);
      if (!page.nextCursor) return;
      cursor = page.nextCursor;
    }
  }

  async #start(spec: TaskStart, by: Actor): Promise<IssuedTaskToken> {
    const agent = checkName('agent', spec.agent, ToolCallSchema.shape.agent);
    checkName('initiator.name', spec.initiator.name, ToolCallSchema.shape.triggeredBy);
    if (!spec.initiator.subject || spec.initiator.subject.length > 500) {
      throw invalid('initiator.subject', 'must be 1-500 characters');
    }
    const ttl = ttlOf(spec.ttlSeconds);
    const session = spec.session ?? uuidv7();
    checkName('session', session, ToolCallSchema.shape.session);
    if (spec.session !== undefined && (await this.#engine.store.getSession(session))) {
      throw new WardenError(
        'SESSION_STATE',
        `session ${session} already exists; a task starts a session of its own (leave session out)`,
      );
    }
    const initiator = await this.#resolveVouched(spec.initiator, spec.idpIssuer);
    const now = new Date();
    const claims: TaskClaims = {
      tokenId: uuidv7(),
      taskId: `task_${uuidv7()}`,
      session,
      agent,
      initiator,
      chain: [],
      issuedAt: now,
      expiresAt: new Date(now.getTime() + ttl * 1000),
    };
    const token = await signTaskToken(this.#key, claims);
    const ts = now.toISOString();
    const record: SessionRecord = {
      id: session,
      agent,
      state: 'active',
      stateReason: null,
      triggeredBy: spec.initiator.name,
      delegationChain: [],
      createdAt: ts,
      updatedAt: ts,
    };
    const event = this.#engine.event('task.started', by, {
      ts,
      agent,
      session,
      triggeredBy: spec.initiator.name,
      identity: tokenIdentity(claims),
      data: {
        taskId: claims.taskId,
        tokenId: claims.tokenId,
        expiresAt: claims.expiresAt.toISOString(),
        ...(initiator.subject !== spec.initiator.subject ? { vouchedSubject: spec.initiator.subject } : {}),
        ...(spec.labels ? { labels: { ...spec.labels } } : {}),
        ...(spec.idToken ? { idTokenId: spec.idToken.id } : {}),
        ...(spec.via ? { via: spec.via } : {}),
      },
    });
    try {
      // Only if new: a session another agent (or task) creates meanwhile is never this task's.
      await this.#engine.commit({
        events: [event],
        mutations: [{ kind: 'session.ensure', session: record, onlyIfNew: true }],
      });
    } catch (err) {
      if (!isSessionExists(err)) throw err;
      throw new WardenError(
        'SESSION_STATE',
        `session ${session} already exists (it was created meanwhile); a task starts a session of its own`,
        { session, exists: true },
      );
    }
    this.#sessionTasks.set(session, claims.taskId);
    return issued(token, claims);
  }

  /**
   * The person a service key vouches for, as separation of duties must know them: with an identity
   * provider configured, the person who signed in through it under the vouched subject, else the one the
   * vouched name names (by email, then by principal id) — their issuer and subject; a person who has
   * not signed in yet keeps the vouched subject under the configured issuer, so their first SSO sign-in
   * under it matches. Only ever adds to who is refused: the key and the names are compared as before.
   */
  async #resolveVouched(initiator: TaskInitiator, idpIssuer: string | undefined): Promise<TaskInitiator> {
    if (initiator.method !== 'api_key' || initiator.issuer || !idpIssuer) return initiator;
    const store = this.#engine.store;
    const person =
      (await store.person(idpIssuer, initiator.subject)) ??
      (initiator.name.includes('@') ? await store.personByEmail(initiator.name) : undefined) ??
      (await store.personByName(initiator.name));
    return {
      ...initiator,
      issuer: person?.issuer ?? idpIssuer,
      subject: person?.subject ?? initiator.subject,
    };
  }

  /**
   * RFC 8693 token exchange: the holder of `subjectToken` (its agent, authenticated by its key) delegates
   * to `actor`. The child token keeps the task, session and initiator, and its chain is the parent's with
   * the parent in front; it expires no later than the parent. Records `task.delegated`; a refusal is
   * recorded as `identity.refused` and thrown (TASK_TOKEN_INVALID).
   */
  async exchange(
    spec: { readonly subjectToken: string; readonly actor: string; readonly ttlSeconds?: number },
    caller: Presenter,
    by: Actor,
  ): Promise<IssuedTaskToken> {
    const parent = await this.verify(spec.subjectToken, caller, by);
    const child = checkName('actor', spec.actor, ToolCallSchema.shape.agent);
    const ttl = ttlOf(spec.ttlSeconds);
    const chain = [
      { agent: parent.agent, ...(caller.keyId ? { keyId: caller.keyId } : {}) },
      ...parent.chain,
    ];
    const problem =
      child === parent.agent
        ? `${child} already holds this token; a delegation names another agent`
        : chain.some((l) => l.agent === child)
          ? `${child} is already in the chain (${chain.map((l) => l.agent).join(' ← ')}); a chain cannot loop or be reordered`
          : chain.length >= MAX_CHAIN
            ? `the chain would be longer than ${MAX_CHAIN}`
            : undefined;
    if (problem) {
      const err = refused('chain', problem, parent.tokenId);
      await this.recordRefusal(err, { ...caller, session: parent.session }, by);
      throw err;
    }
    const now = new Date();
    const claims: TaskClaims = {
      tokenId: uuidv7(),
      taskId: parent.taskId,
      session: parent.session,
      agent: child,
      initiator: parent.initiator,
      chain,
      parentTokenId: parent.tokenId,
      issuedAt: now,
      expiresAt: new Date(Math.min(now.getTime() + ttl * 1000, parent.expiresAt.getTime())),
    };
    const token = await signTaskToken(this.#key, claims);
    const event = this.#engine.event('task.delegated', by, {
      ts: now.toISOString(),
      agent: child,
      session: parent.session,
      triggeredBy: parent.initiator.name,
      delegationChain: chain.map((l) => l.agent),
      identity: tokenIdentity(claims),
      data: {
        taskId: claims.taskId,
        tokenId: claims.tokenId,
        parentTokenId: parent.tokenId,
        from: parent.agent,
        to: child,
        expiresAt: claims.expiresAt.toISOString(),
      },
    });
    await this.#engine.commit({ events: [event] });
    return issued(token, claims);
  }

  /**
   * Verifies a token presented by `presenter` (its agent must be the token's), recording a refusal as
   * `identity.refused` before throwing TASK_TOKEN_INVALID.
   */
  async verify(token: string, presenter: Presenter, by?: Actor): Promise<TaskClaims> {
    try {
      return await this.inspect(token, presenter.agent);
    } catch (err) {
      if (isWardenError(err, 'TASK_TOKEN_INVALID')) await this.recordRefusal(err, presenter, by);
      throw err;
    }
  }

  /** Verifies a token for `agent` without recording anything (the check path records in its own commit). */
  async inspect(token: string, agent: string): Promise<TaskClaims> {
    let claims = this.#verified.get(token);
    if (!claims) {
      claims = await verifyTaskToken(this.#key, token);
      if (this.#verified.size >= 10_000) this.#verified.clear();
      this.#verified.set(token, claims);
    }
    // Expiry again on every use: a cached token ages too (the same 5 s tolerance as the signature check).
    if (claims.expiresAt.getTime() + 5_000 <= Date.now())
      throw refused('expired', 'it has expired', claims.tokenId);
    if (claims.agent !== agent) {
      throw refused(
        'agent',
        `it was issued to agent ${claims.agent}, and ${agent} presented it (a token is its agent's alone; delegate with a token exchange)`,
        claims.tokenId,
      );
    }
    return claims;
  }

  /** The `identity.refused` event for a refusal (the reason and the token's jti, never the token). */
  refusalEvent(
    err: WardenError,
    at: {
      readonly agent: string;
      readonly session?: string;
      readonly keyId?: string;
      readonly callId?: string;
      /** The session the call named, when it is recorded outside it (another agent's session). */
      readonly claimedSession?: string;
    },
    by?: Actor,
  ): AuditEvent {
    const tokenId = err.details.tokenId as string | undefined;
    const claimedTokenId = err.details.claimedTokenId as string | undefined;
    return this.#engine.event('identity.refused', by ?? agentActor(at), {
      agent: at.agent,
      ...(at.session ? { session: at.session } : {}),
      ...(at.callId ? { callId: at.callId } : {}),
      data: {
        code: err.code,
        reason: (err.details.reason as RefusalReason | undefined) ?? 'claims',
        message: err.message,
        ...(tokenId ? { tokenId } : {}),
        ...(claimedTokenId ? { claimedTokenId } : {}),
        ...(at.claimedSession ? { claimedSession: at.claimedSession } : {}),
      },
    });
  }

  /** Records a refusal on its own (outside a call's decision). */
  async recordRefusal(
    err: WardenError,
    at: { readonly agent: string; readonly session?: string; readonly keyId?: string },
    by?: Actor,
  ): Promise<void> {
    await this.#engine.commit({ events: [this.refusalEvent(err, at, by)] });
  }

  /**
   * The task that started session `id`, or null. Read once per session from its `task.started` event
   * (committed with the session itself, so a session that exists already shows it) and kept.
   */
  async sessionTask(id: string): Promise<string | null> {
    const known = this.#sessionTasks.get(id);
    if (known !== undefined) return known;
    const page = await this.#engine.store.queryAudit({ session: id, type: 'task.started', limit: 1 });
    const task = (page.records[0]?.event.data?.taskId as string | undefined) ?? null;
    if (this.#sessionTasks.size >= 100_000) this.#sessionTasks.clear();
    this.#sessionTasks.set(id, task);
    return task;
  }
}

/** A token-borne identity as recorded on task events and calls (the call's agent proof aside). */
export function tokenIdentity(c: TaskClaims, agentKeyId?: string): CallIdentity {
  const taskToken = { tokenId: c.tokenId, taskId: c.taskId };
  return {
    agent: agentKeyId ? { method: 'api_key', keyId: agentKeyId } : { method: 'task_token', ...taskToken },
    initiator: {
      method: c.initiator.method,
      ...(c.initiator.issuer ? { issuer: c.initiator.issuer } : {}),
      subject: c.initiator.subject,
      ...(c.initiator.keyId ? { keyId: c.initiator.keyId } : {}),
      name: c.initiator.name,
    },
    chain: c.chain.map((l) => ({
      agent: l.agent,
      method: 'task_token' as const,
      ...(l.keyId ? { keyId: l.keyId } : {}),
      ...taskToken,
    })),
    taskToken,
  };
}

function issued(token: string, c: TaskClaims): IssuedTaskToken {
  return {
    token,
    tokenId: c.tokenId,
    taskId: c.taskId,
    session: c.session,
    agent: c.agent,
    expiresAt: c.expiresAt.toISOString(),
    initiator: c.initiator,
    delegationChain: c.chain.map((l) => l.agent),
  };
}

function agentActor(at: { readonly agent: string; readonly keyId?: string }): Actor {
  return { kind: 'agent', id: at.agent, ...(at.keyId ? { keyId: at.keyId } : {}) };
}

function ttlOf(seconds: number | undefined): number {
  if (seconds === undefined) return DEFAULT_TASK_TTL_SECONDS;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TASK_TTL_SECONDS) {
    throw invalid('ttl', `must be 1 s to ${MAX_TASK_TTL_SECONDS} s (24 h); got ${seconds}`);
  }
  return seconds;
}

function checkName(
  field: string,
  value: string,
  schema: { safeParse(v: unknown): { success: boolean; error?: { issues: { message: string }[] } } },
): string {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(field, r.error?.issues.map((i) => i.message).join('; ') ?? 'invalid');
  return value;
}

function replayed(what: string): WardenError {
  return new WardenError(
    'ID_TOKEN_INVALID',
    `this ID token ${what}; each ID token starts one task: sign the person in again for another`,
    { reason: 'replayed' },
  );
}

function invalid(field: string, why: string): WardenError {
  return new WardenError('REQUEST_INVALID', `${field} ${why}`, { problems: [`${field}: ${why}`] });
}
