import { isWardenError } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OidcProviderFixture, startOidcProvider } from '../../../test-support/oidc-provider.js';
import { AuthConfigSchema, type OidcConfig } from './auth-config.js';
import { SIGN_IN_MAX_AGE_SECONDS } from './id-token-verifier.js';
import { OidcService } from './oidc-service.js';

let op: OidcProviderFixture;
let other: OidcProviderFixture;
let oidc: OidcService;

function configFor(issuer: string): OidcConfig {
  const auth = AuthConfigSchema.parse({
    oidc: {
      issuer,
      clientId: 'warden',
      clientSecret: 'warden-test-client-secret-0123456789',
      roles: { admin: ['platform'], approver: ['dba', 'sre'], auditor: ['audit'] },
      approverGroups: ['dba'],
    },
  });
  return auth.oidc as OidcConfig;
}

/** The reason an ID token is refused for, or 'accepted'. */
async function reasonFor(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (err) {
    if (isWardenError(err, 'ID_TOKEN_INVALID')) return String(err.details.reason);
    throw err;
  }
}

beforeAll(async () => {
  const accounts = {
    alice: { email: 'alice@example.com', name: 'Alice A', groups: ['dba', 'eng'] },
    bob: { email: 'bob@example.com', groups: ['eng'] },
  };
  op = await startOidcProvider({ accounts });
  other = await startOidcProvider({ accounts });
  oidc = new OidcService(configFor(op.issuer));
});
afterAll(async () => {
  await op?.close();
  await other?.close();
});

describe('verifyIdToken against the real oidc-provider', () => {
  it("accepts the provider's own ID token and maps groups to a role and approver groups", async () => {
    const { idToken } = await op.signIn('alice', { nonce: 'n-1' });
    const person = await oidc.verifyIdToken(idToken, { nonce: 'n-1' });
    expect(person).toEqual({
      issuer: op.issuer,
      subject: 'alice',
      name: 'alice@example.com',
      displayName: 'Alice A',
      email: 'alice@example.com',
      groups: ['dba', 'eng'],
      role: 'approver',
      approverGroups: ['dba'],
    });
    const bob = await oidc.verifyIdToken((await op.signIn('bob')).idToken);
    expect(bob).toMatchObject({ role: null, approverGroups: [], groups: ['eng'] });
  });

  it('refuses a token from another issuer, real or claimed', async () => {
    const foreignReal = (await other.signIn('alice')).idToken;
    expect(await reasonFor(oidc.verifyIdToken(foreignReal))).toBe('issuer');
    // The right issuer named, but signed by the other provider: its key is not the issuer's.
    const claimed = await op.mintIdToken({ email: 'alice@example.com' }, { key: 'foreign' });
    expect(await reasonFor(oidc.verifyIdToken(claimed))).toBe('signature');
  });

  it('refuses an expired token', async () => {
    const expired = await op.mintIdToken({ email: 'alice@example.com' }, { expired: true });
    expect(await reasonFor(oidc.verifyIdToken(expired))).toBe('expired');
    // The same token, not expired, is accepted: the refusal above is the expiry's.
    const fresh = await op.mintIdToken({ email: 'alice@example.com' });
    expect(await reasonFor(oidc.verifyIdToken(fresh))).toBe('accepted');
  });

  it('refuses a token for another audience unless that audience is accepted', async () => {
    const token = await op.mintIdToken({ email: 'alice@example.com' }, { audience: 'another-app' });
    expect(await reasonFor(oidc.verifyIdToken(token))).toBe('audience');
    expect(await reasonFor(oidc.verifyIdToken(token, { audiences: ['another-app'] }))).toBe('accepted');
  });

  it('refuses a tampered signature and a tampered payload', async () => {
    const { idToken } = await op.signIn('alice');
    const [h, p, s] = idToken.split('.') as [string, string, string];
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    expect(await reasonFor(oidc.verifyIdToken(`${h}.${p}.${flipped}`))).toBe('signature');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const promoted = Buffer.from(JSON.stringify({ ...claims, groups: ['platform'] })).toString('base64url');
    expect(await reasonFor(oidc.verifyIdToken(`${h}.${promoted}.${s}`))).toBe('signature');
  });

  it('refuses a nonce that is not the sign-in’s, an unsigned token and garbage', async () => {
    const { idToken } = await op.signIn('alice', { nonce: 'mine' });
    expect(await reasonFor(oidc.verifyIdToken(idToken, { nonce: 'theirs' }))).toBe('nonce');
    const [, p] = idToken.split('.') as [string, string];
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    expect(await reasonFor(oidc.verifyIdToken(none))).toBe('algorithm');
    expect(await reasonFor(oidc.verifyIdToken('not-a-token'))).toBe('malformed');
  });

  it('refuses an email the IdP does not mark verified, unless trustUnverifiedEmail; never keeps it', async () => {
    for (const email_verified of [undefined, false, 'false']) {
      const token = await op.mintIdToken({ email: 'alice@example.com', email_verified });
      expect(await reasonFor(oidc.verifyIdToken(token)), String(email_verified)).toBe('email_unverified');
    }
    const stringTrue = await op.mintIdToken({ email: 'alice@example.com', email_verified: 'true' });
    expect(await oidc.verifyIdToken(stringTrue)).toMatchObject({ name: 'alice@example.com' });
    const unverified = await op.mintIdToken({ email: 'alice@example.com', email_verified: undefined });
    const trusting = new OidcService({ ...configFor(op.issuer), trustUnverifiedEmail: true });
    expect(await trusting.verifyIdToken(unverified)).toMatchObject({
      name: 'alice@example.com',
      email: 'alice@example.com',
    });
    // Named by subject, the person is let in, but an unverified email is not kept (Slack maps by it).
    const bySub = new OidcService({ ...configFor(op.issuer), personClaim: 'sub' });
    const person = await bySub.verifyIdToken(unverified);
    expect(person.name).toBe('alice');
    expect(person.email).toBeUndefined();
  });

  it('refuses several audiences without azp, and an azp that is not an accepted client', async () => {
    const email = 'alice@example.com';
    const several = await op.mintIdToken({ email }, { audience: ['warden', 'another-app'] });
    expect(await reasonFor(oidc.verifyIdToken(several))).toBe('azp');
    const toOther = await op.mintIdToken(
      { email, azp: 'another-app' },
      { audience: ['warden', 'another-app'] },
    );
    expect(await reasonFor(oidc.verifyIdToken(toOther))).toBe('azp');
    const toUs = await op.mintIdToken({ email, azp: 'warden' }, { audience: ['warden', 'another-app'] });
    expect(await reasonFor(oidc.verifyIdToken(toUs))).toBe('accepted');
  });

  it('refuses a token older than maxAgeSeconds (a sign-in takes a token just issued)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = await op.mintIdToken({ email: 'alice@example.com', iat: now - 1_200, exp: now + 600 });
    expect(await reasonFor(oidc.verifyIdToken(old, { maxAgeSeconds: SIGN_IN_MAX_AGE_SECONDS }))).toBe(
      'too_old',
    );
    expect(await reasonFor(oidc.verifyIdToken(old))).toBe('accepted');
  });

  it('records the issuer as configured, without the trailing slash the IdP names itself with', async () => {
    const slashed = await startOidcProvider({ issuerTrailingSlash: true });
    try {
      expect(slashed.issuer.endsWith('/')).toBe(true);
      const service = new OidcService(configFor(slashed.issuer));
      const person = await service.verifyIdToken(await slashed.mintIdToken({ email: 'alice@example.com' }));
      expect(person.issuer).toBe(slashed.issuer.replace(/\/$/, ''));
      expect(person.issuer).toBe(service.issuer);
    } finally {
      await slashed.close();
    }
  });

  it('says plainly when the issuer cannot be reached', async () => {
    const down = new OidcService(configFor('http://127.0.0.1:1'));
    const token = await op.mintIdToken({ email: 'alice@example.com' });
    await expect(down.verifyIdToken(token)).rejects.toMatchObject({
      code: 'IDP_UNAVAILABLE',
      message: expect.stringContaining('http://127.0.0.1:1'),
    });
  });
});
