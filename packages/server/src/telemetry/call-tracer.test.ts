import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCallTracer } from './call-tracer.js';

interface OtlpValue {
  readonly stringValue?: string;
  readonly intValue?: string | number;
  readonly doubleValue?: number;
  readonly boolValue?: boolean;
}
interface OtlpKeyValue {
  readonly key: string;
  readonly value: OtlpValue;
}
interface OtlpSpan {
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: string | number;
  readonly endTimeUnixNano: string | number;
  readonly attributes?: readonly OtlpKeyValue[];
  readonly status?: { readonly code?: number; readonly message?: string };
}
interface ExportTraceServiceRequest {
  readonly resourceSpans: readonly {
    readonly resource?: { readonly attributes?: readonly OtlpKeyValue[] };
    readonly scopeSpans: readonly { readonly spans: readonly OtlpSpan[] }[];
  }[];
}

interface ReceivedSpan {
  readonly span: OtlpSpan;
  readonly resource: Record<string, unknown>;
  readonly attributes: Record<string, unknown>;
}

/** A minimal OTLP/HTTP JSON collector: just enough of the protocol to see what the exporter sent. */
class Receiver {
  readonly spans: ReceivedSpan[] = [];
  readonly paths: string[] = [];
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<Receiver> {
    const receiver: Receiver = new Receiver(
      createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          receiver.paths.push(req.url ?? '');
          if (req.method !== 'POST' || req.url !== '/v1/traces') {
            res.writeHead(404).end();
            return;
          }
          receiver.#collect(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportTraceServiceRequest);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      }),
    );
    await listen(receiver.#server);
    return receiver;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  named(name: string): ReceivedSpan {
    const found = this.spans.find((received) => received.span.name === name);
    if (found === undefined) throw new Error(`no span named ${name}`);
    return found;
  }

  async close(): Promise<void> {
    // The exporter keeps its connection alive; without this close() waits for the idle timeout.
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #collect(request: ExportTraceServiceRequest): void {
    for (const resourceSpans of request.resourceSpans) {
      const resource = toRecord(resourceSpans.resource?.attributes);
      for (const scopeSpans of resourceSpans.scopeSpans) {
        for (const span of scopeSpans.spans) {
          this.spans.push({ span, resource, attributes: toRecord(span.attributes) });
        }
      }
    }
  }
}

function toRecord(attributes: readonly OtlpKeyValue[] = []): Record<string, unknown> {
  return Object.fromEntries(attributes.map(({ key, value }) => [key, fromOtlpValue(value)]));
}

function fromOtlpValue(value: OtlpValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  // JSON-encoded OTLP may carry int64 as a string.
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return value.boolValue;
}

/** OTLP times are nanoseconds since the epoch; compared in ms, as the caller passes them. */
function expectNear(nanos: string | number, expectedMs: number): void {
  const actualMs = Number(BigInt(nanos) / 1000n) / 1000;
  expect(Math.abs(actualMs - expectedMs)).toBeLessThan(1);
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await listen(server);
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const SPAN_KIND_INTERNAL = 1; // OTLP enum: SPAN_KIND_UNSPECIFIED = 0, SPAN_KIND_INTERNAL = 1
const STATUS_CODE_ERROR = 2; // OTLP enum: STATUS_CODE_UNSET = 0, OK = 1, ERROR = 2

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  vi.unstubAllEnvs();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startReceiver(): Promise<Receiver> {
  const receiver = await Receiver.start();
  cleanups.push(() => receiver.close());
  return receiver;
}

describe('createCallTracer', () => {
  it('is undefined when no OTLP endpoint is configured', async () => {
    await expect(createCallTracer({})).resolves.toBeUndefined();
    await expect(createCallTracer({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).resolves.toBeUndefined();
  });

  it('is undefined when the SDK is disabled even with an endpoint', async () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' };
    await expect(createCallTracer(env)).resolves.toBeUndefined();
  });

  it('exports check and complete spans over OTLP/HTTP JSON', async () => {
    const receiver = await startReceiver();
    const tracer = await createCallTracer({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
    });
    expect(tracer).toBeDefined();

    const checkStart = performance.timeOrigin + performance.now() - 5;
    const checkEnd = checkStart + 1.25;
    const checkAttributes = {
      'warden.agent': 'agent-1',
      'warden.tool': 'shell.exec',
      'warden.decision': 'allow',
      'warden.rule': 'rule-7',
      'warden.session': 'sess-1',
      'warden.call_id': 'call-1',
    };
    tracer?.record({
      name: 'warden.check',
      startMs: checkStart,
      endMs: checkEnd,
      // An undefined attribute is left out of the span.
      attributes: { ...checkAttributes, 'warden.code': undefined },
    });
    const completeStart = checkEnd + 10;
    const completeEnd = completeStart + 42.5;
    tracer?.record({
      name: 'warden.complete',
      startMs: completeStart,
      endMs: completeEnd,
      attributes: { 'warden.call_id': 'call-1', 'warden.code': 3, 'warden.decision': 'deny', retried: false },
      error: 'tool exited with status 3',
    });
    await tracer?.shutdown();

    expect(receiver.paths).toContain('/v1/traces');
    expect(receiver.spans.map((received) => received.span.name).sort()).toEqual([
      'warden.check',
      'warden.complete',
    ]);

    const check = receiver.named('warden.check');
    expect(check.resource['service.name']).toBe('warden');
    expect(check.span.kind).toBe(SPAN_KIND_INTERNAL);
    expect(check.attributes).toEqual(checkAttributes);
    expect(check.span.status?.code ?? 0).not.toBe(STATUS_CODE_ERROR);
    expectNear(check.span.startTimeUnixNano, checkStart);
    expectNear(check.span.endTimeUnixNano, checkEnd);

    const complete = receiver.named('warden.complete');
    expect(complete.resource['service.name']).toBe('warden');
    expect(complete.attributes).toEqual({
      'warden.call_id': 'call-1',
      'warden.code': 3,
      'warden.decision': 'deny',
      retried: false,
    });
    expect(complete.span.status).toMatchObject({
      code: STATUS_CODE_ERROR,
      message: 'tool exited with status 3',
    });
    expectNear(complete.span.startTimeUnixNano, completeStart);
    expectNear(complete.span.endTimeUnixNano, completeEnd);
  });

  it('lets the exporter read process.env itself, using a traces endpoint as-is', async () => {
    const receiver = await startReceiver();
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', undefined);
    vi.stubEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', `http://127.0.0.1:${receiver.port}/v1/traces`);
    vi.stubEnv('OTEL_SERVICE_NAME', 'warden-test');
    const tracer = await createCallTracer();
    expect(tracer).toBeDefined();

    const now = Date.now();
    tracer?.record({
      name: 'warden.check',
      startMs: now,
      endMs: now + 1,
      attributes: { 'warden.tool': 't' },
    });
    await tracer?.shutdown();

    expect(receiver.named('warden.check').resource['service.name']).toBe('warden-test');
  });

  it('survives a dead collector: record never throws and shutdown resolves promptly', async () => {
    const port = await closedPort();
    const onError = vi.fn();
    const tracer = await createCallTracer(
      { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_TIMEOUT: '300' },
      { onError },
    );
    expect(tracer).toBeDefined();

    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      expect(() =>
        tracer?.record({ name: 'warden.check', startMs: now, endMs: now + 1, attributes: { i } }),
      ).not.toThrow();
    }
    const started = performance.now();
    await expect(tracer?.shutdown()).resolves.toBeUndefined();
    expect(performance.now() - started).toBeLessThan(5_000);
    // Reported once for the failed export, not again for the flush that it made reject.
    expect(onError).toHaveBeenCalledTimes(1);
    // Shutdown is idempotent and recording afterwards is a silent no-op.
    await expect(tracer?.shutdown()).resolves.toBeUndefined();
    expect(() =>
      tracer?.record({ name: 'warden.check', startMs: now, endMs: now, attributes: {} }),
    ).not.toThrow();
  });
});
