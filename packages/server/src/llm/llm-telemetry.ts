import { performance } from 'node:perf_hooks';
import type { TraceContext } from '@warden/core';
import type { CallOutcome, CheckResult } from '@warden/engine';
import type { ServerContext } from '../server-context.js';
import type { LiveSpan } from '../telemetry/call-tracer.js';
import type { LlmCall } from './llm-call.js';
import type { LlmUpstream } from './llm-config.js';
import type { LlmEndpoint } from './llm-endpoints.js';

/** Counts and traces an LLM request's decision as the API does a tool call's. */
export function recordCheck(
  ctx: ServerContext,
  call: LlmCall,
  result: CheckResult,
  t: { start: number; end: number; model: string; parent: TraceContext | undefined },
): void {
  ctx.metrics.decisions.inc({ effect: result.effect, rule: result.ruleId ?? '', code: result.code ?? '' });
  ctx.metrics.checkSeconds.observe({ effect: result.effect }, (t.end - t.start) / 1000);
  ctx.tracer?.record({
    name: 'warden.check',
    parent: t.parent,
    startMs: performance.timeOrigin + t.start,
    endMs: performance.timeOrigin + t.end,
    attributes: {
      'warden.agent': call.agent,
      'warden.tool': call.tool,
      'warden.session': result.session,
      'warden.decision': result.effect,
      'warden.rule': result.ruleId ?? undefined,
      'warden.call_id': result.callId,
      'warden.code': result.code,
      'gen_ai.request.model': t.model,
    },
  });
}

/** Counts and traces a settlement; `error` is the code when it could not be recorded. */
export function recordSettlement(
  ctx: ServerContext,
  s: {
    agent: string;
    callId: string;
    tool: string;
    outcome: Pick<CallOutcome, 'status' | 'usage'>;
    start: number;
    error: string | undefined;
    parent: TraceContext | undefined;
  },
): void {
  if (!s.error) ctx.metrics.completions.inc({ status: s.outcome.status });
  ctx.tracer?.record({
    name: 'warden.complete',
    parent: s.parent,
    startMs: performance.timeOrigin + s.start,
    endMs: performance.timeOrigin + performance.now(),
    attributes: {
      'warden.agent': s.agent,
      'warden.call_id': s.callId,
      'warden.status': s.outcome.status,
      'warden.tool': s.tool,
      'gen_ai.usage.input_tokens': s.outcome.usage?.inputTokens,
      'gen_ai.usage.output_tokens': s.outcome.usage?.outputTokens,
    },
    ...(s.error ? { error: s.error } : {}),
  });
}

/** Opens the span of one proxied request (tracing on), under the caller's span when it sent one. */
export function startRequestSpan(
  ctx: ServerContext,
  agent: string,
  endpoint: LlmEndpoint,
  parent: TraceContext | undefined,
): LiveSpan | undefined {
  return ctx.tracer?.start({
    name: 'warden.llm',
    kind: 'server',
    parent,
    attributes: {
      'warden.agent': agent,
      'warden.endpoint': endpoint.name,
      'gen_ai.provider.name': endpoint.provider,
    },
  });
}

/**
 * Opens the span of the request to the provider, named as OpenTelemetry's GenAI conventions name an
 * inference call; its context is the `traceparent` the provider receives.
 */
export function startUpstreamSpan(
  ctx: ServerContext,
  parent: TraceContext | undefined,
  endpoint: LlmEndpoint,
  upstream: LlmUpstream,
  model: string,
  callId: string,
): LiveSpan | undefined {
  return ctx.tracer?.start({
    name: `chat ${model}`,
    kind: 'client',
    parent,
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': endpoint.provider,
      'gen_ai.request.model': model,
      'server.address': hostOf(upstream.baseUrl),
      'warden.call_id': callId,
    },
  });
}

/** Ends the provider request's span with what came back: the status, the usage, whether it failed. */
export function endUpstreamSpan(
  span: LiveSpan,
  httpStatus: number,
  outcome: Pick<CallOutcome, 'status' | 'usage'>,
): void {
  const failed = outcome.status === 'error' ? String(httpStatus) : undefined;
  span.set({
    'http.response.status_code': httpStatus,
    'gen_ai.usage.input_tokens': outcome.usage?.inputTokens,
    'gen_ai.usage.output_tokens': outcome.usage?.outputTokens,
    'error.type': failed,
  });
  span.end(failed);
}

/**
 * Ends a proxied request's span with the status the client got and Warden's code, if any. A refusal (a
 * 4xx) is an outcome the caller caused, not a failure of Warden: only a 5xx marks an error, or `failure`
 * (a settlement that could not be recorded).
 */
export function endAnswered(
  span: LiveSpan,
  httpStatus: number,
  code: string | undefined,
  failure: string | undefined = undefined,
): void {
  span.set({ 'http.response.status_code': httpStatus, 'warden.code': code });
  span.end(failure ?? (httpStatus >= 500 ? (code ?? String(httpStatus)) : undefined));
}

/** The upstream's host, for `server.address`. */
function hostOf(baseUrl: string): string | undefined {
  try {
    return new URL(baseUrl).hostname;
  } catch {
    return undefined;
  }
}
