/**
 * `warden login`'s device-flow client, its saved sign-ins and its renewals, where the real server cannot
 * be made to do it on demand (ask for slow_down, deny, let a code expire): a local server answering
 * Warden's sign-in routes exactly as `warden serve` does (`/v1/auth/config`, `/v1/auth/device`,
 * `/v1/auth/device/token`, `/v1/auth/refresh`, errors as `{error:{code,message}}`). The whole flow against
 * the real server and OpenID provider is in packages/cli/test/sso-login.test.ts.
 */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../cli-io.js';
import { apiClient } from './api-client.js';
import { credentialsPath, loadSignIn, type SavedSignIn, saveSignIn, serverKey } from './credentials.js';
import { login, logout } from './login.js';

type Answer = { status: number; body: unknown };
type Handler = (body: Record<string, unknown>, req: IncomingMessage) => Answer;

let server: Server;
let url: string;
let routes: Record<string, Handler> = {};
const seen: { route: string; body: Record<string, unknown>; auth?: string }[] = [];
let home: string;
const savedEnv = process.env.XDG_CONFIG_HOME;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      const route = `${req.method} ${req.url}`;
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      seen.push({ route, body, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
      const handler = routes[route];
      const a = handler
        ? handler(body, req)
        : { status: 404, body: { error: { code: 'NOT_FOUND', message: `no route ${route}` } } };
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'warden-login-'));
  process.env.XDG_CONFIG_HOME = home;
  seen.length = 0;
  routes = {
    'GET /v1/auth/config': () => ({
      status: 200,
      body: { keySignIn: true, sso: { enabled: true, loginUrl: '/v1/auth/oidc/login' } },
    }),
    'POST /v1/auth/device': () => ({
      status: 200,
      body: {
        deviceCode: 'dev-1',
        userCode: 'WDJB-MJHT',
        verificationUri: 'http://idp.example/device',
        verificationUriComplete: 'http://idp.example/device?user_code=WDJB-MJHT',
        expiresIn: 600,
        interval: 2,
      },
    }),
  };
});
afterEach(() => {
  if (savedEnv === undefined) delete process.env.XDG_CONFIG_HOME;
  else process.env.XDG_CONFIG_HOME = savedEnv;
  rmSync(home, { recursive: true, force: true });
});

function io() {
  let out = '';
  let err = '';
  const cli: CliIo = { out: (t) => (out += t), err: (t) => (err += t), cwd: home };
  return { cli, out: () => out, err: () => err };
}

const PERSON = { id: 'lee@acme.example', role: 'approver', issuer: 'http://idp.example', subject: 'lee' };
const ok = (n: number, expiresInMs = 3_600_000) => ({
  status: 200,
  body: {
    status: 'ok',
    accessToken: `access-${n}`,
    refreshToken: `refresh-${n}`,
    expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
    principal: PERSON,
  },
});

/** The sign-in `ok(n)` would save. */
const saved = (n: number, expiresInMs?: number): SavedSignIn => ({
  ...(ok(n, expiresInMs).body as Omit<SavedSignIn, 'savedAt'>),
  savedAt: new Date().toISOString(),
});

/** A token route answering `answers` in turn. */
function inTurn(...answers: Answer[]): Handler {
  let i = 0;
  return () => answers[Math.min(i++, answers.length - 1)] as Answer;
}

describe('warden login (device flow client)', () => {
  it('prints the URL and code, waits the interval, slows down when told, saves the sign-in 0600', async () => {
    routes['POST /v1/auth/device/token'] = inTurn(
      { status: 200, body: { status: 'pending', interval: 2 } },
      { status: 200, body: { status: 'slow_down', interval: 7 } },
      { status: 200, body: { status: 'pending', interval: 7 } },
      ok(1),
    );
    const waits: number[] = [];
    const o = io();
    const code = await login({ url }, o.cli, { sleep: async (ms) => void waits.push(ms) });
    expect(code).toBe(0);
    expect(o.err()).toContain('http://idp.example/device\n');
    expect(o.err()).toContain('WDJB-MJHT');
    expect(o.err()).toContain('http://idp.example/device?user_code=WDJB-MJHT');
    expect(o.out()).toBe(`signed in to ${url} as lee@acme.example, role approver\n`);
    // 2 s, then slow_down raises it (by 5 s, to the server's 7 s), and it stays there.
    expect(waits).toEqual([2000, 2000, 7000, 7000]);
    expect(seen.filter((s) => s.route === 'POST /v1/auth/device/token').map((s) => s.body)).toEqual(
      Array(4).fill({ deviceCode: 'dev-1' }),
    );
    const path = credentialsPath();
    expect(path).toBe(join(home, 'warden', 'credentials.json'));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8')).servers[url]).toMatchObject({
      accessToken: 'access-1',
      refreshToken: 'refresh-1',
      principal: PERSON,
    });
  });

  it('says the server has no SSO, the code expired, or the sign-in was denied', async () => {
    routes['GET /v1/auth/config'] = () => ({
      status: 200,
      body: { keySignIn: true, sso: { enabled: false } },
    });
    await expect(login({ url }, io().cli)).rejects.toThrow(/does not offer SSO sign-in \(no `auth.oidc`/);

    delete routes['GET /v1/auth/config'];
    await expect(login({ url }, io().cli)).rejects.toThrow(/does not offer SSO sign-in \(it has no/);

    routes['GET /v1/auth/config'] = () => ({
      status: 200,
      body: { keySignIn: true, sso: { enabled: true } },
    });
    routes['POST /v1/auth/device/token'] = () => ({
      status: 403,
      body: {
        error: {
          code: 'SSO_DENIED',
          message: 'the device sign-in ended by the identity provider http://idp.example (expired_token)',
          details: { reason: 'expired_token' },
        },
      },
    });
    await expect(login({ url }, io().cli, { sleep: async () => {} })).rejects.toThrow(
      /sign-in code expired before it was confirmed: run `warden login --url/,
    );

    routes['POST /v1/auth/device/token'] = () => ({
      status: 403,
      body: {
        error: {
          code: 'SSO_DENIED',
          message: 'the device sign-in ended by the identity provider http://idp.example (access_denied)',
          details: { reason: 'access_denied' },
        },
      },
    });
    await expect(login({ url }, io().cli, { sleep: async () => {} })).rejects.toThrow(
      /the sign-in was denied at the identity provider \(the device sign-in ended .*\(access_denied\)\); run `warden login --url/,
    );
    // A refusal of the person (no Warden role for their groups) is not called a denial at the IdP.
    routes['POST /v1/auth/device/token'] = () => ({
      status: 403,
      body: {
        error: {
          code: 'SSO_DENIED',
          message: 'lee@acme.example has no Warden role: their IdP groups (marketing) map to none',
        },
      },
    });
    await expect(login({ url }, io().cli, { sleep: async () => {} })).rejects.toThrow(
      /^the sign-in was refused: lee@acme\.example has no Warden role/,
    );
    // The device's own deadline: a server that only ever says pending is given up on at expiresIn.
    routes['POST /v1/auth/device'] = () => ({
      status: 200,
      body: { deviceCode: 'd', userCode: 'U', verificationUri: 'http://idp.example/device', expiresIn: 0 },
    });
    await expect(login({ url }, io().cli, { sleep: async () => {} })).rejects.toThrow(/code expired/);
    expect(loadSignIn(url)).toBeUndefined();
  });
});

describe('the API client with a saved sign-in', () => {
  it('sends the saved token, renews it near its end and saves the renewal; logout forgets it', async () => {
    routes['GET /v1/approvals'] = () => ({ status: 200, body: { approvals: [] } });
    routes['POST /v1/auth/refresh'] = inTurn(ok(2));
    saveSignIn(url, saved(1, 30_000));
    expect(() => apiClient({ url: `${url}/` })).not.toThrow(); // one server, with or without the slash

    await apiClient({ url }).get('/v1/approvals');
    expect(seen.map((s) => [s.route, s.auth ?? s.body])).toEqual([
      ['POST /v1/auth/refresh', { refreshToken: 'refresh-1' }],
      ['GET /v1/approvals', 'Bearer access-2'],
    ]);
    expect(loadSignIn(url)).toMatchObject({ accessToken: 'access-2', refreshToken: 'refresh-2' });

    seen.length = 0;
    await apiClient({ url }).get('/v1/approvals'); // fresh: no renewal
    // A key given explicitly wins over the saved sign-in.
    await apiClient({ url, key: 'wdn_explicit' }).get('/v1/approvals');
    expect(seen.map((s) => s.auth)).toEqual(['Bearer access-2', 'Bearer wdn_explicit']);

    seen.length = 0;
    routes['DELETE /v1/auth/session'] = () => ({ status: 204, body: null });
    const o = io();
    expect(await logout({ url }, o.cli)).toBe(0);
    expect(o.out()).toContain(`signed out of ${url}`);
    // The token is signed out on the server too, not only forgotten here.
    expect(seen.map((s) => [s.route, s.auth])).toEqual([['DELETE /v1/auth/session', 'Bearer access-2']]);
    expect(loadSignIn(url)).toBeUndefined();
    expect(() => apiClient({ url })).toThrow(/or sign in with `warden login --url/);
  });

  it('a refused renewal says to run warden login again; a server ending the token early is renewed once', async () => {
    routes['GET /v1/approvals'] = (_b, req) =>
      req.headers.authorization === 'Bearer access-3'
        ? { status: 200, body: { approvals: [] } }
        : { status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'token ended' } } };
    routes['POST /v1/auth/refresh'] = inTurn(ok(3), {
      status: 401,
      body: { error: { code: 'ID_TOKEN_INVALID', message: 'the refresh token was revoked' } },
    });
    saveSignIn(url, saved(1));
    await expect(apiClient({ url }).get('/v1/approvals')).resolves.toEqual({ approvals: [] });
    expect(seen.map((s) => s.route)).toEqual([
      'GET /v1/approvals',
      'POST /v1/auth/refresh',
      'GET /v1/approvals',
    ]);

    saveSignIn(url, saved(4, 1_000));
    await expect(apiClient({ url }).get('/v1/approvals')).rejects.toThrow(
      /has ended and could not be renewed \(the refresh token was revoked\): run `warden login --url/,
    );
  });

  it('keeps sign-ins per server, refuses a damaged file by name, honours XDG_CONFIG_HOME', () => {
    const other = 'http://127.0.0.1:1/prefix/';
    saveSignIn(url, saved(1));
    saveSignIn(other, saved(2));
    expect(loadSignIn(url)?.accessToken).toBe('access-1');
    expect(loadSignIn('http://127.0.0.1:1/prefix')?.accessToken).toBe('access-2');
    expect(serverKey(other)).toBe('http://127.0.0.1:1/prefix');
    expect(credentialsPath({ HOME: '/home/x' })).toBe('/home/x/.config/warden/credentials.json');
    expect(credentialsPath({ HOME: '/home/x', XDG_CONFIG_HOME: 'relative' })).toBe(
      '/home/x/.config/warden/credentials.json',
    );
    writeFileSync(credentialsPath(), '{not json');
    expect(() => loadSignIn(url)).toThrow(/credentials.json is not valid JSON: delete it/);
  });

  it('refuses a credentials file others can read, a folder others can write or a link, and writes through a new file', () => {
    saveSignIn(url, saved(1));
    const path = credentialsPath();
    const dir = dirname(path);
    // No temporary file is left behind, and none has a name another user could plant ahead of time.
    expect(readdirSync(dir)).toEqual(['credentials.json']);
    chmodSync(path, 0o644);
    expect(() => loadSignIn(url)).toThrow(
      /credentials.json can be read by others \(mode 644\): run `chmod 600/,
    );
    chmodSync(path, 0o600);
    expect(loadSignIn(url)?.accessToken).toBe('access-1');
    chmodSync(dir, 0o777);
    expect(() => saveSignIn(url, saved(2))).toThrow(
      /warden can be written by others \(mode 777\): run `chmod 700/,
    );
    chmodSync(dir, 0o700);
    // The folder a link to another one: refused.
    const elsewhere = mkdtempSync(join(tmpdir(), 'warden-elsewhere-'));
    rmSync(dir, { recursive: true });
    symlinkSync(elsewhere, dir);
    expect(() => saveSignIn(url, saved(3))).toThrow(/is not a folder \(a link or a file\)/);
    expect(readdirSync(elsewhere)).toEqual([]);
    rmSync(dir);
    // The file a link (to a file someone else controls): not followed.
    mkdirSync(dir, { mode: 0o700 });
    const planted = join(elsewhere, 'planted.json');
    writeFileSync(planted, JSON.stringify({ version: 1, servers: {} }), { mode: 0o600 });
    symlinkSync(planted, path);
    expect(() => loadSignIn(url)).toThrow(/credentials.json is a link/);
    rmSync(elsewhere, { recursive: true, force: true });
  });
});
