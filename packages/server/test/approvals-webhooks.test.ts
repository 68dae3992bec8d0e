/**
 * Approval webhooks delivered to a real local HTTP receiver: signed JSON and Slack bodies with action
 * links, retries after a failure, a failure recorded after the last attempt, each delivery audited
 * (`approval.notified`), and the one-time signed links from the body used for real.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';
import { verifyFailure } from '../test-support/standard-webhooks.js';

const POLICY = fileURLToPath(new URL('./fixtures/approvals-policy', import.meta.url));
const SECRET = 'whsec-test-0123456789abcdef';
const PUBLIC_URL = 'http://warden.example.test';
const MAX_ATTEMPTS = 3;

interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown> & {
    type?: string;
    approval?: { id: string; status: string };
    links?: { approve?: string; deny?: string; view?: string };
    blocks?: { type: string; elements?: { type: string; url?: string; action_id?: string }[] }[];
  };
}

interface AuditRecord {
  event: { type: string; data?: Record<string, unknown> & { target?: string; eventType?: string } };
}

/**
 * A receiver with one path per webhook: /json and /slack answer 200, /flaky fails the first attempt of
 * every delivery with 500, /broken always fails. It records every attempt it got.
 */
function startReceiver(): Promise<{ server: Server; url: string; got: Delivery[] }> {
  const got: Delivery[] = [];
  const seen = new Set<string>();
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      raw += c;
    });
    req.on('end', () => {
      const path = req.url ?? '';
      got.push({ path, headers: req.headers, raw, body: JSON.parse(raw) });
      const id = `${path} ${req.headers['webhook-id']}`;
      const first = !seen.has(id);
      seen.add(id);
      res.statusCode = path === '/broken' || (path === '/flaky' && first) ? 500 : 200;
      res.end('ok');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got });
    });
  });
}

const errorOf = (r: LightMyRequestResponse) =>
  (r.json() as { error: { code: string; message: string } }).error;

describe('approval webhooks to a real receiver', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let t: TestServer;
  let bot: string;
  const people: Record<string, string> = {};

  async function review(args: Record<string, unknown>): Promise<string> {
    const r = await t.request('POST', '/v1/calls', { key: bot, body: { tool: 'change', args } });
    expect(r.statusCode, r.body).toBe(200);
    return (r.json() as { approval: { id: string } }).approval.id;
  }

  /** The deliveries to `path` that mention `needle` (and are of `type`, for JSON bodies). */
  const to = (path: string, needle: string, type?: string) =>
    receiver.got.filter(
      (d) => d.path === path && d.raw.includes(needle) && (type === undefined || d.body.type === type),
    );

  const notified = (id: string) =>
    eventually(`every delivery about ${id} recorded`, async () => {
      const r = await t.request('GET', '/v1/audit/events?type=approval.notified&limit=1000', {
        key: t.admin,
      });
      const mine = (r.json() as { records: AuditRecord[] }).records.filter(
        (x) => x.event.data?.approvalId === id && x.event.data?.eventType === 'approval.requested',
      );
      return mine.length >= 4 ? mine : undefined;
    });

  beforeAll(async () => {
    receiver = await startReceiver();
    const hook = (name: string, format: 'json' | 'slack', extra: Record<string, unknown> = {}) => ({
      name,
      url: `${receiver.url}/${name}`,
      format,
      ...extra,
    });
    t = await startTestServer('sqlite', {
      policy: POLICY,
      approvalSweepMs: 50,
      publicUrl: PUBLIC_URL,
      webhookPollMs: 20,
      webhookBaseDelayMs: 10,
      webhookMaxAttempts: MAX_ATTEMPTS,
      webhooks: [
        hook('json', 'json', { secret: SECRET }),
        hook('slack', 'slack', { events: ['approval.requested'] }),
        hook('flaky', 'json', { events: ['approval.requested'], secret: SECRET }),
        hook('broken', 'json', { events: ['approval.requested'] }),
      ],
    });
    bot = await t.key('agent', 'ops-bot', 'agent');
    for (const p of ['olga@x', 'oscar@x']) people[p] = await t.key('human', p, 'approver');
  });

  afterAll(async () => {
    await t?.close();
    await new Promise((r) => receiver?.server.close(r));
  });

  it('a review is delivered signed, as JSON and as Slack, retried once, and given up on; each audited', async () => {
    const id = await review({ marker: 'wh-1-marker', password: 'hunter2' });
    const byTarget = Object.fromEntries(
      (await notified(id)).map((x) => [x.event.data?.target, x.event.data]),
    );
    expect(byTarget.json).toMatchObject({ delivered: true, attempts: 1, status: 200 });
    expect(byTarget.slack).toMatchObject({ delivered: true, attempts: 1 });
    expect(byTarget.flaky).toMatchObject({ delivered: true, attempts: 2, status: 200 });
    expect(byTarget.broken).toMatchObject({ delivered: false, attempts: MAX_ATTEMPTS, status: 500 });

    const [json] = to('/json', id, 'approval.requested');
    expect(json).toBeDefined();
    const d = json as Delivery;
    expect(verifyFailure(SECRET, d)).toBeUndefined();
    expect(verifyFailure('another-secret-0123456789', d)).toBe('No matching signature found');
    expect(d.headers['webhook-id']).toMatch(/\S/);
    expect(d.headers['content-type']).toContain('application/json');
    expect(d.body).toMatchObject({ type: 'approval.requested', approval: { id, status: 'pending' } });
    expect(d.body.links?.approve).toMatch(new RegExp(`^${PUBLIC_URL}/approve/`));
    expect(d.body.links?.deny).toMatch(new RegExp(`^${PUBLIC_URL}/approve/`));
    expect(d.raw).not.toContain('hunter2');

    // A Slack message does not carry the request id; it shows the arguments.
    const [slack] = to('/slack', 'wh-1-marker');
    expect(slack?.raw).not.toContain('hunter2');
    const buttons = (slack?.body.blocks ?? []).flatMap((b) =>
      b.type === 'actions' ? (b.elements ?? []) : [],
    );
    const urls = Object.fromEntries(buttons.map((b) => [b.action_id, b.url]));
    expect(urls.warden_approve).toMatch(new RegExp(`^${PUBLIC_URL}/approve/`));
    expect(urls.warden_deny).toMatch(new RegExp(`^${PUBLIC_URL}/approve/`));
    expect(slack?.headers['webhook-signature']).toBeUndefined();

    // The retry is the same delivery: the receiver can drop duplicates by its id.
    const flaky = to('/flaky', id);
    expect(flaky).toHaveLength(2);
    expect(flaky[0]?.headers['webhook-id']).toBe(flaky[1]?.headers['webhook-id']);
    // Each attempt is stamped and signed anew, and verifies on its own.
    for (const attempt of flaky) expect(verifyFailure(SECRET, attempt)).toBeUndefined();
    expect(to('/broken', id)).toHaveLength(MAX_ATTEMPTS);
  });

  it('the approve link opens a page that shows nothing, decides once for an eligible key, and is delivered', async () => {
    const id = await review({ marker: 'wh-link-secret-marker' });
    const [req] = await eventually('the JSON delivery', () => {
      const got = to('/json', id, 'approval.requested');
      return got.length ? got : undefined;
    });
    const approve = new URL(req?.body.links?.approve as string);
    const token = approve.pathname.split('/').pop() as string;

    const page = await t.request('GET', approve.pathname);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    for (const secret of ['ops-bot', 'wh-link-secret-marker', 'change-review'])
      expect(page.body).not.toContain(secret);

    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    let r = await t.request('POST', `/v1/approvals/links/${tampered}`, { key: people['olga@x'], body: {} });
    expect([r.statusCode, errorOf(r).code]).toEqual([400, 'LINK_INVALID']);
    expect((await t.request('GET', `/approve/${tampered}`)).statusCode).toBe(400);
    expect((await t.request('POST', `/v1/approvals/links/${token}`, { body: {} })).statusCode).toBe(401);

    r = await t.request('POST', `/v1/approvals/links/${token}`, { key: people['olga@x'], body: {} });
    expect(r.statusCode, r.body).toBe(200);
    const decided = r.json() as { status: string; votes: { principal: string; via?: string }[] };
    expect(decided.status).toBe('approved');
    expect(decided.votes[0]?.principal).toBe('olga@x');
    expect(decided.votes[0]?.via).toMatch(/^link:/);

    r = await t.request('POST', `/v1/approvals/links/${token}`, { key: people['oscar@x'], body: {} });
    expect([r.statusCode, errorOf(r).code]).toEqual([400, 'LINK_INVALID']);
    expect(errorOf(r).message).toContain('already used');

    const [done] = await eventually('the decision delivered', () => {
      const got = to('/json', id, 'approval.decided');
      return got.length ? got : undefined;
    });
    expect(done?.body).toMatchObject({ type: 'approval.decided', approval: { id, status: 'approved' } });
    expect(done?.body.links?.approve).toBeUndefined();
    expect(done?.body.links?.view).toMatch(new RegExp(`^${PUBLIC_URL}/approve/`));
    expect(verifyFailure(SECRET, done)).toBeUndefined();
  });

  it('the deny link denies', async () => {
    const id = await review({ marker: 'wh-deny' });
    const [req] = await eventually('the JSON delivery', () => {
      const got = to('/json', id, 'approval.requested');
      return got.length ? got : undefined;
    });
    const deny = new URL(req?.body.links?.deny as string);
    const r = await t.request('POST', `/v1/approvals/links/${deny.pathname.split('/').pop()}`, {
      key: people['oscar@x'],
      body: { reason: 'not today' },
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ status: 'denied', outcomeReason: 'not today' });
  });
});
