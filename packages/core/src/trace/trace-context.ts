/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate` a caller
 * sends over HTTP or in an MCP request's `params._meta` (SEP-414). Pure string work, so a server that does
 * not trace can still read and forward a caller's context without loading any OpenTelemetry code.
 */

/** A span that another span continues: the caller's (as received) or one of Warden's own. */
export interface TraceContext {
  /** 32 lowercase hex digits, never all zero. */
  readonly traceId: string;
  /** The span's id: 16 lowercase hex digits, never all zero. */
  readonly spanId: string;
  /** The trace-flags byte; bit 0 is `sampled`. */
  readonly flags: number;
  /**
   * The `traceparent` to send onward: a caller's version 00 header as received (W3C: forward it
   * unchanged); a newer version's first four fields as version 00, so what goes onward is always 55
   * characters of checked hex, never a caller's free-form tail.
   */
  readonly traceparent: string;
  /** The vendor entries, validated, as one comma-joined value. */
  readonly tracestate?: string;
}

/** The W3C headers (or `_meta` keys, by the same names) that carry a trace context. */
export interface TraceHeaders {
  traceparent?: string;
  tracestate?: string;
}

const HEX_VERSION = /^[0-9a-f]{2}$/;
const HEX_TRACE_ID = /^[0-9a-f]{32}$/;
const HEX_SPAN_ID = /^[0-9a-f]{16}$/;
const HEX_FLAGS = /^[0-9a-f]{2}$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);
/** Version 00's length: 2 + 1 + 32 + 1 + 16 + 1 + 2. */
const V00_LENGTH = 55;
/** A newer version's header longer than this is not read (W3C leaves the length open; nothing needs more). */
const MAX_TRACEPARENT_LENGTH = 512;

/**
 * Parses a `traceparent` value strictly: version 00 is exactly 55 characters of lowercase hex with
 * non-zero ids; a higher version (not `ff`) is read for its first four fields as the spec asks, so a
 * newer caller still joins. Anything else (including repeated headers) is undefined: a new root trace.
 */
export function parseTraceparent(value: unknown): Omit<TraceContext, 'tracestate'> | undefined {
  if (typeof value !== 'string') return undefined;
  // HTTP allows optional whitespace around a header value; inside it nothing is tolerated.
  const v = value.trim();
  if (v.length < V00_LENGTH || v.length > MAX_TRACEPARENT_LENGTH) return undefined;
  const version = v.slice(0, 2);
  if (!HEX_VERSION.test(version) || version === 'ff') return undefined;
  if (version === '00' ? v.length !== V00_LENGTH : v.length > V00_LENGTH && v[V00_LENGTH] !== '-') {
    return undefined;
  }
  if (v[2] !== '-' || v[35] !== '-' || v[52] !== '-') return undefined;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  const flags = v.slice(53, 55);
  if (!HEX_TRACE_ID.test(traceId) || traceId === ZERO_TRACE_ID) return undefined;
  if (!HEX_SPAN_ID.test(spanId) || spanId === ZERO_SPAN_ID) return undefined;
  if (!HEX_FLAGS.test(flags)) return undefined;
  const ids = { traceId, spanId, flags: Number.parseInt(flags, 16) };
  return { ...ids, traceparent: version === '00' ? v : formatTraceparent(ids) };
}

/**
 * A caller's trace context from its `traceparent` and `tracestate` (a header repeated arrives as an
 * array; `tracestate` lines are joined as the spec says). `tracestate` is only read when `traceparent`
 * is valid, and dropped when malformed; undefined when there is no valid `traceparent`.
 */
export function parseTraceContext(traceparent: unknown, tracestate?: unknown): TraceContext | undefined {
  const parent = parseTraceparent(traceparent);
  if (!parent) return undefined;
  const state = parseTracestate(tracestate);
  return state === undefined ? parent : { ...parent, tracestate: state };
}

/** The version 00 `traceparent` of a span. */
export function formatTraceparent(span: Pick<TraceContext, 'traceId' | 'spanId' | 'flags'>): string {
  return `00-${span.traceId}-${span.spanId}-${(span.flags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The headers (or `_meta` entries) that carry `context` onward; empty without one. */
export function traceHeaders(context: TraceContext | undefined): TraceHeaders {
  if (!context) return {};
  return {
    traceparent: context.traceparent,
    ...(context.tracestate ? { tracestate: context.tracestate } : {}),
  };
}

/** Simple keys, and multi-tenant `tenant@system` keys, of a tracestate list-member. */
const TRACESTATE_KEY =
  /^(?:[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})$/;
/** Printable ASCII but `,` and `=`, up to 256 characters, not ending in a space. */
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_TRACESTATE_MEMBERS = 32;
/** 32 members of at most 256 + 1 + 256 characters, and their separators: nothing valid is longer. */
const MAX_TRACESTATE_LENGTH = MAX_TRACESTATE_MEMBERS * 514;

/**
 * The list-members of `tracestate`, validated and re-joined; undefined when absent, empty or malformed
 * (a malformed list is dropped whole rather than half-trusted).
 */
function parseTracestate(value: unknown): string | undefined {
  const raw = Array.isArray(value) ? value.join(',') : value;
  // Bounded before splitting: a caller's megabytes of commas never become an array.
  if (typeof raw !== 'string' || raw.length > MAX_TRACESTATE_LENGTH) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const part of raw.split(',')) {
    const member = part.trim();
    // Empty members (",,", a trailing comma) are allowed and skipped.
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(member.slice(eq + 1))) return undefined;
    if (keys.has(key)) return undefined;
    keys.add(key);
    members.push(member);
    if (members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  }
  if (members.length === 0 || members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  return members.join(',');
}
