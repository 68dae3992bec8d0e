/**
 * The SSO sign-in's security review, through real `warden serve` processes and the real OpenID provider:
 * no open redirect through dot segments, no unverified email as a person's name, a CLI token that can be
 * signed out, `warden people revoke` cutting every session, token and stream of a person off, live streams
 * ending with the access token, rate limits on the unauthenticated sign-in steps, the `__Host-` state
 * cookie over https, and an issuer written with a trailing slash (Auth0). Needs `npm run build`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_TOKEN_PREFIX, accessTokenKey, createPersonToken } from '../src/auth/person-tokens.js';
import { eventually } from '../test-support/eventually.js';
import { browse, CookieJar } from '../test-support/oidc-browser.js';
import { type OidcProviderFixture, startOidcProvider } from '../test-support/oidc-provider.js';
import { api, BIN, freePort, killAll, logged, spawnServe, warden } from '../test-support/serve-process.js';
import { SseClient } from '../test-support/sse-client.js';

// biome-ignore lint/suspicious/noExplicitAny: assertions below check the shape
type Json = Record<string, any>;

const POLICY = fileURLToPath(new URL('./fixtures/sso-policy.yaml', import.meta.url));
const SECRET = 'warden-sso-hardening-secret-0123456789';

let dir: string;
const idps: OidcProviderFixture[] = [];

const ACCOUNTS = {
  dana: { email: 'dana@acme.example', name: 'Dana', groups: ['warden-approvers', 'dba'] },
  uma: { email: 'uma@acme.example', groups: ['warden-approvers'], emailVerified: null },
  ulf: { email: 'ulf@acme.example', groups: ['warden-approvers'], emailVerified: 'false' },
};

/** An IdP and a `warden serve` that trusts it, on a port the IdP knows as the redirect. */
async function stack(name: string, extra: Record<string, unknown> = {}, idpOptions = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const idp = await startOidcProvider({
    accounts: ACCOUNTS,
    clients: [{ clientId: 'warden', clientSecret: SECRET, redirectUris: [`${base}/v1/auth/oidc/callback`] }],
    ...idpOptions,
  });
  idps.push(idp);
  const db = join(dir, `${name}.db`);
  const keysFile = join(dir, `${name}-keys.json`);
  const config = join(dir, `${name}.json`);
  const oidc = {
    issuer: idp.issuer,
    clientId: 'warden',
    clientSecret: 'env:WARDEN_TEST_OIDC_SECRET',
    roles: { admin: ['warden-admins'], approver: ['warden-approvers'] },
    approverGroups: ['dba'],
  };
  writeFileSync(
    config,
    JSON.stringify({ db, port, keysFile, policy: POLICY, logLevel: 'warn', auth: { oidc }, ...extra }),
  );
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  const server = await spawnServe(['--config', config], {
    WARDEN_ADMIN_KEY: admin,
    WARDEN_TEST_OIDC_SECRET: SECRET,
  });
  /** Another instance on the same database and key file. */
  const another = () =>
    spawnServe(['--config', config, '--port', '0'], {
      WARDEN_ADMIN_KEY: admin,
      WARDEN_TEST_OIDC_SECRET: SECRET,
    });
  return { idp, base, server, admin, keysFile, another };
}

type Stack = Awaited<ReturnType<typeof stack>>;

async function dashboardSignIn(s: Stack, login: string, returnTo = '/approvals') {
  const jar = new CookieJar();
  const { final } = await browse(
    `${s.base}/v1/auth/oidc/login?returnTo=${encodeURIComponent(returnTo)}`,
    { login },
    { jar, stop: (l) => l.startsWith(s.base) && !l.startsWith(`${s.base}/v1/auth/oidc/`) },
  );
  return { cookie: jar.get(s.base, 'warden_session'), final };
}

async function deviceSignIn(s: Stack, login: string): Promise<Json> {
  const started = await api<Json>(s.base, 'POST', '/v1/auth/device');
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  await browse(started.body.verificationUri, { login, userCode: started.body.userCode });
  const done = await api<Json>(s.base, 'POST', '/v1/auth/device/token', {
    body: { deviceCode: started.body.deviceCode },
  });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return done.body;
}

/** Whether a stream ended (waiting at most 20 s: a generous bound, not a speed claim). */
async function ends(stream: SseClient): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), 20_000);
  });
  const ended = await Promise.race([stream.ended.then(() => true as const), late]);
  clearTimeout(timer);
  if (!ended) stream.close();
  return ended;
}

async function asCookie(s: Stack, cookie: string, path: string) {
  const r = await fetch(`${s.base}${path}`, { headers: { cookie: `warden_session=${cookie}` } });
  return { status: r.status, body: (await r.json()) as Json };
}

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-sso-hardening-'));
});

afterAll(async () => {
  killAll();
  for (const idp of idps) await idp.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('SSO sign-in hardening through warden serve', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await stack('main', { heartbeatMs: 200 });
  }, 120_000);
  afterAll(async () => {
    await s?.server.stop();
  });

  it('never redirects to another host after sign-in, even when dot segments collapse into //host', async () => {
    for (const returnTo of ['/.//evil.com', '/..//evil.com', '/a/..//evil.com', '/%2e%2e//evil.com/x']) {
      const { final } = await dashboardSignIn(s, 'dana', returnTo);
      expect(final.location, returnTo).toBe(`${s.base}/`);
    }
  }, 120_000);

  it('refuses a sign-in whose email the IdP does not mark verified (missing, or "false")', async () => {
    for (const login of ['uma', 'ulf']) {
      const { final, cookie } = await dashboardSignIn(s, login);
      expect(cookie, login).toBeUndefined();
      // A browser is sent back to the sign-in page, which shows the refusal in words.
      expect(final.status, login).toBe(302);
      const back = new URL(final.location as string);
      expect(back.pathname).toBe('/signin');
      expect(back.searchParams.get('error')).toBe('ID_TOKEN_INVALID');
      expect(back.searchParams.get('message')).toContain(`${login}@acme.example`);
      expect(back.searchParams.get('message')).toContain('verified');
    }
  }, 120_000);

  it("signs a CLI token out, ends a token's live stream at its expiry, and `warden people revoke` cuts a person off everywhere", async () => {
    const first = await deviceSignIn(s, 'dana');
    const second = await deviceSignIn(s, 'dana');
    const { cookie } = await dashboardSignIn(s, 'dana');

    // Another instance on the same database hears of sign-outs and revocations from it.
    const other = await s.another();
    expect((await api(other.url, 'GET', '/v1/auth/session', { key: first.accessToken })).status).toBe(200);
    // Sign-out of one bearer: refused from then on, on every instance; the other token still works.
    const out = await api(s.base, 'DELETE', '/v1/auth/session', { key: first.accessToken });
    expect(out.status).toBe(204);
    for (const base of [s.base, other.url]) {
      // The other instance reads new sign-outs from the trail at most every pollMs.
      const refused = await eventually('the sign-out on every instance', async () => {
        const r = await api<Json>(base, 'GET', '/v1/auth/session', { key: first.accessToken });
        return r.status === 200 ? undefined : r;
      });
      expect(refused.status, base).toBe(401);
      expect(refused.body.error.message).toContain('signed out');
    }
    expect((await api(s.base, 'GET', '/v1/auth/session', { key: second.accessToken })).status).toBe(200);

    // A stream opened with an access token ends when the token does (here one made to last 2 s).
    const { hmacKey } = JSON.parse(readFileSync(s.keysFile, 'utf8')) as { hmacKey: string };
    const shortLived = createPersonToken(
      accessTokenKey(Buffer.from(hmacKey, 'base64')),
      ACCESS_TOKEN_PREFIX,
      { issuer: s.idp.issuer, subject: 'dana' },
      new Date(Date.now() + 2_000),
    );
    const ending = await SseClient.open(`${s.base}/v1/events`, { key: shortLived });
    expect(ending.status).toBe(200);
    expect(await ends(ending)).toBe(true);
    expect(ending.messages.some((m) => m.event === 'error' && m.data.includes('UNAUTHENTICATED'))).toBe(true);

    // The admin cuts dana off: her token, her dashboard session and her open stream all stop.
    const stream = await SseClient.open(`${s.base}/v1/events`, { key: second.accessToken });
    expect(stream.status).toBe(200);
    const revoked = await warden([
      'people',
      'revoke',
      'dana@acme.example',
      '--reason',
      'left the company',
      '--url',
      s.base,
      '--key',
      s.admin,
    ]);
    expect(revoked.code, revoked.err).toBe(0);
    expect(revoked.out).toContain('dana@acme.example');
    expect(await ends(stream)).toBe(true);
    for (const base of [s.base, other.url]) {
      const bearer = await eventually('the revocation on every instance', async () => {
        const r = await api<Json>(base, 'GET', '/v1/approvals', { key: second.accessToken });
        return r.status === 200 ? undefined : r;
      });
      expect(bearer.status, base).toBe(403);
      expect(bearer.body.error.code).toBe('SSO_DENIED');
    }
    await other.stop();
    expect((await asCookie(s, cookie as string, '/v1/approvals')).status).toBe(403);
    const trail = await api<{ records: AuditRecord[] }>(s.base, 'GET', '/v1/audit/events?limit=1000', {
      key: s.admin,
    });
    const change = trail.body.records.find(
      (r) => r.event.type === 'identity.roles_changed' && r.event.data?.via === 'revoke',
    );
    expect(change?.event.data).toMatchObject({
      subject: 'dana',
      from: { role: 'approver' },
      to: { role: null },
      reason: 'left the company',
    });
    expect(change?.event.actor).toMatchObject({ kind: 'human', id: 'admin' });
    const unknown = await warden([
      'people',
      'revoke',
      'nobody@acme.example',
      '--url',
      s.base,
      '--key',
      s.admin,
    ]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toContain('nobody@acme.example');
  }, 180_000);
});

describe('unauthenticated sign-in steps over https behind a proxy', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await stack('limits', {
      authFailuresPerMinute: 3,
      publicUrl: 'https://warden.acme.example',
      logLevel: 'info',
    });
  }, 120_000);
  afterAll(async () => {
    await s?.server.stop();
  });

  it('limits device sign-ins started and failed refreshes or polls per address', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await api(s.base, 'POST', '/v1/auth/device')).status).toBe(200);
    }
    const fourth = await api<Json>(s.base, 'POST', '/v1/auth/device');
    expect(fourth.status).toBe(429);
    expect(fourth.body.error.code).toBe('RATE_LIMITED');
    // Each start is logged with the address it came from.
    const starts = logged(s.server.stderr(), 'device sign-in started');
    expect(starts).toHaveLength(3);
    expect(starts[0]).toMatchObject({ address: '127.0.0.1' });
    for (let i = 0; i < 3; i++) {
      const r = await api(s.base, 'POST', '/v1/auth/refresh', { body: { refreshToken: 'wdr1.forged' } });
      expect(r.status).toBe(401);
    }
    for (const [path, body] of [
      ['/v1/auth/refresh', { refreshToken: 'wdr1.forged' }],
      ['/v1/auth/device/token', { deviceCode: 'guessed' }],
    ] as const) {
      const r = await api<Json>(s.base, 'POST', path, { body });
      expect(r.status, path).toBe(429);
    }
  }, 60_000);

  it('keeps the sign-in state in a __Host- cookie (Secure, Path=/) when served over https', async () => {
    const r = await fetch(`${s.base}/v1/auth/oidc/login?returnTo=/approvals`, { redirect: 'manual' });
    expect(r.status).toBe(302);
    const cookie = r.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(
      /^__Host-warden_oidc=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600; Secure$/,
    );
  });
});

describe('an issuer written with a trailing slash (as Auth0 names itself)', () => {
  it('signs the person in and keeps them signed in on the next request', async () => {
    const s = await stack('slash', {}, { issuerTrailingSlash: true });
    try {
      expect(s.idp.issuer.endsWith('/')).toBe(true);
      const { cookie, final } = await dashboardSignIn(s, 'dana');
      expect(final.location).toBe(`${s.base}/approvals`);
      const who = await asCookie(s, cookie as string, '/v1/auth/session');
      expect(who.status, JSON.stringify(who.body)).toBe(200);
      expect(who.body.principal).toMatchObject({ id: 'dana@acme.example', subject: 'dana' });
      const cli = await deviceSignIn(s, 'dana');
      const refreshed = await api<Json>(s.base, 'POST', '/v1/auth/refresh', {
        body: { refreshToken: cli.refreshToken },
      });
      expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
      const me = await api(s.base, 'GET', '/v1/auth/session', { key: refreshed.body.accessToken });
      expect(me.status).toBe(200);
    } finally {
      await s.server.stop();
    }
  }, 120_000);
});
