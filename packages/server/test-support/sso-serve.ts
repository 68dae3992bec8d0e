/**
 * What the SSO process tests (person-aliases-, task-initiator-sso- and task-person-sso-process.test.ts)
 * share: the real OpenID provider with the test's accounts, and a real `warden serve` (the built CLI) that
 * signs people in with it — Warden as the `warden` client, people in `warden-approvers` approvers — with
 * keys made by `warden keys create` on its database.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import {
  type OidcAccount,
  type OidcClientSpec,
  type OidcProviderFixture,
  startOidcProvider,
} from './oidc-provider.js';
import { freePort, killAll, type Served, spawnServe, warden } from './serve-process.js';

export interface SsoServeOptions {
  /** The temporary directory's name prefix. */
  readonly prefix: string;
  /** The SQLite file's name in it. */
  readonly dbName: string;
  readonly policy: string;
  /** Warden's client secret at the provider (passed to serve as WARDEN_TEST_OIDC_SECRET). */
  readonly secret: string;
  readonly accounts: Record<string, OidcAccount>;
  /** More clients of the provider beside Warden's (e.g. an application that starts tasks). */
  readonly clients?: readonly OidcClientSpec[];
  /** More of the `auth.oidc` settings (personClaim, taskAudiences…). */
  readonly oidc?: Record<string, unknown>;
}

export interface SsoServe {
  readonly dir: string;
  readonly idp: OidcProviderFixture;
  readonly server: Served;
  /** The server's base URL. */
  readonly base: string;
  /** The admin key (WARDEN_ADMIN_KEY). */
  readonly admin: string;
  readonly db: string;
  readonly keysFile: string;
  /** `warden keys create <who…>` on the server's database: the secret. */
  key(...who: string[]): Promise<string>;
  /** Stops the server and the provider and removes the directory. */
  close(): Promise<void>;
}

/** Starts the provider and `warden serve` (on a free port) signing in with it. */
export async function startSsoServe(o: SsoServeOptions): Promise<SsoServe> {
  const dir = mkdtempSync(join(tmpdir(), o.prefix));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const idp = await startOidcProvider({
    accounts: o.accounts,
    clients: [
      { clientId: 'warden', clientSecret: o.secret, redirectUris: [`${base}/v1/auth/oidc/callback`] },
      ...(o.clients ?? []),
    ],
  });
  const db = join(dir, o.dbName);
  const keysFile = join(dir, 'keys.json');
  const config = join(dir, 'warden.json');
  const oidc = {
    issuer: idp.issuer,
    clientId: 'warden',
    clientSecret: 'env:WARDEN_TEST_OIDC_SECRET',
    roles: { approver: ['warden-approvers'] },
    ...o.oidc,
  };
  writeFileSync(
    config,
    JSON.stringify({
      db,
      port,
      keysFile,
      policy: o.policy,
      logLevel: 'warn',
      auth: { keySignIn: true, oidc },
    }),
  );
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  let server: Served;
  try {
    server = await spawnServe(['--config', config], {
      WARDEN_ADMIN_KEY: admin,
      WARDEN_TEST_OIDC_SECRET: o.secret,
    });
  } catch (err) {
    await idp.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    idp,
    server,
    base,
    admin,
    db,
    keysFile,
    async key(...who) {
      const made = await warden(['keys', 'create', ...who, '--db', db, '--keys', keysFile, '--json']);
      expect(made.code, made.err).toBe(0);
      return (JSON.parse(made.out) as { secret: string }).secret;
    },
    async close() {
      await server.stop();
      killAll();
      await idp.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
