/**
 * `warden tasks start` through real processes: a developer signs in with `warden login` (the device flow,
 * confirmed at the real OpenID provider's pages), starts a task for an agent with the saved sign-in, and
 * gets the task token alone on stdout (so `export WARDEN_TASK_TOKEN=$(warden tasks start …)` works); the
 * agent's call with the token shows the developer as `triggeredBy`, verified by the IdP. Needs the built
 * CLI.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browse } from '../../server/test-support/oidc-browser.js';
import { api, BIN, childEnv, killAll, warden } from '../../server/test-support/serve-process.js';
import { type SsoServer, startCliLogin, startSsoServer } from './sso-server.js';

let sso: SsoServer;
let env: NodeJS.ProcessEnv;
let agentKey: string;

beforeAll(async () => {
  sso = await startSsoServer();
  // Each CLI run reads and writes its sign-in under this folder, never the real home.
  env = { XDG_CONFIG_HOME: join(sso.dir, 'config') };
  agentKey = await sso.agentKey();
}, 120_000);

afterAll(async () => {
  killAll();
  await sso?.close();
});

/** Runs `warden login` and completes the provider's device pages as `login` with the printed code. */
async function signIn(login: string) {
  const { printed, exited } = await startCliLogin(sso.url, env);
  await browse(printed.uri, { login, userCode: printed.userCode });
  return exited;
}

/** The agent's call with the task token: a database write, held for a DBA. */
async function callWith(token: string) {
  const res = await fetch(`${sso.url}/v1/calls`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${agentKey}`,
      'warden-task-token': token,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ tool: 'db.write', args: { sql: 'update orders set state = 1' } }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { callId: string; session: string; effect: string };
}

async function decided(callId: string): Promise<AuditRecord | undefined> {
  const r = await api<{ records: AuditRecord[] }>(sso.url, 'GET', '/v1/audit/events?type=call.decided', {
    key: sso.admin,
  });
  return r.body.records.find((x) => x.event.callId === callId);
}

describe('warden tasks start against a real server and OpenID provider', { timeout: 120_000 }, () => {
  it('starts a task as the signed-in developer: the token alone on stdout, their verified identity on the calls', async () => {
    const login = await signIn('lee');
    expect(login.code, login.err).toBe(0);

    const ran = await warden(
      ['tasks', 'start', '--agent', 'ops-bot', '--url', sso.url, '--ttl', '600', '--label', 'repo=warden'],
      env,
    );
    expect(ran.code, ran.err).toBe(0);
    expect(ran.out).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = ran.out.trim();
    expect(ran.err).toMatch(
      /^started task task_\S+ for ops-bot as lee@acme\.example \(verified by SSO\): session \S+, expires \d{4}-\d\d-\d\d \d\d:\d\d\n$/,
    );

    const call = await callWith(token);
    expect(call.effect).toBe('review');
    expect(ran.err).toContain(`session ${call.session},`);
    const record = await decided(call.callId);
    expect(record?.event.triggeredBy).toBe('lee@acme.example');
    expect(record?.event.identity?.initiator).toEqual({
      method: 'oidc',
      issuer: sso.provider.issuer,
      subject: 'lee',
      name: 'lee@acme.example',
    });
    const session = await api<{ session: { triggeredBy: string } }>(
      sso.url,
      'GET',
      `/v1/sessions/${call.session}`,
      { key: sso.admin },
    );
    expect(session.body.session.triggeredBy).toBe('lee@acme.example');
  });

  it('works in a shell: export WARDEN_TASK_TOKEN=$(warden tasks start …), --export and --json', async () => {
    const sh = promisify(execFile);
    const node = process.execPath;
    const script = [
      `export WARDEN_TASK_TOKEN=$("${node}" "${BIN}" tasks start --agent ops-bot --url "${sso.url}")`,
      'printf "%s" "$WARDEN_TASK_TOKEN"',
    ].join(' && ');
    const plain = await sh('sh', ['-c', script], { env: childEnv(env) });
    expect(plain.stderr).toContain('started task task_');
    expect((await callWith(plain.stdout)).effect).toBe('review');

    const exported = await sh(
      'sh',
      [
        '-c',
        `eval "$("${node}" "${BIN}" tasks start --agent ops-bot --url "${sso.url}" --export)" && printf "%s" "$WARDEN_TASK_TOKEN"`,
      ],
      { env: childEnv(env) },
    );
    expect((await callWith(exported.stdout)).effect).toBe('review');

    const json = await warden(['tasks', 'start', '--agent', 'ops-bot', '--url', sso.url, '--json'], env);
    expect(json.code, json.err).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({
      agent: 'ops-bot',
      token: expect.any(String),
      session: expect.any(String),
      delegationChain: [],
      initiator: { method: 'oidc', issuer: sso.provider.issuer, subject: 'lee', name: 'lee@acme.example' },
    });
  });

  it('with --key: a service key holding the initiator permission vouches for a person; a human key is refused', async () => {
    const key = async (...who: string[]) => {
      const made = await warden(['keys', 'create', ...who, '--db', sso.db, '--json']);
      expect(made.code, made.err).toBe(0);
      return (JSON.parse(made.out) as { secret: string }).secret;
    };
    const portal = await key('--service', 'portal', '--role', 'auditor', '--permission', 'initiator');
    const vouched = await warden(
      [
        'tasks',
        'start',
        '--agent',
        'ops-bot',
        '--url',
        sso.url,
        '--key',
        portal,
        '--initiator-subject',
        'u-42',
        '--initiator-name',
        'maria@acme.example',
        '--json',
      ],
      env,
    );
    expect(vouched.code, vouched.err).toBe(0);
    expect(JSON.parse(vouched.out).initiator).toMatchObject({
      method: 'api_key',
      name: 'maria@acme.example',
    });
    expect(vouched.err).toMatch(/as maria@acme\.example \(vouched for by key \S+\)/);

    // A person's API key names them only as its creator typed it: sign in instead.
    const human = await key('--human', 'lee@acme.example', '--role', 'approver');
    const refused = await warden(
      ['tasks', 'start', '--agent', 'ops-bot', '--url', sso.url, '--key', human],
      env,
    );
    expect(refused.code).toBe(2);
    expect(refused.out).toBe('');
    expect(refused.err).toContain('a human API key');
    expect(refused.err).toContain('Sign in with `warden login` (SSO)');
  });

  it('says what is wrong: bad flags, a key from WARDEN_KEY the server refuses, no sign-in', async () => {
    const badTtl = await warden(
      ['tasks', 'start', '--agent', 'ops-bot', '--url', sso.url, '--ttl', '1d'],
      env,
    );
    expect(badTtl.code).toBe(2);
    expect(badTtl.out).toBe('');
    expect(badTtl.err).toContain('--ttl "1d" must be the token\'s lifetime in whole seconds, 1 to 86400');
    const badLabel = await warden(
      ['tasks', 'start', '--agent', 'ops-bot', '--url', sso.url, '--label', 'x'],
      env,
    );
    expect(badLabel.code).toBe(2);
    expect(badLabel.err).toContain('--label "x" must be KEY=VALUE');
    const badUrl = await warden(['tasks', 'start', '--agent', 'ops-bot', '--url', 'nope'], env);
    expect(badUrl.code).toBe(2);
    expect(badUrl.err).toContain('--url "nope" is not a URL');

    // The hook's agent key left in WARDEN_KEY wins over the sign-in: the refusal says to unset it.
    const agentEnv = await warden(['tasks', 'start', '--agent', 'ops-bot', '--url', sso.url], {
      ...env,
      WARDEN_KEY: agentKey,
    });
    expect(agentEnv.code).toBe(2);
    expect(agentEnv.out).toBe('');
    expect(agentEnv.err).toContain('[FORBIDDEN]');
    expect(agentEnv.err).toContain('the key came from WARDEN_KEY; unset it');

    const nobody = await warden(['tasks', 'start', '--agent', 'ops-bot', '--url', sso.url], {
      XDG_CONFIG_HOME: join(sso.dir, 'nobody'),
    });
    expect(nobody.code).toBe(2);
    expect(nobody.out).toBe('');
    expect(nobody.err).toContain(
      `sign in first with \`warden login --url ${sso.url}\`: the task is started with you as its initiator`,
    );
  });
});
