import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type DeliveryAttempt,
  deliverWebhook,
  parseRetryAfter,
  type WebhookTarget,
} from './webhook-sender.js';

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A real HTTP receiver on 127.0.0.1; `respond` answers the n-th request (0-based), or never when it returns false. */
async function startReceiver(respond: (res: ServerResponse, n: number) => undefined | false) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      respond(res, received.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const close = () => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  closers.push(close);
  return { url, received, close };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

const answer =
  (status: number, headers: Record<string, string> = {}, body = '') =>
  (res: ServerResponse) => {
    res.writeHead(status, headers);
    res.end(body);
    return undefined;
  };
const sequence =
  (...steps: ((res: ServerResponse) => undefined)[]) =>
  (res: ServerResponse, n: number) =>
    (steps[Math.min(n, steps.length - 1)] as (res: ServerResponse) => undefined)(res);

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
/** What a receiver does: the standardwebhooks library's verify over the raw body and the headers. */
const verifies = (key: string, r: Received | undefined) => {
  try {
    new Webhook(key).verify(r?.body ?? '', r?.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
};
const payload = { id: 'evt_0195a0c0', body: { type: 'approval.requested', approval: { id: 'apr_1' } } };
const target = (url: string, extra: Partial<WebhookTarget> = {}): WebhookTarget => ({
  name: 'ops',
  url,
  format: 'json',
  ...extra,
});
const fast = { baseDelayMs: 5, maxDelayMs: 50, timeoutMs: 2_000 };

describe('deliverWebhook against a real HTTP receiver', () => {
  it('delivers on the first 2xx, signed, with the delivery id and JSON headers', async () => {
    const rx = await startReceiver(answer(200, {}, 'thanks'));
    const attempts: DeliveryAttempt[] = [];
    const result = await deliverWebhook(target(rx.url, { secret }), payload, {
      ...fast,
      onAttempt: (a) => attempts.push(a),
    });
    expect(result).toMatchObject({ ok: true, attempts: 1, status: 200 });
    expect(result.error).toBeUndefined();
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(attempts).toEqual([expect.objectContaining({ attempt: 1, status: 200 })]);
    expect(attempts[0]?.retryInMs).toBeUndefined();
    const [req] = rx.received;
    expect(JSON.parse(req?.body ?? '')).toEqual(payload.body);
    expect(req?.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'warden-webhooks',
      'webhook-id': payload.id,
      'webhook-timestamp': expect.stringMatching(/^\d+$/),
      'webhook-signature': expect.stringMatching(/^v1,\S+$/),
    });
    expect(Math.abs(Number(req?.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(verifies(secret, req)).toBe(true);
    expect(verifies('whsec_QW5vdGhlclNlY3JldDAxMjM0NTY3ODlhYmNk', req)).toBe(false);
  });

  it('sends no signature without a secret', async () => {
    const rx = await startReceiver(answer(204));
    expect(await deliverWebhook(target(rx.url), payload, fast)).toMatchObject({ ok: true, status: 204 });
    expect(rx.received[0]?.headers['webhook-signature']).toBeUndefined();
    expect(rx.received[0]?.headers['webhook-id']).toBe(payload.id);
  });

  it('signs with every secret of a rotation, so receivers holding either one verify', async () => {
    const rx = await startReceiver(answer(200));
    const old = 'an-old-plain-secret-0123456789';
    expect(await deliverWebhook(target(rx.url, { secret: [secret, old] }), payload, fast)).toMatchObject({
      ok: true,
    });
    const [req] = rx.received;
    expect(String(req?.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifies(secret, req)).toBe(true);
    expect(verifies(`whsec_${Buffer.from(old).toString('base64')}`, req)).toBe(true);
  });

  it('retries a 500 and succeeds on the next attempt, with the same delivery id', async () => {
    const rx = await startReceiver(sequence(answer(500), answer(200)));
    const attempts: DeliveryAttempt[] = [];
    const result = await deliverWebhook(target(rx.url, { secret }), payload, {
      ...fast,
      onAttempt: (a) => attempts.push(a),
    });
    expect(result).toMatchObject({ ok: true, attempts: 2, status: 200 });
    expect(attempts[0]).toMatchObject({ attempt: 1, status: 500, error: 'HTTP 500' });
    expect(attempts[0]?.retryInMs).toBeGreaterThanOrEqual(0);
    expect(attempts[0]?.retryInMs).toBeLessThanOrEqual(5);
    expect(rx.received.map((r) => r.headers['webhook-id'])).toEqual([payload.id, payload.id]);
    for (const r of rx.received) expect(verifies(secret, r)).toBe(true);
  });

  it('retries 408 and 503 too, and gives up after maxAttempts with the last status', async () => {
    const rx = await startReceiver(sequence(answer(408), answer(503), answer(502)));
    const result = await deliverWebhook(target(rx.url), payload, { ...fast, maxAttempts: 4 });
    expect(result).toMatchObject({ ok: false, attempts: 4, status: 502, error: 'HTTP 502' });
    expect(rx.received).toHaveLength(4);
  });

  it('never retries other 4xx, nor redirects', async () => {
    const rx = await startReceiver(answer(400, { 'content-type': 'text/plain' }, 'bad'));
    expect(await deliverWebhook(target(rx.url), payload, fast)).toMatchObject({
      ok: false,
      attempts: 1,
      status: 400,
      error: 'HTTP 400',
    });
    expect(rx.received).toHaveLength(1);
    const moved = await startReceiver(answer(302, { location: `${rx.url}/elsewhere` }));
    const result = await deliverWebhook(target(moved.url), payload, fast);
    expect(result).toMatchObject({ ok: false, attempts: 1, status: 302 });
    expect(result.error).toMatch(/redirects are not followed/);
    expect(rx.received).toHaveLength(1);
  });

  it('honours Retry-After on 429, capped by maxDelayMs', async () => {
    const rx = await startReceiver(
      sequence(answer(429, { 'retry-after': '0' }), answer(429, { 'retry-after': '3600' }), answer(200)),
    );
    const attempts: DeliveryAttempt[] = [];
    const result = await deliverWebhook(target(rx.url), payload, {
      ...fast,
      maxDelayMs: 20,
      onAttempt: (a) => attempts.push(a),
    });
    expect(result).toMatchObject({ ok: true, attempts: 3, status: 200 });
    expect(attempts.map((a) => a.retryInMs)).toEqual([0, 20, undefined]);
  });

  it('times out a receiver that never answers, on every attempt', async () => {
    const rx = await startReceiver(() => false);
    const result = await deliverWebhook(target(rx.url), payload, { ...fast, timeoutMs: 250, maxAttempts: 3 });
    expect(result).toMatchObject({ ok: false, attempts: 3, error: 'timed out after 250 ms' });
    expect(result.status).toBeUndefined();
    await vi.waitFor(() => expect(rx.received).toHaveLength(3));
  });

  it('reports a refused connection as a short network error after retrying', async () => {
    const rx = await startReceiver(answer(200));
    await rx.close();
    const result = await deliverWebhook(target(rx.url), payload, { ...fast, maxAttempts: 2 });
    expect(result).toMatchObject({ ok: false, attempts: 2 });
    expect(result.error).toMatch(/^network error: .*ECONNREFUSED/);
    expect(result.error).not.toContain('\n');
  });

  it('never echoes a webhook URL beyond its origin: credentials and a secret path stay out of the error', async () => {
    const rx = await startReceiver(answer(200));
    const port = new URL(rx.url).port;
    const seen: DeliveryAttempt[] = [];
    // undici refuses a URL with credentials, quoting the whole URL in its message.
    const result = await deliverWebhook(
      target(`http://hook-user:hunter2@127.0.0.1:${port}/services/T0/B0/SlackPathSecret?token=q1`),
      payload,
      { ...fast, maxAttempts: 2, onAttempt: (a) => seen.push(a) },
    );
    expect(result).toMatchObject({ ok: false, attempts: 2 });
    for (const text of [result.error, ...seen.map((a) => a.error)]) {
      expect(text).toMatch(/^network error: /);
      expect(text).not.toMatch(/hunter2|hook-user|SlackPathSecret|token=q1/);
    }
    expect(result.error).toContain(`http://127.0.0.1:${port}`);
    expect(rx.received).toHaveLength(0);
    // A refused connection is named by its code alone (undici's message would carry the address).
    await rx.close();
    const refused = await deliverWebhook(target(`${rx.url}/SlackPathSecret`), payload, {
      ...fast,
      maxAttempts: 1,
    });
    expect(refused.error).toBe('network error: ECONNREFUSED');
  });

  it('reads and drops large response bodies', async () => {
    const big = 'x'.repeat(1024 * 1024);
    const rx = await startReceiver(sequence(answer(500, {}, big), answer(200, {}, big)));
    expect(await deliverWebhook(target(rx.url), payload, fast)).toMatchObject({ ok: true, attempts: 2 });
  });

  it('stops when aborted, before or between attempts', async () => {
    const rx = await startReceiver(answer(500));
    expect(
      await deliverWebhook(target(rx.url), payload, { ...fast, signal: AbortSignal.abort() }),
    ).toMatchObject({ ok: false, attempts: 0, error: 'aborted' });
    const controller = new AbortController();
    const result = await deliverWebhook(target(rx.url), payload, {
      baseDelayMs: 60_000,
      maxDelayMs: 60_000,
      signal: controller.signal,
      onAttempt: () => controller.abort(),
    });
    expect(result).toMatchObject({ ok: false, attempts: 1, status: 500, error: 'aborted' });
    expect(rx.received).toHaveLength(1);
  });

  it('never throws: a bad URL, an unserialisable body or a throwing observer', async () => {
    expect(await deliverWebhook(target('not a url'), payload)).toMatchObject({ ok: false, attempts: 0 });
    const ftp = await deliverWebhook(target('ftp://127.0.0.1/x'), payload);
    expect(ftp).toMatchObject({ ok: false, attempts: 0 });
    expect(ftp.error).toMatch(/http or https/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const rx = await startReceiver(answer(200));
    expect(await deliverWebhook(target(rx.url), { id: 'e', body: cyclic })).toMatchObject({
      ok: false,
      attempts: 0,
    });
    const observed = await deliverWebhook(target(rx.url), payload, {
      onAttempt: () => {
        throw new Error('observer broke');
      },
    });
    expect(observed).toMatchObject({ ok: true, attempts: 1 });
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter(' 2 ')).toBe(2000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 12:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
