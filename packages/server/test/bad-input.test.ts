/**
 * Bad input of every kind gets a precise 4xx with the JSON error body, never a 500 and never internals;
 * rate limits answer 429 with Retry-After; and the server is unharmed afterwards.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

/** Every response any test here received, checked at the end for leaked internals. */
const seen: { name: string; r: LightMyRequestResponse }[] = [];

interface ErrorBody {
  code: string;
  message: string;
  details: Record<string, unknown> & { problems?: string[]; retryAfterSeconds?: number };
}

/** Asserts the status and the documented error shape, and returns the error. */
function expectError(r: LightMyRequestResponse, status: number, code: string): ErrorBody {
  expect(r.statusCode, r.body).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const body = r.json() as { error: ErrorBody };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toEqual({ code, message: expect.any(String), details: expect.any(Object) });
  return body.error;
}

function record(name: string, r: LightMyRequestResponse): LightMyRequestResponse {
  seen.push({ name, r });
  return r;
}

function noLeaks(list: readonly { name: string; r: LightMyRequestResponse }[]) {
  expect(list.length).toBeGreaterThan(0);
  for (const { name, r } of list) {
    expect(r.statusCode, `${name}: ${r.body}`).toBeLessThan(500);
    expect(r.body, name).not.toMatch(/\n\s+at /);
    expect(r.body, name).not.toMatch(/ at .*\(.*:\d+:\d+\)/);
    expect(r.body, name).not.toContain('Error:');
  }
}

describe('bad input', () => {
  let t: TestServer;
  let agent: string;

  /** A raw POST /v1/calls with the agent key: any payload, any content type. */
  const rawCall = (name: string, payload: string | Buffer, contentType: string | null = 'application/json') =>
    t.server.app
      .inject({
        method: 'POST',
        url: '/v1/calls',
        headers: {
          authorization: `Bearer ${agent}`,
          ...(contentType !== null ? { 'content-type': contentType } : {}),
        },
        payload,
      })
      .then((r) => record(name, r));

  const get = (name: string, url: string, headers: Record<string, string> = {}) =>
    t.request('GET', url, { key: t.admin, headers }).then((r) => record(name, r));

  beforeAll(async () => {
    t = await startTestServer('sqlite', { maxWaitMs: 1_000 });
    agent = await t.key('agent', 'support-bot', 'agent');
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('bodies', () => {
    it('malformed JSON is 400 REQUEST_INVALID', async () => {
      for (const [name, payload] of [
        ['cut short', '{"tool":'],
        ['trailing garbage', '{"tool":"tickets.read"} x'],
        ['single quotes', "{'tool':'tickets.read'}"],
        ['empty', ''],
      ] as const) {
        const err = expectError(await rawCall(`malformed JSON: ${name}`, payload), 400, 'REQUEST_INVALID');
        expect(err.details.problems).toEqual(['body: not valid JSON']);
      }
    });

    it('a body that is not an object is 400', async () => {
      for (const payload of ['[]', 'null', '"tickets.read"', '42']) {
        const err = expectError(await rawCall(`body ${payload}`, payload), 400, 'REQUEST_INVALID');
        expect(err.details.problems?.[0]).toMatch(/^body: /);
      }
    });

    it('a wrong type is 400 naming body.tool', async () => {
      const err = expectError(await rawCall('tool: 5', '{"tool":5}'), 400, 'REQUEST_INVALID');
      expect(err.details.problems).toHaveLength(1);
      expect(err.details.problems?.[0]).toMatch(/^body\.tool: /);
      expect(err.message).toContain('body.tool');

      const several = expectError(
        await rawCall('several wrong', '{"tool":"tickets.read","args":[],"labels":{"a":1},"wait":-1}'),
        400,
        'REQUEST_INVALID',
      );
      const paths = (several.details.problems ?? []).map((p) => p.split(':')[0]);
      expect(paths).toEqual(expect.arrayContaining(['body.args', 'body.wait']));
    });

    it('an unknown field is 400 naming it', async () => {
      const err = expectError(
        await rawCall('unknown field', '{"tool":"tickets.read","bogusField":1}'),
        400,
        'REQUEST_INVALID',
      );
      expect(err.details.problems).toEqual(['body: unknown field(s) bogusField']);
    });

    it('`now` is refused (the policy clock is the server’s)', async () => {
      const err = expectError(
        await rawCall('now', '{"tool":"tickets.read","now":"2020-01-01T12:00:00Z"}'),
        400,
        'REQUEST_INVALID',
      );
      expect(err.details.problems?.join(' ')).toContain('now');
    });

    it('a 2 MiB body is 413 BODY_TOO_LARGE', async () => {
      const payload = JSON.stringify({ tool: 'tickets.read', args: { text: 'a'.repeat(2 * 1024 * 1024) } });
      expectError(await rawCall('2 MiB body', payload), 413, 'BODY_TOO_LARGE');
    });

    it('a body that is not JSON is 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      const json = '{"tool":"tickets.read"}';
      for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', null]) {
        const r = await rawCall(`content-type ${type}`, type === 'application/xml' ? '<tool/>' : json, type);
        expectError(r, 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
      // JSON with a charset parameter is JSON.
      const ok = await rawCall('json with charset', json, 'application/json; charset=utf-8');
      expect(ok.statusCode, ok.body).toBe(200);
    });

    it('__proto__ and constructor.prototype keys are 400, not 500', async () => {
      for (const payload of [
        '{"tool":"tickets.read","__proto__":{"polluted":true}}',
        '{"tool":"tickets.read","args":{"__proto__":{"polluted":true}}}',
        '{"tool":"tickets.read","args":{"constructor":{"prototype":{"polluted":true}}}}',
      ]) {
        expectError(await rawCall(`poison ${payload}`, payload), 400, 'REQUEST_INVALID');
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('args nested too deep are 400', async () => {
      let deep = '1';
      for (let i = 0; i < 2_000; i++) deep = `{"a":${deep}}`;
      const err = expectError(
        await rawCall('deep args', `{"tool":"tickets.read","args":${deep}}`),
        400,
        'REQUEST_INVALID',
      );
      expect(err.details.problems?.[0]).toMatch(/^body\.args: /);
    });

    it('`wait` above maxWaitMs is 400 and records nothing', async () => {
      const before = await get('audit before wait', '/v1/audit/events?type=call.decided&limit=1000');
      const err = expectError(
        await rawCall('wait too long', '{"tool":"billing.refund","args":{"amount":100},"wait":1001}'),
        400,
        'REQUEST_INVALID',
      );
      expect(err.details.problems).toEqual(['wait: at most 1000']);
      const after = await get('audit after wait', '/v1/audit/events?type=call.decided&limit=1000');
      expect(after.json().records).toHaveLength(before.json().records.length);
      expectError(
        await rawCall('wait negative', '{"tool":"tickets.read","wait":-5}'),
        400,
        'REQUEST_INVALID',
      );
      // At the limit is fine (an allow decision does not wait at all).
      const ok = await rawCall('wait at the limit', '{"tool":"tickets.read","wait":1000}');
      expect(ok.statusCode, ok.body).toBe(200);
    });

    it('other bodies with bad values are 400', async () => {
      const key = (name: string, body: unknown) =>
        t.request('POST', '/v1/keys', { key: t.admin, body }).then((r) => record(name, r));
      expectError(
        await key('bad ttl', { principalKind: 'human', principal: 'x', role: 'auditor', ttl: 'forever' }),
        400,
        'REQUEST_INVALID',
      );
      expectError(
        await key('past expiry', {
          principalKind: 'human',
          principal: 'x',
          role: 'auditor',
          expiresAt: '2001-01-01T00:00:00Z',
        }),
        400,
        'REQUEST_INVALID',
      );
      expectError(
        await key('agent as admin', { principalKind: 'agent', principal: 'x', role: 'admin' }),
        400,
        'REQUEST_INVALID',
      );
      expectError(
        await key('bad role', { principalKind: 'human', principal: 'x', role: 'root' }),
        400,
        'REQUEST_INVALID',
      );
      const pause = await t
        .request('POST', '/v1/sessions/s1/pause', { key: t.admin, body: { reason: '   ' } })
        .then((r) => record('blank reason', r));
      expect(expectError(pause, 400, 'REQUEST_INVALID').details.problems?.[0]).toMatch(/^body\.reason: /);
      const complete = await t
        .request('POST', '/v1/calls/c1/complete', { key: agent, body: { status: 'maybe' } })
        .then((r) => record('bad status', r));
      expect(expectError(complete, 400, 'REQUEST_INVALID').details.problems?.[0]).toMatch(/^body\.status: /);
      const policy = await t
        .request('PUT', '/v1/policy', { key: t.admin, body: { text: 'x', sources: [] } })
        .then((r) => record('policy both', r));
      expectError(policy, 400, 'REQUEST_INVALID');
    });
  });

  describe('URLs and query strings', () => {
    it('an unknown route or method is 404 NOT_FOUND as JSON', async () => {
      for (const [method, url] of [
        ['GET', '/nope'],
        ['GET', '/v1/calls'],
        ['DELETE', '/v1/keys'],
        ['GET', '/v2/audit/events'],
      ] as const) {
        const r = record(`${method} ${url}`, await t.request(method, url, { key: t.admin }));
        const err = expectError(r, 404, 'NOT_FOUND');
        expect(err.message).toContain(url);
      }
    });

    it('a bad URL encoding or an over-long path parameter is a JSON 400', async () => {
      expectError(await get('bad encoding', '/v1/sessions/%zz'), 400, 'REQUEST_INVALID');
      expectError(await get('long param', `/v1/sessions/${'x'.repeat(400)}`), 400, 'REQUEST_INVALID');
      expectError(await get('bad seq', '/v1/audit/events/abc'), 400, 'REQUEST_INVALID');
      expectError(await get('seq 0', '/v1/audit/events/0'), 400, 'REQUEST_INVALID');
    });

    it('bad query parameters are 400', async () => {
      const cases: [string, string, string][] = [
        ['/v1/audit/events?limit=abc', 'REQUEST_INVALID', 'query.limit'],
        ['/v1/audit/events?limit=0', 'REQUEST_INVALID', 'query.limit'],
        ['/v1/audit/events?decision=maybe', 'REQUEST_INVALID', 'query.decision'],
        ['/v1/audit/events?type=call.exploded', 'REQUEST_INVALID', 'query.type'],
        ['/v1/audit/events?from=yesterday', 'REQUEST_INVALID', 'query.from'],
        ['/v1/audit/events?bogus=1', 'REQUEST_INVALID', 'bogus'],
        ['/v1/sessions?limit=abc', 'REQUEST_INVALID', 'query.limit'],
        ['/v1/sessions?state=sleeping', 'REQUEST_INVALID', 'query.state'],
        ['/v1/audit/export?format=xml', 'REQUEST_INVALID', 'query.format'],
        ['/v1/policy/versions?limit=-1', 'REQUEST_INVALID', 'query.limit'],
        ['/v1/events?decision=maybe', 'REQUEST_INVALID', 'query.decision'],
        ['/v1/events?type=nope', 'REQUEST_INVALID', 'type'],
        ['/v1/audit/events?cursor=not-a-cursor', 'QUERY_INVALID', 'cursor'],
        ['/v1/audit/events?from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z', 'QUERY_INVALID', 'from'],
      ];
      for (const [url, code, names] of cases) {
        const err = expectError(await get(url, url), 400, code);
        expect(`${err.message} ${(err.details.problems ?? []).join(' ')}`, url).toContain(names);
      }
    });

    it('a bad Last-Event-ID is 400 (header or query)', async () => {
      for (const id of ['abc', '-1', '1.5', '9'.repeat(20)]) {
        const err = expectError(
          await get(`Last-Event-ID ${id}`, '/v1/events', { 'last-event-id': id }),
          400,
          'REQUEST_INVALID',
        );
        expect(err.details.problems).toEqual(['Last-Event-ID: not a seq']);
      }
      const q = expectError(
        await get('lastEventId=abc', '/v1/events?lastEventId=abc'),
        400,
        'REQUEST_INVALID',
      );
      expect(q.details.problems?.[0]).toMatch(/^query\.lastEventId: /);
    });
  });

  describe('rate limits', () => {
    let limited: TestServer | undefined;

    afterAll(async () => {
      await limited?.close();
    });

    it('failed authentications from one address are limited with 429 and Retry-After', async () => {
      limited = await startTestServer('sqlite', { authFailuresPerMinute: 5 });
      const s = limited;
      const from = (ip: string, key: string | undefined, url = '/v1/audit/verify') =>
        s.server.app
          .inject({
            method: 'GET',
            url,
            remoteAddress: ip,
            headers: key ? { authorization: `Bearer ${key}` } : {},
          })
          .then((r) => record(`auth limit ${ip} ${url}`, r));
      const unknown = `wdn_${'B'.repeat(43)}`;

      // Successful requests do not count.
      for (let i = 0; i < 10; i++) expect((await from('10.0.0.1', s.admin)).statusCode).toBe(200);
      for (let i = 0; i < 5; i++) expectError(await from('10.0.0.1', unknown), 401, 'UNAUTHENTICATED');

      const refused = await from('10.0.0.1', unknown);
      const err = expectError(refused, 429, 'RATE_LIMITED');
      const retry = refused.headers['retry-after'];
      expect(retry).toMatch(/^\d+$/);
      expect(Number(retry)).toBeGreaterThanOrEqual(1);
      expect(err.details.retryAfterSeconds).toBe(Number(retry));

      // A valid key is not refused for its address's failures (authorize() only limits the failures
      // themselves, so a NAT or proxy sharing the address keeps working); another bad or missing key is.
      const valid = await from('10.0.0.1', s.admin);
      expect(valid.statusCode, valid.body).toBe(200);
      expect(valid.headers['retry-after']).toBeUndefined();
      expectError(await from('10.0.0.1', undefined), 429, 'RATE_LIMITED');
      // Public routes need no key, so they still answer.
      expect((await from('10.0.0.1', undefined, '/healthz')).statusCode).toBe(200);

      // Another address is unaffected, for good and bad keys alike.
      expect((await from('10.0.0.2', s.admin)).statusCode).toBe(200);
      expectError(await from('10.0.0.2', unknown), 401, 'UNAUTHENTICATED');
    });

    it('requests per key are limited with 429 and Retry-After when rateLimitPerKey is set', async () => {
      const s = await startTestServer('sqlite', { rateLimitPerKey: 2 });
      try {
        const auditor = await s.key('human', 'audrey@acme.example', 'auditor');
        const statuses: number[] = [];
        let refused: LightMyRequestResponse | undefined;
        for (let i = 0; i < 20 && !refused; i++) {
          const r = record(
            'per-key limit',
            await s.request('GET', '/v1/audit/public-keys', { key: auditor }),
          );
          statuses.push(r.statusCode);
          if (r.statusCode === 429) refused = r;
        }
        expect(statuses[0]).toBe(200);
        expect(refused, `statuses ${statuses.join(',')}`).toBeDefined();
        if (!refused) return;
        const err = expectError(refused, 429, 'RATE_LIMITED');
        expect(refused.headers['retry-after']).toMatch(/^\d+$/);
        expect(err.details.retryAfterSeconds).toBe(Number(refused.headers['retry-after']));
        expect(statuses.filter((st) => st !== 200 && st !== 429)).toEqual([]);
        // The limit is per key: another key still gets through.
        const other = record('other key', await s.request('GET', '/v1/audit/public-keys', { key: s.admin }));
        expect(other.statusCode, other.body).toBe(200);
      } finally {
        await s.close();
      }
    });
  });

  describe('afterwards', () => {
    it('no response carried a stack trace, an internal error text or a 5xx', () => {
      expect(seen.length).toBeGreaterThan(50);
      noLeaks(seen);
    });

    it('the server still answers health, a valid call, and its audit chain verifies', async () => {
      const health = await t.request('GET', '/healthz');
      expect(health.statusCode).toBe(200);
      expect(health.json()).toEqual({ status: 'ok' });
      const ready = await t.request('GET', '/readyz');
      expect(ready.statusCode, ready.body).toBe(200);

      const call = await t.request('POST', '/v1/calls', {
        key: agent,
        body: { tool: 'billing.refund', args: { amount: 20 } },
      });
      expect(call.statusCode, call.body).toBe(200);
      expect(call.json()).toMatchObject({ effect: 'allow', ruleId: 'support-small-refund' });

      const verify = await t.request('GET', '/v1/audit/verify', { key: t.admin });
      expect(verify.statusCode, verify.body).toBe(200);
      expect(verify.json()).toMatchObject({ ok: true });
      expect((verify.json() as { checked: number }).checked).toBeGreaterThan(1);
    });
  });
});
