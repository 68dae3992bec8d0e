import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { browse, CookieJar } from '../test-support/oidc-browser.js';
import type { OidcProviderFixture } from '../test-support/oidc-provider.js';
import { api, BIN, type Served, spawnServe, warden } from '../test-support/serve-process.js';
import { type SsoServe, startSsoServe } from '../test-support/sso-serve.js';

// biome-ignore lint/suspicious/noExplicitAny: assertions below check the shape
type Json = Record<string, any>;

const POLICY = fileURLToPath(new URL('./fixtures/task-policy.yaml', import.meta.url));
const SECRET = 'warden-task-person-secret-0123456789';

let sso: SsoServe;
let dir: string;
let idp: OidcProviderFixture;
let base: string;
let admin: string;
let agent: string;
let humanKey: string;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  sso = await startSsoServe({
    prefix: 'warden-task-person-',
    dbName: 'tasks.db',
    policy: POLICY,
    secret: SECRET,
    accounts: {
      lee: { email: 'lee@acme.example', name: 'Lee Park', groups: ['warden-approvers'] },
      bob: { email: 'bob@acme.example', groups: ['warden-approvers'] },
      rita: { email: 'rita@acme.example', groups: ['warden-approvers'] },
    },
  });
  ({ dir, idp, base, admin } = sso);
  agent = await sso.key('--agent', 'planner-bot');
  // A person's API key named as Lee: only a claim, so it may not start a task as Lee (or anyone).
  humanKey = await sso.key('--human', 'lee@acme.example', '--role', 'approver');
}, 120_000);

afterAll(async () => {
  await sso?.close();
});

/** The CLI's sign-in (`warden login`) over HTTP: the device flow, confirmed at the provider's pages. */
async function deviceSignIn(login: string, url = base): Promise<string> {
  const started = await api<Json>(url, 'POST', '/v1/auth/device');
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  await browse(started.body.verificationUri, { login, userCode: started.body.userCode });
  const done = await api<Json>(url, 'POST', '/v1/auth/device/token', {
    body: { deviceCode: started.body.deviceCode },
  });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return done.body.accessToken as string;
}

/** Signs in through the dashboard's SSO: the session cookie. */
async function dashboardSignIn(login: string): Promise<string> {
  const jar = new CookieJar();
  await browse(
    `${base}/v1/auth/oidc/login?returnTo=${encodeURIComponent('/approvals')}`,
    { login },
    { jar, stop: (l) => l.startsWith(base) && !l.startsWith(`${base}/v1/auth/oidc/`) },
  );
  return jar.get(base, 'warden_session') as string;
}

const start = (key: string, body: Json) => api<Json>(base, 'POST', '/v1/tasks', { key, body });

async function call(token: string, tool: string): Promise<Json> {
  const res = await fetch(`${base}/v1/calls`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${agent}`,
      'warden-task-token': token,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ tool, args: { amount: 40 } }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

async function trail(type: string): Promise<AuditRecord[]> {
  const r = await api<{ records: AuditRecord[] }>(base, 'GET', `/v1/audit/events?type=${type}&limit=1000`, {
    key: admin,
  });
  expect(r.status).toBe(200);
  return r.body.records;
}

describe('a developer signed in by SSO starts a task as its initiator, through warden serve', () => {
  it('starts a task for an agent as the verified person; the agent’s calls carry them; they cannot approve', async () => {
    const access = await deviceSignIn('lee');
    const started = await start(access, {
      agent: 'planner-bot',
      ttl: 7200,
      labels: { repo: 'warden' },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const expected = { method: 'oidc', issuer: idp.issuer, subject: 'lee', name: 'lee@acme.example' };
    expect(started.body.initiator).toEqual(expected);
    expect(Date.parse(started.body.expiresAt) - Date.now()).toBeGreaterThan(7_000_000);

    const recorded = (await trail('task.started')).find((r) => r.event.session === started.body.session);
    expect(recorded?.event).toMatchObject({
      actor: { kind: 'human', id: 'lee@acme.example', issuer: idp.issuer, subject: 'lee' },
      agent: 'planner-bot',
      triggeredBy: 'lee@acme.example',
      identity: { initiator: expected },
      data: { taskId: started.body.taskId, via: 'sso_sign_in', labels: { repo: 'warden' } },
    });

    const held = await call(started.body.token, 'billing.refund');
    expect(held.effect).toBe('review');
    expect(held.session).toBe(started.body.session);
    const decided = (await trail('call.decided')).find((r) => r.event.callId === held.callId);
    expect(decided?.event.triggeredBy).toBe('lee@acme.example');
    expect(decided?.event.identity?.initiator).toEqual(expected);

    // Lee started it: Lee cannot approve it, by verified identity; Bob can.
    const refused = await api<Json>(base, 'POST', `/v1/approvals/${held.approval.id}/approve`, {
      key: access,
      body: { reason: 'mine' },
    });
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'APPROVAL_SELF_APPROVAL', details: { verified: true } });
    const approved = await api<Json>(base, 'POST', `/v1/approvals/${held.approval.id}/approve`, {
      key: await deviceSignIn('bob'),
      body: { reason: 'fine' },
    });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  }, 120_000);

  it('starts tasks from the dashboard’s SSO session too, for any agent, and only as the person', async () => {
    const cookie = await dashboardSignIn('lee');
    const who = await fetch(`${base}/v1/auth/session`, { headers: { cookie: `warden_session=${cookie}` } });
    const { csrfToken } = (await who.json()) as { csrfToken: string };
    const res = await fetch(`${base}/v1/tasks`, {
      method: 'POST',
      headers: {
        cookie: `warden_session=${cookie}`,
        'x-warden-csrf': csrfToken,
        origin: base,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ agent: 'worker-bot' }),
    });
    const body = (await res.json()) as Json;
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({ agent: 'worker-bot', initiator: { method: 'oidc', subject: 'lee' } });

    const access = await deviceSignIn('lee');
    // Naming themselves is what leaving it out does; naming anyone else is FORBIDDEN.
    const self = await start(access, {
      agent: 'planner-bot',
      initiator: { subject: 'lee', name: 'lee@acme.example' },
    });
    expect(self.status, JSON.stringify(self.body)).toBe(201);
    for (const initiator of [
      { subject: 'bob', name: 'bob@acme.example' },
      { subject: 'lee', name: 'bob@acme.example' },
      { subject: 'bob', name: 'lee@acme.example' },
    ]) {
      const other = await start(access, { agent: 'planner-bot', initiator });
      expect(other.status, JSON.stringify(other.body)).toBe(403);
      expect(other.body.error.code).toBe('FORBIDDEN');
      expect(other.body.error.message).toContain('as its initiator only (lee@acme.example, subject lee)');
    }
  }, 120_000);

  it('refuses a human API key (its name is only a claim), with or without an initiator', async () => {
    for (const body of [
      { agent: 'planner-bot' },
      { agent: 'planner-bot', initiator: { subject: 'lee', name: 'lee@acme.example' } },
    ]) {
      const r = await start(humanKey, body);
      expect(r.status, JSON.stringify(r.body)).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
      expect(r.body.error.message).toContain('Sign in with `warden login`');
    }
    const records = await trail('task.started');
    expect(
      records.filter((r) => r.event.actor.keyId !== undefined && r.event.actor.kind === 'human'),
    ).toEqual([]);
  }, 60_000);

  it('a person revoked with `warden people revoke` starts no task, though their access token is unexpired', async () => {
    const access = await deviceSignIn('rita');
    expect((await start(access, { agent: 'planner-bot' })).status).toBe(201);
    const revoked = await warden(['people', 'revoke', 'rita@acme.example', '--url', base, '--key', admin]);
    expect(revoked.code, revoked.err).toBe(0);
    const r = await start(access, { agent: 'planner-bot' });
    expect(r.status, JSON.stringify(r.body)).toBe(403);
    expect(r.body.error.code).toBe('SSO_DENIED');
    const started = (await trail('task.started')).filter((e) => e.event.triggeredBy === 'rita@acme.example');
    expect(started).toHaveLength(1);
  }, 60_000);
});

describe('two instances on one PostgreSQL database', () => {
  let a: Served;
  let b: Served;

  beforeAll(async () => {
    const database = await createTestDatabase(inject('postgresUrl'), 'taskperson');
    const oidc = {
      issuer: idp.issuer,
      clientId: 'warden',
      clientSecret: 'env:WARDEN_TEST_OIDC_SECRET',
      roles: { approver: ['warden-approvers'] },
    };
    const shared = { db: database, keysFile: join(dir, 'pg-keys.json'), policy: POLICY, logLevel: 'warn' };
    const configs = ['pg-a.json', 'pg-b.json'].map((name) => join(dir, name));
    for (const config of configs) {
      writeFileSync(config, JSON.stringify({ ...shared, auth: { keySignIn: true, oidc } }));
    }
    const env = { WARDEN_ADMIN_KEY: admin, WARDEN_TEST_OIDC_SECRET: SECRET };
    a = await spawnServe(['--config', configs[0] as string, '--port', '0'], env);
    b = await spawnServe(['--config', configs[1] as string, '--port', '0'], env);
  }, 120_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('a person revoked on one instance starts no task on the other at once (the people store, not a cache)', async () => {
    const access = await deviceSignIn('bob', a.url);
    // Bob's sign-in works on b, which now holds him in its person cache.
    const first = await api<Json>(b.url, 'POST', '/v1/tasks', {
      key: access,
      body: { agent: 'planner-bot' },
    });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const revoked = await api<Json>(a.url, 'POST', '/v1/people/bob@acme.example/revoke', {
      key: admin,
      body: { reason: 'left the team' },
    });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    const refused = await api<Json>(b.url, 'POST', '/v1/tasks', {
      key: access,
      body: { agent: 'planner-bot' },
    });
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(refused.body.error.code).toBe('SSO_DENIED');
  }, 120_000);
});
