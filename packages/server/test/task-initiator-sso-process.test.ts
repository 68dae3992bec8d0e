import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browse, CookieJar } from '../test-support/oidc-browser.js';
import type { OidcProviderFixture } from '../test-support/oidc-provider.js';
import { api, BIN } from '../test-support/serve-process.js';
import { type SsoServe, startSsoServe } from '../test-support/sso-serve.js';

// biome-ignore lint/suspicious/noExplicitAny: assertions below check the shape
type Json = Record<string, any>;

const POLICY = fileURLToPath(new URL('./fixtures/task-policy.yaml', import.meta.url));
const SECRET = 'warden-task-sso-secret-0123456789';

let sso: SsoServe;
let idp: OidcProviderFixture;
let base: string;
let admin: string;
let agent: string;
let portal: string;
let approverKey: string;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  sso = await startSsoServe({
    prefix: 'warden-task-sso-',
    dbName: 'tasks.db',
    policy: POLICY,
    secret: SECRET,
    accounts: {
      alice: { email: 'alice@acme.example', groups: ['warden-approvers'] },
      bob: { email: 'bob@acme.example', groups: ['warden-approvers'] },
      maria: { email: 'maria@acme.example', groups: ['warden-approvers'] },
    },
    clients: [{ clientId: 'portal', clientSecret: 'portal-secret-0123456789' }],
    oidc: { taskAudiences: ['portal'] },
  });
  ({ idp, base, admin } = sso);
  agent = await sso.key('--agent', 'planner-bot');
  portal = await sso.key('--service', 'portal', '--role', 'auditor', '--permission', 'initiator');
  approverKey = await sso.key('--human', 'dora', '--role', 'approver');
}, 120_000);

afterAll(async () => {
  await sso?.close();
});

/** Signs in through the dashboard's SSO (the provider's own pages): the session cookie. */
async function dashboardSignIn(login: string): Promise<string> {
  const jar = new CookieJar();
  await browse(
    `${base}/v1/auth/oidc/login?returnTo=${encodeURIComponent('/approvals')}`,
    { login },
    { jar, stop: (l) => l.startsWith(base) && !l.startsWith(`${base}/v1/auth/oidc/`) },
  );
  return jar.get(base, 'warden_session') as string;
}

async function approveAs(cookie: string, approvalId: string) {
  const who = await fetch(`${base}/v1/auth/session`, { headers: { cookie: `warden_session=${cookie}` } });
  const session = (await who.json()) as { csrfToken: string };
  const res = await fetch(`${base}/v1/approvals/${approvalId}/approve`, {
    method: 'POST',
    headers: {
      cookie: `warden_session=${cookie}`,
      'x-warden-csrf': session.csrfToken,
      origin: base,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ reason: 'looks fine' }),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

describe('the initiator of a task, verified by the IdP, through warden serve', () => {
  it('refuses the initiator at approval under another name (same issuer and subject); another person approves', async () => {
    // The portal (its own client of the IdP) signs Alice in and starts a task with her ID token.
    const { idToken } = await idp.signIn('alice', { clientId: 'portal' });
    const started = await api<Json>(base, 'POST', '/v1/tasks', {
      key: agent,
      body: { agent: 'planner-bot', idToken },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body.initiator).toMatchObject({
      method: 'oidc',
      issuer: idp.issuer,
      subject: 'alice',
      name: 'alice@acme.example',
    });
    const held = await fetch(`${base}/v1/calls`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${agent}`,
        'warden-task-token': started.body.token,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ tool: 'billing.refund', args: { amount: 40 } }),
    });
    const decision = (await held.json()) as Json;
    expect(decision.effect).toBe('review');

    // The IdP changes Alice's email: she signs in as alice.smith@…, the same issuer and subject.
    idp.setAccount('alice', { email: 'alice.smith@acme.example', groups: ['warden-approvers'] });
    const alice = await dashboardSignIn('alice');
    const who = await fetch(`${base}/v1/auth/session`, { headers: { cookie: `warden_session=${alice}` } });
    expect(((await who.json()) as Json).principal).toMatchObject({
      id: 'alice.smith@acme.example',
      issuer: idp.issuer,
      subject: 'alice',
    });
    const refused = await approveAs(alice, decision.approval.id);
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'APPROVAL_SELF_APPROVAL', details: { verified: true } });

    const bob = await dashboardSignIn('bob');
    const approved = await approveAs(bob, decision.approval.id);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body.status).toBe('approved');

    const trail = await api<{ records: AuditRecord[] }>(base, 'GET', '/v1/audit/events?limit=1000', {
      key: admin,
    });
    const decided = trail.body.records.find(
      (r) => r.event.type === 'call.decided' && r.event.callId === decision.callId,
    );
    expect(decided?.event.identity?.initiator).toEqual({
      method: 'oidc',
      issuer: idp.issuer,
      subject: 'alice',
      name: 'alice@acme.example',
    });
  }, 120_000);

  it('refuses at approval the person a service key vouched for, once she signs in by SSO (her IdP subject)', async () => {
    // The portal signed Maria in itself and vouches for her IdP subject under a display name.
    const started = await api<Json>(base, 'POST', '/v1/tasks', {
      key: portal,
      body: { agent: 'planner-bot', initiator: { subject: 'maria', name: 'Maria Lopez' } },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body.initiator).toMatchObject({ method: 'api_key', issuer: idp.issuer, subject: 'maria' });
    const held = await fetch(`${base}/v1/calls`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${agent}`,
        'warden-task-token': started.body.token,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ tool: 'billing.refund', args: { amount: 40 } }),
    });
    const decision = (await held.json()) as Json;
    expect(decision.effect).toBe('review');
    // She signs in by SSO as maria@acme.example (issuer, subject maria): not the name the portal used.
    const maria = await dashboardSignIn('maria');
    const refused = await approveAs(maria, decision.approval.id);
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'APPROVAL_SELF_APPROVAL', details: { verified: true } });
    const trail = await api<{ records: AuditRecord[] }>(base, 'GET', '/v1/audit/events?type=task.started', {
      key: admin,
    });
    const record = trail.body.records.find((r) => r.event.session === started.body.session);
    expect(record?.event.identity?.initiator).toMatchObject({
      method: 'api_key',
      issuer: idp.issuer,
      subject: 'maria',
      keyId: expect.stringMatching(/.+/),
    });
  }, 120_000);

  it('starts one task per ID token, only a fresh one, and only from the agent or a vouching service key', async () => {
    const { idToken } = await idp.signIn('bob', { clientId: 'portal' });
    const start = (key: string, token: string) =>
      api<Json>(base, 'POST', '/v1/tasks', { key, body: { agent: 'planner-bot', idToken: token } });
    // An approver's or the admin's key may not start a task with a person's ID token.
    for (const key of [approverKey, admin]) {
      const r = await start(key, idToken);
      expect(r.status, JSON.stringify(r.body)).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
    }
    const first = await start(agent, idToken);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    // The same ID token again (by the agent or by the trusted backend) starts nothing.
    for (const key of [agent, portal]) {
      const again = await start(key, idToken);
      expect(again.status, JSON.stringify(again.body)).toBe(401);
      expect(again.body.error).toMatchObject({ code: 'ID_TOKEN_INVALID', details: { reason: 'replayed' } });
    }
    // Issued more than 5 minutes ago (still unexpired): refused.
    const now = Math.floor(Date.now() / 1000);
    const stale = await idp.mintIdToken(
      { sub: 'bob', email: 'bob@acme.example', iat: now - 400, exp: now + 600 },
      { audience: 'portal' },
    );
    const old = await start(agent, stale);
    expect(old.status, JSON.stringify(old.body)).toBe(401);
    expect(old.body.error.code).toBe('ID_TOKEN_INVALID');
    // A fresh one from the vouching service key starts a task.
    const fresh = await idp.mintIdToken({ sub: 'bob', email: 'bob@acme.example' }, { audience: 'portal' });
    expect((await start(portal, fresh)).status).toBe(201);
  }, 120_000);

  it('starts no task with an ID token from another issuer, for another audience, or expired', async () => {
    const tokens = [
      await idp.mintIdToken({ sub: 'alice', email: 'alice@acme.example' }, { key: 'foreign' }),
      await idp.mintIdToken({ sub: 'alice', email: 'alice@acme.example' }, { audience: 'someone-else' }),
      await idp.mintIdToken({ sub: 'alice', email: 'alice@acme.example' }, { expired: true }),
    ];
    for (const idToken of tokens) {
      const r = await api<Json>(base, 'POST', '/v1/tasks', {
        key: agent,
        body: { agent: 'planner-bot', idToken },
      });
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('ID_TOKEN_INVALID');
    }
  }, 60_000);
});
