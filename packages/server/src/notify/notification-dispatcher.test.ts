/**
 * The notification dispatcher on a real server's engine, delivering to a real local HTTP receiver: it
 * claims only rows for webhooks it has, a hanging endpoint does not hold up the others, and an outcome
 * that arrives after another instance took the row over is dropped together with its audit event.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test-support/eventually.js';
import { startTestServer, type TestServer } from '../../test-support/server-fixtures.js';
import { NotificationDispatcher } from './notification-dispatcher.js';

const POLICY = fileURLToPath(new URL('../../test/fixtures/approvals-policy', import.meta.url));

interface Received {
  path: string;
  raw: string;
  /** Set while a /hold request waits for release(). */
  res?: ServerResponse;
}

interface Receiver {
  server: Server;
  url: string;
  got: Received[];
  /** Answers every held request, and answers later ones at once. */
  release(): void;
  /** Holds /hold requests again (each test starts holding). */
  hold(): void;
}

/** A receiver answering 200 at once, except on /hold, which it leaves hanging until release(). */
function startReceiver(): Promise<Receiver> {
  const got: Received[] = [];
  let holding = true;
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      raw += c;
    });
    req.on('end', () => {
      const path = req.url ?? '';
      if (path === '/hold' && holding) {
        got.push({ path, raw, res });
        return;
      }
      got.push({ path, raw });
      res.end('ok');
    });
  });
  const release = () => {
    holding = false;
    for (const r of got) {
      r.res?.end('ok');
      delete r.res;
    }
  };
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve({ server, url, got, release, hold: () => (holding = true) });
    });
  });
}

describe('notification dispatcher', () => {
  let receiver: Receiver;
  let t: TestServer | undefined;
  const dispatchers: NotificationDispatcher[] = [];
  const errors: unknown[] = [];

  /** A server whose engine queues a row per webhook in `names`; its own dispatcher never ticks. */
  async function serverWith(names: string[]): Promise<TestServer> {
    t = await startTestServer('sqlite', {
      policy: POLICY,
      webhookPollMs: 3_600_000,
      webhookMaxAttempts: 2,
      webhookBaseDelayMs: 10,
      webhooks: names.map((name) => ({ name, url: `${receiver.url}/${name}`, format: 'json' })),
    });
    return t;
  }

  /** A dispatcher on `server`'s engine that has only the webhooks in `names` (as another instance might). */
  function dispatcher(server: TestServer, names: string[]): NotificationDispatcher {
    const config = server.server.ctx.config;
    const d = new NotificationDispatcher(
      server.server.ctx.engine,
      { ...config, webhooks: config.webhooks.filter((w) => names.includes(w.name)) },
      { baseUrl: () => 'http://warden.example.test', onError: (err) => errors.push(err) },
    );
    dispatchers.push(d);
    return d;
  }

  /** Opens an approval request (the `change` rule) and returns its id. */
  async function review(server: TestServer, marker: string): Promise<string> {
    const bot = await server.key('agent', 'ops-bot', 'agent');
    const r = await server.request('POST', '/v1/calls', {
      key: bot,
      body: { tool: 'change', args: { marker } },
    });
    expect(r.statusCode, r.body).toBe(200);
    return (r.json() as { approval: { id: string } }).approval.id;
  }

  /** The approval.notified events about request `id`, oldest first. */
  async function notified(server: TestServer, id: string): Promise<Record<string, unknown>[]> {
    const r = await server.request('GET', '/v1/audit/events?type=approval.notified&limit=1000', {
      key: server.admin,
    });
    expect(r.statusCode, r.body).toBe(200);
    return (r.json() as { records: { event: { data: Record<string, unknown> } }[] }).records
      .map((x) => x.event.data)
      .filter((d) => d.approvalId === id);
  }

  /** The requests the receiver got about request `id`. */
  const about = (id: string, path?: string) =>
    receiver.got.filter((g) => g.raw.includes(id) && (path === undefined || g.path === path));

  beforeAll(async () => {
    receiver = await startReceiver();
  });

  afterEach(async () => {
    receiver.release();
    await Promise.all(dispatchers.splice(0).map((d) => d.stop()));
    await t?.close();
    t = undefined;
    receiver.hold();
    expect(errors.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    receiver?.release();
    receiver?.server.closeAllConnections();
    await new Promise((r) => receiver?.server.close(r));
  });

  it('leaves a row for a webhook it lacks pending, for an instance that has it to deliver', async () => {
    const server = await serverWith(['alpha', 'beta']);
    const id = await review(server, 'lacks-beta');

    const alphaOnly = dispatcher(server, ['alpha']);
    for (let pass = 0; pass < 2; pass++) {
      await alphaOnly.runOnce();
      await alphaOnly.idle();
    }
    expect(about(id).map((g) => g.path)).toEqual(['/alpha']);
    expect(await notified(server, id)).toEqual([
      expect.objectContaining({ target: 'alpha', delivered: true }),
    ]);

    // Not failed for good: an instance with the webhook still delivers it.
    const withBeta = dispatcher(server, ['alpha', 'beta']);
    await withBeta.runOnce();
    await withBeta.idle();
    expect(about(id).map((g) => g.path)).toEqual(['/alpha', '/beta']);
    expect((await notified(server, id)).map((d) => [d.target, d.delivered, d.attempts])).toEqual([
      ['alpha', true, 1],
      ['beta', true, 1],
    ]);
  });

  it('keeps delivering to a healthy endpoint while another hangs', async () => {
    const server = await serverWith(['hold', 'alpha']);
    const d = dispatcher(server, ['hold', 'alpha']);
    const first = await review(server, 'hang-first');
    await d.runOnce();
    await eventually('the first request reaches both endpoints', () =>
      about(first, '/hold').length && about(first, '/alpha').length ? true : undefined,
    );

    // A later request is claimed and delivered while the first delivery to /hold is still unanswered.
    const second = await review(server, 'hang-second');
    await eventually('the second request delivered to /alpha', async () => {
      await d.runOnce();
      return about(second, '/alpha').length ? true : undefined;
    });
    expect(about(first, '/hold')).toEqual([expect.objectContaining({ res: expect.anything() })]);
    expect((await notified(server, first)).map((x) => x.target)).toEqual(['alpha']);

    receiver.release();
    await eventually('the second request reaches /hold too', async () => {
      await d.runOnce();
      return about(second, '/hold').length ? true : undefined;
    });
    await d.idle();
    for (const id of [first, second]) {
      const outcomes = (await notified(server, id)).map((x) => [x.target, x.delivered]);
      expect(outcomes.sort()).toEqual([
        ['alpha', true],
        ['hold', true],
      ]);
    }
  });

  it('drops an outcome, and its audit event, once another instance has taken the row over', async () => {
    const server = await serverWith(['hold']);
    const d = dispatcher(server, ['hold']);
    const id = await review(server, 'lease-lost');
    await d.runOnce();
    await eventually('the delivery is under way', () => (about(id, '/hold').length ? true : undefined));

    // The lease runs out while the endpoint hangs, and another instance claims the row.
    const store = server.server.ctx.engine.store;
    const later = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
    const taken = await store.claimNotifications('other-instance', later(1), later(2), 10, ['hold']);
    expect(taken.map((n) => [n.approvalId, n.leaseOwner])).toEqual([[id, 'other-instance']]);

    receiver.release();
    await d.idle();
    // Delivered, but this instance no longer holds the row: nothing is recorded (silently; no error).
    expect(about(id, '/hold')).toHaveLength(1);
    expect(await notified(server, id)).toEqual([]);
    expect(errors).toEqual([]);
  });
});
