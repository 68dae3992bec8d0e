import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, type JWK, SignJWT } from 'jose';
import Provider from 'oidc-provider';
import { browse } from './oidc-browser.js';

/** A person the provider knows: their account id is what its (development) login page accepts. */
export interface OidcAccount {
  readonly email: string;
  readonly name?: string;
  readonly groups?: readonly string[];
  /** The `email_verified` claim (default true); null leaves it out. */
  readonly emailVerified?: boolean | string | null;
}

/** A relying party registered with the provider. */
export interface OidcClientSpec {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUris?: readonly string[];
}

/** What `mintIdToken` signs with: the provider's own key (a valid signature) or one it never published. */
export interface MintOptions {
  readonly key?: 'provider' | 'foreign';
  /** Issued an hour ago, expired ten minutes ago. */
  readonly expired?: boolean;
  /** Default: the first client's id. */
  readonly audience?: string | readonly string[];
  /** Default: this provider's issuer. */
  readonly issuer?: string;
}

/** A running OpenID provider on loopback. */
export interface OidcProviderFixture {
  /** `http://127.0.0.1:<port>` — discovery is at `${issuer}/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly clients: readonly OidcClientSpec[];
  /** The provider's public signing keys (as published at its jwks_uri). */
  readonly publicJwks: { keys: JWK[] };
  /** Changes an account's groups: the next token (sign-in, refresh) carries them. */
  setGroups(accountId: string, groups: readonly string[]): void;
  /** Adds or replaces an account. */
  setAccount(accountId: string, account: OidcAccount): void;
  /**
   * An ID token made outside the provider's flows, for forged-token tests: `sub` defaults to the first
   * account, `iat`/`exp` to now and in ten minutes (or an hour ago / ten minutes ago when `expired`),
   * `email_verified` to true when an `email` is given.
   */
  mintIdToken(claims: Record<string, unknown>, options?: MintOptions): Promise<string>;
  /**
   * Real tokens for an account, through the provider's own pages (authorization code flow with PKCE,
   * login and consent) as `clientId` (default the first client). The ID token's audience is that client.
   */
  signIn(
    accountId: string,
    options?: { clientId?: string; nonce?: string; scope?: string },
  ): Promise<{ idToken: string; accessToken: string; refreshToken?: string }>;
  /** The underlying `oidc-provider` instance. */
  readonly provider: Provider;
  close(): Promise<void>;
}

/** The client id and secret `startOidcProvider` registers when none are given. */
export const DEFAULT_OIDC_CLIENT: OidcClientSpec = {
  clientId: 'warden',
  clientSecret: 'warden-test-client-secret-0123456789',
};

const FIXTURE_CALLBACK = '/_fixture/callback';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function rsaKey(kid: string): JWK {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...(privateKey.export({ format: 'jwk' }) as JWK), kid, alg: 'RS256', use: 'sig' };
}

function publicOf(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk;
  return pub;
}

/**
 * Starts the real `oidc-provider` (the certified OpenID provider) on 127.0.0.1:<free port> over plain http,
 * with its development login and consent pages (any password is accepted for a known account), the
 * authorization code flow (PKCE S256), refresh tokens, and the device authorization grant (its
 * verification page is `${issuer}/device`). ID tokens carry email, name and `groups` (scope `groups`).
 */
export async function startOidcProvider(
  options: {
    accounts?: Record<string, OidcAccount>;
    clients?: readonly OidcClientSpec[];
    /** Seconds an ID token lives (default 600). */
    idTokenTtl?: number;
    /** Name the issuer with a trailing slash (`http://127.0.0.1:<port>/`), as Auth0 does. */
    issuerTrailingSlash?: boolean;
  } = {},
): Promise<OidcProviderFixture> {
  const accounts = new Map<string, OidcAccount>(
    Object.entries(options.accounts ?? { alice: { email: 'alice@example.com', groups: [] } }),
  );
  const clients = options.clients ?? [DEFAULT_OIDC_CLIENT];
  const signing = rsaKey(`provider-${randomBytes(4).toString('hex')}`);
  const foreign = rsaKey(`foreign-${randomBytes(4).toString('hex')}`);

  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = options.issuerTrailingSlash ? `${origin}/` : origin;

  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      // The fixture's own callback (never served: `signIn` stops at the redirect) besides the client's.
      redirect_uris: [...(c.redirectUris ?? []), `${origin}${FIXTURE_CALLBACK}`],
      grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    async findAccount(_ctx, id) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return {
        accountId: id,
        // Read at each token: a group change shows in the next sign-in or refresh.
        async claims() {
          const now = accounts.get(id) ?? account;
          return {
            sub: id,
            email: now.email,
            ...(now.emailVerified === null ? {} : { email_verified: now.emailVerified ?? true }),
            name: now.name ?? id,
            groups: [...(now.groups ?? [])],
          };
        },
      };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    // ID tokens carry the claims of the granted scopes (email, groups), not only `sub`.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
    },
    pkce: { required: () => true },
    // Refresh tokens whenever the client may use them (not only with offline_access), and they outlive
    // the provider's browser session, as a CLI's do.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    clientBasedCORS: () => false,
    ttl: {
      IdToken: options.idTokenTtl ?? 600,
      AccessToken: 600,
      AuthorizationCode: 60,
      DeviceCode: 600,
      RefreshToken: 86_400,
      Interaction: 600,
      Session: 3_600,
      Grant: 86_400,
    },
    jwks: { keys: [signing] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    // A single test provider needs no adapter beyond the built-in memory one.
  });
  // Plain http on loopback: the provider's "secure context" checks are for production.
  provider.proxy = false;
  server.on('request', provider.callback());

  return {
    issuer,
    clients,
    publicJwks: { keys: [publicOf(signing)] },
    provider,
    setGroups(accountId, groups) {
      const account = accounts.get(accountId);
      if (!account) throw new Error(`no account ${accountId} in the test OpenID provider`);
      accounts.set(accountId, { ...account, groups: [...groups] });
    },
    setAccount(accountId, account) {
      accounts.set(accountId, account);
    },
    async mintIdToken(claims, mint = {}) {
      const key = mint.key === 'foreign' ? foreign : signing;
      const now = Math.floor(Date.now() / 1000);
      const iat = mint.expired ? now - 3_600 : now;
      const exp = mint.expired ? now - 600 : now + 600;
      const first = [...accounts.keys()][0] ?? 'alice';
      const audience = mint.audience ?? clients[0]?.clientId ?? 'warden';
      // The provider marks its emails verified; a test leaves it out with `email_verified: undefined`.
      const verified = 'email' in claims ? { email_verified: true } : {};
      return new SignJWT({ sub: first, iat, exp, ...verified, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: key.kid as string, typ: 'JWT' })
        .setIssuer(mint.issuer ?? issuer)
        .setAudience(typeof audience === 'string' ? audience : [...audience])
        .sign(await importJWK(key, 'RS256'));
    },
    async signIn(accountId, options = {}) {
      const client = clients.find((c) => c.clientId === (options.clientId ?? clients[0]?.clientId));
      if (!client) throw new Error(`no client ${options.clientId} in the test OpenID provider`);
      const verifier = randomBytes(32).toString('base64url');
      const redirectUri = `${origin}${FIXTURE_CALLBACK}`;
      const url = new URL(`${origin}/auth`);
      url.search = new URLSearchParams({
        client_id: client.clientId,
        response_type: 'code',
        scope: options.scope ?? 'openid email profile groups',
        redirect_uri: redirectUri,
        state: randomBytes(8).toString('hex'),
        nonce: options.nonce ?? randomBytes(8).toString('hex'),
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      const { final } = await browse(
        url.toString(),
        { login: accountId },
        {
          stop: (l) => l.startsWith(redirectUri),
        },
      );
      const code = final.location ? new URL(final.location).searchParams.get('code') : null;
      if (!code) throw new Error(`the test OpenID provider gave no code: ${JSON.stringify(final)}`);
      const response = await fetch(`${origin}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri,
          code_verifier: verifier,
        }).toString(),
      });
      const tokens = (await response.json()) as Record<string, string>;
      if (!response.ok || !tokens.id_token) {
        throw new Error(`the test OpenID provider's token endpoint said ${JSON.stringify(tokens)}`);
      }
      return {
        idToken: tokens.id_token,
        accessToken: tokens.access_token as string,
        ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
