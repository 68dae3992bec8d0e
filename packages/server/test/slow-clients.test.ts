/**
 * Slow clients over a real socket: one that trickles its headers and one that stops halfway through its
 * body are cut off after the configured timeouts, while the server keeps answering everyone else.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

let t: TestServer;
let agentKey: string;
beforeAll(async () => {
  t = await startTestServer('sqlite', { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 }, { listen: true });
  agentKey = await t.key('agent', 'support-bot', 'agent');
});
afterAll(async () => {
  await t?.close();
});

/** Opens a raw connection; resolves with what the server sent and when it hung up. */
function rawClient(): { socket: Socket; ended: Promise<{ data: string; afterMs: number }> } {
  const { port } = new URL(t.server.url);
  const socket = connect(Number(port), '127.0.0.1');
  const start = Date.now();
  let data = '';
  socket.setEncoding('utf8').on('data', (d: string) => {
    data += d;
  });
  socket.on('error', () => {});
  const ended = new Promise<{ data: string; afterMs: number }>((resolve) =>
    socket.once('close', () => resolve({ data, afterMs: Date.now() - start })),
  );
  return { socket, ended };
}

async function healthyCall(): Promise<number> {
  const res = await fetch(`${t.server.url}/v1/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tool: 'billing.refund', args: { amount: 20 } }),
  });
  return res.status;
}

describe('slow clients', () => {
  it('cuts off a client that trickles its headers, and serves others meanwhile', async () => {
    const { socket, ended } = rawClient();
    socket.write('POST /v1/calls HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 200);
    try {
      expect(await healthyCall()).toBe(200);
      const { data, afterMs } = await ended;
      // Node answers 408 when it can; either way the connection is gone within seconds of the timeout.
      if (data !== '') expect(data).toMatch(/^HTTP\/1\.1 408/);
      expect(afterMs).toBeLessThan(10_000);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  it('cuts off a client that stops halfway through its body; no event is recorded for it', async () => {
    const before = (await t.server.ctx.engine.store.head()).seq;
    const { socket, ended } = rawClient();
    const body = JSON.stringify({ tool: 'billing.refund', args: { amount: 20 } });
    socket.write(
      `POST /v1/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${agentKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );
    try {
      expect(await healthyCall()).toBe(200);
      const { afterMs } = await ended;
      expect(afterMs).toBeLessThan(10_000);
      // Only the healthy call was decided: the half-sent one never reached the engine.
      const page = await t.server.ctx.engine.store.queryAudit({
        type: 'call.decided',
        limit: 100,
        cursor: undefined,
      });
      expect(page.records.filter((r) => r.seq > before)).toHaveLength(1);
    } finally {
      socket.destroy();
    }
  });
});
