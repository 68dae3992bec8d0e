/**
 * A real `warden serve` process signing people in through a real OpenID provider (the `oidc-provider`
 * fixture, on loopback): the shared setup of the CLI's and the dashboard's SSO tests. People sign in at
 * the provider's own pages; `lee` is an approver (IdP group `staff`) and a member of the IdP group `dba`,
 * which the policy's review rule requires.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../../server/test-support/eventually.js';
import {
  DEFAULT_OIDC_CLIENT,
  type OidcProviderFixture,
  startOidcProvider,
} from '../../server/test-support/oidc-provider.js';
import {
  BIN,
  childEnv,
  freePort,
  type Ran,
  type Served,
  spawnCollect,
  spawnServe,
  warden,
} from '../../server/test-support/serve-process.js';

/** The review rule every test call trips: a write to the database waits for a member of IdP group dba. */
export const SSO_POLICY = `warden: 1
name: sso-test
description: One review rule whose approvers are an IdP group.
mode: enforce
defaults:
  decision: block
  approval:
    approvers: { roles: [approver] }
    timeout: 30m
    onTimeout: block
# Its members come from the IdP (auth.oidc.approverGroups), none are named here.
approverGroups:
  dba: []
agents:
  ops-bot:
    rules:
      - id: db-write-review
        effect: review
        tools: "db.write"
        reason: Writes to the database need a DBA.
        approval:
          approvers: { groups: [dba] }
`;

/** The people at the provider: account id → email, name, groups. */
export const PEOPLE = {
  lee: { email: 'lee@acme.example', name: 'Lee Park', groups: ['staff', 'dba'] },
  ava: { email: 'ava@acme.example', name: 'Ava Stone', groups: ['audit'] },
} as const;

export interface SsoServer {
  readonly provider: OidcProviderFixture;
  readonly server: Served;
  readonly url: string;
  readonly dir: string;
  readonly db: string;
  readonly admin: string;
  /** A new agent key for `ops-bot` (made with `warden keys create` against the server's database). */
  agentKey(): Promise<string>;
  close(): Promise<void>;
}

/** Starts the provider, then `warden serve` configured with `auth.oidc` for it. */
export async function startSsoServer(o: { keySignIn?: boolean } = {}): Promise<SsoServer> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  const dir = mkdtempSync(join(tmpdir(), 'warden-sso-'));
  // The dashboard's callback must be registered with the provider exactly, so the port is chosen first.
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const provider = await startOidcProvider({
    accounts: Object.fromEntries(
      Object.entries(PEOPLE).map(([id, p]) => [id, { ...p, groups: [...p.groups] }]),
    ),
    clients: [{ ...DEFAULT_OIDC_CLIENT, redirectUris: [`${url}/v1/auth/oidc/callback`] }],
  });
  const db = join(dir, 'warden.db');
  const policy = join(dir, 'policy.yaml');
  const config = join(dir, 'warden.yaml');
  writeFileSync(policy, SSO_POLICY);
  writeFileSync(
    config,
    [
      `publicUrl: ${url}`,
      'auth:',
      `  keySignIn: ${o.keySignIn ?? true}`,
      '  oidc:',
      `    issuer: ${provider.issuer}`,
      `    clientId: ${DEFAULT_OIDC_CLIENT.clientId}`,
      '    clientSecret: env:WARDEN_TEST_OIDC_SECRET',
      '    roles: { approver: [staff], auditor: [audit] }',
      '    approverGroups: [dba]',
      '',
    ].join('\n'),
  );
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  const server = await spawnServe(
    ['--config', config, '--db', db, '--port', String(port), '--policy', policy],
    {
      WARDEN_ADMIN_KEY: admin,
      WARDEN_LOG_LEVEL: 'warn',
      WARDEN_TEST_OIDC_SECRET: DEFAULT_OIDC_CLIENT.clientSecret,
    },
  );
  return {
    provider,
    server,
    url: server.url,
    dir,
    db,
    admin,
    async agentKey() {
      const made = await warden(['keys', 'create', '--agent', 'ops-bot', '--db', db, '--json']);
      if (made.code !== 0) throw new Error(`warden keys create failed: ${made.err}`);
      return (JSON.parse(made.out) as { secret: string }).secret;
    },
    async close() {
      await server.stop().catch(() => undefined);
      await provider.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What `warden login` printed on stderr: the verification page, the code, and the page with the code in. */
export interface PrintedLogin {
  readonly uri: string;
  readonly userCode: string;
  readonly complete: string;
}

/**
 * Starts `warden login --url <url>` (the built CLI, with `env` over a clean environment) and waits until
 * it has printed where to confirm the sign-in; `exited` is its end, once the person has confirmed.
 */
export async function startCliLogin(
  url: string,
  env: NodeJS.ProcessEnv,
): Promise<{ printed: PrintedLogin; exited: Promise<Ran> }> {
  const cli = spawnCollect([BIN, 'login', '--url', url], { env: childEnv(env) });
  const printed = await eventually(
    'warden login printing the verification URL and code',
    () => {
      if (cli.child.exitCode !== null) {
        throw new Error(`warden login exited ${cli.child.exitCode}:\n${cli.out()}\n${cli.err()}`);
      }
      const m = /open\n\s+(\S+)\nand enter the code\n\s+(\S+)\n\(or open (\S+) ,/.exec(cli.err());
      return m ? { uri: m[1] as string, userCode: m[2] as string, complete: m[3] as string } : undefined;
    },
    30_000,
  );
  return { printed, exited: cli.exited };
}
