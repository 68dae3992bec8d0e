import { performance } from 'node:perf_hooks';
import { PassThrough } from 'node:stream';
import { isWardenError, type TraceContext, traceHeaders, type Usage, WardenError } from '@warden/core';
import type { CallOutcome, CheckResult } from '@warden/engine';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import type { ServerContext } from '../server-context.js';
import type { LiveSpan } from '../telemetry/call-tracer.js';
import { incomingTrace } from '../telemetry/incoming-trace.js';
import { authenticateAgent } from './llm-auth.js';
import { llmCall, requestBody, taskTokenHeader } from './llm-call.js';
import type { LlmUpstream } from './llm-config.js';
import type { LlmEndpoint, LlmProvider } from './llm-endpoints.js';
import {
  endAnswered,
  endUpstreamSpan,
  recordCheck,
  recordSettlement,
  startRequestSpan,
  startUpstreamSpan,
} from './llm-telemetry.js';
import { isFinalSettleError, PendingSettlements } from './pending-settlements.js';
import { LlmProxyError } from './provider-errors.js';
import { refusalOf } from './refusal.js';
import { estimateRequest, type RequestEstimate } from './request-estimate.js';
import { type RelayOutcome, relayEvents } from './stream-relay.js';
import {
  clientHeaders,
  fetchFailure,
  isEventStream,
  upstreamHeaders,
  upstreamUrl,
} from './upstream-request.js';
import { asObject, billedUsage } from './usage-meter.js';

/** One allowed LLM request on its way: who sent it, what was decided, what it may cost. */
interface Exchange {
  readonly endpoint: LlmEndpoint;
  readonly principal: Principal;
  readonly estimate: RequestEstimate;
  readonly callId: string;
  readonly stream: boolean;
  readonly startedMs: number;
  readonly log: FastifyBaseLogger;
  /** The span Warden's spans for this request continue: its own request span, else the caller's. */
  readonly trace: TraceContext | undefined;
  /** Warden's span of this request (tracing on), ended once the call is settled. */
  readonly span: LiveSpan | undefined;
  /** The span of the request to the provider: its context is the `traceparent` the provider receives. */
  readonly client: LiveSpan | undefined;
}

/**
 * The LLM metering proxy: an agent points its official client at Warden instead of the provider. Each
 * request is decided as a call of tool `llm:<provider>` with its estimated tokens reserved, forwarded
 * with the deployment's provider key (capped at the output reserved for), and settled with the usage the
 * provider reports (streams included, and after the client hung up). Only the proxy may settle it: the
 * agent learns the call id, but cannot complete the call with usage of its own making.
 */
export class LlmProxy {
  readonly #ctx: ServerContext;
  /** Streams still being read and settlements being retried: shutdown waits for them. */
  readonly #pending = new PendingSettlements();

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /** Answers one request to `endpoint`. Failures are thrown for the route's error handler to shape. */
  async handle(endpoint: LlmEndpoint, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const ctx = this.#ctx;
    if (ctx.state.shuttingDown) {
      throw new WardenError('SHUTTING_DOWN', 'the server is shutting down; retry against another instance');
    }
    const principal = await authenticateAgent(ctx, request, endpoint.provider);
    const upstream = ctx.config.llm[endpoint.provider];
    if (!upstream) throw notConfigured(endpoint.provider);
    const unserved = endpoint.refuseQuery?.(request.url);
    if (unserved) throw new LlmProxyError(unserved);
    // Read even when Warden does not trace: a proxy that does not take part forwards the caller's context.
    const incoming = incomingTrace(request.headers);
    const span = startRequestSpan(ctx, principal.id, endpoint, incoming);
    try {
      return await this.#handle(endpoint, request, reply, { principal, upstream, span, incoming });
    } catch (err) {
      if (span) endAnswered(span, err instanceof LlmProxyError ? err.detail.status : 500, codeOf(err));
      throw err;
    }
  }

  async #handle(
    endpoint: LlmEndpoint,
    request: FastifyRequest,
    reply: FastifyReply,
    t: { principal: Principal; upstream: LlmUpstream; span?: LiveSpan; incoming?: TraceContext },
  ): Promise<FastifyReply> {
    const { principal, upstream, span } = t;
    const ctx = this.#ctx;
    const trace = span?.context ?? t.incoming;
    const { body, model } = requestBody(request.body, endpoint.pathModel);
    const estimated = estimateRequest(body, {
      model,
      maxOutputTokens: endpoint.maxOutputTokens(body),
      completions: endpoint.completions(body),
      defaultMaxOutput: ctx.config.llm.maxOutputTokensDefault,
    });
    const estimate = endpoint.unbilled ? nothingToBill(estimated) : estimated;
    const stream = endpoint.streams ?? body.stream === true;
    span?.set({ 'gen_ai.request.model': estimate.model });
    const decided = await this.#check(request, principal, endpoint, estimate, stream, trace);
    span?.set({ 'warden.call_id': decided.callId, 'warden.decision': decided.effect });
    // On every answer, refusals included: the client learns the session to send with its next request.
    reply.header('warden-call-id', decided.callId).header('warden-session', decided.session);
    if (decided.effect !== 'allow') throw refusalOf(decided, endpoint);
    const x: Exchange = {
      endpoint,
      principal,
      estimate,
      stream,
      callId: decided.callId,
      startedMs: performance.now(),
      log: request.log,
      trace,
      span,
      client: startUpstreamSpan(ctx, trace, endpoint, upstream, estimate.model, decided.callId),
    };
    const response = await this.#forward(x, upstream, request, body);
    reply.code(response.status).headers(clientHeaders(response.headers));
    if (response.ok && isEventStream(response)) return this.#relay(x, response, reply, body);
    return this.#whole(x, response, reply);
  }

  /**
   * Resolves once every stream still being read and every settlement being retried has ended, or after
   * `timeoutMs`; retries stop after that (the engine is about to close).
   */
  settled(timeoutMs: number): Promise<void> {
    return this.#pending.drain(timeoutMs);
  }

  async #check(
    request: FastifyRequest,
    principal: Principal,
    endpoint: LlmEndpoint,
    estimate: RequestEstimate,
    stream: boolean,
    parent: TraceContext | undefined,
  ): Promise<CheckResult> {
    const call = llmCall(request, principal, endpoint, estimate, stream);
    const taskToken = taskTokenHeader(request);
    const { model, inputTokens, outputTokens, unbounded } = estimate;
    const start = performance.now();
    this.#ctx.completions.beforeDecision();
    const result = await this.#ctx.engine.check(call, {
      estimate: {
        model,
        inputTokens,
        outputTokens,
        ...(unbounded ? { unbounded } : {}),
        // An all-zero estimate otherwise reserves the engine's default: an unbilled method reserves nothing.
        ...(endpoint.unbilled ? { spent: true } : {}),
      },
      meteredBy: 'proxy',
      keyId: principal.keyId,
      ...(taskToken === undefined ? {} : { taskToken }),
    });
    recordCheck(this.#ctx, call, result, { start, end: performance.now(), model, parent });
    return result;
  }

  /** Sends the request upstream; an unreachable upstream settles the call as failed and answers 502. */
  async #forward(
    x: Exchange,
    upstream: LlmUpstream,
    request: FastifyRequest,
    body: Readonly<Record<string, unknown>>,
  ): Promise<Response> {
    const provider = x.endpoint.provider;
    try {
      return await fetch(
        upstreamUrl(upstream, provider, x.endpoint.path, request.url, x.endpoint.upstreamQuery),
        {
          method: 'POST',
          headers: {
            ...upstreamHeaders(provider, upstream, request.headers),
            // Warden's client span when it traces; otherwise the caller's context unchanged (W3C: a proxy forwards it).
            ...traceHeaders(x.client?.context ?? x.trace),
          },
          body: JSON.stringify(x.endpoint.upstreamBody(body, x.estimate.maxOutputTokens)),
        },
      );
    } catch (err) {
      const why = fetchFailure(err);
      this.#settleLater(x, 502, {
        status: 'error',
        error: `the upstream could not be reached: ${why}`,
        usage: noUsage(x.estimate),
      });
      throw new LlmProxyError({
        status: 502,
        code: 'LLM_UPSTREAM_UNAVAILABLE',
        message: `the ${provider} upstream could not be reached (${why}); nothing was billed`,
      });
    }
  }

  /**
   * A whole (not streamed) answer: passed to the client as it came, then settled off the response path
   * (the decision is durable before the request was forwarded; the completion shares a later commit).
   */
  async #whole(x: Exchange, response: Response, reply: FastifyReply): Promise<FastifyReply> {
    let bytes: Buffer;
    try {
      bytes = Buffer.from(await response.arrayBuffer());
    } catch (err) {
      const why = fetchFailure(err);
      this.#settleLater(x, 502, {
        status: 'error',
        error: `the upstream answer broke off: ${why}`,
        // The provider may well have finished; all Warden knows is the prompt it sent.
        usage: { model: x.estimate.model, inputTokens: x.estimate.inputTokens, outputTokens: 0 },
      });
      throw new LlmProxyError({
        status: 502,
        code: 'LLM_UPSTREAM_UNAVAILABLE',
        message: `the ${x.endpoint.provider} upstream's answer broke off (${why})`,
      });
    }
    const seen = x.endpoint.bodyUsage(parseJson(bytes));
    const billed =
      response.ok || seen.usage
        ? billedUsage({ ...seen, final: seen.usage !== undefined }, x.estimate)
        : undefined;
    // The answer goes first: the decision is durable already, the usage is recorded after it.
    reply.send(bytes);
    this.#settleLater(
      x,
      response.status,
      {
        status: response.ok ? 'ok' : 'error',
        ...(response.ok
          ? {}
          : { error: `the upstream answered ${response.status}${upstreamMessage(bytes)}` }),
        usage: billed?.usage ?? noUsage(x.estimate),
      },
      { usage: billed ? (billed.estimated ? 'estimated' : 'reported') : 'none' },
    );
    return reply;
  }

  /**
   * Settles a call off the response path: its completion is held for the next decision's commit (see
   * DeferredCompletions) and tracked, so shutdown waits for it. Nothing is awaited by the answer.
   */
  #settleLater(
    x: Exchange,
    httpStatus: number,
    outcome: Omit<CallOutcome, 'durationMs' | 'result'>,
    extra: Record<string, unknown> = {},
  ): void {
    this.#pending.track(this.#settle(x, httpStatus, outcome, extra, { deferred: true }));
  }

  /**
   * A streamed answer: relayed event by event while it is metered on the side. The client's stream ends
   * as the upstream's does; the call is settled after that, off the response path like a whole answer.
   */
  #relay(
    x: Exchange,
    response: Response,
    reply: FastifyReply,
    body: Readonly<Record<string, unknown>>,
  ): FastifyReply {
    const out = new PassThrough();
    const meter = x.endpoint.streamMeter(body);
    reply.header('cache-control', 'no-cache').header('x-accel-buffering', 'no');
    const task = (async () => {
      let relayed: RelayOutcome | undefined;
      try {
        relayed = await relayEvents(response.body, out, meter);
      } finally {
        if (!relayed) {
          // The relay itself failed: nothing says how the stream ended, so nothing is settled.
          x.client?.end('relay failed');
          x.span?.end('relay failed');
        }
        // A cut stream is cut for the client too, so it does not take half an answer for a whole one.
        if (!relayed || relayed.cut) reply.raw.destroy();
        else out.end(out.destroyed ? undefined : relayed.held);
      }
      const billed = billedUsage(meter, x.estimate);
      const failure = relayed.cut ? 'the upstream stream broke off before its end' : meter.failure;
      this.#settleLater(
        x,
        response.status,
        { status: failure ? 'error' : 'ok', ...(failure ? { error: failure } : {}), usage: billed.usage },
        { usage: billed.estimated ? 'estimated' : 'reported', clientGone: relayed.clientGone },
      );
    })();
    this.#pending.track(task);
    return reply.send(out);
  }

  /**
   * Records how the request ended, with its usage. A failure that may pass (the database briefly
   * unavailable) is tried again in the background with backoff; the answer stands either way.
   */
  async #settle(
    x: Exchange,
    httpStatus: number,
    outcome: Omit<CallOutcome, 'durationMs' | 'result'>,
    extra: Record<string, unknown> = {},
    how: { deferred?: boolean } = {},
  ): Promise<void> {
    const done: CallOutcome = {
      ...outcome,
      result: { endpoint: x.endpoint.name, stream: x.stream, httpStatus, ...extra },
      durationMs: Math.round(performance.now() - x.startedMs),
    };
    if (x.client) endUpstreamSpan(x.client, httpStatus, outcome);
    const err = await (how.deferred
      ? this.#ctx.completions.defer(() => this.#complete(x, done))
      : this.#complete(x, done));
    const unsettled = err === undefined ? undefined : codeOf(err);
    if (x.span) endAnswered(x.span, httpStatus, unsettled, unsettled);
    if (err === undefined) return;
    const where = { err, callId: x.callId };
    if (isFinalSettleError(err)) {
      x.log.warn(where, 'an LLM request could not be settled');
      return;
    }
    x.log.warn(where, 'an LLM request could not be settled; trying again');
    this.#pending.retry(
      err,
      () => this.#complete(x, done),
      (last) => {
        // A try that failed after its write committed finds the call completed: settled all the same.
        if (last === undefined || isWardenError(last, 'CALL_ALREADY_COMPLETED')) {
          x.log.info({ callId: x.callId }, 'an LLM request was settled on a later try');
        } else {
          // Unsettled, the reservation is charged at its estimate when its lease runs out; the usage is in the log.
          x.log.error(
            { err: last, callId: x.callId, agent: x.principal.id, usage: done.usage },
            'an LLM request could not be settled: its usage is not recorded',
          );
        }
      },
    );
  }

  /** One try at completing the call as the proxy; resolves with the error, undefined once recorded. */
  async #complete(x: Exchange, outcome: CallOutcome): Promise<unknown> {
    const start = performance.now();
    let error: unknown;
    try {
      await this.#ctx.engine.complete(x.callId, outcome, x.principal.id, {
        meteredBy: 'proxy',
        keyId: x.principal.keyId,
      });
    } catch (err) {
      error = err;
    }
    recordSettlement(this.#ctx, {
      parent: x.trace,
      agent: x.principal.id,
      callId: x.callId,
      tool: `llm:${x.endpoint.provider}`,
      outcome,
      start,
      error: error === undefined ? undefined : codeOf(error),
    });
    return error;
  }
}

function codeOf(err: unknown): string {
  if (err instanceof LlmProxyError) return err.detail.code;
  return err instanceof WardenError ? err.code : 'INTERNAL';
}

function notConfigured(provider: LlmProvider): LlmProxyError {
  return new LlmProxyError({
    status: 404,
    code: 'LLM_NOT_CONFIGURED',
    message: `this Warden has no ${provider} upstream: set llm.${provider}.apiKey (and llm.${provider}.baseUrl for another upstream than the provider's own) in the server configuration`,
    retry: false,
  });
}

/** The estimate of a method that is not billed (countTokens): no tokens, whatever its prompt holds. */
function nothingToBill(e: RequestEstimate): RequestEstimate {
  return { model: e.model, inputTokens: 0, outputTokens: 0, maxOutputTokens: 0, promptHash: e.promptHash };
}

/** Nothing consumed: an upstream that refused or was not reached is not billed unless it says so. */
function noUsage(estimate: RequestEstimate): Usage {
  return { model: estimate.model, inputTokens: 0, outputTokens: 0 };
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The provider's error message from an error body, for the audit trail (both shapes have error.message). */
function upstreamMessage(bytes: Buffer): string {
  const error = asObject(asObject(parseJson(bytes))?.error);
  const message = typeof error?.message === 'string' ? error.message.slice(0, 300) : undefined;
  return message ? `: ${message}` : '';
}
