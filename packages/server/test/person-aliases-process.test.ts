import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browse, CookieJar } from '../test-support/oidc-browser.js';
import type { OidcProviderFixture } from '../test-support/oidc-provider.js';
import { api, BIN } from '../test-support/serve-process.js';
import { type SsoServe, startSsoServe } from '../test-support/sso-serve.js';

// biome-ignore lint/suspicious/noExplicitAny: assertions below check the shape
type Json = Record<string, any>;

const POLICY = fileURLToPath(new URL('./fixtures/alias-policy.yaml', import.meta.url));
const SECRET = 'warden-alias-sso-secret-0123456789';

let sso: SsoServe;
let idp: OidcProviderFixture;
let base: string;
let admin: string;
let agent: string;
let portal: string;
/** Alice's human keys, named by her email (not her SSO name `alice`). */
let aliceApprover: string;
let aliceAdmin: string;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  sso = await startSsoServe({
    prefix: 'warden-aliases-',
    dbName: 'aliases.db',
    policy: POLICY,
    secret: SECRET,
    accounts: {
      alice: { email: 'alice@acme.example', groups: ['warden-approvers'] },
      bob: { email: 'bob@acme.example', groups: ['warden-approvers'] },
    },
    clients: [{ clientId: 'portal', clientSecret: 'portal-secret-0123456789' }],
    oidc: { personClaim: 'sub', taskAudiences: ['portal'] },
  });
  ({ idp, base, admin } = sso);
  agent = await sso.key('--agent', 'planner-bot');
  portal = await sso.key('--service', 'portal', '--role', 'auditor', '--permission', 'initiator');
  aliceApprover = await sso.key('--human', 'alice@acme.example', '--role', 'approver');
  aliceAdmin = await sso.key('--human', 'alice@acme.example', '--role', 'admin');
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

/** A POST as a dashboard sign-in (cookie + CSRF token). */
async function asDashboard(cookie: string, path: string, body: Json) {
  const who = await fetch(`${base}/v1/auth/session`, { headers: { cookie: `warden_session=${cookie}` } });
  const session = (await who.json()) as { csrfToken: string };
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      cookie: `warden_session=${cookie}`,
      'x-warden-csrf': session.csrfToken,
      origin: base,
      'content-type': 'application/json',
      'warden-client': 'dashboard',
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

/** Starts a task (`idToken` for a person, else the portal vouches for `subject`) and makes one call in it. */
async function heldCall(tool: string, start: { idToken?: string; subject?: string }) {
  const started = await api<Json>(base, 'POST', '/v1/tasks', {
    key: start.idToken ? agent : portal,
    body: start.idToken
      ? { agent: 'planner-bot', idToken: start.idToken }
      : { agent: 'planner-bot', initiator: { subject: start.subject, name: start.subject } },
  });
  expect(started.status, JSON.stringify(started.body)).toBe(201);
  const res = await fetch(`${base}/v1/calls`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${agent}`,
      'warden-task-token': started.body.token,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ tool, args: { amount: 40 } }),
  });
  const decision = (await res.json()) as Json;
  expect(decision.effect, JSON.stringify(decision)).toBe('review');
  return { task: started.body, decision };
}

describe('one person under an SSO sign-in and a human key, through warden serve', () => {
  it("refuses Alice's human key on her own task: approve, override, resume and grant", async () => {
    // Alice has signed in to Warden by SSO once (so Warden knows her email), then starts a task.
    const cookie = await dashboardSignIn('alice');
    const me = await fetch(`${base}/v1/auth/session`, { headers: { cookie: `warden_session=${cookie}` } });
    expect(((await me.json()) as Json).principal).toMatchObject({ id: 'alice', subject: 'alice' });
    const { idToken } = await idp.signIn('alice', { clientId: 'portal' });
    const { task, decision } = await heldCall('billing.refund', { idToken });
    expect(task.initiator).toMatchObject({ method: 'oidc', subject: 'alice', name: 'alice' });
    const approvalId = decision.approval.id as string;

    const approve = await api<Json>(base, 'POST', `/v1/approvals/${approvalId}/approve`, {
      key: aliceApprover,
      body: { reason: 'fine' },
    });
    expect(approve.status, JSON.stringify(approve.body)).toBe(403);
    expect(approve.body.error.code).toBe('APPROVAL_SELF_APPROVAL');

    const override = await api<Json>(base, 'POST', `/v1/approvals/${approvalId}/override`, {
      key: aliceAdmin,
      body: { decision: 'approve', reason: 'urgent' },
    });
    expect(override.status, JSON.stringify(override.body)).toBe(403);
    expect(override.body.error.code).toBe('APPROVAL_SELF_APPROVAL');

    const paused = await api<Json>(base, 'POST', `/v1/sessions/${task.session}/pause`, {
      key: admin,
      body: { reason: 'look at it' },
    });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    const resume = await api<Json>(base, 'POST', `/v1/sessions/${task.session}/resume`, {
      key: aliceApprover,
      body: { reason: 'carry on' },
    });
    expect(resume.status, JSON.stringify(resume.body)).toBe(403);
    expect(resume.body.error.code).toBe('APPROVAL_SELF_APPROVAL');

    const grant = await api<Json>(base, 'POST', '/v1/grants', {
      key: aliceApprover,
      body: { agent: 'planner-bot', tool: 'crm.export', session: task.session, reason: 'needs it' },
    });
    expect(grant.status, JSON.stringify(grant.body)).toBe(403);
    expect(grant.body.error.code).toBe('APPROVAL_SELF_APPROVAL');

    const still = await api<Json>(base, 'GET', `/v1/approvals/${approvalId}`, { key: admin });
    expect(still.body.status).toBe('pending');
  }, 120_000);

  it('does not apply a grant its creator made for her own task under another name (no session given)', async () => {
    // The portal vouches for Alice's IdP subject under a display name; her task's stake holds her identity.
    const started = await api<Json>(base, 'POST', '/v1/tasks', {
      key: portal,
      body: { agent: 'planner-bot', initiator: { subject: 'alice', name: 'Alice Doe' } },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const call = async () => {
      const res = await fetch(`${base}/v1/calls`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${agent}`,
          'warden-task-token': started.body.token,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ tool: 'crm.export', args: {} }),
      });
      return (await res.json()) as Json;
    };
    expect((await call()).effect).toBe('block');
    // Alice signs in by SSO (as `alice`, not `Alice Doe`) and grants the tool for an hour, no session named.
    const alice = await dashboardSignIn('alice');
    const grant = await asDashboard(alice, '/v1/grants', {
      agent: 'planner-bot',
      tool: 'crm.export',
      ttl: '1h',
      reason: 'my export',
    });
    expect(grant.status, JSON.stringify(grant.body)).toBe(201);
    const mine = await call();
    expect(mine.effect, JSON.stringify(mine)).toBe('block');
    // Another person's grant lifts the default block.
    const bob = await dashboardSignIn('bob');
    expect((await asDashboard(alice, `/v1/grants/${grant.body.id}/revoke`, { reason: 'done' })).status).toBe(
      200,
    );
    const bobs = await asDashboard(bob, '/v1/grants', {
      agent: 'planner-bot',
      tool: 'crm.export',
      ttl: '1h',
      reason: 'reviewed',
    });
    expect(bobs.status, JSON.stringify(bobs.body)).toBe(201);
    const granted = await call();
    expect(granted.effect, JSON.stringify(granted)).toBe('allow');
    expect((await asDashboard(bob, `/v1/grants/${bobs.body.id}/revoke`, { reason: 'done' })).status).toBe(
      200,
    );
  }, 120_000);

  it('counts one vote for Alice by SSO and by her key on a request needing two approvers', async () => {
    const { decision } = await heldCall('billing.bulk_refund', { subject: 'carol' });
    const approvalId = decision.approval.id as string;
    const cookie = await dashboardSignIn('alice');
    const first = await asDashboard(cookie, `/v1/approvals/${approvalId}/approve`, { reason: 'fine' });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.status).toBe('pending');
    const second = await api<Json>(base, 'POST', `/v1/approvals/${approvalId}/approve`, {
      key: aliceApprover,
      body: { reason: 'fine again' },
    });
    expect(second.status, JSON.stringify(second.body)).toBe(409);
    expect(second.body.error.code).toBe('APPROVAL_ALREADY_VOTED');
    const still = await api<Json>(base, 'GET', `/v1/approvals/${approvalId}`, { key: admin });
    expect(still.body.status).toBe('pending');
    expect(still.body.votes).toHaveLength(1);
  }, 120_000);

  it('counts one vote for Alice by her key and then by SSO (the other order)', async () => {
    const { decision } = await heldCall('billing.bulk_refund', { subject: 'carol' });
    const approvalId = decision.approval.id as string;
    const first = await api<Json>(base, 'POST', `/v1/approvals/${approvalId}/approve`, {
      key: aliceApprover,
      body: { reason: 'fine' },
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.votes[0]).toMatchObject({ principal: 'alice@acme.example', keyId: expect.any(String) });
    const cookie = await dashboardSignIn('alice');
    const second = await asDashboard(cookie, `/v1/approvals/${approvalId}/approve`, { reason: 'again' });
    expect(second.status, JSON.stringify(second.body)).toBe(409);
    expect(second.body.error.code).toBe('APPROVAL_ALREADY_VOTED');
    const still = await api<Json>(base, 'GET', `/v1/approvals/${approvalId}`, { key: admin });
    expect(still.body.status).toBe('pending');
  }, 120_000);
});
