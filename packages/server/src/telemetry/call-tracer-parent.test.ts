/** The tracer continues a caller's trace: recorded and live spans take the W3C parent they are given. */
import { randomBytes } from 'node:crypto';
import { parseTraceContext } from '@warden/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type OtlpReceiver, SPAN_KIND, startOtlpReceiver } from '../../test-support/otlp-receiver.js';
import { createCallTracer } from './call-tracer.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tracerAndReceiver() {
  const receiver: OtlpReceiver = await startOtlpReceiver();
  cleanups.push(() => receiver.close());
  const tracer = await createCallTracer({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
  if (!tracer) throw new Error('tracing should be on');
  return { receiver, tracer };
}

const caller = (flags: '01' | '00') => {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return parseTraceContext(`00-${traceId}-${spanId}-${flags}`, 'vendor=abc') as NonNullable<
    ReturnType<typeof parseTraceContext>
  >;
};

describe('CallTracer under a caller’s trace', () => {
  it('records spans as children of the caller’s span, and a live span as the parent of later ones', async () => {
    const { receiver, tracer } = await tracerAndReceiver();
    const parent = caller('01');
    const now = Date.now();
    tracer.record({ name: 'warden.check', parent, startMs: now, endMs: now + 1, attributes: {} });
    const server = tracer.start({ name: 'warden.llm', kind: 'server', parent, attributes: { a: 1 } });
    const client = tracer.start({ name: 'chat m', kind: 'client', parent: server.context, attributes: {} });
    // What goes upstream: the client span's own id, in the caller's trace, sampled, tracestate kept.
    expect(client.context?.traceparent).toBe(`00-${parent.traceId}-${client.context?.spanId}-01`);
    expect(client.context?.tracestate).toBe('vendor=abc');
    client.end('500');
    client.end(); // a second end changes nothing
    server.end();
    await tracer.shutdown();

    const byName = (name: string) => receiver.spans.find((s) => s.name === name);
    expect(byName('warden.check')).toMatchObject({ traceId: parent.traceId, parentSpanId: parent.spanId });
    expect(byName('warden.llm')).toMatchObject({
      traceId: parent.traceId,
      parentSpanId: parent.spanId,
      spanId: server.context?.spanId,
      kind: SPAN_KIND.SERVER,
      attributes: { a: 1 },
    });
    expect(byName('chat m')).toMatchObject({
      parentSpanId: server.context?.spanId,
      kind: SPAN_KIND.CLIENT,
      statusCode: 2,
    });
    expect(receiver.spans).toHaveLength(3);
  });

  it('without a parent starts a new trace; under an unsampled parent records nothing but still propagates', async () => {
    const { receiver, tracer } = await tracerAndReceiver();
    const root = tracer.start({ name: 'root', kind: 'server', attributes: {} });
    root.end();
    const unsampled = caller('00');
    const quiet = tracer.start({ name: 'quiet', kind: 'server', parent: unsampled, attributes: {} });
    // The caller chose not to sample: Warden follows (the SDK's parent-based default) and says so onward.
    expect(quiet.context?.traceparent).toMatch(new RegExp(`^00-${unsampled.traceId}-[0-9a-f]{16}-00$`));
    quiet.end();
    await tracer.shutdown();

    expect(receiver.spans.map((s) => s.name)).toEqual(['root']);
    expect(receiver.spans[0]?.parentSpanId).toBeUndefined();
  });
});
