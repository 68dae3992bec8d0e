import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import { formatTraceparent, type TraceHeaders } from '@warden/core';

type OtelApi = typeof import('@opentelemetry/api');

/** The channel fetch (undici) announces each request on: what fetch instrumentations subscribe to. */
const UNDICI_REQUEST_CREATED = 'undici:request:create';

let loading: Promise<OtelApi | undefined> | undefined;
const passedOn = new AsyncLocalStorage<TraceHeaders>();

/**
 * Runs `fn` with `headers` (a caller's W3C `traceparent`/`tracestate`) as the trace context of every
 * request to Warden made inside it, in place of the active OpenTelemetry span: for a proxy that does not
 * trace itself, such as the `warden mcp` gateway passing on its MCP client's `_meta`.
 */
export function withTraceContext<T>(headers: TraceHeaders, fn: () => T): T {
  return passedOn.run(headers, fn);
}

/** `@opentelemetry/api` when the application installed it (an optional peer); loaded once. */
function otelApi(): Promise<OtelApi | undefined> {
  loading ??= import('@opentelemetry/api').then(
    (api) => api,
    () => undefined,
  );
  return loading;
}

/**
 * The trace headers of the context passed on (`withTraceContext`), else of the active OpenTelemetry
 * context, so Warden's spans join the agent's trace: what the application's propagators inject (W3C
 * `traceparent`/`tracestate` by default), or, with none registered, the active span's `traceparent`
 * written directly. Empty without `@opentelemetry/api`, with no active span, or when a fetch
 * instrumentation already injects them; never throws.
 */
export async function activeTraceHeaders(): Promise<Record<string, string>> {
  return headerSafe(await traceHeadersOfContext());
}

/** Visible ASCII and spaces, bounded: anything else would make fetch throw and fail the governed call. */
const HEADER_VALUE = /^[\x20-\x7e]{1,8192}$/;

/** Only the entries that are valid header values: tracing never fails or alters a call. */
function headerSafe(headers: Record<string, unknown>): Record<string, string> {
  const safe: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (typeof value === 'string' && HEADER_VALUE.test(value)) safe[name] = value;
  return safe;
}

async function traceHeadersOfContext(): Promise<Record<string, string>> {
  // The undici instrumentation appends its own traceparent to every fetch without looking for one, and
  // two traceparents make the receiver drop both (open-telemetry/opentelemetry-js-contrib#2796): when
  // something instruments fetch, it propagates the context for us.
  if (diagnostics.channel(UNDICI_REQUEST_CREATED).hasSubscribers) return {};
  const given = passedOn.getStore();
  if (given?.traceparent) return { ...given } as Record<string, string>;
  const api = await otelApi();
  if (!api) return {};
  try {
    const active = api.context.active();
    const headers: Record<string, string> = {};
    api.propagation.inject(active, headers);
    if (headers.traceparent === undefined) {
      const span = api.trace.getSpanContext(active);
      if (span && api.trace.isSpanContextValid(span)) {
        headers.traceparent = formatTraceparent({
          traceId: span.traceId,
          spanId: span.spanId,
          flags: span.traceFlags,
        });
        const state = span.traceState?.serialize();
        if (state) headers.tracestate = state;
      }
    }
    return headers;
  } catch {
    // A broken propagator must not fail a governed call: the call goes out without trace context.
    return {};
  }
}
