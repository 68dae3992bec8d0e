/**
 * Budget and session notifications (outbox rows without an approval) delivered to a real local HTTP
 * receiver: the stored event is read back by id, sent signed as JSON and as a Slack message with a link
 * to the session, and each delivery is audited; a row whose event is gone is recorded as failed.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AuditEvent, uuidv7 } from '@warden/core';
import type { NotificationRecord } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';
import { verifyFailure } from '../test-support/standard-webhooks.js';

const SECRET = 'whsec-budget-0123456789abcdef';
const PUBLIC_URL = 'http://warden.example.test/';

interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: {
    type?: string;
    id?: string;
    event?: { id: string; agent?: string; session?: string; data?: Record<string, unknown> };
    links?: { session?: string };
    text?: string;
    blocks?: { type: string; elements?: { url?: string; action_id?: string }[] }[];
  };
}

function startReceiver(): Promise<{ server: Server; url: string; got: Delivery[] }> {
  const got: Delivery[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      raw += c;
    });
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, raw, body: JSON.parse(raw) });
      res.end('ok');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got });
    });
  });
}

describe('budget and session webhooks to a real receiver', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let t: TestServer;
  let session: string;

  /** An outbox row for `event` to webhook `target`, with no approval: what the engine queues for budgets. */
  const row = (target: string, event: Pick<AuditEvent, 'id' | 'type' | 'ts'>): NotificationRecord => ({
    id: uuidv7(),
    target,
    eventType: event.type,
    eventId: event.id,
    approvalId: null,
    state: 'pending',
    attempts: 0,
    createdAt: event.ts,
    leaseOwner: null,
    leaseUntil: null,
    lastError: null,
    updatedAt: event.ts,
  });

  /** Commits `events` with an outbox row per target in `rows`; returns the rows by event type and target. */
  async function enqueue(events: AuditEvent[], rows: [AuditEvent, string][]): Promise<NotificationRecord[]> {
    const made = rows.map(([e, target]) => row(target, e));
    await t.server.ctx.engine.commit({
      mutations: made.map((notification) => ({ kind: 'notification.enqueue' as const, notification })),
      events,
    });
    return made;
  }

  const delivered = (n: NotificationRecord) =>
    eventually(`notification ${n.id} delivered`, () => {
      const got = receiver.got.filter((d) => d.headers['webhook-id'] === n.id);
      return got.length > 0 ? (got[0] as Delivery) : undefined;
    });

  /** The audit records of the deliveries of event `eventId`, once there are `count`. */
  const outcomes = (eventId: string, count: number) =>
    eventually(`${count} deliveries of ${eventId} recorded`, async () => {
      const r = await t.request('GET', '/v1/audit/events?type=notification.sent&limit=1000', {
        key: t.admin,
      });
      const mine = (r.json() as { records: { event: AuditEvent }[] }).records
        .map((x) => x.event)
        .filter((e) => e.data?.eventId === eventId);
      return mine.length >= count ? mine : undefined;
    });

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTestServer('sqlite', {
      publicUrl: PUBLIC_URL,
      webhookPollMs: 20,
      webhookBaseDelayMs: 10,
      webhookMaxAttempts: 2,
      webhooks: [
        { name: 'json', url: `${receiver.url}/json`, format: 'json', secret: SECRET },
        { name: 'slack', url: `${receiver.url}/slack`, format: 'slack', events: ['session.paused'] },
      ],
    });
    const agent = await t.key('agent', 'support-bot', 'agent');
    const r = await t.request('POST', '/v1/calls', {
      key: agent,
      body: { tool: 'billing.refund', args: { amount: 20 } },
    });
    expect(r.statusCode, r.body).toBe(200);
    session = (r.json() as { session: string }).session;
  });

  afterAll(async () => {
    await t?.close();
    await new Promise((r) => receiver?.server.close(r));
  });

  it('a session pause is delivered signed as JSON and as Slack with a link to the session, and audited', async () => {
    const engine = t.server.ctx.engine;
    // A pause by a person names only the session: the agent comes from the session itself.
    const paused = engine.systemEvent(
      'session.paused',
      { kind: 'human', id: 'lina@acme.example' },
      { session, data: { reason: 'it keeps retrying the same refund' } },
    );
    const [json, slack] = await enqueue(
      [paused],
      [
        [paused, 'json'],
        [paused, 'slack'],
      ],
    );

    const j = await delivered(json as NotificationRecord);
    expect(j.path).toBe('/json');
    expect(verifyFailure(SECRET, j)).toBeUndefined();
    expect(verifyFailure('another-secret-0123456789', j)).toBe('No matching signature found');
    expect(j.body).toMatchObject({
      type: 'session.paused',
      id: json?.id,
      event: {
        id: paused.id,
        agent: 'support-bot',
        session,
        data: { reason: 'it keeps retrying the same refund' },
      },
      links: { session: `http://warden.example.test/sessions/${session}` },
    });

    const s = await delivered(slack as NotificationRecord);
    expect(s.body.text).toBe(
      `Session ${session} of agent support-bot paused: it keeps retrying the same refund`,
    );
    const button = (s.body.blocks ?? []).flatMap((b) => b.elements ?? []).find((e) => e.url);
    expect(button).toMatchObject({
      action_id: 'warden_view_session',
      url: `http://warden.example.test/sessions/${session}`,
    });
    expect(s.headers['webhook-signature']).toBeUndefined();

    const audited = await outcomes(paused.id, 2);
    const byTarget = Object.fromEntries(audited.map((e) => [e.data?.target, e]));
    for (const target of ['json', 'slack']) {
      expect(byTarget[target]).toMatchObject({
        actor: { kind: 'system', id: 'warden' },
        agent: 'support-bot',
        session,
        data: { eventType: 'session.paused', delivered: true, attempts: 1, status: 200 },
      });
    }
  });

  it('a budget alert is delivered to the webhooks subscribed to it only', async () => {
    const engine = t.server.ctx.engine;
    const alert = engine.systemEvent(
      'budget.alert',
      { kind: 'system', id: 'warden' },
      {
        agent: 'support-bot',
        session,
        data: {
          budgetId: 'daily-spend',
          scopeKey: 'agent:support-bot',
          metric: 'usd',
          threshold: 80,
          used: 8.4,
          limit: 10,
          windowStart: '2026-03-01T00:00:00.000Z',
        },
      },
    );
    const [json] = await enqueue([alert], [[alert, 'json']]);
    const j = await delivered(json as NotificationRecord);
    expect(verifyFailure(SECRET, j)).toBeUndefined();
    expect(j.body).toMatchObject({
      type: 'budget.alert',
      event: {
        id: alert.id,
        agent: 'support-bot',
        data: { budgetId: 'daily-spend', threshold: 80, used: 8.4 },
      },
    });
    const [outcome] = await outcomes(alert.id, 1);
    expect(outcome?.data).toMatchObject({ eventType: 'budget.alert', target: 'json', delivered: true });
  });

  it('a row whose event no longer exists is recorded as failed, and nothing is sent', async () => {
    // Never stored (as after a purge): the row points at nothing.
    const ghost = { id: uuidv7(), type: 'budget.exceeded' as const, ts: new Date().toISOString() };
    const lost = row('json', ghost);
    await t.server.ctx.engine.commit({
      mutations: [{ kind: 'notification.enqueue', notification: lost }],
      events: [],
    });
    const [outcome] = await outcomes(ghost.id, 1);
    expect(outcome?.data).toMatchObject({ delivered: false, attempts: 0, eventType: 'budget.exceeded' });
    expect(String(outcome?.data?.error)).toContain('no longer exists');
    expect(receiver.got.some((d) => d.headers['webhook-id'] === lost.id)).toBe(false);
  });
});
