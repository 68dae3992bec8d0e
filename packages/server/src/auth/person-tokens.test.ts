import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ACCESS_TOKEN_PREFIX,
  accessTokenKey,
  createPersonToken,
  createRefreshToken,
  openRefreshToken,
  verifyPersonToken,
} from './person-tokens.js';
import { open, seal } from './sealed-box.js';

const hmacKey = randomBytes(32);
const person = { issuer: 'https://idp.example.com', subject: '00u1dana' };

describe('person access tokens', () => {
  it('name the person until they expire, and nothing altered or signed with another key verifies', () => {
    const key = accessTokenKey(hmacKey);
    const expires = new Date(Date.now() + 3_600_000);
    const token = createPersonToken(key, ACCESS_TOKEN_PREFIX, person, expires);
    expect(verifyPersonToken(key, ACCESS_TOKEN_PREFIX, token)).toMatchObject({ person });
    expect(verifyPersonToken(key, ACCESS_TOKEN_PREFIX, token, expires.getTime() + 1)).toBeUndefined();
    expect(verifyPersonToken(accessTokenKey(randomBytes(32)), ACCESS_TOKEN_PREFIX, token)).toBeUndefined();
    expect(verifyPersonToken(key, 'p1.', token)).toBeUndefined();
    const other = Buffer.from(JSON.stringify([person.issuer, 'someone-else'])).toString('base64url');
    const [, , exp, nonce, sig] = token.split('.');
    expect(
      verifyPersonToken(key, ACCESS_TOKEN_PREFIX, `wdp1.${other}.${exp}.${nonce}.${sig}`),
    ).toBeUndefined();
  });
});

describe('refresh tokens', () => {
  it("seal the IdP's refresh token: opened only by a key of the same server, unaltered, unexpired", () => {
    const claims = {
      person,
      idpRefreshToken: 'idp-rt-123',
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    };
    const token = createRefreshToken(hmacKey, claims);
    expect(token).not.toContain('idp-rt-123');
    expect(openRefreshToken(hmacKey, token)).toEqual(claims);
    expect(openRefreshToken(randomBytes(32), token)).toBeUndefined();
    expect(openRefreshToken(hmacKey, `${token.slice(0, -3)}AAA`)).toBeUndefined();
    expect(openRefreshToken(hmacKey, token, Date.now() + 120_000)).toBeUndefined();
  });

  it('a sealed box opens only for the purpose it was sealed for', () => {
    const key = randomBytes(32);
    const box = seal(key, 'refresh', { a: 1 });
    expect(open(key, 'refresh', box)).toEqual({ a: 1 });
    expect(open(key, 'oidc-sign-in', box)).toBeUndefined();
  });
});
