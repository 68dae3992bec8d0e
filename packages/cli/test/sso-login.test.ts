/**
 * `warden login` through real processes: the built CLI signs a person in to a real `warden serve` by the
 * device authorization grant, confirmed at the real OpenID provider's own device pages (driven with fetch
 * as a person would), saves the sign-in 0600, and the API commands then use it — approving as the person,
 * renewing the token when it is due (the IdP's groups read again: a person removed from `dba` can no
 * longer approve), and asking to sign in again once it cannot be renewed. Needs the built CLI.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browse } from '../../server/test-support/oidc-browser.js';
import { api, killAll, spawnServe, warden } from '../../server/test-support/serve-process.js';
import { type SsoServer, startCliLogin, startSsoServer } from './sso-server.js';

let sso: SsoServer;
let env: NodeJS.ProcessEnv;
let agentKey: string;

beforeAll(async () => {
  sso = await startSsoServer();
  // Each CLI run reads and writes its sign-ins under this folder, never the real home.
  env = { XDG_CONFIG_HOME: join(sso.dir, 'config') };
  agentKey = await sso.agentKey();
}, 120_000);

afterAll(async () => {
  killAll();
  await sso?.close();
});

const credentials = () => join(sso.dir, 'config', 'warden', 'credentials.json');
const savedSignIn = () =>
  (JSON.parse(readFileSync(credentials(), 'utf8')) as { servers: Record<string, Record<string, unknown>> })
    .servers[sso.url];

/** The agent asks for a database write: held for a DBA. */
async function heldCall(): Promise<string> {
  const call = await api<{ decision: string; approval: { id: string } }>(sso.url, 'POST', '/v1/calls', {
    key: agentKey,
    body: { tool: 'db.write', args: { sql: 'update orders set state = 1' } },
  });
  expect(call.status, JSON.stringify(call.body)).toBe(200);
  return call.body.approval.id;
}

/** Runs `warden login` and completes the provider's device pages as `login` with the printed code. */
async function signIn(login: string) {
  const { printed, exited } = await startCliLogin(sso.url, env);
  expect(printed.uri.startsWith(sso.provider.issuer)).toBe(true);
  expect(printed.complete).toContain('user_code=');
  // The person opens the plain verification page and types the code, as the CLI told them.
  const visit = await browse(printed.uri, { login, userCode: printed.userCode });
  expect(visit.final.status, visit.final.body).toBeLessThan(400);
  return exited;
}

// Each test runs several CLI processes and waits out the device flow's polling interval.
describe('warden login against a real server and OpenID provider', { timeout: 120_000 }, () => {
  it('signs in by device code, saves the sign-in 0600, and the API commands work as the person', async () => {
    const ran = await signIn('lee');
    expect(ran.code, ran.err).toBe(0);
    expect(ran.out).toBe(`signed in to ${sso.url} as lee@acme.example, role approver\n`);
    expect(ran.err).toMatch(/The code expires in \d+m/);
    expect(statSync(credentials()).mode & 0o777).toBe(0o600);
    const saved = savedSignIn();
    expect(saved).toMatchObject({ principal: { id: 'lee@acme.example', role: 'approver' } });
    expect(typeof saved?.accessToken).toBe('string');

    const who = await warden(['whoami', '--url', sso.url], env);
    expect(who.code, who.err).toBe(0);
    expect(who.out).toMatch(/^lee@acme\.example {2}role approver {2}signed in via SSO/);

    const id = await heldCall();
    const list = await warden(['approvals', 'list', '--url', sso.url], env);
    expect(list.code, list.err).toBe(0);
    expect(list.out).toContain(id);
    const approve = await warden(
      ['approvals', 'approve', id, '--url', sso.url, '--reason', 'checked', '--json'],
      env,
    );
    expect(approve.code, approve.err).toBe(0);
    expect(JSON.parse(approve.out)).toMatchObject({
      status: 'approved',
      votes: [
        // Cast as the person, verified: the IdP's issuer and subject, and the IdP group that made lee eligible.
        {
          principal: 'lee@acme.example',
          issuer: sso.provider.issuer,
          subject: 'lee',
          groups: ['dba'],
          via: 'cli',
        },
      ],
    });
  });

  it('renews the token when it is due, reading the IdP groups again: out of dba, lee cannot approve', async () => {
    const before = savedSignIn() as { accessToken: string; refreshToken: string };
    sso.provider.setGroups('lee', ['staff']);
    // The saved token says it ends now: the next command renews it first (POST /v1/auth/refresh).
    writeFileSync(
      credentials(),
      JSON.stringify({
        version: 1,
        servers: { [sso.url]: { ...before, expiresAt: new Date().toISOString() } },
      }),
      { mode: 0o600 },
    );
    const id = await heldCall();
    const refused = await warden(['approvals', 'approve', id, '--url', sso.url, '--reason', 'checked'], env);
    const after = savedSignIn() as { accessToken: string; expiresAt: string };
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(Date.parse(after.expiresAt)).toBeGreaterThan(Date.now() + 60_000);
    expect(statSync(credentials()).mode & 0o777).toBe(0o600);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(
      'lee@acme.example (role approver) is not among the approvers this request needs: it needs 1 of group dba [APPROVAL_NOT_ELIGIBLE]',
    );

    sso.provider.setGroups('lee', ['staff', 'dba']);
  });

  it('a sign-in that cannot be renewed asks to log in again; logout forgets it', async () => {
    const saved = savedSignIn() as Record<string, unknown>;
    writeFileSync(
      credentials(),
      JSON.stringify({
        version: 1,
        servers: {
          [sso.url]: { ...saved, refreshToken: 'not-a-refresh-token', expiresAt: new Date().toISOString() },
        },
      }),
      { mode: 0o600 },
    );
    const refused = await warden(['approvals', 'list', '--url', sso.url], env);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(`run \`warden login --url ${sso.url}\` again`);

    const stillGood = await fetch(`${sso.url}/v1/auth/session`, {
      headers: { authorization: `Bearer ${saved.accessToken as string}` },
    });
    expect(stillGood.status).toBe(200);
    const out = await warden(['logout', '--url', sso.url], env);
    expect(out.code, out.err).toBe(0);
    expect(out.out).toContain(`signed out of ${sso.url}`);
    // Signed out on the server, not only forgotten here: the token it held no longer works.
    const after = await fetch(`${sso.url}/v1/auth/session`, {
      headers: { authorization: `Bearer ${saved.accessToken as string}` },
    });
    expect(after.status).toBe(401);
    const none = await warden(['approvals', 'list', '--url', sso.url], env);
    expect(none.code).toBe(2);
    expect(none.err).toContain('or sign in with `warden login');
  });

  it('says so when the server has no SSO configured', async () => {
    const plain = await spawnServe(['--db', join(sso.dir, 'plain.db'), '--port', '0'], {
      WARDEN_LOG_LEVEL: 'warn',
    });
    try {
      const ran = await warden(['login', '--url', plain.url], env);
      expect(ran.code).toBe(2);
      expect(ran.err).toContain(
        `the Warden server at ${plain.url} does not offer SSO sign-in (no \`auth.oidc\` in its configuration)`,
      );
    } finally {
      await plain.stop();
    }
  });
});
