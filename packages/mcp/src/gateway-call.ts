import type { CallToolRequest, CallToolResult, ServerContext } from '@modelcontextprotocol/server';
import { isWardenError, parseTraceContext, type TraceContext, traceHeaders } from '@warden/core';
import { type ApprovalPending, withTraceContext } from '@warden/sdk';
import type { ToolCallTrace } from './call-trace.js';
import type { GatewayOptions } from './gateway-server.js';
import { InFlightCalls } from './in-flight-calls.js';
import { policyName, splitExposed } from './tool-names.js';

/**
 * One tools/call: decided by Warden (held open with progress while a person decides a review), then
 * forwarded, its result recorded. Every refusal or failure is a tool result with `isError`.
 */
export async function handleCall(
  o: GatewayOptions,
  request: CallToolRequest,
  ctx: ServerContext,
): Promise<CallToolResult> {
  const meta = request.params._meta;
  const caller = parseTraceContext(meta?.traceparent, meta?.tracestate);
  const trace = o.tracing?.toolCall({ name: request.params.name, caller, session: o.context.session });
  if (!trace) {
    // Not tracing: the caller's context goes on unchanged, to Warden (over HTTP) and to the upstream.
    const run = () => decideAndForward(o, request, ctx, caller, undefined);
    return caller ? withTraceContext(traceHeaders(caller), run) : run();
  }
  let result: CallToolResult | undefined;
  try {
    result = await trace.run(() => decideAndForward(o, request, ctx, caller, trace));
    return result;
  } finally {
    trace.end(result === undefined ? 'INTERNAL' : failureType(result));
  }
}

async function decideAndForward(
  o: GatewayOptions,
  request: CallToolRequest,
  ctx: ServerContext,
  caller: TraceContext | undefined,
  trace: ToolCallTrace | undefined,
): Promise<CallToolResult> {
  const { name, arguments: args = {} } = request.params;
  const target = splitExposed(name);
  if (!target || !o.pool.has(target.server)) {
    return refusal(
      `no tool named ${name}: list the tools to see what this gateway offers`,
      'MCP_TOOL_UNKNOWN',
    );
  }
  const progress = progressReporter(request, ctx);
  const call = (o.calls ?? new InFlightCalls()).begin(ctx.mcpReq.signal);
  let ticker: NodeJS.Timeout | undefined;
  const startWaiting = (p: ApprovalPending) => {
    if (!progress) return;
    const tell = () =>
      progress.waiting(
        `Waiting for a human to approve ${name} (approval ${p.approvalId}, expires ${p.expiresAt}): ${p.reasons.join('; ')}`,
      );
    tell();
    ticker = setInterval(tell, o.progressEveryMs);
  };
  let decided = false;
  try {
    const ok = await o.warden
      .authorize(
        { tool: policyName(target.server, target.tool), args },
        {
          context: o.context,
          approvalTimeoutMs: o.approvalWaitMs,
          signal: call.signal,
          onApprovalPending: startWaiting,
        },
      )
      .finally(() => clearInterval(ticker));
    decided = true;
    call.running();
    return await o.warden.runAuthorized(
      ok,
      async () => {
        // With a tracer, the upstream's parent is the gateway's span; without, the caller's (passed on unchanged).
        const hop = trace?.upstream(target.server, target.tool);
        const meta = hop?.meta ?? traceHeaders(caller);
        try {
          const r = await o.pool.call(target.server, target.tool, args, {
            signal: call.signal,
            ...(progress ? { onprogress: (p) => progress.relay(p.progress, p.total, p.message) } : {}),
            ...(meta.traceparent ? { meta } : {}),
          });
          hop?.end(r.isError ? 'tool_error' : undefined);
          return r;
        } catch (err) {
          hop?.end(isWardenError(err) ? err.code : 'INTERNAL');
          throw err;
        }
      },
      { failed: (r) => (r.isError ? errorText(r) : undefined), recordInBackground: !o.durableResults },
    );
  } catch (err) {
    if (!decided && isWardenError(err, 'WARDEN_UNREACHABLE')) {
      // Fail closed: with no decision the tool is not called, and the model is told why and what fixes it.
      o.onError?.(`tools/call ${name}: ${err.message}`);
      return refusal(
        `${err.message} Start it, or fix warden.url in the gateway config. ${name} was not called.`,
        err.code,
        err.details,
      );
    }
    if (isWardenError(err)) return refusal(err.message, err.code, err.details);
    o.onError?.(`tools/call ${name}: ${(err as Error).message}`);
    return refusal(`the gateway could not complete ${name}; the error is logged`, 'INTERNAL');
  } finally {
    call.done();
  }
}

/**
 * Progress for a client that asked for it (a progressToken). The spec wants each value greater than the
 * last: waiting counts seconds held, and the upstream's own progress continues from there.
 */
function progressReporter(request: CallToolRequest, ctx: ServerContext) {
  const token = request.params._meta?.progressToken;
  if (token === undefined) return undefined;
  const since = Date.now();
  let last = 0;
  let offset: number | undefined;
  const send = (value: number, message: string | undefined, total?: number) => {
    const progress = Math.max(value, last + 0.001);
    last = progress;
    void ctx.mcpReq
      .notify({
        method: 'notifications/progress',
        params: {
          progressToken: token,
          progress,
          ...(total !== undefined ? { total } : {}),
          ...(message ? { message } : {}),
        },
      })
      .catch(() => {});
  };
  return {
    waiting: (message: string) => send((Date.now() - since) / 1000, message),
    relay: (value: number, total: number | undefined, message: string | undefined) => {
      offset ??= last;
      send(offset + value, message, total === undefined ? undefined : offset + total);
    },
  };
}

/** A refused or failed call as the model should see it: a tool result flagged as an error. */
export function refusal(
  message: string,
  code: string,
  details: Readonly<Record<string, unknown>> = {},
): CallToolResult {
  const ids = ['callId', 'approvalId', 'ruleId', 'session'].filter((k) => details[k] != null);
  return {
    content: [{ type: 'text', text: message }],
    isError: true,
    _meta: { 'warden/code': code, ...Object.fromEntries(ids.map((k) => [`warden/${k}`, details[k]])) },
  };
}

/** What a result says went wrong, for a span: the gateway's code for a refusal, `tool_error` for the tool's own. */
function failureType(r: CallToolResult): string | undefined {
  if (!r.isError) return undefined;
  const code = r._meta?.['warden/code'];
  return typeof code === 'string' ? code : 'tool_error';
}

/** The text of an upstream's error result, for the audit's error field. */
function errorText(r: CallToolResult): string {
  const text = r.content
    .filter((c): c is { type: 'text'; text: string } => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
  return text === '' ? 'the tool reported an error' : text.slice(0, 2_000);
}
