import type { IncomingHttpHeaders } from 'node:http';
import { parseTraceContext, type TraceContext } from '@warden/core';

/**
 * The caller's W3C trace context from a request's `traceparent` and `tracestate` headers; undefined
 * (a new root trace, never an error) when there is none or it is malformed.
 */
export function incomingTrace(headers: IncomingHttpHeaders): TraceContext | undefined {
  return parseTraceContext(headers.traceparent, headers.tracestate);
}
