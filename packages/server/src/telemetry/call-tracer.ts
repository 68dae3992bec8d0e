// Types only: the SDK itself is loaded lazily so a server without tracing never pays for it.
import type * as OtelApi from '@opentelemetry/api';
import type { Span, Tracer } from '@opentelemetry/api';
import type { BasicTracerProvider, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { formatTraceparent, type TraceContext } from '@warden/core';

type Attributes = Readonly<Record<string, string | number | boolean | undefined>>;

/** One finished tool-call check or completion, recorded after the fact. */
export interface CallSpanInput {
  readonly name: 'warden.check' | 'warden.complete';
  /** Epoch milliseconds on the `performance.timeOrigin` clock, i.e. `Date.now()`-like with sub-ms precision. */
  readonly startMs: number;
  readonly endMs: number;
  /** `undefined` values are skipped. */
  readonly attributes: Attributes;
  /** Sets the span status to ERROR with this message. */
  readonly error?: string;
  /** The span this one continues: the caller's (W3C traceparent) or a live span of Warden's; else a new trace. */
  readonly parent?: TraceContext | undefined;
}

/** A span opened now and ended later: one whose id must be known before it ends (to hand upstream). */
export interface SpanStart {
  readonly name: string;
  /** `server` for a request Warden answers, `client` for one it sends upstream. */
  readonly kind: 'server' | 'client' | 'internal';
  readonly attributes: Attributes;
  readonly parent?: TraceContext | undefined;
}

/** An open span. */
export interface LiveSpan {
  /**
   * This span as a parent: of Warden's spans inside it, and of the upstream's (its `traceparent`). The
   * caller's context instead when the span could not be made; undefined when there is neither.
   */
  readonly context: TraceContext | undefined;
  /** Adds attributes (`undefined` values are skipped). */
  set(attributes: Attributes): void;
  /** Ends it (once; later calls do nothing), with status ERROR and this message when `error` is given. */
  end(error?: string): void;
}

/** Records Warden's spans (checks, completions, proxied requests) into an OpenTelemetry pipeline. */
export interface CallTracer {
  /** Queues one span; never throws and never waits on the network. */
  record(span: CallSpanInput): void;
  /** Opens a span; never throws (a failure yields a span that records nothing but still propagates). */
  start(span: SpanStart): LiveSpan;
  /** Flushes pending spans and releases the exporter; never rejects. */
  shutdown(): Promise<void>;
}

/** Options that cannot come from the standard OTEL_* environment variables. */
export interface CallTracerOptions {
  /** Told about the first failure of a streak (e.g. collector down); called again only after an export succeeds. */
  readonly onError?: (error: unknown) => void;
}

const TRACER_NAME = '@warden/server';
const DEFAULT_SERVICE_NAME = 'warden';
/** `ExportResultCode.SUCCESS` from @opentelemetry/core, which is not a direct dependency. */
const EXPORT_SUCCESS = 0;

/** Builds a tracer exporting OTLP/HTTP JSON; undefined when tracing is not configured. */
export async function createCallTracer(
  env: NodeJS.ProcessEnv = process.env,
  options: CallTracerOptions = {},
): Promise<CallTracer | undefined> {
  if (!isTracingEnabled(env)) return undefined;

  const [api, sdk, otlp, resources, semconv] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ]);

  const failures = new FailureReporter(options.onError);
  // The exporter reads OTEL_* from process.env by itself; only an injected env needs translating.
  const exporter = new otlp.OTLPTraceExporter(env === process.env ? {} : exporterConfigFromEnv(env));
  const resource = resources.defaultResource().merge(
    resources.resourceFromAttributes({
      [semconv.ATTR_SERVICE_NAME]: nonEmpty(env.OTEL_SERVICE_NAME) ?? DEFAULT_SERVICE_NAME,
    }),
  );
  // Deliberately not registered globally: these spans belong to Warden, not to whatever else runs in-process.
  const provider = new sdk.BasicTracerProvider({
    resource,
    spanProcessors: [new sdk.BatchSpanProcessor(watchExports(exporter, failures))],
  });
  return new OtelCallTracer(provider, api, failures);
}

class OtelCallTracer implements CallTracer {
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #api: typeof OtelApi;
  readonly #failures: FailureReporter;
  #shutdown: Promise<void> | undefined;

  constructor(provider: BasicTracerProvider, api: typeof OtelApi, failures: FailureReporter) {
    this.#provider = provider;
    this.#tracer = provider.getTracer(TRACER_NAME);
    this.#api = api;
    this.#failures = failures;
  }

  record(input: CallSpanInput): void {
    if (this.#shutdown !== undefined) return;
    try {
      const span = this.#open(input.name, this.#api.SpanKind.INTERNAL, input.parent, input.startMs);
      setAttributes(span, input.attributes);
      if (input.error !== undefined)
        span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: input.error });
      // Ending only queues the span in the batch processor; the export happens off this call path.
      span.end(input.endMs);
    } catch (error) {
      this.#failures.fail(error);
    }
  }

  start(input: SpanStart): LiveSpan {
    const kinds = this.#api.SpanKind;
    const kind =
      input.kind === 'server' ? kinds.SERVER : input.kind === 'client' ? kinds.CLIENT : kinds.INTERNAL;
    let span: Span;
    try {
      span = this.#open(input.name, kind, input.parent);
      setAttributes(span, input.attributes);
    } catch (error) {
      this.#failures.fail(error);
      // Nothing is recorded, but the caller's trace still reaches the upstream through this span's context.
      span = this.#api.trace.wrapSpanContext(this.#api.INVALID_SPAN_CONTEXT);
    }
    const valid = this.#api.trace.isSpanContextValid(span.spanContext());
    return new OtelLiveSpan(
      span,
      valid ? undefined : input.parent,
      this.#api.SpanStatusCode.ERROR,
      this.#failures,
    );
  }

  /** Starts a span under `parent` without touching the global context (Warden registers none). */
  #open(name: string, kind: OtelApi.SpanKind, parent: TraceContext | undefined, startTime?: number): Span {
    const api = this.#api;
    const context =
      parent === undefined
        ? api.ROOT_CONTEXT
        : api.trace.setSpanContext(api.ROOT_CONTEXT, {
            traceId: parent.traceId,
            spanId: parent.spanId,
            traceFlags: parent.flags,
            // Also for a parent of Warden's own: the SDK only needs its ids and flags to link the two.
            isRemote: true,
            ...(parent.tracestate ? { traceState: api.createTraceState(parent.tracestate) } : {}),
          });
    return this.#tracer.startSpan(name, { kind, ...(startTime !== undefined ? { startTime } : {}) }, context);
  }

  shutdown(): Promise<void> {
    // The final flush rejects when the collector is unreachable; report it, never hand it to the caller.
    this.#shutdown ??= this.#provider.shutdown().catch((error: unknown) => this.#failures.fail(error));
    return this.#shutdown;
  }
}

class OtelLiveSpan implements LiveSpan {
  readonly context: TraceContext | undefined;
  readonly #span: Span;
  readonly #errorCode: OtelApi.SpanStatusCode;
  readonly #failures: FailureReporter;
  #ended = false;

  /** `fallback`: the caller's context, kept when the span could not be made (the upstream still joins). */
  constructor(
    span: Span,
    fallback: TraceContext | undefined,
    errorCode: OtelApi.SpanStatusCode,
    failures: FailureReporter,
  ) {
    this.#span = span;
    this.#errorCode = errorCode;
    this.#failures = failures;
    const own = span.spanContext();
    const state = own.traceState?.serialize();
    this.context =
      fallback === undefined
        ? {
            traceId: own.traceId,
            spanId: own.spanId,
            flags: own.traceFlags,
            traceparent: formatTraceparent({
              traceId: own.traceId,
              spanId: own.spanId,
              flags: own.traceFlags,
            }),
            ...(state ? { tracestate: state } : {}),
          }
        : fallback;
  }

  set(attributes: Attributes): void {
    if (this.#ended) return;
    try {
      setAttributes(this.#span, attributes);
    } catch (error) {
      this.#failures.fail(error);
    }
  }

  end(error?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      if (error !== undefined) this.#span.setStatus({ code: this.#errorCode, message: error });
      this.#span.end();
    } catch (err) {
      this.#failures.fail(err);
    }
  }
}

function setAttributes(span: Span, attributes: Attributes): void {
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) span.setAttribute(key, value);
  }
}

/** Forwards failures to `onError`, once per streak: a dead collector fails every batch. */
class FailureReporter {
  readonly #onError: ((error: unknown) => void) | undefined;
  #failing = false;

  constructor(onError: ((error: unknown) => void) | undefined) {
    this.#onError = onError;
  }

  succeed(): void {
    this.#failing = false;
  }

  fail(error: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    try {
      this.#onError?.(error);
    } catch {
      // A throwing logger must not turn a lost span into a failed request.
    }
  }
}

/** Taps export outcomes, which the SDK otherwise reports only to the (usually silent) `diag` logger. */
function watchExports(exporter: SpanExporter, failures: FailureReporter): SpanExporter {
  return {
    export: (spans, done) =>
      exporter.export(spans, (result) => {
        if (result.code === EXPORT_SUCCESS) failures.succeed();
        else failures.fail(result.error ?? new Error('OTLP span export failed'));
        done(result);
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

function isTracingEnabled(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return false;
  return (
    nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) !== undefined ||
    nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT) !== undefined
  );
}

/** The subset of the exporter's own env handling that matters when `env` is not process.env. */
function exporterConfigFromEnv(env: NodeJS.ProcessEnv): {
  url: string;
  headers?: Record<string, string>;
  timeoutMillis?: number;
} {
  const tracesEndpoint = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  // Per the spec, the signal-specific endpoint is used as-is and the generic one gets the signal path.
  const url = tracesEndpoint ?? `${nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT)?.replace(/\/+$/, '')}/v1/traces`;
  const headers = {
    ...parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS),
    ...parseHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
  };
  const timeoutMillis =
    parseTimeout(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT) ?? parseTimeout(env.OTEL_EXPORTER_OTLP_TIMEOUT);
  return {
    url,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...(timeoutMillis !== undefined ? { timeoutMillis } : {}),
  };
}

/** `k1=v1,k2=v2` with percent-encoded values, as OTEL_EXPORTER_OTLP_HEADERS specifies. */
function parseHeaders(raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of raw?.split(',') ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    if (key === '') continue;
    try {
      headers[key] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      // Malformed escapes: skip the header as the SDK does, rather than refuse to start.
    }
  }
  return headers;
}

function parseTimeout(raw: string | undefined): number | undefined {
  const value = Number(nonEmpty(raw));
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === '' ? undefined : trimmed;
}
