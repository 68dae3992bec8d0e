import type { TraceContext, TraceHeaders } from '@warden/core';

/**
 * How the gateway takes part in the caller's trace. A tools/call carries the caller's W3C context in
 * `params._meta.traceparent`/`tracestate` (the MCP convention, SEP-414); a gateway given a tracer opens
 * its spans under it and sends its own span onward, one without passes the caller's context unchanged.
 */
export interface GatewayTracing {
  /** Opens the trace of one tools/call; `caller` is the context of its `_meta`, if it sent a valid one. */
  toolCall(call: {
    readonly name: string;
    readonly caller: TraceContext | undefined;
    readonly session: string | undefined;
  }): ToolCallTrace;
}

/** One tools/call's part of the trace. */
export interface ToolCallTrace {
  /** Runs the decision, the forward and the record inside this call's span (Warden's spans join it). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Opens the span of the request to the upstream: `meta` goes in that request's `_meta`. */
  upstream(server: string, tool: string): UpstreamHop;
  /** Ends the call's span; `failed` is the low-cardinality error type (a Warden code or `tool_error`). */
  end(failed?: string): void;
}

/** The request to one upstream. */
export interface UpstreamHop {
  readonly meta: TraceHeaders;
  end(failed?: string): void;
}
