/**
 * The remote SDK sends the agent's active OpenTelemetry context with each request to Warden, through
 * whatever propagator the application registered; with none active it sends nothing, and a broken
 * propagator never fails a call. A real server on a socket answers.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Context,
  type ContextManager,
  context,
  createTraceState,
  propagation,
  ROOT_CONTEXT,
  type TextMapPropagator,
  trace,
} from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test-support/server-fixtures.js';
import { HttpTransport } from '../src/http-transport.js';
import { withTraceContext } from '../src/trace-propagation.js';
import { Warden } from '../src/warden.js';
import { SDK_POLICY } from '../test-support/sdk-fixtures.js';

/** The smallest context manager that makes a context active across awaits (what NodeSDK registers). */
class AlsContextManager implements ContextManager {
  readonly #als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#als.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
/** The agent's active span: sampled, with a vendor's tracestate. */
const agentSpan = trace.wrapSpanContext({
  traceId: TRACE,
  spanId: SPAN,
  traceFlags: 1,
  traceState: createTraceState('vendor=abc'),
});

let dir: string;
let srv: TestServer;
let key: string;
const sent: Headers[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-sdk-trace-'));
  writeFileSync(join(dir, 'policy.yaml'), SDK_POLICY);
  srv = await startTestServer('sqlite', { policy: join(dir, 'policy.yaml') }, { listen: true });
  key = await srv.key('agent', 'support-bot', 'agent');
  context.setGlobalContextManager(new AlsContextManager());
}, 60_000);

afterEach(() => {
  propagation.disable();
  sent.length = 0;
});

afterAll(async () => {
  context.disable();
  await srv?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A remote client whose requests are seen on their way to the real server. */
function client(): Warden {
  return new Warden(
    new HttpTransport({
      url: srv.server.url,
      key,
      fetch: (url, init) => {
        sent.push(new Headers(init?.headers));
        return fetch(url, init);
      },
    }),
  );
}

/** One allowed call, run and recorded, inside the agent's span. */
async function runAsAgent(warden: Warden): Promise<void> {
  const inSpan = trace.setSpan(context.active(), agentSpan);
  const result = await context.with(inSpan, () =>
    warden.run({ tool: 'lookup_order', args: { id: 'o-1' } }, async () => 'ok'),
  );
  expect(result).toBe('ok');
  await warden.close();
  expect(sent.length).toBeGreaterThanOrEqual(2); // the check and the completion
}

describe('HttpTransport and the active trace', () => {
  it('writes the active span’s traceparent and tracestate when no propagator is registered', async () => {
    await runAsAgent(client());
    for (const h of sent) {
      expect(h.get('traceparent')).toBe(`00-${TRACE}-${SPAN}-01`);
      expect(h.get('tracestate')).toBe('vendor=abc');
    }
  });

  it('uses the application’s propagator when it registered one', async () => {
    const custom: TextMapPropagator = {
      inject: (ctx, carrier, setter) => {
        const span = trace.getSpanContext(ctx);
        if (span) setter.set(carrier, 'traceparent', `00-${span.traceId}-${span.spanId}-01`);
        setter.set(carrier, 'baggage', 'tenant=acme');
      },
      extract: (ctx) => ctx,
      fields: () => ['traceparent', 'baggage'],
    };
    propagation.setGlobalPropagator(custom);
    await runAsAgent(client());
    for (const h of sent) {
      expect(h.get('traceparent')).toBe(`00-${TRACE}-${SPAN}-01`);
      expect(h.get('baggage')).toBe('tenant=acme');
    }
  });

  it('sends a context passed on with withTraceContext (a proxy that does not trace) as it was given', async () => {
    const given = { traceparent: `cc-${TRACE}-${SPAN}-00-future`, tracestate: 'other=1' };
    const warden = client();
    await withTraceContext(given, () =>
      warden.run({ tool: 'lookup_order', args: { id: 'o-3' } }, async () => 'ok'),
    );
    await warden.close();
    expect(sent.length).toBeGreaterThanOrEqual(2);
    for (const h of sent) {
      expect(h.get('traceparent')).toBe(given.traceparent);
      expect(h.get('tracestate')).toBe('other=1');
    }
  });

  it('drops a passed-on value that is not a valid header value instead of failing the call', async () => {
    const given = { traceparent: `00-${TRACE}-${SPAN}-01\r\nX-Evil: 1`, tracestate: 'ok=1' };
    const warden = client();
    const result = await withTraceContext(given, () =>
      warden.run({ tool: 'lookup_order', args: { id: 'o-4' } }, async () => 'ok'),
    );
    await warden.close();
    expect(result).toBe('ok');
    expect(sent.length).toBeGreaterThanOrEqual(2);
    for (const h of sent) {
      expect(h.get('traceparent')).toBeNull();
      expect(h.get('x-evil')).toBeNull();
      expect(h.get('tracestate')).toBe('ok=1');
    }
  });

  it('sends no trace headers outside a span', async () => {
    const warden = client();
    await warden.run({ tool: 'lookup_order', args: { id: 'o-2' } }, async () => 'ok');
    await warden.close();
    expect(sent.map((h) => h.get('traceparent'))).toEqual(sent.map(() => null));
  });

  it('leaves propagation to a fetch instrumentation when one listens (it would add a second traceparent)', async () => {
    const listener = () => {};
    diagnostics.subscribe('undici:request:create', listener);
    try {
      await runAsAgent(client());
    } finally {
      diagnostics.unsubscribe('undici:request:create', listener);
    }
    // The global fetch this test wraps did the instrumentation's part; the SDK's own headers carry none.
    for (const h of sent) expect(h.get('traceparent')).toBeNull();
  });

  it('never fails a call because a propagator throws', async () => {
    propagation.setGlobalPropagator({
      inject: () => {
        throw new Error('a broken propagator');
      },
      extract: (ctx) => ctx,
      fields: () => [],
    });
    await runAsAgent(client());
    for (const h of sent) expect(h.get('traceparent')).toBeNull();
  });
});
