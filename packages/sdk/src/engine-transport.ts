import { type Actor, type ApprovalRecord, WardenError } from '@warden/core';
import type { Engine } from '@warden/engine';
import type { DelegatedToken, StartedTask, StartTaskOptions } from './task-token.js';
import type {
  ApprovalState,
  CallDecision,
  CallRequest,
  CallResult,
  CheckRequestOptions,
  WaitOptions,
  WardenTransport,
} from './warden-transport.js';

/** How often an in-process waiter re-reads a request, for decisions made by another process on the file. */
const POLL_MS = 50;

/** Waits for an approval request to leave `pending` (the server supplies one woken by its event hub). */
export type ApprovalWaiter = (
  approvalId: string,
  ms: number,
  signal?: AbortSignal,
) => Promise<ApprovalRecord>;

export interface EngineTransportOptions {
  /** The agent every call is made as: in embedded mode the one named in the options, on the server the key's. */
  readonly agent: string;
  /** The API key the agent authenticated with (the server's MCP endpoint): recorded in every actor. */
  readonly keyId?: string;
  /** Wait for approvals this way instead of re-reading the store. */
  readonly waitForApproval?: ApprovalWaiter;
  /** Close the engine with the transport (embedded mode, where the SDK opened it). */
  readonly ownsEngine?: boolean;
}

/**
 * Calls an engine in this process: embedded mode, and the server's own MCP endpoint. The same checks
 * as over HTTP: the agent is fixed, completions are refused for another agent's calls.
 */
export class EngineTransport implements WardenTransport {
  readonly agent: string;
  readonly #engine: Engine;
  /** The engine calls go to (embedded mode: the one the SDK opened). */
  get engine(): Engine {
    return this.#engine;
  }
  readonly #options: EngineTransportOptions;

  constructor(engine: Engine, options: EngineTransportOptions) {
    this.#engine = engine;
    this.agent = options.agent;
    this.#options = options;
  }

  async check(call: CallRequest, options: CheckRequestOptions = {}): Promise<CallDecision> {
    const keyId = this.#options.keyId;
    return this.#engine.check({ ...call, agent: this.agent }, { ...options, ...(keyId ? { keyId } : {}) });
  }

  async complete(callId: string, result: CallResult): Promise<void> {
    const keyId = this.#options.keyId;
    await this.#engine.complete(callId, result, this.agent, keyId ? { keyId } : {});
  }

  async waitForApproval(
    approvalId: string,
    ms: number,
    signal?: AbortSignal,
    _options?: WaitOptions,
  ): Promise<ApprovalState> {
    await this.#own(approvalId);
    const a = this.#options.waitForApproval
      ? await this.#options.waitForApproval(approvalId, ms, signal)
      : await this.#poll(approvalId, ms, signal);
    return stateOf(a);
  }

  async cancelApproval(approvalId: string, reason: string): Promise<void> {
    await this.#own(approvalId);
    const keyId = this.#options.keyId;
    await this.#engine.approvals.cancel(
      approvalId,
      { kind: 'agent', id: this.agent, ...(keyId ? { keyId } : {}) },
      reason,
    );
  }

  async visibleTools(tools: readonly string[], session?: string): Promise<readonly string[]> {
    return this.#engine.visibleTools(this.agent, tools, session);
  }

  async close(): Promise<void> {
    if (this.#options.ownsEngine) await this.#engine.close();
  }

  /**
   * Starts a task on this engine. Embedded, the process holding the key file is the trusted backend:
   * it vouches for the initiator itself (recorded as vouched for by a key, with none named); an ID token
   * needs a server with an identity provider configured.
   */
  async startTask(options: StartTaskOptions): Promise<StartedTask> {
    if (options.idToken !== undefined || options.initiator === undefined) {
      throw new WardenError(
        'CONFIG_INVALID',
        'an embedded Warden cannot verify ID tokens (no identity provider is configured here): pass initiator { subject, name } instead, or start the task on a server (POST /v1/tasks)',
      );
    }
    const { subject, name } = options.initiator;
    const keyId = this.#options.keyId;
    return this.#engine.tasks.start(
      {
        agent: options.agent ?? this.agent,
        initiator: { method: 'api_key', subject, name: name ?? subject, ...(keyId ? { keyId } : {}) },
        ...(options.session !== undefined ? { session: options.session } : {}),
        ...(options.labels ? { labels: options.labels } : {}),
        ...(options.ttlSeconds !== undefined ? { ttlSeconds: options.ttlSeconds } : {}),
      },
      this.#actor(),
    );
  }

  async delegateTask(subjectToken: string, actor: string, ttlSeconds?: number): Promise<DelegatedToken> {
    const keyId = this.#options.keyId;
    const child = await this.#engine.tasks.exchange(
      { subjectToken, actor, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) },
      { agent: this.agent, ...(keyId ? { keyId } : {}) },
      this.#actor(),
    );
    return {
      token: child.token,
      expiresIn: Math.max(0, Math.round((Date.parse(child.expiresAt) - Date.now()) / 1000)),
    };
  }

  /** The same engine as another agent (a delegation's child); the engine stays open with this one. */
  asAgent(agent: string): EngineTransport {
    return new EngineTransport(this.#engine, { ...this.#options, agent, ownsEngine: false });
  }

  #actor(): Actor {
    const keyId = this.#options.keyId;
    return { kind: 'agent', id: this.agent, ...(keyId ? { keyId } : {}) };
  }

  /** An agent sees only its own requests: another's is the same APPROVAL_NOT_FOUND as a missing one. */
  async #own(approvalId: string): Promise<ApprovalRecord> {
    const a = await this.#engine.approvals.get(approvalId);
    if (a.agent !== this.agent) {
      throw new WardenError('APPROVAL_NOT_FOUND', `no approval request has id ${approvalId}`);
    }
    return a;
  }

  /** Woken by this engine's commits (a vote in this process) and by a short poll (a vote elsewhere). */
  async #poll(approvalId: string, ms: number, signal?: AbortSignal): Promise<ApprovalRecord> {
    const deadline = Date.now() + ms;
    let a = await this.#engine.approvals.get(approvalId);
    while (a.status === 'pending' && Date.now() < deadline && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          stop();
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
        const stop = this.#engine.onCommit(done);
        signal?.addEventListener('abort', done, { once: true });
      });
      a = await this.#engine.approvals.get(approvalId);
    }
    return a;
  }
}

/** What a waiting agent learns of its request. */
export function stateOf(a: ApprovalRecord): ApprovalState {
  return {
    id: a.id,
    status: a.status,
    expiresAt: a.expiresAt,
    decidedBy: a.decidedBy,
    reason: a.outcomeReason ?? null,
    onTimeout: a.onTimeout,
  };
}
