/**
 * Dashboard sign-in: a person's key becomes an HttpOnly session cookie; the cookie authenticates like the
 * key (roles, revocation) and a request that changes something also needs the CSRF token and this origin.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionToken, SESSION_COOKIE, sessionKey } from '../src/auth/dashboard-session.js';
import { SignedOutSessions } from '../src/auth/signed-out-sessions.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

let t: TestServer;
let approverKey: string;
let auditorKey: string;
let agentKey: string;

beforeAll(async () => {
  t = await startTestServer('sqlite');
  approverKey = await t.key('human', 'lee@acme.example', 'approver');
  auditorKey = await t.key('human', 'ava@acme.example', 'auditor');
  agentKey = await t.key('agent', 'support-bot', 'agent');
});
afterAll(() => t?.close());

function cookieOf(r: LightMyRequestResponse): string {
  const header = String(r.headers['set-cookie']);
  const m = new RegExp(`${SESSION_COOKIE}=([^;]*)`).exec(header);
  if (!m) throw new Error(`no session cookie in ${header}`);
  return m[1] as string;
}

async function signIn(key: string): Promise<{ cookie: string; csrf: string; res: LightMyRequestResponse }> {
  const res = await t.request('POST', '/v1/auth/session', { body: { key } });
  expect(res.statusCode, res.body).toBe(200);
  return { cookie: cookieOf(res), csrf: (res.json() as { csrfToken: string }).csrfToken, res };
}

const withCookie = (cookie: string, extra: Record<string, string> = {}) => ({
  cookie: `${SESSION_COOKIE}=${cookie}`,
  ...extra,
});

async function pendingApproval(): Promise<string> {
  const r = await t.request('POST', '/v1/calls', {
    key: agentKey,
    body: { tool: 'billing.refund', args: { amount: 100 }, triggeredBy: 'sam@acme.example' },
  });
  return (r.json() as { approval: { id: string } }).approval.id;
}

describe('dashboard sign-in', () => {
  it('sets an HttpOnly, SameSite=Strict cookie that is not the key, and says who signed in', async () => {
    const { res, cookie } = await signIn(approverKey);
    const header = String(res.headers['set-cookie']);
    expect(header).toMatch(/HttpOnly/);
    expect(header).toMatch(/SameSite=Strict/);
    expect(header).toMatch(/Path=\//);
    expect(header).toMatch(/Max-Age=28800/);
    expect(cookie).not.toContain(approverKey);
    expect(res.json()).toMatchObject({
      principal: { id: 'lee@acme.example', role: 'approver', kind: 'human' },
    });
    const me = await t.request('GET', '/v1/auth/session', { headers: withCookie(cookie) });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json()).toMatchObject({
      principal: { id: 'lee@acme.example' },
      csrfToken: res.json().csrfToken,
    });
  });

  it('refuses agent keys and unknown keys with a reason, and counts failures', async () => {
    const agent = await t.request('POST', '/v1/auth/session', { body: { key: agentKey } });
    expect(agent.statusCode).toBe(403);
    expect(agent.json().error.message).toMatch(/dashboard is for people.*warden keys create --human/);
    expect(agent.headers['set-cookie']).toBeUndefined();
    const unknown = await t.request('POST', '/v1/auth/session', { body: { key: `wdn_${'x'.repeat(43)}` } });
    expect(unknown.statusCode).toBe(401);
    const empty = await t.request('POST', '/v1/auth/session', { body: {} });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.details.problems).toEqual([
      'body.key: Invalid input: expected string, received undefined',
    ]);
  });

  it('lets the cookie read what the role may read, and nothing more', async () => {
    const { cookie } = await signIn(auditorKey);
    const events = await t.request('GET', '/v1/audit/events?limit=1', { headers: withCookie(cookie) });
    expect(events.statusCode, events.body).toBe(200);
    const keys = await t.request('GET', '/v1/keys', { headers: withCookie(cookie) });
    expect(keys.statusCode).toBe(403);
    expect(keys.json().error.code).toBe('FORBIDDEN');
  });

  it('needs the CSRF token and the same origin to change anything', async () => {
    const { cookie, csrf } = await signIn(approverKey);
    const id = await pendingApproval();
    const body = { reason: 'checked the ticket' };
    const noToken = await t.request('POST', `/v1/approvals/${id}/approve`, {
      body,
      headers: withCookie(cookie),
    });
    expect(noToken.statusCode).toBe(403);
    expect(noToken.json().error.code).toBe('CSRF_REJECTED');
    const wrongToken = await t.request('POST', `/v1/approvals/${id}/approve`, {
      body,
      headers: withCookie(cookie, { 'x-warden-csrf': `${csrf.slice(0, -2)}AA` }),
    });
    expect(wrongToken.json().error.code).toBe('CSRF_REJECTED');
    const otherSite = await t.request('POST', `/v1/approvals/${id}/approve`, {
      body,
      headers: withCookie(cookie, { 'x-warden-csrf': csrf, origin: 'https://evil.example' }),
    });
    expect(otherSite.json().error.code).toBe('CSRF_REJECTED');
    const ok = await t.request('POST', `/v1/approvals/${id}/approve`, {
      body,
      headers: withCookie(cookie, {
        'x-warden-csrf': csrf,
        origin: 'http://localhost:80',
        host: 'localhost:80',
      }),
    });
    expect(ok.statusCode, ok.body).toBe(200);
    // The vote is the signed-in person's: the request and the audit name lee, not a cookie.
    expect(ok.json()).toMatchObject({
      status: 'approved',
      votes: [{ principal: 'lee@acme.example', role: 'approver' }],
    });
    const audited = await t.request('GET', `/v1/audit/events?approver=lee@acme.example`, { key: t.admin });
    expect(audited.json().records.map((r: { event: { type: string } }) => r.event.type)).toContain(
      'approval.decided',
    );
  });

  it('ends every session of a key when the key is revoked, and refuses forged or expired tokens', async () => {
    const key = await t.key('human', 'kim@acme.example', 'approver');
    const { cookie, res } = await signIn(key);
    const keyId = (res.json() as { principal: { keyId: string } }).principal.keyId;
    const revoke = await t.request('POST', `/v1/keys/${keyId}/revoke`, {
      key: t.admin,
      body: { reason: 'left' },
    });
    expect(revoke.statusCode, revoke.body).toBe(200);
    const after = await t.request('GET', '/v1/auth/session', { headers: withCookie(cookie) });
    expect(after.statusCode).toBe(401);

    const forged = createSessionToken(Buffer.alloc(32, 7), keyId, new Date(Date.now() + 60_000));
    const r1 = await t.request('GET', '/v1/auth/session', { headers: withCookie(forged) });
    expect(r1.statusCode).toBe(401);
    expect(r1.json().error.message).toMatch(/sign in again/);
    const real = sessionKey(t.server.ctx.engine.keys.hmacKey);
    const expired = createSessionToken(real, keyId, new Date(Date.now() - 1_000));
    expect((await t.request('GET', '/v1/auth/session', { headers: withCookie(expired) })).statusCode).toBe(
      401,
    );
  });

  it('signs out by clearing the cookie', async () => {
    const r = await t.request('DELETE', '/v1/auth/session');
    expect(r.statusCode).toBe(204);
    expect(String(r.headers['set-cookie'])).toMatch(new RegExp(`${SESSION_COOKIE}=; .*Max-Age=0`));
  });

  it('audits sign-in and sign-out, and a signed-out cookie stops working, also after a restart', async () => {
    const { cookie, res } = await signIn(approverKey);
    const keyId = (res.json() as { principal: { keyId: string } }).principal.keyId;
    const signedIn = await t.request('GET', '/v1/audit/events?type=auth.signed_in&order=desc&limit=1', {
      key: t.admin,
    });
    const inEvent = signedIn.json().records[0].event;
    expect(inEvent).toMatchObject({
      actor: { kind: 'human', id: 'lee@acme.example' },
      data: { keyId, role: 'approver', expiresAt: expect.any(String) },
    });
    const sessionId = inEvent.data.session as string;
    expect(cookie).toContain(`.${sessionId}.`);

    const out = await t.request('DELETE', '/v1/auth/session', { headers: withCookie(cookie) });
    expect(out.statusCode).toBe(204);
    // A copy of the cookie kept elsewhere no longer works.
    const reuse = await t.request('GET', '/v1/auth/session', { headers: withCookie(cookie) });
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json().error.message).toMatch(/signed out/);
    const signedOut = await t.request('GET', '/v1/audit/events?type=auth.signed_out', { key: t.admin });
    expect(
      signedOut.json().records.map((r: { event: { data: { session: string } } }) => r.event.data.session),
    ).toEqual([sessionId]);
    // Signing out twice records nothing more.
    await t.request('DELETE', '/v1/auth/session', { headers: withCookie(cookie) });
    expect(
      (await t.request('GET', '/v1/audit/events?type=auth.signed_out', { key: t.admin })).json().records,
    ).toHaveLength(1);
    // An instance that starts later reads the sign-outs of the last session lifetime from the trail.
    const later = new SignedOutSessions(t.server.ctx.engine.store);
    await later.start();
    expect(await later.isSignedOut(sessionId)).toBe(true);
    expect(await later.isSignedOut('another-session')).toBe(false);
  });
});

describe('signing out after the key was revoked', () => {
  it('records the sign-out as the key itself, never as Warden', async () => {
    const key = await t.key('human', 'rae@acme.example', 'approver');
    const { cookie, res } = await signIn(key);
    const keyId = (res.json() as { principal: { keyId: string } }).principal.keyId;
    const revoked = await t.request('POST', `/v1/keys/${keyId}/revoke`, { key: t.admin, body: {} });
    expect(revoked.statusCode, revoked.body).toBe(200);
    const out = await t.request('DELETE', '/v1/auth/session', { headers: withCookie(cookie) });
    expect(out.statusCode).toBe(204);
    const events = (await t.request('GET', '/v1/audit/events?type=auth.signed_out', { key: t.admin })).json()
      .records as { event: { actor: unknown; data: { keyId: string } } }[];
    const mine = events.filter((r) => r.event.data.keyId === keyId);
    expect(mine.map((r) => r.event.actor)).toEqual([{ kind: 'human', id: 'rae@acme.example', keyId }]);
  });
});

describe('dashboard sign-in behind a TLS proxy (publicUrl https)', () => {
  let proxied: TestServer;
  beforeAll(async () => {
    proxied = await startTestServer('sqlite', { publicUrl: 'https://warden.acme.example' });
  });
  afterAll(() => proxied?.close());

  it('uses a Secure __Host- cookie and accepts the public origin while Host names the upstream', async () => {
    const key = await proxied.key('human', 'lee@acme.example', 'approver');
    const res = await proxied.request('POST', '/v1/auth/session', { body: { key } });
    const header = String(res.headers['set-cookie']);
    expect(header).toMatch(
      /^__Host-warden_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/,
    );
    const token = /^__Host-warden_session=([^;]+)/.exec(header)?.[1] as string;
    const { csrfToken } = res.json() as { csrfToken: string };
    const agent = await proxied.key('agent', 'support-bot', 'agent');
    const held = await proxied.request('POST', '/v1/calls', {
      key: agent,
      body: { tool: 'billing.refund', args: { amount: 100 }, triggeredBy: 'sam@acme.example' },
    });
    const id = (held.json() as { approval: { id: string } }).approval.id;
    const vote = await proxied.request('POST', `/v1/approvals/${id}/approve`, {
      body: {},
      headers: {
        cookie: `__Host-warden_session=${token}`,
        'x-warden-csrf': csrfToken,
        origin: 'https://warden.acme.example',
        host: '127.0.0.1:7400',
      },
    });
    expect(vote.statusCode, vote.body).toBe(200);
    const me = await proxied.request('GET', '/v1/auth/session', {
      headers: { cookie: `__Host-warden_session=${token}` },
    });
    expect(me.json().expiresAt).toEqual(expect.any(String));
  });
});

describe('dashboard pages', () => {
  it('serves the app at its paths with a strict content security policy, and the API stays JSON', async () => {
    for (const path of ['/', '/approvals', '/sessions/ses_1', '/audit']) {
      const r = await t.request('GET', path);
      expect(r.statusCode, path).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/html/);
      expect(r.headers['content-security-policy']).toMatch(/script-src 'self'/);
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.body).toMatch(/<div id="app">/);
    }
    const missing = await t.request('GET', '/v1/nope');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
    const traversal = await t.request('GET', '/assets/..%2f..%2fpackage.json');
    expect(traversal.statusCode).toBe(404);
  });

  it('serves the built assets with long caching', async () => {
    const index = (await t.request('GET', '/')).body;
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(index)?.[1];
    expect(script).toBeDefined();
    const r = await t.request('GET', script as string);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/javascript/);
    expect(r.headers['cache-control']).toMatch(/immutable/);
  });
});
