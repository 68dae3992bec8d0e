/**
 * SSO through a real `warden serve` process and the real OpenID provider (oidc-provider on loopback):
 * a person signs in to the dashboard through the provider's own login and consent pages (fetch with a
 * cookie jar), approves a call as themselves through their IdP group, loses the group in the IdP, signs
 * in again, and can no longer approve from any of their sessions; the CLI's device flow yields a working
 * access token and a refresh that reads role and groups again; keySignIn false refuses human keys while
 * agent keys keep working. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { browse, CookieJar } from '../test-support/oidc-browser.js';
import { type OidcProviderFixture, startOidcProvider } from '../test-support/oidc-provider.js';
import {
  api,
  BIN,
  freePort,
  killAll,
  type Served,
  spawnServe,
  warden,
} from '../test-support/serve-process.js';

/** A JSON answer, read loosely: the assertions say what it must hold. */
// biome-ignore lint/suspicious/noExplicitAny: assertions below check the shape
type Json = Record<string, any>;

const POLICY = fileURLToPath(new URL('./fixtures/sso-policy.yaml', import.meta.url));
const SECRET = 'warden-sso-process-secret-0123456789';

let dir: string;
let idp: OidcProviderFixture;

/** Starts `warden serve` with a config file whose `auth` section is given. */
async function serve(
  name: string,
  port: number,
  auth: Record<string, unknown>,
  database?: string,
): Promise<{ server: Served; db: string; admin: string; keysFile: string }> {
  const db = database ?? join(dir, `${name}.db`);
  const keysFile = join(dir, `${name}-keys.json`);
  const config = join(dir, `${name}.json`);
  writeFileSync(config, JSON.stringify({ db, port, keysFile, policy: POLICY, logLevel: 'warn', auth }));
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  const server = await spawnServe(['--config', config], {
    WARDEN_ADMIN_KEY: admin,
    WARDEN_TEST_OIDC_SECRET: SECRET,
  });
  return { server, db, admin, keysFile };
}

function oidcConfig() {
  return {
    issuer: idp.issuer,
    clientId: 'warden',
    clientSecret: 'env:WARDEN_TEST_OIDC_SECRET',
    roles: { admin: ['warden-admins'], approver: ['warden-approvers'], auditor: ['warden-auditors'] },
    approverGroups: ['dba'],
  };
}

async function createKey(db: string, keysFile: string, ...who: string[]): Promise<string> {
  const r = await warden(['keys', 'create', ...who, '--db', db, '--keys', keysFile, '--json']);
  expect(r.code, r.err).toBe(0);
  return (JSON.parse(r.out) as { secret: string }).secret;
}

/** Every audit record, oldest first. */
async function records(base: string, key: string): Promise<AuditRecord[]> {
  const r = await api<{ records: AuditRecord[] }>(base, 'GET', '/v1/audit/events?limit=1000', { key });
  expect(r.status).toBe(200);
  return r.body.records;
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-sso-'));
}, 60_000);

afterAll(async () => {
  killAll();
  await idp?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each(['sqlite', 'postgres'] as const)(
  'SSO through warden serve and the real OpenID provider (%s)',
  (dialect) => {
    let port: number;
    let base: string;
    let s: Awaited<ReturnType<typeof serve>>;
    let agent: string;

    beforeAll(async () => {
      port = await freePort();
      base = `http://127.0.0.1:${port}`;
      await idp?.close();
      idp = await startOidcProvider({
        accounts: {
          dana: { email: 'dana@acme.example', name: 'Dana DBA', groups: ['warden-approvers', 'dba'] },
          vic: { email: 'vic@acme.example', groups: ['marketing'] },
        },
        clients: [
          { clientId: 'warden', clientSecret: SECRET, redirectUris: [`${base}/v1/auth/oidc/callback`] },
        ],
      });
      const database =
        dialect === 'postgres' ? await createTestDatabase(inject('postgresUrl'), 'sso') : undefined;
      s = await serve(`sso-${dialect}`, port, { keySignIn: true, oidc: oidcConfig() }, database);
      agent = await createKey(s.db, s.keysFile, '--agent', 'support-bot');
    }, 120_000);

    afterAll(async () => {
      await s?.server.stop();
    });

    /** A held db.drop call: its approval request's id. */
    async function heldDrop(): Promise<string> {
      const r = await api<{ effect: string; approval: { id: string } }>(base, 'POST', '/v1/calls', {
        key: agent,
        body: { tool: 'db.drop', args: { table: `t_${randomBytes(3).toString('hex')}` } },
      });
      expect(r.body.effect).toBe('review');
      return r.body.approval.id;
    }

    /** Signs in through the dashboard's SSO: the session cookie and the redirect the browser was sent to. */
    async function dashboardSignIn(login: string, returnTo = '/approvals') {
      const jar = new CookieJar();
      const { final, steps } = await browse(
        `${base}/v1/auth/oidc/login?returnTo=${encodeURIComponent(returnTo)}`,
        { login },
        { jar, stop: (l) => l.startsWith(base) && !l.startsWith(`${base}/v1/auth/oidc/`) },
      );
      const cookie = jar.get(base, 'warden_session');
      return { cookie, final, steps };
    }

    /** A request as the signed-in browser: cookie, and the CSRF token and Origin for a change. */
    async function asBrowser(cookie: string, method: string, path: string, body?: unknown) {
      const who = await fetch(`${base}/v1/auth/session`, { headers: { cookie: `warden_session=${cookie}` } });
      const session = (await who.json()) as { csrfToken: string };
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          cookie: `warden_session=${cookie}`,
          'x-warden-csrf': session.csrfToken,
          origin: base,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as Json };
    }

    it('signs a person in through the IdP pages, lets them approve through their IdP group, and stops them after the IdP removes it', async () => {
      const config = await api(base, 'GET', '/v1/auth/config');
      expect(config.body).toEqual({
        keySignIn: true,
        sso: { enabled: true, loginUrl: '/v1/auth/oidc/login' },
      });

      const first = await dashboardSignIn('dana');
      expect(first.final.location).toBe(`${base}/approvals`);
      // The provider's own pages were used: its login form, then its consent form.
      expect(first.steps.filter((x) => x.url.startsWith(`${idp.issuer}/interaction/`) && x.body).length).toBe(
        2,
      );
      const cookie = first.cookie as string;
      expect(cookie).toMatch(/^p1\./);
      const who = await asBrowser(cookie, 'GET', '/v1/auth/session');
      expect(who.body.principal).toMatchObject({
        id: 'dana@acme.example',
        kind: 'human',
        role: 'approver',
        issuer: idp.issuer,
        subject: 'dana',
        approverGroups: ['dba'],
      });
      expect(who.body.principal.keyId).toMatch(/^sso_/);

      const approvalId = await heldDrop();
      const approved = await asBrowser(cookie, 'POST', `/v1/approvals/${approvalId}/approve`, {
        reason: 'fine',
      });
      expect(approved.status, JSON.stringify(approved.body)).toBe(200);
      expect(approved.body.status).toBe('approved');
      expect(approved.body.votes[0]).toMatchObject({
        principal: 'dana@acme.example',
        groups: ['dba'],
        issuer: idp.issuer,
        subject: 'dana',
      });

      // The IdP takes dana out of the dba group; she signs in again (an open redirect target is refused).
      idp.setGroups('dana', ['warden-approvers']);
      const second = await dashboardSignIn('dana', '//evil.example/steal');
      expect(second.final.location).toBe(`${base}/`);
      const next = await heldDrop();
      for (const session of [second.cookie as string, cookie]) {
        const refused = await asBrowser(session, 'POST', `/v1/approvals/${next}/approve`, {});
        expect(refused.status, JSON.stringify(refused.body)).toBe(403);
        expect(refused.body.error.code).toBe('APPROVAL_NOT_ELIGIBLE');
      }

      const trail = await records(base, s.admin);
      const signIns = trail.filter((r) => r.event.type === 'auth.signed_in');
      expect(signIns.map((r) => r.event.actor)).toEqual([
        { kind: 'human', id: 'dana@acme.example', issuer: idp.issuer, subject: 'dana' },
        { kind: 'human', id: 'dana@acme.example', issuer: idp.issuer, subject: 'dana' },
      ]);
      expect(signIns[0]?.event.data).toMatchObject({ method: 'oidc', role: 'approver', via: 'dashboard' });
      const changed = trail.filter((r) => r.event.type === 'identity.roles_changed');
      expect(changed).toHaveLength(1);
      expect(changed[0]?.event.data).toMatchObject({
        from: { role: 'approver', groups: ['warden-approvers', 'dba'] },
        to: { role: 'approver', groups: ['warden-approvers'] },
      });
      const vote = trail.find((r) => r.event.type === 'approval.voted');
      expect(vote?.event.actor).toEqual({
        kind: 'human',
        id: 'dana@acme.example',
        issuer: idp.issuer,
        subject: 'dana',
      });
    }, 120_000);

    it('refuses a person whose IdP groups map to no role, saying so', async () => {
      const { final } = await dashboardSignIn('vic');
      // The browser is sent back to the dashboard's sign-in page, which shows the refusal in words.
      expect(final.status).toBe(302);
      const back = new URL(final.location as string);
      expect(back.pathname).toBe('/signin');
      expect(back.searchParams.get('error')).toBe('SSO_DENIED');
      expect(back.searchParams.get('message')).toContain('vic@acme.example');
      expect(back.searchParams.get('message')).toContain('marketing');
    }, 60_000);

    it('signs the CLI in through the device flow: a working access token, and a refresh that reads the IdP again', async () => {
      idp.setGroups('dana', ['warden-approvers', 'dba']);
      const started = await api<Json>(base, 'POST', '/v1/auth/device');
      expect(started.status).toBe(200);
      expect(started.body.userCode).toMatch(/\w{4}-\w{4}/);
      const pending = await api(base, 'POST', '/v1/auth/device/token', {
        body: { deviceCode: started.body.deviceCode },
      });
      expect(pending.body).toMatchObject({ status: 'pending' });
      // The person opens the verification page, types the code, signs in and consents.
      await browse(started.body.verificationUri, { login: 'dana', userCode: started.body.userCode });
      const done = await api<Json>(base, 'POST', '/v1/auth/device/token', {
        body: { deviceCode: started.body.deviceCode },
      });
      expect(done.status, JSON.stringify(done.body)).toBe(200);
      expect(done.body).toMatchObject({
        status: 'ok',
        principal: { role: 'approver', approverGroups: ['dba'] },
      });
      expect(Date.parse(done.body.expiresAt) - Date.now()).toBeLessThanOrEqual(3_600_000);
      const access = done.body.accessToken as string;

      const me = await api<Json>(base, 'GET', '/v1/auth/session', { key: access });
      expect(me.body.principal).toMatchObject({
        id: 'dana@acme.example',
        issuer: idp.issuer,
        subject: 'dana',
      });
      const approvalId = await heldDrop();
      const approved = await api<Json>(base, 'POST', `/v1/approvals/${approvalId}/approve`, {
        key: access,
        body: {},
      });
      expect(approved.status, JSON.stringify(approved.body)).toBe(200);
      const forged = await api<Json>(base, 'GET', '/v1/approvals', {
        key: `${access.slice(0, -2)}xx`,
      });
      expect(forged.status).toBe(401);

      // The IdP makes dana an auditor: the refresh reads it, and her new token cannot approve.
      idp.setGroups('dana', ['warden-auditors']);
      const refreshed = await api<Json>(base, 'POST', '/v1/auth/refresh', {
        body: { refreshToken: done.body.refreshToken },
      });
      expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
      expect(refreshed.body.principal).toMatchObject({ role: 'auditor', approverGroups: [] });
      const next = await heldDrop();
      for (const key of [refreshed.body.accessToken as string, access]) {
        const refused = await api<Json>(base, 'POST', `/v1/approvals/${next}/approve`, {
          key,
          body: {},
        });
        expect(refused.status).toBe(403);
        expect(refused.body.error.code).toBe('FORBIDDEN');
      }
      const altered = await api<Json>(base, 'POST', '/v1/auth/refresh', {
        body: { refreshToken: `${(done.body.refreshToken as string).slice(0, -4)}AAAA` },
      });
      expect(altered.status).toBe(401);
      const trail = await records(base, s.admin);
      expect(trail.filter((r) => r.event.type === 'auth.signed_in').map((r) => r.event.data?.via)).toContain(
        'refresh',
      );
    }, 120_000);
  },
);

describe('keySignIn: false', () => {
  it('refuses human API keys everywhere with SSO_REQUIRED, while agent keys keep working', async () => {
    const s = await serve('nokeys', 0, { keySignIn: false, oidc: oidcConfig() });
    try {
      const base = s.server.url;
      const human = await createKey(s.db, s.keysFile, '--human', 'hank', '--role', 'approver');
      const agent = await createKey(s.db, s.keysFile, '--agent', 'support-bot');
      const config = await api(base, 'GET', '/v1/auth/config');
      expect(config.body).toMatchObject({ keySignIn: false, sso: { enabled: true } });
      for (const [method, path, body] of [
        ['GET', '/v1/approvals', undefined],
        ['POST', '/v1/auth/session', { key: human }],
      ] as const) {
        const r = await api<Json>(base, method, path, {
          ...(path === '/v1/auth/session' ? {} : { key: human }),
          ...(body ? { body } : {}),
        });
        expect(r.status, `${method} ${path}`).toBe(403);
        expect(r.body.error.code).toBe('SSO_REQUIRED');
        expect(r.body.error.message).toContain('warden login');
      }
      const call = await api<Json>(base, 'POST', '/v1/calls', {
        key: agent,
        body: { tool: 'crm.lookup', args: { id: 1 } },
      });
      expect(call.status).toBe(200);
      expect(call.body.effect).toBe('allow');
    } finally {
      await s.server.stop();
    }
  }, 120_000);
});
