/**
 * A minimal OTLP/HTTP collector on 127.0.0.1: accepts `POST /v1/traces` in the JSON encoding Warden's
 * exporter sends (`@opentelemetry/exporter-trace-otlp-http`) and keeps every span with its ids.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

interface OtlpKeyValue {
  readonly key: string;
  readonly value: {
    stringValue?: string;
    intValue?: string | number;
    doubleValue?: number;
    boolValue?: boolean;
  };
}
interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes?: readonly OtlpKeyValue[];
  readonly status?: { readonly code?: number; readonly message?: string };
}
interface ExportTraceServiceRequest {
  readonly resourceSpans: readonly {
    readonly scopeSpans: readonly { readonly spans: readonly OtlpSpan[] }[];
  }[];
}

/** OTLP span kinds. */
export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

/** A span as received, its ids as lowercase hex (`parentSpanId` undefined for a root). */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Record<string, unknown>;
  readonly statusCode: number;
}

export interface OtlpReceiver {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Content types of exports refused for not being OTLP JSON. */
  readonly rejected: string[];
  close(): Promise<void>;
}

/** Starts the receiver on a free port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const rejected: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
        rejected.push(String(req.headers['content-type']));
        res.writeHead(415).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportTraceServiceRequest;
      for (const rs of body.resourceSpans) {
        for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push(received(span));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    rejected,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function received(span: OtlpSpan): ReceivedSpan {
  return {
    traceId: hexId(span.traceId) as string,
    spanId: hexId(span.spanId) as string,
    parentSpanId: hexId(span.parentSpanId),
    name: span.name,
    kind: span.kind,
    attributes: Object.fromEntries(
      (span.attributes ?? []).map(({ key, value }) => [
        key,
        value.stringValue ??
          (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? value.boolValue)),
      ]),
    ),
    statusCode: span.status?.code ?? 0,
  };
}

/** OTLP/JSON carries ids as hex; the protobuf-JSON mapping would use base64: either is read. */
function hexId(id: string | undefined): string | undefined {
  if (id === undefined || id === '') return undefined;
  return /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');
}
