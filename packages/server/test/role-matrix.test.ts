/**
 * The role matrix: every route of ROUTES × every role and every kind of bad credential, against the
 * documented answer. A route added to the table without a sample request here fails the coverage test.
 */
import type { ApiRole } from '@warden/engine';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRoute } from '../src/http/route-spec.js';
import { createApprovalLinkToken } from '../src/notify/approval-links.js';
import { linkKey } from '../src/notify/notification-dispatcher.js';
import { ROUTES } from '../src/routes/route-table.js';
import { browse } from '../test-support/oidc-browser.js';
import { type OidcProviderFixture, startOidcProvider } from '../test-support/oidc-provider.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

const ROLES: readonly ApiRole[] = ['agent', 'approver', 'admin', 'auditor'];

/** One request to a route: its concrete URL, and a body where the route takes one. */
interface Sample {
  readonly url: string;
  readonly body?: unknown;
  /** A cookie the browser holds (the SSO sign-in's state). */
  readonly cookie?: string;
}

let t: TestServer;
/** The identity provider the server signs people in with (SSO routes answer only when one is configured). */
let idp: OidcProviderFixture;
/** The server's public URL: the IdP redirects there (never followed: the matrix sends it by inject()). */
const PUBLIC_URL = 'http://warden.invalid';
const keys = {} as Record<ApiRole, string>;
/** The bad credentials, as full Authorization header values (undefined: no header at all). */
const badAuth: Record<string, { header: string | undefined; reason: string }> = {};
let sessionId: string;
let allowedCallId: string;
let approvalId: string;

const key = (method: string, url: string) => `${method} ${url}`;
const routeKey = (r: AnyRoute) => key(r.method, r.url);

/** An allowed call by the agent (support-bot refunds $20): returns its call and session ids. */
async function newCall(extra: Record<string, unknown> = {}): Promise<{ callId: string; session: string }> {
  const r = await t.request('POST', '/v1/calls', {
    key: keys.agent,
    body: { tool: 'billing.refund', args: { amount: 20 }, ...extra },
  });
  expect(r.statusCode, r.body).toBe(200);
  const out = r.json() as { callId: string; session: string; effect: string };
  expect(out.effect).toBe('allow');
  return out;
}

/** A call held for review (support-bot refunds $100): returns its pending approval request's id. */
async function pendingApproval(): Promise<string> {
  const r = await t.request('POST', '/v1/calls', {
    key: keys.agent,
    body: { tool: 'billing.refund', args: { amount: 100 } },
  });
  expect(r.statusCode, r.body).toBe(200);
  const out = r.json() as { effect: string; approval: { id: string } };
  expect(out.effect).toBe('review');
  return out.approval.id;
}

async function newGrant(): Promise<string> {
  const r = await t.request('POST', '/v1/grants', {
    key: t.admin,
    body: { agent: 'support-bot', tool: 'tickets.escalate', ttl: '1h', reason: 'matrix setup' },
  });
  expect(r.statusCode, r.body).toBe(201);
  return (r.json() as { id: string }).id;
}

async function linkToken(action: 'approve' | 'deny' | 'view'): Promise<string> {
  const approvalId = await pendingApproval();
  return createApprovalLinkToken(linkKey(t.server.ctx.engine), {
    approvalId,
    action,
    expiresAt: new Date(Date.now() + 3_600_000),
  });
}

async function pausedSession(): Promise<string> {
  const { session } = await newCall();
  const r = await t.request('POST', `/v1/sessions/${session}/pause`, {
    key: t.admin,
    body: { reason: 'matrix setup' },
  });
  expect(r.statusCode, r.body).toBe(200);
  return session;
}

/** A browser's SSO sign-in up to the IdP's redirect back: the callback URL and the state cookie. */
async function ssoCallback(): Promise<Sample> {
  const login = await t.request('GET', '/v1/auth/oidc/login?returnTo=/approvals');
  expect(login.statusCode, login.body).toBe(302);
  const cookie = String(login.headers['set-cookie']).split(';')[0] as string;
  const { final } = await browse(
    String(login.headers.location),
    { login: 'lee' },
    {
      stop: (l) => l.startsWith(PUBLIC_URL),
    },
  );
  const back = new URL(final.location as string);
  return { url: `${back.pathname}${back.search}`, cookie };
}

/** A CLI's SSO sign-in through the device flow: its Warden refresh token. */
async function ssoRefreshToken(): Promise<string> {
  const started = await t.request('POST', '/v1/auth/device');
  expect(started.statusCode, started.body).toBe(200);
  const { deviceCode, verificationUriComplete } = started.json() as Record<string, string>;
  await browse(verificationUriComplete as string, { login: 'lee' });
  const done = await t.request('POST', '/v1/auth/device/token', { body: { deviceCode } });
  expect(done.json(), done.body).toMatchObject({ status: 'ok' });
  return (done.json() as { refreshToken: string }).refreshToken;
}

/**
 * A valid, minimal request per route. `fresh` is true when the request is the one an allowed role makes
 * (and must succeed): routes that change state get a new object of their own then. Refused requests
 * never reach the handler, so they reuse fixed ids.
 */
const SAMPLES: Record<string, (fresh: boolean) => Promise<Sample>> = {
  [key('GET', '/healthz')]: async () => ({ url: '/healthz' }),
  [key('GET', '/readyz')]: async () => ({ url: '/readyz' }),
  [key('GET', '/metrics')]: async () => ({ url: '/metrics' }),
  [key('POST', '/v1/auth/session')]: async () => ({ url: '/v1/auth/session', body: { key: keys.approver } }),
  [key('GET', '/v1/auth/session')]: async () => ({ url: '/v1/auth/session' }),
  [key('DELETE', '/v1/auth/session')]: async () => ({ url: '/v1/auth/session' }),
  [key('GET', '/v1/auth/config')]: async () => ({ url: '/v1/auth/config' }),
  [key('GET', '/v1/auth/oidc/login')]: async () => ({ url: '/v1/auth/oidc/login?returnTo=/' }),
  [key('GET', '/v1/auth/oidc/callback')]: () => ssoCallback(),
  [key('POST', '/v1/auth/device')]: async () => ({ url: '/v1/auth/device' }),
  [key('POST', '/v1/auth/device/token')]: async () => {
    const started = await t.request('POST', '/v1/auth/device');
    return { url: '/v1/auth/device/token', body: { deviceCode: started.json().deviceCode } };
  },
  [key('POST', '/v1/auth/refresh')]: async () => ({
    url: '/v1/auth/refresh',
    body: { refreshToken: await ssoRefreshToken() },
  }),
  [key('GET', '/v1/usage')]: async () => ({ url: '/v1/usage?by=team' }),
  [key('POST', '/v1/calls')]: async () => ({
    url: '/v1/calls',
    body: { tool: 'billing.refund', args: { amount: 20 } },
  }),
  [key('POST', '/v1/tools/visible')]: async () => ({
    url: '/v1/tools/visible',
    body: { tools: ['billing.refund', 'billing.delete'] },
  }),
  [key('POST', '/v1/calls/:id/complete')]: async (fresh) => ({
    url: `/v1/calls/${fresh ? (await newCall()).callId : allowedCallId}/complete`,
    body: { status: 'ok', durationMs: 3 },
  }),
  [key('GET', '/v1/sessions')]: async () => ({ url: '/v1/sessions?limit=5' }),
  [key('GET', '/v1/sessions/:id')]: async () => ({ url: `/v1/sessions/${sessionId}` }),
  [key('POST', '/v1/sessions/:id/pause')]: async (fresh) => ({
    url: `/v1/sessions/${fresh ? (await newCall()).session : sessionId}/pause`,
    body: { reason: 'looks odd' },
  }),
  [key('POST', '/v1/sessions/:id/resume')]: async (fresh) => ({
    url: `/v1/sessions/${fresh ? await pausedSession() : sessionId}/resume`,
    body: { reason: 'checked, fine' },
  }),
  [key('GET', '/v1/budgets')]: async () => ({ url: '/v1/budgets' }),
  [key('GET', '/v1/audit/events')]: async () => ({ url: '/v1/audit/events?limit=5' }),
  [key('GET', '/v1/audit/events/:seq')]: async () => ({ url: '/v1/audit/events/1' }),
  [key('GET', '/v1/audit/export')]: async () => ({ url: '/v1/audit/export?format=jsonl' }),
  [key('GET', '/v1/audit/verify')]: async () => ({ url: '/v1/audit/verify' }),
  [key('GET', '/v1/audit/checkpoints')]: async () => ({ url: '/v1/audit/checkpoints' }),
  [key('POST', '/v1/audit/checkpoints')]: async () => ({ url: '/v1/audit/checkpoints' }),
  [key('GET', '/v1/audit/public-keys')]: async () => ({ url: '/v1/audit/public-keys' }),
  [key('GET', '/v1/policy')]: async () => ({ url: '/v1/policy' }),
  [key('GET', '/v1/policy/versions')]: async () => ({ url: '/v1/policy/versions' }),
  [key('POST', '/v1/policy/validate')]: async () => ({
    url: '/v1/policy/validate',
    body: { text: 'warden: 1\nname: tiny\nagents: {}\n' },
  }),
  [key('POST', '/v1/policy/replay')]: async () => ({
    url: '/v1/policy/replay',
    body: { policy: { text: 'warden: 1\nname: tiny\n' }, since: '1h' },
  }),
  [key('PUT', '/v1/policy')]: async (fresh) => {
    if (!fresh) return { url: '/v1/policy', body: { text: 'warden: 1\nname: tiny\n' } };
    // Puts the policy in force back: the answer is 200 and the rest of the matrix is unaffected.
    const current = await t.request('GET', '/v1/policy', { key: t.admin });
    expect(current.statusCode, current.body).toBe(200);
    return { url: '/v1/policy', body: { sources: (current.json() as { sources: unknown[] }).sources } };
  },
  [key('POST', '/v1/keys')]: async () => ({
    url: '/v1/keys',
    body: { principalKind: 'human', principal: 'matrix-made', role: 'auditor', ttl: '1h' },
  }),
  [key('GET', '/v1/keys')]: async () => ({ url: '/v1/keys' }),
  [key('POST', '/v1/keys/:id/revoke')]: async (fresh) => {
    if (!fresh) return { url: '/v1/keys/key_does-not-matter/revoke', body: {} };
    const made = await t.request('POST', '/v1/keys', {
      key: t.admin,
      body: { principalKind: 'agent', principal: 'to-revoke', role: 'agent' },
    });
    expect(made.statusCode, made.body).toBe(201);
    return { url: `/v1/keys/${(made.json() as { key: { id: string } }).key.id}/revoke`, body: {} };
  },
  [key('POST', '/v1/people/:id/revoke')]: async (fresh) => {
    if (!fresh) return { url: '/v1/people/nobody/revoke', body: {} };
    await ssoRefreshToken(); // lee has signed in through SSO: there is someone to revoke
    return { url: '/v1/people/lee/revoke', body: { reason: 'matrix' } };
  },
  [key('GET', '/v1/events')]: async () => ({ url: '/v1/events' }),
  [key('GET', '/v1/approvals')]: async () => ({ url: '/v1/approvals?status=pending' }),
  [key('GET', '/v1/approvals/:id')]: async () => ({ url: `/v1/approvals/${approvalId}` }),
  [key('GET', '/v1/approvals/:id/wait')]: async () => ({
    url: `/v1/approvals/${approvalId}/wait?timeoutMs=0`,
  }),
  [key('POST', '/v1/approvals/:id/approve')]: async (fresh) => ({
    url: `/v1/approvals/${fresh ? await pendingApproval() : approvalId}/approve`,
    body: { reason: 'looks right' },
  }),
  [key('POST', '/v1/approvals/:id/deny')]: async (fresh) => ({
    url: `/v1/approvals/${fresh ? await pendingApproval() : approvalId}/deny`,
    body: { reason: 'not this one' },
  }),
  [key('POST', '/v1/approvals/:id/override')]: async (fresh) => ({
    url: `/v1/approvals/${fresh ? await pendingApproval() : approvalId}/override`,
    body: { decision: 'deny', reason: 'incident freeze' },
  }),
  [key('POST', '/v1/approvals/:id/cancel')]: async (fresh) => ({
    url: `/v1/approvals/${fresh ? await pendingApproval() : approvalId}/cancel`,
    body: {},
  }),
  [key('GET', '/approve/:token')]: async () => ({ url: `/approve/${await linkToken('approve')}` }),
  [key('POST', '/v1/approvals/links/:token')]: async (fresh) => ({
    url: `/v1/approvals/links/${fresh ? await linkToken('approve') : 'x'.repeat(20)}`,
    body: {},
  }),
  [key('GET', '/v1/grants')]: async () => ({ url: '/v1/grants' }),
  [key('POST', '/v1/grants')]: async () => ({
    url: '/v1/grants',
    body: { agent: 'support-bot', tool: 'tickets.escalate', ttl: '1h', reason: 'matrix' },
  }),
  [key('POST', '/v1/grants/:id/revoke')]: async (fresh) => ({
    url: `/v1/grants/${fresh ? await newGrant() : 'grt_x'}/revoke`,
    body: {},
  }),
  [key('POST', '/v1/tasks')]: async () => ({
    url: '/v1/tasks',
    body: { agent: 'support-bot', initiator: { subject: 'u-1', name: 'ann' } },
  }),
  [key('POST', '/v1/tasks/token')]: async (fresh) => ({
    url: '/v1/tasks/token',
    body: {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: fresh
        ? (
            await t.server.ctx.engine.tasks.start(
              { agent: 'support-bot', initiator: { method: 'api_key', subject: 'u-1', name: 'ann' } },
              { kind: 'service', id: 'matrix' },
            )
          ).token
        : 'x.y.z',
      actor: 'helper-bot',
    },
  }),
  [key('GET', '/v1/tasks/jwks')]: async () => ({ url: '/v1/tasks/jwks' }),
};

/**
 * Routes a role passes but whose handler then refuses, by design: a vote is open to agent keys (an agent a
 * rule names may approve), but support-bot asked, so separation of duties refuses it; the admin is not
 * among the support leads this rule requires.
 */
const HANDLER_REFUSALS: Record<string, Partial<Record<ApiRole, string>>> = {
  [key('POST', '/v1/approvals/:id/approve')]: {
    agent: 'APPROVAL_SELF_APPROVAL',
    admin: 'APPROVAL_NOT_ELIGIBLE',
  },
  [key('POST', '/v1/approvals/:id/deny')]: {
    agent: 'APPROVAL_SELF_APPROVAL',
    admin: 'APPROVAL_NOT_ELIGIBLE',
  },
  [key('POST', '/v1/approvals/links/:token')]: {
    agent: 'APPROVAL_SELF_APPROVAL',
    admin: 'APPROVAL_NOT_ELIGIBLE',
  },
  // Open to every key with an ID token; without one only a service key holding the initiator permission
  // may start a task, and none of the matrix keys holds it.
  [key('POST', '/v1/tasks')]: {
    agent: 'FORBIDDEN',
    approver: 'FORBIDDEN',
    admin: 'FORBIDDEN',
    auditor: 'FORBIDDEN',
  },
};

const READERS = ['approver', 'admin', 'auditor'] as const;
const AUDITORS = ['admin', 'auditor'] as const;
const ADMIN = ['admin'] as const;

/** The roles each route is documented to allow (the brief and the API reference), pinned here. */
const DOCUMENTED_ROLES: Record<string, readonly ApiRole[] | 'public'> = {
  [key('GET', '/healthz')]: 'public',
  [key('GET', '/readyz')]: 'public',
  [key('GET', '/metrics')]: AUDITORS,
  [key('POST', '/v1/auth/session')]: 'public',
  [key('GET', '/v1/auth/session')]: READERS,
  [key('DELETE', '/v1/auth/session')]: 'public',
  [key('GET', '/v1/auth/config')]: 'public',
  [key('GET', '/v1/auth/oidc/login')]: 'public',
  [key('GET', '/v1/auth/oidc/callback')]: 'public',
  [key('POST', '/v1/auth/device')]: 'public',
  [key('POST', '/v1/auth/device/token')]: 'public',
  [key('POST', '/v1/auth/refresh')]: 'public',
  [key('GET', '/v1/usage')]: READERS,
  [key('POST', '/v1/calls')]: ['agent'],
  [key('POST', '/v1/calls/:id/complete')]: ['agent'],
  [key('POST', '/v1/tools/visible')]: ['agent'],
  [key('GET', '/v1/sessions')]: READERS,
  [key('GET', '/v1/sessions/:id')]: READERS,
  [key('POST', '/v1/sessions/:id/pause')]: ['approver', 'admin'],
  [key('POST', '/v1/sessions/:id/resume')]: ['approver', 'admin'],
  [key('GET', '/v1/budgets')]: [...READERS, 'agent'],
  [key('GET', '/v1/audit/events')]: READERS,
  [key('GET', '/v1/audit/events/:seq')]: READERS,
  [key('GET', '/v1/audit/export')]: AUDITORS,
  [key('GET', '/v1/audit/verify')]: AUDITORS,
  [key('GET', '/v1/audit/checkpoints')]: AUDITORS,
  [key('POST', '/v1/audit/checkpoints')]: ADMIN,
  [key('GET', '/v1/audit/public-keys')]: AUDITORS,
  [key('GET', '/v1/policy')]: READERS,
  [key('GET', '/v1/policy/versions')]: READERS,
  [key('POST', '/v1/policy/validate')]: READERS,
  [key('POST', '/v1/policy/replay')]: READERS,
  [key('PUT', '/v1/policy')]: ADMIN,
  [key('POST', '/v1/keys')]: ADMIN,
  [key('GET', '/v1/keys')]: ADMIN,
  [key('POST', '/v1/keys/:id/revoke')]: ADMIN,
  [key('POST', '/v1/people/:id/revoke')]: ADMIN,
  [key('GET', '/v1/events')]: [...READERS, 'agent'],
  [key('GET', '/v1/approvals')]: READERS,
  [key('GET', '/v1/approvals/:id')]: [...READERS, 'agent'],
  [key('GET', '/v1/approvals/:id/wait')]: ['agent', 'approver', 'admin'],
  [key('POST', '/v1/approvals/:id/approve')]: ['agent', 'approver', 'admin'],
  [key('POST', '/v1/approvals/:id/deny')]: ['agent', 'approver', 'admin'],
  [key('POST', '/v1/approvals/:id/override')]: ADMIN,
  [key('POST', '/v1/approvals/:id/cancel')]: ['agent', 'admin'],
  [key('GET', '/approve/:token')]: 'public',
  [key('POST', '/v1/approvals/links/:token')]: ['agent', 'approver', 'admin'],
  [key('GET', '/v1/grants')]: READERS,
  [key('POST', '/v1/grants')]: ['approver', 'admin'],
  [key('POST', '/v1/grants/:id/revoke')]: ['approver', 'admin'],
  [key('POST', '/v1/tasks')]: ['agent', 'approver', 'admin', 'auditor'],
  [key('POST', '/v1/tasks/token')]: ['agent'],
  [key('GET', '/v1/tasks/jwks')]: 'public',
};

/** Routes whose answer is a live stream: inject() would never finish, so allowed roles use a socket. */
const STREAMING = new Set([key('GET', '/v1/events')]);

function send(route: AnyRoute, sample: Sample, authorization: string | undefined) {
  return t.request(route.method, sample.url, {
    ...(sample.body !== undefined ? { body: sample.body } : {}),
    headers: {
      ...(authorization !== undefined ? { authorization } : {}),
      ...(sample.cookie !== undefined ? { cookie: sample.cookie } : {}),
    },
  });
}

/** Opens a live stream over the real socket, checks its status and media type, and hangs up. */
async function openStream(url: string, secret: string): Promise<{ status: number; type: string }> {
  const abort = new AbortController();
  try {
    const res = await fetch(`${t.server.url}${url}`, {
      headers: { authorization: `Bearer ${secret}` },
      signal: abort.signal,
    });
    return { status: res.status, type: res.headers.get('content-type') ?? '' };
  } finally {
    abort.abort();
  }
}

function errorCode(r: LightMyRequestResponse): string | undefined {
  try {
    return (r.json() as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  idp = await startOidcProvider({
    accounts: { lee: { email: 'lee@acme.example', groups: ['support-leads'] } },
    clients: [
      {
        clientId: 'warden',
        clientSecret: 'warden-test-client-secret-0123456789',
        redirectUris: [`${PUBLIC_URL}/v1/auth/oidc/callback`],
      },
    ],
  });
  t = await startTestServer(
    'sqlite',
    {
      authFailuresPerMinute: 1_000_000,
      publicUrl: PUBLIC_URL,
      auth: {
        oidc: {
          issuer: idp.issuer,
          clientId: 'warden',
          clientSecret: 'warden-test-client-secret-0123456789',
          roles: { approver: ['support-leads'] },
        },
      },
    },
    { listen: true },
  );
  expect(t.server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  keys.admin = t.admin;
  keys.agent = await t.key('agent', 'support-bot', 'agent');
  // A support lead: the example policy's refund reviews need one.
  keys.approver = await t.key('human', 'lee@acme.example', 'approver');
  keys.auditor = await t.key('human', 'audrey@acme.example', 'auditor');

  const revokedSecret = await t.key('human', 'revoked@acme.example', 'admin');
  const listed = await t.request('GET', '/v1/keys', { key: t.admin });
  const revokedId = (listed.json() as { keys: { id: string; principal: string }[] }).keys.find(
    (k) => k.principal === 'revoked@acme.example',
  )?.id;
  const revoke = await t.request('POST', `/v1/keys/${revokedId}/revoke`, { key: t.admin, body: {} });
  expect(revoke.statusCode, revoke.body).toBe(200);

  // An admin key that expires a moment from now (the API refuses a time in the past).
  const expiresAt = new Date(Date.now() + 1_000).toISOString();
  const made = await t.request('POST', '/v1/keys', {
    key: t.admin,
    body: { principalKind: 'human', principal: 'expired@acme.example', role: 'admin', expiresAt },
  });
  expect(made.statusCode, made.body).toBe(201);
  const expiredSecret = (made.json() as { secret: string }).secret;

  ({ callId: allowedCallId, session: sessionId } = await newCall());
  approvalId = await pendingApproval();

  badAuth.none = { header: undefined, reason: 'missing' };
  badAuth['malformed (no Bearer)'] = { header: `Basic ${keys.admin}`, reason: 'malformed' };
  badAuth['malformed (not a wdn_ key)'] = { header: 'Bearer not-a-warden-key', reason: 'malformed' };
  badAuth.unknown = { header: `Bearer wdn_${'A'.repeat(43)}`, reason: 'unknown' };
  badAuth.revoked = { header: `Bearer ${revokedSecret}`, reason: 'revoked' };
  badAuth.expired = { header: `Bearer ${expiredSecret}`, reason: 'expired' };

  const wait = Date.parse(expiresAt) + 20 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
});

afterAll(async () => {
  await t?.close();
  await idp?.close();
});

describe('the role matrix', () => {
  it('has a sample request for every route in ROUTES, and none for a route that does not exist', () => {
    const routes = ROUTES.map(routeKey);
    expect(new Set(routes).size).toBe(routes.length);
    expect(routes.filter((r) => !(r in SAMPLES))).toEqual([]);
    expect(Object.keys(SAMPLES).filter((s) => !routes.includes(s))).toEqual([]);
  });

  it('allows each route exactly the roles the API reference documents', () => {
    const actual = Object.fromEntries(
      ROUTES.map((r) => [routeKey(r), r.roles === 'public' ? 'public' : [...r.roles].sort()]),
    );
    const documented = Object.fromEntries(
      Object.entries(DOCUMENTED_ROLES).map(([k, v]) => [k, v === 'public' ? 'public' : [...v].sort()]),
    );
    expect(actual).toEqual(documented);
  });

  describe.each(ROUTES.map((r) => [routeKey(r), r] as const))('%s', (_name, route) => {
    const sample = (fresh: boolean) => {
      const make = SAMPLES[routeKey(route)];
      if (!make) throw new Error(`no sample request for ${routeKey(route)}: add one to SAMPLES`);
      return make(fresh);
    };

    it.each(ROLES)('the %s role gets the documented answer', async (role) => {
      const allowed = route.roles === 'public' || route.roles.includes(role);
      if (allowed && STREAMING.has(routeKey(route))) {
        const s = await sample(true);
        const { status, type } = await openStream(s.url, keys[role]);
        expect(status).toBe(route.response.status);
        expect(type).toMatch(/^text\/event-stream/);
        return;
      }
      const r = await send(route, await sample(allowed), `Bearer ${keys[role]}`);
      const refusal = HANDLER_REFUSALS[routeKey(route)]?.[role];
      if (allowed && refusal) {
        expect(r.statusCode, r.body).toBe(403);
        expect(errorCode(r)).toBe(refusal);
      } else if (allowed) {
        expect(r.statusCode, r.body).toBe(route.response.status);
      } else {
        expect(r.statusCode, r.body).toBe(403);
        expect(errorCode(r)).toBe('FORBIDDEN');
        expect(r.json().error.details).toMatchObject({ role, allowed: route.roles });
      }
    });

    it.each(['none', 'malformed (no Bearer)', 'malformed (not a wdn_ key)', 'unknown', 'revoked', 'expired'])(
      'a request with key: %s gets the documented answer',
      async (kind) => {
        const bad = badAuth[kind];
        if (!bad) throw new Error(`no credential ${kind}`);
        const r = await send(route, await sample(route.roles === 'public'), bad.header);
        if (route.roles === 'public') {
          expect(r.statusCode, r.body).toBe(route.response.status);
        } else {
          expect(r.statusCode, r.body).toBe(401);
          expect(errorCode(r)).toBe('UNAUTHENTICATED');
          expect(r.json().error.details.reason).toBe(bad.reason);
          expect(r.headers['content-type']).toMatch(/^application\/json/);
        }
      },
    );
  });
});
