/**
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, a server exports one span per check and per completion over
 * OTLP/HTTP JSON, carrying what the API answered; closing the server flushes them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startOtlpReceiver } from '../test-support/otlp-receiver.js';
import { startTestServer } from '../test-support/server-fixtures.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Decision {
  readonly callId: string;
  readonly session: string;
  readonly effect: string;
  readonly ruleId: string | null;
}

describe('tracing', () => {
  it('exports warden.check and warden.complete spans matching the API answers, flushed on close', async () => {
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    const fx = await startTestServer('sqlite', {}, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
    let closed = false;
    cleanups.push(async () => {
      if (!closed) await fx.close();
    });
    expect(fx.server.ctx.tracer).toBeDefined();
    const agent = await fx.key('agent', 'support-bot', 'agent');

    const check = async (body: unknown) => {
      const r = await fx.request('POST', '/v1/calls', { key: agent, body });
      expect(r.statusCode).toBe(200);
      return r.json() as Decision;
    };
    const allowed = await check({ tool: 'billing.refund', args: { amount: 20 } });
    expect(allowed).toMatchObject({ effect: 'allow', ruleId: 'support-small-refund' });
    const blocked = await check({ tool: 'billing.refund', args: { amount: 5000 }, session: allowed.session });
    expect(blocked).toMatchObject({ effect: 'block', ruleId: 'support-large-refund-block' });
    const completed = await fx.request('POST', `/v1/calls/${allowed.callId}/complete`, {
      key: agent,
      body: { status: 'ok', result: { refunded: 20 }, durationMs: 12 },
    });
    expect(completed.statusCode).toBe(200);

    // close() shuts the tracer down, which exports whatever is still batched.
    await fx.close();
    closed = true;

    const named = (name: string, callId: string) =>
      receiver.spans.filter((s) => s.name === name && s.attributes['warden.call_id'] === callId);
    const expected = (d: Decision) => ({
      'warden.agent': 'support-bot',
      'warden.tool': 'billing.refund',
      'warden.decision': d.effect,
      'warden.rule': d.ruleId,
      'warden.session': d.session,
      'warden.call_id': d.callId,
    });
    for (const d of [allowed, blocked]) {
      const spans = named('warden.check', d.callId);
      expect(spans).toHaveLength(1);
      expect(spans[0]?.attributes).toMatchObject(expected(d));
    }
    const completes = named('warden.complete', allowed.callId);
    expect(completes).toHaveLength(1);
    expect(completes[0]?.attributes).toMatchObject({ ...expected(allowed), 'warden.status': 'ok' });
    expect(completes[0]?.statusCode).not.toBe(2);
    expect(receiver.spans.map((s) => s.name).sort()).toEqual([
      'warden.check',
      'warden.check',
      'warden.complete',
    ]);
  });
});
