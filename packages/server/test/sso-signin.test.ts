/**
 * The dashboard's SSO sign-in against the real OpenID provider, in process (inject): the state cookie
 * binds the IdP's answer to the browser that asked, a person's session keeps CSRF and sign-out, and
 * misconfiguration or an unreachable IdP says what is wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeReturnTo } from '../src/auth/oidc/sign-in-state.js';
import { browse } from '../test-support/oidc-browser.js';
import { type OidcProviderFixture, startOidcProvider } from '../test-support/oidc-provider.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

const PUBLIC_URL = 'http://warden.invalid';
const SECRET = 'warden-test-client-secret-0123456789';

let idp: OidcProviderFixture;
let t: TestServer;

beforeAll(async () => {
  idp = await startOidcProvider({
    accounts: { ana: { email: 'ana@acme.example', groups: ['warden-admins'] } },
    clients: [
      { clientId: 'warden', clientSecret: SECRET, redirectUris: [`${PUBLIC_URL}/v1/auth/oidc/callback`] },
    ],
  });
  t = await startTestServer('sqlite', {
    publicUrl: PUBLIC_URL,
    auth: {
      oidc: {
        issuer: idp.issuer,
        clientId: 'warden',
        clientSecret: SECRET,
        roles: { admin: ['warden-admins'] },
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
  await idp?.close();
});

/** Up to the IdP's redirect back: the callback path and query, and the browser's state cookie. */
async function toCallback(login = 'ana'): Promise<{ path: string; stateCookie: string }> {
  const start = await t.request('GET', '/v1/auth/oidc/login?returnTo=/sessions');
  expect(start.statusCode, start.body).toBe(302);
  const location = String(start.headers.location);
  expect(new URL(location).searchParams.get('code_challenge_method')).toBe('S256');
  const setCookie = String(start.headers['set-cookie']);
  expect(setCookie).toMatch(/^warden_oidc=[^;]+; Path=\/v1\/auth\/oidc; HttpOnly; SameSite=Lax; Max-Age=600/);
  const { final } = await browse(location, { login }, { stop: (l) => l.startsWith(PUBLIC_URL) });
  const back = new URL(final.location as string);
  return { path: `${back.pathname}${back.search}`, stateCookie: setCookie.split(';')[0] as string };
}

describe("the dashboard's SSO sign-in", () => {
  it('sets a person session whose sign-in needs CSRF for changes, and whose sign-out ends it', async () => {
    const { path, stateCookie } = await toCallback();
    const back = await t.request('GET', path, { headers: { cookie: stateCookie } });
    expect(back.statusCode, back.body).toBe(302);
    expect(back.headers.location).toBe('/sessions');
    const cookies = back.headers['set-cookie'] as string[];
    expect(cookies[0]).toMatch(/^warden_oidc=; .*Max-Age=0/);
    const session = (cookies[1] as string).split(';')[0] as string;
    expect(session).toMatch(/^warden_session=p1\./);
    expect(cookies[1]).toContain('HttpOnly; SameSite=Strict');

    const who = await t.request('GET', '/v1/auth/session', { headers: { cookie: session } });
    expect(who.json().principal).toMatchObject({ id: 'ana@acme.example', role: 'admin', subject: 'ana' });
    const noCsrf = await t.request('POST', '/v1/audit/checkpoints', { headers: { cookie: session } });
    expect(noCsrf.json().error.code).toBe('CSRF_REJECTED');
    // The same answer replayed (its code is spent, its state cookie cleared) does not sign in again.
    const replay = await t.request('GET', path, { headers: { cookie: stateCookie } });
    expect(replay.statusCode).not.toBe(302);

    const out = await t.request('DELETE', '/v1/auth/session', { headers: { cookie: session } });
    expect(out.statusCode).toBe(204);
    const after = await t.request('GET', '/v1/auth/session', { headers: { cookie: session } });
    expect(after.statusCode).toBe(401);
    const trail = await t.request('GET', '/v1/audit/events?type=auth.signed_out', { key: t.admin });
    expect(trail.json().records[0].event.actor).toMatchObject({ issuer: idp.issuer, subject: 'ana' });
  });

  it("refuses an answer without this browser's state, with another state, or an IdP error", async () => {
    const { path, stateCookie } = await toCallback();
    const noCookie = await t.request('GET', path);
    expect(noCookie.statusCode).toBe(403);
    expect(noCookie.json().error).toMatchObject({ code: 'SSO_DENIED', details: { reason: 'state' } });
    const otherState = path.replace(/state=[^&]+/, 'state=someone-elses');
    const swapped = await t.request('GET', otherState, { headers: { cookie: stateCookie } });
    expect(swapped.json().error).toMatchObject({ code: 'SSO_DENIED', details: { reason: 'state' } });
    const altered = await t.request('GET', path, { headers: { cookie: `${stateCookie.slice(0, -3)}AAA` } });
    expect(altered.json().error).toMatchObject({ code: 'SSO_DENIED', details: { reason: 'state' } });
    const denied = await t.request(
      'GET',
      '/v1/auth/oidc/callback?error=access_denied&error_description=nope',
      {
        headers: { cookie: stateCookie },
      },
    );
    expect(denied.json().error.message).toContain('access_denied (nope)');
  });

  it('returns only to a path on this server', () => {
    expect(safeReturnTo('/approvals?x=1#y')).toBe('/approvals?x=1#y');
    for (const evil of [
      '//evil.example',
      '/\\evil.example',
      'https://evil.example/',
      'javascript:alert(1)',
      '/%0d%0a',
      '/\tx',
    ]) {
      const to = safeReturnTo(evil);
      expect(
        to.startsWith('/') && !to.startsWith('//') && !to.includes('evil.example'),
        `${evil} → ${to}`,
      ).toBe(true);
    }
    expect(safeReturnTo(undefined)).toBe('/');
  });
});

describe('SSO misconfigured or unreachable', () => {
  it('says SSO is not configured, and names an unreachable issuer', async () => {
    const plain = await startTestServer('sqlite');
    const down = await startTestServer('sqlite', {
      auth: { oidc: { issuer: 'http://127.0.0.1:1/idp', clientId: 'w', clientSecret: SECRET } },
    });
    try {
      expect((await plain.request('GET', '/v1/auth/config')).json()).toEqual({
        keySignIn: true,
        sso: { enabled: false, loginUrl: null },
      });
      const none = await plain.request('GET', '/v1/auth/oidc/login');
      expect(none.statusCode).toBe(404);
      expect(none.json().error.message).toContain('auth.oidc');
      const unreachable = await down.request('POST', '/v1/auth/device');
      expect(unreachable.statusCode).toBe(502);
      expect(unreachable.json().error).toMatchObject({ code: 'IDP_UNAVAILABLE' });
      expect(unreachable.json().error.message).toContain('http://127.0.0.1:1/idp');
    } finally {
      await plain.close();
      await down.close();
    }
  });
});
