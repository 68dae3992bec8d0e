import { performance } from 'node:perf_hooks';
import type { TraceContext } from '@warden/core';
import type { CallOutcome, CheckResult } from '@warden/engine';
import type { ServerContext } from '../server-context.js';
import type { LlmCall } from './llm-call.js';

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
