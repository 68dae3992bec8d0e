import { performance } from 'node:perf_hooks';
import { uuidv7, WardenError } from '@warden/core';
import { type CallContext, currentContext, mergeContext, runInContext } from './call-context.js';
import { blockedError, notApprovedError } from './call-errors.js';
import { PendingCompletions } from './pending-completions.js';
import {
  checkTaskToken,
  type DelegatedToken,
  readTaskToken,
  type StartedTask,
  type StartTaskOptions,
} from './task-token.js';
import type {
  Authorized,
  AuthorizeOptions,
  GovernedCall,
  GuardOptions,
  ModelUsage,
  RunOptions,
  WardenClientOptions,
} from './warden-options.js';
import {
  type ApprovalState,
  approvalLetsCallRun,
  type CallDecision,
  type CallRequest,
  type CallResult,
  type WardenTransport,
} from './warden-transport.js';

/** How long a guarded call waits for its approval by default: the request's own expiry, at most 15 minutes. */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 15 * 60_000;
/** Long-polls are cut into pieces no longer than this (an HTTP server caps each wait). */
const WAIT_SLICE_MS = 25_000;

/**
 * The SDK's one API, remote or embedded: decide a call, wait for its approval, run it, record how it
 * ended. A refusal raises a `WardenError` whose message the agent can show its model.
 */
export class Warden {
  readonly #transport: WardenTransport;
  readonly #defaults: CallContext;
  /** The session the client made up for itself (none was given): a task token's session replaces it. */
  readonly #ownSession: string | undefined;
  readonly #approvalTimeoutMs: number;
  readonly #completions: PendingCompletions;
  readonly #options: WardenClientOptions;

  constructor(transport: WardenTransport, options: WardenClientOptions = {}) {
    const taskToken = options.taskToken ?? options.context?.taskToken;
    if (taskToken !== undefined) checkTaskToken(taskToken, 'taskToken');
    this.#transport = transport;
    this.#options = options;
    this.#ownSession = options.context?.session === undefined ? `sdk-${uuidv7()}` : undefined;
    this.#defaults = {
      ...options.context,
      session: options.context?.session ?? this.#ownSession,
      ...(taskToken !== undefined ? { taskToken } : {}),
    };
    this.#approvalTimeoutMs = options.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    this.#completions = new PendingCompletions(transport, options.onError);
  }

  /** Where calls go: a server over HTTP or an engine in this process. */
  get transport(): WardenTransport {
    return this.#transport;
  }

  /** The agent every call is made as (bound to the key, or named in embedded mode). */
  get agent(): string {
    return this.#transport.agent;
  }

  /** The task token this client's calls carry by default (`createWarden({ taskToken })`, `delegate`). */
  get taskToken(): string | undefined {
    return this.#defaults.taskToken;
  }

  /**
   * The context a call made here and now would carry. Under a task token, the session the client made up
   * for itself gives way to the token's: a call's session is its task's.
   */
  context(over?: CallContext): CallContext {
    const ctx = mergeContext(mergeContext(this.#defaults, currentContext()), over);
    if (ctx.taskToken === undefined || ctx.session === undefined || ctx.session !== this.#ownSession)
      return ctx;
    const { session: _own, ...rest } = ctx;
    const session = readTaskToken(ctx.taskToken)?.session;
    return session === undefined ? rest : { ...rest, session };
  }

  /**
   * Starts a task: Warden verifies who initiates it (a person's OIDC `idToken`, or the `initiator` this
   * client's service key vouches for, with the `initiator` permission) and returns a short-lived signed
   * token binding the task's session, its agent and that initiator. Hand `token` to the agent
   * (`createWarden({ taskToken })`, `warden mcp --task-token`, the `Warden-Task-Token` header).
   */
  async startTask(options: StartTaskOptions = {}): Promise<StartedTask> {
    const start = this.#transport.startTask;
    if (!start) throw unsupported('startTask');
    if (options.idToken === undefined && options.initiator === undefined) {
      throw new WardenError(
        'CONFIG_INVALID',
        'startTask needs who initiates the task: idToken (the person signed in with your identity provider) or initiator { subject, name } (vouched for by a service key with the initiator permission)',
      );
    }
    const agent = options.agent ?? (this.agent === '' ? undefined : this.agent);
    if (agent === undefined) {
      throw new WardenError(
        'CONFIG_INVALID',
        'startTask needs the agent the task is for: startTask({ agent, ... }) (a backend starts tasks for agents by name)',
      );
    }
    return start.call(this.#transport, { ...options, agent });
  }

  /**
   * Delegates the task in force to a sub-agent (an RFC 8693 token exchange under this client's task
   * token) and returns a client for that agent whose every call carries the child token: Warden records
   * the whole chain, verified, and the task's session and initiator. Remotely, `key` is the child
   * agent's own key (a token is its agent's alone); embedded, the child is this engine under its name.
   */
  async delegate(
    childAgent: string,
    options: { readonly key?: string; readonly ttlSeconds?: number; readonly context?: CallContext } = {},
  ): Promise<Warden> {
    const exchange = this.#transport.delegateTask;
    const asAgent = this.#transport.asAgent;
    if (!exchange || !asAgent) throw unsupported('delegate');
    const parent = this.context(options.context).taskToken;
    if (parent === undefined) {
      throw new WardenError(
        'CONFIG_INVALID',
        `delegate(${JSON.stringify(childAgent)}) needs a task token in force: create the client with taskToken, or use withContext({ taskToken })`,
      );
    }
    // Before the exchange: a child that could not present its token (no key of its own) gets none.
    const transport = asAgent.call(this.#transport, childAgent, options.key);
    const child: DelegatedToken = await exchange.call(
      this.#transport,
      parent,
      childAgent,
      options.ttlSeconds,
    );
    // The child is its own client: the task's session, initiator and chain come from its token.
    const labels = this.#options.context?.labels;
    return new Warden(transport, {
      ...this.#options,
      context: labels ? { labels } : {},
      taskToken: child.token,
    });
  }

  /**
   * Runs `fn` with `context` in force for every call made inside it, however deep (a `taskToken` here
   * makes every call inside carry that task's verified identity).
   */
  withContext<T>(context: CallContext, fn: () => T): T {
    if (context.taskToken !== undefined) checkTaskToken(context.taskToken, 'withContext taskToken');
    return runInContext(context, fn);
  }

  /**
   * One decision, no waiting: allow, review (with the approval request it opened) or block. With
   * `approvalId`, redeems that approved request for the same call (same session, tool and arguments).
   */
  async check(
    call: GovernedCall,
    options: Pick<AuthorizeOptions, 'context' | 'estimate'> & { readonly approvalId?: string } = {},
  ): Promise<CallDecision> {
    return this.#transport.check(this.#request(call, options.context), {
      ...(options.estimate ? { estimate: options.estimate } : {}),
      ...(options.approvalId ? { approvalId: options.approvalId } : {}),
      ...this.#token(options.context),
    });
  }

  /** Waits up to `timeoutMs` (default 15 minutes) for a request to be decided; returns it as it stands. */
  async waitForApproval(
    approvalId: string,
    options: {
      readonly timeoutMs?: number;
      readonly signal?: AbortSignal;
      readonly context?: CallContext;
    } = {},
  ): Promise<ApprovalState> {
    const deadline = Date.now() + (options.timeoutMs ?? this.#approvalTimeoutMs);
    const token = this.#token(options.context);
    for (;;) {
      const left = Math.max(0, Math.min(deadline - Date.now(), WAIT_SLICE_MS));
      const state = await this.#transport.waitForApproval(approvalId, left, options.signal, token);
      if (state.status !== 'pending' || options.signal?.aborted || Date.now() >= deadline) return state;
    }
  }

  /** Withdraws a pending request this agent opened (nobody is waiting for it any more). */
  async cancelApproval(approvalId: string, reason: string): Promise<void> {
    await this.#transport.cancelApproval(approvalId, reason);
  }

  /**
   * Decides a call and, for a review, waits for the human decision and redeems it. Resolves only when
   * the call may run; otherwise throws a WardenError (CALL_BLOCKED or the engine's code, APPROVAL_DENIED,
   * APPROVAL_TIMEOUT, CALL_ABORTED).
   */
  async authorize(call: GovernedCall, options: AuthorizeOptions = {}): Promise<Authorized> {
    throwIfAborted(options.signal, call.tool);
    const request = this.#request(call, options.context);
    const estimate = {
      ...(options.estimate ? { estimate: options.estimate } : {}),
      ...this.#token(options.context),
    };
    const d = await this.#transport.check(request, estimate);
    if (d.effect === 'allow') return { callId: d.callId, session: d.session, decision: d };
    if (d.effect === 'block' || !d.approval) throw blockedError(request, d);
    const approvalId = d.approval.id;
    options.onApprovalPending?.({
      approvalId,
      callId: d.callId,
      session: d.session,
      tool: request.tool,
      expiresAt: d.approval.expiresAt,
      reasons: d.reasons,
    });
    const state = await this.#awaitDecision(request, d, options);
    if (!approvalLetsCallRun(state)) throw notApprovedError(request, d, state);
    // Redeemed as the same call in the same session: the engine checks it is the approved one, the
    // session still open and the policy unchanged, and reserves its budgets.
    const go = await this.#transport.check({ ...request, session: d.session }, { ...estimate, approvalId });
    if (go.effect !== 'allow') throw blockedError(request, go);
    return { callId: go.callId, session: go.session, decision: go, approvalId };
  }

  /**
   * Records how an allowed call ended (once). The tool has run by then, so a transient failure to record
   * it is retried in the background (`close` waits for it) and a lasting one goes to `onError`.
   */
  async complete(callId: string, result: CallResult): Promise<void> {
    await this.#completions.record(callId, result);
  }

  /**
   * Governs one call end to end: authorize, run `fn`, record its result or error with the duration.
   * `fn`'s own error is rethrown after it is recorded; a refusal throws before `fn` runs.
   */
  async run<R>(
    call: GovernedCall,
    fn: (ok: Authorized) => Promise<R>,
    options: RunOptions<R> = {},
  ): Promise<R> {
    const ok = await this.authorize(call, options);
    if (options.signal?.aborted) {
      // Allowed, maybe approved, but it will not run: say so, or the call would stay open in the audit.
      await this.#completions.record(ok.callId, {
        status: 'error',
        error: 'aborted by the caller before it ran',
      });
      throwIfAborted(options.signal, call.tool);
    }
    return this.runAuthorized(ok, fn, options);
  }

  /**
   * Runs a call Warden already allowed (from `authorize`, or a `check` that allowed or redeemed it) and
   * records its result or error with the duration. `fn`'s own error is rethrown after it is recorded.
   */
  async runAuthorized<R>(
    ok: Authorized,
    fn: (ok: Authorized) => Promise<R>,
    options: Pick<RunOptions<R>, 'usage' | 'failed' | 'recordInBackground'> = {},
  ): Promise<R> {
    const start = performance.now();
    let value: R;
    try {
      value = await fn(ok);
    } catch (err) {
      const durationMs = performance.now() - start;
      await this.#completions.record(ok.callId, { status: 'error', error: errorText(err), durationMs });
      throw err;
    }
    const durationMs = performance.now() - start;
    const usage = guarded(() => options.usage?.(value));
    const failure = guarded(() => options.failed?.(value));
    const outcome: CallResult = {
      status: failure === undefined ? 'ok' : 'error',
      ...(failure === undefined ? {} : { error: failure }),
      result: value,
      durationMs,
      ...(usage ? { usage } : {}),
    };
    if (options.recordInBackground) this.#completions.recordLater(ok.callId, outcome);
    else await this.#completions.record(ok.callId, outcome);
    return value;
  }

  /**
   * Wraps any async tool function: each call is decided by Warden first (waiting for a human when the
   * policy says review), runs only when allowed, and its result or error is recorded.
   */
  guard<P extends unknown[], R>(
    name: string,
    fn: (...params: P) => Promise<R> | R,
    options: GuardOptions<P, R> = {},
  ): (...params: P) => Promise<R> {
    const tool = options.tool ?? name;
    return (...params: P) => {
      const target = typeof options.target === 'function' ? options.target(...params) : options.target;
      const estimate =
        typeof options.estimate === 'function' ? options.estimate(...params) : options.estimate;
      const call: GovernedCall = {
        tool,
        args: options.args ? options.args(...params) : defaultArgs(params),
        ...(target !== undefined ? { target } : {}),
        ...(options.labels ? { labels: options.labels } : {}),
      };
      const { estimate: _fromParams, ...run } = options;
      return this.run(call, async () => fn(...params), { ...run, ...(estimate ? { estimate } : {}) });
    };
  }

  /**
   * Reports the usage of a model call made in this process (not through the metering proxy), so token
   * and cost budgets see it. Recorded as a call of `llm:<provider>` with the usage settled at once. A
   * session already over its budget or paused refuses it (the error says so): stop spending.
   */
  async recordUsage(usage: ModelUsage, options: Pick<AuthorizeOptions, 'context'> = {}): Promise<void> {
    const { provider, ...counted } = usage;
    const call: GovernedCall = {
      tool: `llm:${provider ?? 'unknown'}`,
      args: { model: usage.model, reported: true },
    };
    // Already spent: nothing to reserve (an estimate of zeros alone would reserve the server's default).
    const estimate = { model: usage.model, inputTokens: 0, outputTokens: 0, spent: true as const };
    const ok = await this.authorize(call, { ...options, estimate });
    await this.#completions.record(ok.callId, { status: 'ok', usage: counted });
  }

  /** The tools, of those named, this agent could ever be allowed (least-privilege listings). */
  async visibleTools(tools: readonly string[], context?: CallContext): Promise<readonly string[]> {
    return this.#transport.visibleTools(tools, this.context(context).session);
  }

  /** Waits for completions still being retried, then closes the connection or the embedded engine. */
  async close(): Promise<void> {
    await this.#completions.drain();
    await this.#transport.close();
  }

  /** The task token in force for a call with this context, as transport options. */
  #token(over: CallContext | undefined): { taskToken?: string } {
    const taskToken = this.context(over).taskToken;
    if (over?.taskToken !== undefined) checkTaskToken(over.taskToken, 'context.taskToken');
    return taskToken === undefined ? {} : { taskToken };
  }

  #request(call: GovernedCall, over: CallContext | undefined): CallRequest {
    const ctx = this.context(over);
    const labels = ctx.labels || call.labels ? { ...ctx.labels, ...call.labels } : undefined;
    return {
      tool: call.tool,
      ...(call.args !== undefined ? { args: call.args } : {}),
      ...(ctx.session !== undefined ? { session: ctx.session } : {}),
      ...(call.target !== undefined ? { target: call.target } : {}),
      ...(labels ? { labels } : {}),
      ...(ctx.triggeredBy !== undefined ? { triggeredBy: ctx.triggeredBy } : {}),
      ...(ctx.delegationChain && ctx.delegationChain.length > 0
        ? { delegationChain: ctx.delegationChain }
        : {}),
    };
  }

  /**
   * Waits in slices until the request is decided, the caller's timeout passes or its signal aborts; a
   * request given up on is withdrawn, so no approver decides a call nobody waits for.
   */
  async #awaitDecision(
    request: CallRequest,
    d: CallDecision,
    options: AuthorizeOptions,
  ): Promise<ApprovalState> {
    const approvalId = (d.approval as { id: string }).id;
    const untilExpiry = Date.parse((d.approval as { expiresAt: string }).expiresAt) - Date.now();
    const limit =
      options.approvalTimeoutMs ?? Math.min(this.#approvalTimeoutMs, Math.max(untilExpiry, 0) + 1_000);
    const signal = options.signal;
    const state = await this.waitForApproval(approvalId, {
      timeoutMs: limit,
      ...(signal ? { signal } : {}),
      ...(options.context ? { context: options.context } : {}),
    });
    if (state.status !== 'pending') return state;
    if (signal?.aborted) {
      await this.#withdraw(approvalId, 'the agent aborted the call');
      throw new WardenError(
        'CALL_ABORTED',
        `the call of ${request.tool} was aborted while it waited for approval ${approvalId}`,
        { callId: d.callId, approvalId },
      );
    }
    await this.#withdraw(approvalId, `no decision within ${limit} ms`);
    throw new WardenError(
      'APPROVAL_TIMEOUT',
      `Warden held ${request.tool} for review and no decision came within ${limit} ms; the request was withdrawn`,
      { callId: d.callId, session: d.session, approvalId, waitedMs: limit },
    );
  }

  async #withdraw(approvalId: string, reason: string): Promise<void> {
    try {
      await this.#transport.cancelApproval(approvalId, reason);
    } catch {
      // Decided (or expired) in the meantime: there is nothing left to withdraw.
    }
  }
}

function unsupported(what: string): WardenError {
  return new WardenError(
    'CONFIG_INVALID',
    `${what} is not available on this transport (use createWarden's HTTP or embedded client)`,
  );
}

/** A reporting callback that throws must not leave the call without its record: it counts as unset. */
function guarded<T>(fn: () => T | undefined): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function throwIfAborted(signal: AbortSignal | undefined, tool: string): void {
  if (signal?.aborted) {
    throw new WardenError('CALL_ABORTED', `the call of ${tool} was aborted before it ran`);
  }
}

/** A single object parameter is the arguments; anything else is listed under `args`. */
function defaultArgs(params: readonly unknown[]): Record<string, unknown> {
  const [first] = params;
  if (params.length === 1 && typeof first === 'object' && first !== null && !Array.isArray(first)) {
    return first as Record<string, unknown>;
  }
  return params.length === 0 ? {} : { args: [...params] };
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
