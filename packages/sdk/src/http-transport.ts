import {
  AGENT_ACTOR_TYPE,
  type ApprovalView,
  TASK_TOKEN_TYPE,
  TOKEN_EXCHANGE_GRANT,
  type VisibleTools,
} from '@warden/api';
import { ERROR_CODES, type ErrorCode, WardenError } from '@warden/core';
import {
  type DelegatedToken,
  type StartedTask,
  type StartTaskOptions,
  TASK_TOKEN_HEADER,
} from './task-token.js';
import { activeTraceHeaders } from './trace-propagation.js';
import type {
  ApprovalState,
  CallDecision,
  CallRequest,
  CallResult,
  CheckRequestOptions,
  WaitOptions,
  WardenTransport,
} from './warden-transport.js';

export interface HttpTransportOptions {
  /** The server's base URL, e.g. http://localhost:8787. */
  readonly url: string;
  /** An agent key (`warden keys create --role agent`). */
  readonly key: string;
  /** Per-request timeout for everything but approval waits (default 30 s). */
  readonly timeoutMs?: number;
  /** A fetch to use instead of the global one. */
  readonly fetch?: typeof fetch;
}

/** What a tool name may be (the API refuses anything else). */
const TOOL_NAME = /^[A-Za-z0-9_.:@/-]{1,500}$/;

/** Calls a Warden server over its HTTP API (`/v1`), as the agent the key belongs to. */
export class HttpTransport implements WardenTransport {
  readonly #base: string;
  readonly #key: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  #agent: string | undefined;

  constructor(options: HttpTransportOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new WardenError(
        'CONFIG_INVALID',
        `url ${JSON.stringify(options.url)} is not a URL; use e.g. http://localhost:8787`,
      );
    }
    if (!options.key)
      throw new WardenError(
        'CONFIG_INVALID',
        'key is missing: pass an agent key (warden keys create --role agent)',
      );
    this.#base = base.href.replace(/\/+$/, '');
    this.#key = options.key;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? fetch;
  }

  /**
   * The key's agent as the server names it (the SDK never declares it); empty until `whoami` or a tool
   * listing has asked.
   */
  get agent(): string {
    return this.#agent ?? '';
  }

  async check(call: CallRequest, options: CheckRequestOptions = {}): Promise<CallDecision> {
    const { taskToken, ...body } = options;
    return (await this.#send('POST', '/v1/calls', { ...call, ...body }, { taskToken })) as CallDecision;
  }

  async complete(callId: string, result: CallResult): Promise<void> {
    await this.#send('POST', `/v1/calls/${encodeURIComponent(callId)}/complete`, result);
  }

  async waitForApproval(
    approvalId: string,
    ms: number,
    signal?: AbortSignal,
    options: WaitOptions = {},
  ): Promise<ApprovalState> {
    const path = `/v1/approvals/${encodeURIComponent(approvalId)}/wait?timeoutMs=${Math.max(0, Math.round(ms))}`;
    try {
      const a = (await this.#send('GET', path, undefined, {
        timeoutMs: ms + this.#timeoutMs,
        signal,
        taskToken: options.taskToken,
      })) as ApprovalView;
      return {
        id: a.id,
        status: a.status,
        expiresAt: a.expiresAt,
        decidedBy: a.decidedBy ?? null,
        reason: a.outcomeReason ?? null,
        ...(a.onTimeout ? { onTimeout: a.onTimeout } : {}),
      };
    } catch (err) {
      // Aborted by the caller: the SDK withdraws the request; report it as still pending.
      if (signal?.aborted) return { id: approvalId, status: 'pending', expiresAt: '' };
      throw err;
    }
  }

  async cancelApproval(approvalId: string, reason: string): Promise<void> {
    await this.#send('POST', `/v1/approvals/${encodeURIComponent(approvalId)}/cancel`, { reason });
  }

  async visibleTools(tools: readonly string[], session?: string): Promise<readonly string[]> {
    // A name no call could carry (a character a tool name may not have) is never allowed: left out here
    // rather than failing the whole list.
    const callable = tools.filter((t) => TOOL_NAME.test(t));
    const r = (await this.#send('POST', '/v1/tools/visible', {
      tools: callable,
      ...(session !== undefined ? { session } : {}),
    })) as VisibleTools;
    this.#agent ??= r.agent;
    return r.visible;
  }

  async close(): Promise<void> {}

  async startTask(options: StartTaskOptions): Promise<StartedTask> {
    const { ttlSeconds, ...rest } = options;
    return (await this.#send('POST', '/v1/tasks', {
      ...rest,
      ...(ttlSeconds !== undefined ? { ttl: ttlSeconds } : {}),
    })) as StartedTask;
  }

  async delegateTask(subjectToken: string, actor: string, ttlSeconds?: number): Promise<DelegatedToken> {
    const r = (await this.#send('POST', '/v1/tasks/token', {
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: subjectToken,
      subject_token_type: TASK_TOKEN_TYPE,
      // RFC 8693's actor: here the child agent, named (the parent's key authenticates the exchange).
      actor_token: actor,
      actor_token_type: AGENT_ACTOR_TYPE,
      ...(ttlSeconds !== undefined ? { ttl: ttlSeconds } : {}),
    })) as { access_token: string; expires_in?: number };
    return { token: r.access_token, ...(r.expires_in !== undefined ? { expiresIn: r.expires_in } : {}) };
  }

  /**
   * The same server with another agent's key (the child of a delegation): a task token is its agent's
   * alone, so the child presents it with its own key.
   */
  asAgent(agent: string, key?: string): HttpTransport {
    if (key === undefined || key === '') {
      throw new WardenError(
        'CONFIG_INVALID',
        `delegating to ${agent} over HTTP needs ${agent}'s own key: delegate(${JSON.stringify(agent)}, { key }) (a task token is presented by its agent's key)`,
      );
    }
    return new HttpTransport({ url: this.#base, key, timeoutMs: this.#timeoutMs, fetch: this.#fetch });
  }

  /** Learns the key's agent from the server (once). */
  async whoami(): Promise<string> {
    if (this.#agent === undefined) await this.visibleTools([]);
    return this.agent;
  }

  async #send(
    method: string,
    path: string,
    body: unknown,
    o: { timeoutMs?: number; signal?: AbortSignal | undefined; taskToken?: string | undefined } = {},
  ): Promise<unknown> {
    const timeout = AbortSignal.timeout(o.timeoutMs ?? this.#timeoutMs);
    const signal = o.signal ? AbortSignal.any([timeout, o.signal]) : timeout;
    // The agent's active span (with @opentelemetry/api installed) becomes the parent of Warden's spans.
    const trace = await activeTraceHeaders();
    let res: Response;
    try {
      res = await this.#fetch(`${this.#base}${path}`, {
        method,
        headers: {
          ...trace,
          authorization: `Bearer ${this.#key}`,
          ...(o.taskToken === undefined ? {} : { [TASK_TOKEN_HEADER]: o.taskToken }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal,
      });
    } catch (err) {
      if (timeout.aborted) {
        throw new WardenError(
          'STORE_UNAVAILABLE',
          `Warden at ${this.#base} did not answer ${method} ${path.split('?')[0]} in time`,
        );
      }
      if (o.signal?.aborted) throw err;
      throw unreachable(this.#base, err);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new WardenError(
        'INTERNAL',
        `Warden answered ${method} ${path.split('?')[0]} with ${res.status} and a body that is not JSON`,
      );
    }
    if (res.ok) return json;
    const e = (json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
      .error;
    const code: ErrorCode = e?.code && e.code in ERROR_CODES ? (e.code as ErrorCode) : 'INTERNAL';
    throw new WardenError(code, e?.message ?? `Warden answered ${res.status}`, {
      ...e?.details,
      status: res.status,
    });
  }
}

/** WARDEN_UNREACHABLE for a request that never got an answer: the URL, the reason, what to check. */
function unreachable(base: string, err: unknown): WardenError {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const why = typeof cause?.code === 'string' ? cause.code : String(cause?.message ?? (err as Error).message);
  return new WardenError(
    'WARDEN_UNREACHABLE',
    `Warden at ${base} is unreachable (${why}): is \`warden serve\` running there, and is that the right URL?`,
    { url: base, cause: why },
  );
}
