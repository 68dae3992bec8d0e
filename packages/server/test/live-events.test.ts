/**
 * GET /v1/events over a real socket: order and ids, filters, resuming with Last-Event-ID, revocation
 * mid-stream, slow readers, heartbeats, and 10,000 idle connections held by a separate process.
 */
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { AuditEvent, AuditRecord } from '@warden/core';
import { revokeApiKey } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { killAll, spawnCollect } from '../test-support/serve-process.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';
import { SseClient } from '../test-support/sse-client.js';

const IDLE_CLIENT = fileURLToPath(new URL('../test-support/sse-idle-client.ts', import.meta.url));

interface Decision {
  readonly callId: string;
  readonly session: string;
  readonly effect: string;
  readonly auditSeq: number;
}

/** POST /v1/calls over the server's socket. */
async function call(fx: TestServer, key: string, body: Record<string, unknown>): Promise<Decision> {
  const res = await fetch(`${fx.server.url}/v1/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST /v1/calls: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Decision;
}

/** The chain head once the server's hub has read everything written so far: nothing is in between. */
async function settledHead(fx: TestServer): Promise<number> {
  const head = (await fx.server.ctx.engine.store.head()).seq;
  // With no stream open the hub reads nothing; the next stream to open starts at the head.
  if (!fx.server.ctx.hub.tailing) return head;
  // A kick during a read already under way returns that read; the next one picks up the rest.
  await eventually('the hub at the head', async () => {
    await fx.server.ctx.hub.kick();
    return fx.server.ctx.hub.lastSeq === head ? true : undefined;
  });
  return head;
}

/** Every stored record with afterSeq < seq <= toSeq. */
async function storedRecords(fx: TestServer, afterSeq: number, toSeq: number): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (let after = afterSeq; after < toSeq; ) {
    const rows = await fx.server.ctx.engine.store.readChain(after, Math.min(1_000, toSeq - after));
    if (rows.length === 0) break;
    for (const row of rows) {
      out.push({ seq: row.seq, prev: row.prev, hash: row.hash, event: JSON.parse(row.body) as AuditEvent });
    }
    after = (rows.at(-1) as { seq: number }).seq;
  }
  return out;
}

function sseUrl(fx: TestServer, query = ''): string {
  return `${fx.server.url}/v1/events${query ? `?${query}` : ''}`;
}

/** The value of one unlabelled gauge in a Prometheus text exposition. */
async function gauge(fx: TestServer, name: string): Promise<number> {
  const res = await fetch(`${fx.server.url}/metrics`, { headers: { authorization: `Bearer ${fx.admin}` } });
  expect(res.status).toBe(200);
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

describe('live events over a real socket', () => {
  let fx: TestServer;
  let support: string;
  let other: string;
  const streams: SseClient[] = [];
  const open = async (query: string, o: { key?: string; lastEventId?: string | number } = {}) => {
    const stream = await SseClient.open(sseUrl(fx, query), { key: fx.admin, ...o });
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    // A long heartbeat: the streams here end for the reasons each test gives, never a periodic check.
    fx = await startTestServer('sqlite', { heartbeatMs: 600_000 }, { listen: true });
    support = await fx.key('agent', 'support-bot', 'agent');
    other = await fx.key('agent', 'other-bot', 'agent');
  });

  afterAll(async () => {
    for (const s of streams) s.close();
    await fx?.close();
  });

  it("a key revoked elsewhere, still in this instance's key cache, cannot open a stream", async () => {
    const made = await fx.request('POST', '/v1/keys', {
      key: fx.admin,
      body: { principalKind: 'human', principal: 'otto@example.com', role: 'auditor' },
    });
    const { key, secret } = made.json() as { key: { id: string }; secret: string };
    // Warm this instance's key cache, then revoke as another instance or the CLI would: straight in the
    // database, with nobody here evicting the key.
    expect((await fx.request('GET', '/v1/audit/events?limit=1', { key: secret })).statusCode).toBe(200);
    // First in this file, so no stream is open: the hub reads nothing and only the new stream's own
    // check can learn of the revocation.
    expect(fx.server.ctx.hub.tailing).toBe(false);
    await revokeApiKey(fx.server.ctx.engine, key.id, { kind: 'human', id: 'carol' });
    const stream = await open('', { key: secret });
    await stream.ended;
    // The cached key lets it in; the check after subscribing closes it at once, before any event.
    expect(stream.status).toBe(200);
    expect(stream.messages.map((m) => m.event)).toEqual(['error']);
    expect(stream.errors()).toEqual([expect.objectContaining({ code: 'UNAUTHENTICATED' })]);
  });

  it('delivers every event in seq order, each with an id line equal to its seq', async () => {
    const from = await settledHead(fx);
    const stream = await open('');
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    const sequential: Decision[] = [];
    for (let i = 0; i < 5; i++) sequential.push(await call(fx, support, { tool: 'tickets.read' }));
    const concurrent = await Promise.all(
      Array.from({ length: 15 }, (_, i) => call(fx, i % 2 ? support : other, { tool: 'tickets.read' })),
    );
    const to = await settledHead(fx);
    await stream.waitForSeq(to);

    const stored = await storedRecords(fx, from, to);
    expect(stream.records().map((r) => r.seq)).toEqual(stored.map((r) => r.seq));
    expect(stream.records()).toEqual(stored);
    expect(stream.messages.map((m) => m.id)).toEqual(stored.map((r) => String(r.seq)));
    expect(stream.messages.map((m) => m.event)).toEqual(stored.map((r) => r.event.type));
    const seen = new Set(stream.records().map((r) => r.event.callId));
    for (const d of [...sequential, ...concurrent]) expect(seen.has(d.callId)).toBe(true);
  });

  it('filters by type, agent and decision deliver exactly the matching events', async () => {
    const from = await settledHead(fx);
    const byType = await open('type=call.decided');
    const byAgent = await open('agent=support-bot');
    const byDecision = await open('decision=block');
    const combined = await open('type=call.decided,call.completed&agent=support-bot&decision=allow');
    const traffic = [
      call(fx, support, { tool: 'billing.refund', args: { amount: 20 } }),
      call(fx, support, { tool: 'billing.refund', args: { amount: 5000 } }),
      call(fx, other, { tool: 'tickets.read' }),
      call(fx, support, { tool: 'tickets.search' }),
      call(fx, other, { tool: 'billing.refund', args: { amount: 20 } }),
    ];
    const decided = await Promise.all(traffic);
    // A completion (call.completed) and a pause (session.paused): more types than call.decided.
    const allowed = decided.find((d) => d.effect === 'allow') as Decision;
    const done = await fetch(`${fx.server.url}/v1/calls/${allowed.callId}/complete`, {
      method: 'POST',
      headers: { authorization: `Bearer ${support}`, 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'ok', result: { refunded: true } }),
    });
    expect(done.status).toBe(200);
    const paused = await fx.request('POST', `/v1/sessions/${allowed.session}/pause`, {
      key: fx.admin,
      body: { reason: 'filter test' },
    });
    expect(paused.statusCode).toBe(200);
    await call(fx, support, { tool: 'billing.refund', args: { amount: 5000 } });
    const to = await settledHead(fx);

    const stored = await storedRecords(fx, from, to);
    const cases: [SseClient, (e: AuditEvent) => boolean][] = [
      [byType, (e) => e.type === 'call.decided'],
      [byAgent, (e) => e.agent === 'support-bot'],
      [byDecision, (e) => e.decision?.effect === 'block'],
      [
        combined,
        (e) =>
          (e.type === 'call.decided' || e.type === 'call.completed') &&
          e.agent === 'support-bot' &&
          e.decision?.effect === 'allow',
      ],
    ];
    for (const [stream, wanted] of cases) {
      const expected = stored.filter((r) => wanted(r.event)).map((r) => r.seq);
      // Each filter keeps some events and drops others, or the comparison would prove nothing.
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(stored.length);
      await stream.waitForSeq(expected.at(-1) as number);
      expect(stream.records().map((r) => r.seq)).toEqual(expected);
    }
    // Past the last matching event, a later one proves nothing else was on its way.
    const last = await call(fx, support, { tool: 'billing.refund', args: { amount: 5000 } });
    for (const [stream] of cases.slice(0, 3)) await stream.waitForSeq(last.auditSeq);
    expect(byType.records().at(-1)?.seq).toBe(last.auditSeq);
  });

  it('resuming with Last-Event-ID delivers exactly the missed matching events: no gaps, no duplicates', async () => {
    const from = await settledHead(fx);
    const query = 'type=call.decided&agent=support-bot';
    const first = await open(query);
    for (let i = 0; i < 4; i++) {
      await call(fx, support, { tool: 'tickets.read' });
      await call(fx, other, { tool: 'tickets.read' });
    }
    await first.waitFor((c) => c.records().length === 4, 'the first four');
    const lastId = first.lastEventId as string;
    expect(lastId).toBe(String(first.records().at(-1)?.seq));
    first.close();
    await first.ended;

    // Events keep being written while the client is away, while it reconnects and after it has.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing || written < 30) {
        await Promise.all([
          call(fx, support, { tool: 'tickets.read' }),
          call(fx, other, { tool: 'tickets.read' }),
          call(fx, support, { tool: 'billing.refund', args: { amount: 5000 } }),
        ]);
        written += 3;
      }
    })();
    await eventually('some events written while away', () => (written >= 12 ? true : undefined));
    const second = await open(query, { lastEventId: lastId });
    expect(second.status).toBe(200);
    writing = false;
    await writer;
    const to = await settledHead(fx);

    const expected = (await storedRecords(fx, from, to))
      .filter((r) => r.event.type === 'call.decided' && r.event.agent === 'support-bot')
      .map((r) => r.seq);
    await second.waitForSeq(expected.at(-1) as number);
    const resumed = second.records().map((r) => r.seq);
    expect(resumed[0]).toBeGreaterThan(Number(lastId));
    expect([...first.records().map((r) => r.seq), ...resumed]).toEqual(expected);
    expect(second.messages.map((m) => m.id)).toEqual(resumed.map(String));
  });

  it('a key revoked mid-stream: the stream gets event: error UNAUTHENTICATED and closes', async () => {
    const made = await fx.request('POST', '/v1/keys', {
      key: fx.admin,
      body: { principalKind: 'human', principal: 'ava@example.com', role: 'auditor' },
    });
    expect(made.statusCode).toBe(201);
    const { key, secret } = made.json() as { key: { id: string }; secret: string };
    const stream = await open('type=call.decided', { key: secret });
    expect(stream.status).toBe(200);
    const before = await call(fx, support, { tool: 'tickets.read' });
    await stream.waitForSeq(before.auditSeq);

    const revoked = await fx.request('POST', `/v1/keys/${key.id}/revoke`, { key: fx.admin });
    expect(revoked.statusCode).toBe(200);
    await stream.ended;
    expect(stream.errors()).toEqual([expect.objectContaining({ code: 'UNAUTHENTICATED' })]);
    expect(stream.messages.at(-1)?.event).toBe('error');

    const again = await open('', { key: secret });
    expect(again.status).toBe(401);
    expect(JSON.parse(again.body)).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
  });

  it('a client that never reads is dropped and its socket freed; the others get everything', async () => {
    const baseline = fx.server.ctx.sse.size;
    // The server's end of each new connection, by the client's port.
    const accepted = new Map<number, Socket>();
    const onConnection = (socket: Socket) => accepted.set(socket.remotePort as number, socket);
    fx.server.app.server.on('connection', onConnection);
    const slow = connect(Number(new URL(fx.server.url).port), '127.0.0.1');
    const slowClosed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => slow.once('connect', resolve).once('error', reject));
      slow.write(
        `GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${fx.admin}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      // Never reads: the kernel buffers fill, then the server's backlog grows.
      slow.pause();
      const reader = await open('type=call.decided');
      await eventually('both streams registered', () =>
        fx.server.ctx.sse.size === baseline + 2 ? true : undefined,
      );
      const serverSide = accepted.get(slow.localPort as number) as Socket;
      expect(serverSide).toBeDefined();

      // Large events (60 kB of arguments each) until the unread backlog passes the limit and the slow
      // client is dropped; the cap only bounds a broken server.
      const note = 'x'.repeat(60_000);
      const ids: string[] = [];
      for (let batch = 0; batch < 40 && fx.server.ctx.sse.size > baseline + 1; batch++) {
        const made = await Promise.all(
          Array.from({ length: 10 }, () => call(fx, support, { tool: 'tickets.read', args: { note } })),
        );
        ids.push(...made.map((d) => d.callId));
        await fx.server.ctx.hub.kick();
      }
      expect(fx.server.ctx.sse.size).toBe(baseline + 1);
      // Dropped means gone: the server does not keep the socket and its backlog for a client that may never read.
      await eventually('the slow socket destroyed by the server', () =>
        serverSide.destroyed ? true : undefined,
      );

      await reader.waitFor(
        (c) => {
          const seen = new Set(c.records().map((r) => r.event.callId));
          return ids.every((id) => seen.has(id));
        },
        `all ${ids.length} large events on the reading stream`,
        30_000,
      );
      expect(reader.closed).toBe(false);
      expect((await fetch(`${fx.server.url}/healthz`)).status).toBe(200);
      const after = await call(fx, support, { tool: 'tickets.read' });
      await reader.waitForSeq(after.auditSeq);

      // When it finally reads, the slow client finds the connection closed after what was already sent.
      slow.on('data', () => {});
      slow.on('error', () => {});
      slow.resume();
      await slowClosed;
    } finally {
      fx.server.app.server.off('connection', onConnection);
      slow.destroy();
    }
  }, 90_000);
});

describe('heartbeats', () => {
  it('an idle stream gets a `: ping` comment every heartbeatMs', async () => {
    const fx = await startTestServer('sqlite', { heartbeatMs: 100 }, { listen: true });
    const stream = await SseClient.open(sseUrl(fx), { key: fx.admin });
    try {
      expect(stream.status).toBe(200);
      await stream.waitFor((c) => c.comments.filter((t) => t === ' ping').length >= 2, 'two heartbeats');
      expect(stream.messages).toEqual([]);
    } finally {
      stream.close();
      await fx.close();
    }
  });
});

describe('10,000 idle connections', () => {
  let fx: TestServer;

  beforeAll(async () => {
    // One key holds all of them here: lift the per-key cap (100) that normally stops a runaway client.
    fx = await startTestServer('sqlite', { maxSsePerKey: 20_000 }, { listen: true });
  });

  afterAll(async () => {
    killAll();
    await fx?.close();
  });

  it('held by another process: the server keeps answering, counts them, and streams to a new one', async () => {
    const agent = await fx.key('agent', 'support-bot', 'agent');
    // Idle: a type nothing here writes, so the streams only ever get heartbeats.
    const idleUrl = sseUrl(fx, 'type=session.closed');
    const { child, exited, out, err } = spawnCollect(
      ['--import', 'tsx', IDLE_CLIENT, idleUrl, fx.admin, '10000', '250'],
      { stdin: 'pipe' },
    );
    const line = (n: number) => out().split('\n')[n];

    const report = JSON.parse(
      await eventually(
        'the idle client report',
        () => {
          if (child.exitCode !== null) throw new Error(`the idle client exited early: ${err()}`);
          return out().includes('\n') ? line(0) : undefined;
        },
        90_000,
      ),
    ) as { opened: number; failed: number; statuses: Record<string, number>; errors: Record<string, number> };
    expect(report).toMatchObject({ opened: 10_000, failed: 0 });

    // While they are all open:
    expect((await fetch(`${fx.server.url}/healthz`)).status).toBe(200);
    expect(await gauge(fx, 'warden_sse_connections')).toBeGreaterThanOrEqual(10_000);
    const fresh = await SseClient.open(sseUrl(fx, 'type=call.decided'), { key: fx.admin });
    try {
      expect(fresh.status).toBe(200);
      const decided = await call(fx, agent, { tool: 'billing.refund', args: { amount: 20 } });
      expect(decided.effect).toBe('allow');
      await fresh.waitFor((c) => c.records().some((r) => r.event.callId === decided.callId), 'the new call');
    } finally {
      fresh.close();
    }

    child.stdin.write('close\n');
    expect((await exited).code).toBe(0);
    expect(JSON.parse(line(1) as string)).toEqual({ closed: 10_000, endedEarly: 0 });
    await eventually(
      'the connection count back to 0',
      async () => ((await gauge(fx, 'warden_sse_connections')) === 0 ? true : undefined),
      30_000,
    );
  }, 180_000);
});
