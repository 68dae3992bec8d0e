import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { callFieldIssues, isWardenError, type TraceContext, traceHeaders } from '@warden/core';
import type { GatewayTracing } from '@warden/mcp';
import type { CallDecision, CallRequest, CallResult, CheckRequestOptions } from '@warden/sdk';
import type { CallTracer } from '../telemetry/call-tracer.js';
import { GatewayEngineTransport } from './gateway-transport.js';

/** Printable, bounded: the shape of a tool name the gateway can expose. */
const TOOL_NAME = /^[\x21-\x7e]{1,200}$/;

/**
 * The client's tool name as a span may carry it: only once it has a tool name's shape and the domain's
 * rules accept it (no credential-looking text, which the exporter could not redact); else none.
 */
function spanToolName(name: string): string | undefined {
  return TOOL_NAME.test(name) && callFieldIssues({ tool: name }).length === 0 ? name : undefined;
}

/** The span of the MCP tool call in progress: the parent of its check and completion spans. */
const current = new AsyncLocalStorage<TraceContext | undefined>();

/**
 * The `/mcp` gateway's spans, under the caller's `_meta` trace: `tools/call <name>` (server) for each
 * call, with Warden's check and completion and the `tools/call <tool>` (client) request to the upstream
 * inside it; the upstream receives the client span as its parent. Names follow OpenTelemetry's MCP
 * semantic conventions.
 */
export function mcpTracing(tracer: CallTracer): GatewayTracing {
  return {
    toolCall({ name, caller, session }) {
      const tool = spanToolName(name);
      const span = tracer.start({
        name: tool === undefined ? 'tools/call' : `tools/call ${tool}`,
        kind: 'server',
        parent: caller,
        attributes: {
          'mcp.method.name': 'tools/call',
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': tool,
          'warden.session': session,
        },
      });
      return {
        run: (fn) => current.run(span.context, fn),
        upstream(server, tool) {
          const hop = tracer.start({
            name: `tools/call ${tool}`,
            kind: 'client',
            parent: span.context,
            attributes: {
              'mcp.method.name': 'tools/call',
              'gen_ai.tool.name': tool,
              'warden.upstream': server,
            },
          });
          return { meta: traceHeaders(hop.context), end: (failed) => endWith(hop, failed) };
        },
        end: (failed) => endWith(span, failed),
      };
    },
  };
}

function endWith(span: ReturnType<CallTracer['start']>, failed: string | undefined): void {
  if (failed !== undefined) span.set({ 'error.type': failed });
  span.end(failed);
}

/** The engine transport of `/mcp` sessions, recording `warden.check` and `warden.complete` as the API does. */
export class TracedEngineTransport extends GatewayEngineTransport {
  readonly #tracer: CallTracer;

  constructor(tracer: CallTracer, ...args: ConstructorParameters<typeof GatewayEngineTransport>) {
    super(...args);
    this.#tracer = tracer;
  }

  override async check(call: CallRequest, options?: CheckRequestOptions): Promise<CallDecision> {
    const start = performance.timeOrigin + performance.now();
    const parent = current.getStore();
    const d = await super.check(call, options);
    this.#tracer.record({
      name: 'warden.check',
      parent,
      startMs: start,
      endMs: performance.timeOrigin + performance.now(),
      attributes: {
        'warden.agent': this.agent,
        'warden.tool': call.tool,
        'warden.session': d.session,
        'warden.decision': d.effect,
        'warden.rule': d.ruleId ?? undefined,
        'warden.call_id': d.callId,
        'warden.code': d.code,
        'warden.policy_version': d.policyVersion,
      },
    });
    return d;
  }

  override async complete(callId: string, result: CallResult): Promise<void> {
    const start = performance.timeOrigin + performance.now();
    const parent = current.getStore();
    let error: string | undefined;
    try {
      await super.complete(callId, result);
    } catch (err) {
      error = isWardenError(err) ? err.code : 'INTERNAL';
      throw err;
    } finally {
      this.#tracer.record({
        name: 'warden.complete',
        parent,
        startMs: start,
        endMs: performance.timeOrigin + performance.now(),
        attributes: { 'warden.agent': this.agent, 'warden.call_id': callId, 'warden.status': result.status },
        ...(error ? { error } : {}),
      });
    }
  }
}
