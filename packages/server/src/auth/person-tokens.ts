import { randomBytes } from 'node:crypto';
import { derivedKey, open, seal } from './sealed-box.js';
import { mac, sameText } from './text-mac.js';

/** A person's verified identity at the IdP. */
export interface PersonRef {
  readonly issuer: string;
  readonly subject: string;
}

/** What a verified person token says. */
export interface PersonTokenClaims {
  readonly person: PersonRef;
  readonly expiresAt: Date;
  /** The token's random part: names this sign-in (its principal's keyId is `sso_<id>`). */
  readonly id: string;
}

/** The prefix of a Warden access token for a person (a bearer, at most an hour). */
export const ACCESS_TOKEN_PREFIX = 'wdp1.';
/** The prefix of a Warden refresh token (sealed: it carries the IdP's refresh token). */
export const REFRESH_TOKEN_PREFIX = 'wdr1.';
/** How long a CLI access token lasts. */
export const ACCESS_TOKEN_TTL_MS = 3_600_000;
/** How long a refresh token lasts (the IdP's own refresh token may end it sooner). */
export const REFRESH_TOKEN_TTL_MS = 30 * 86_400_000;

const MAX_LENGTH = 4_096;

/**
 * A signed token naming a person: `<prefix><base64url JSON [issuer, subject]>.<expires (unix s)>.<nonce>.
 * <base64url HMAC-SHA256 of everything before>`. Used for the dashboard cookie (prefix `p1.`) and the
 * CLI's access token (`wdp1.`), each with its own key.
 */
export function createPersonToken(key: Buffer, prefix: string, person: PersonRef, expiresAt: Date): string {
  const who = Buffer.from(JSON.stringify([person.issuer, person.subject])).toString('base64url');
  const body = `${prefix}${who}.${Math.floor(expiresAt.getTime() / 1000)}.${randomBytes(16).toString('base64url')}`;
  return `${body}.${mac(key, body)}`;
}

/** The claims of a person token, or undefined when it is malformed, forged or expired. */
export function verifyPersonToken(
  key: Buffer,
  prefix: string,
  token: string | undefined,
  now = Date.now(),
): PersonTokenClaims | undefined {
  if (!token || token.length > MAX_LENGTH || !token.startsWith(prefix)) return undefined;
  const parts = token.slice(prefix.length).split('.');
  if (parts.length !== 4) return undefined;
  const [who, exp, nonce, sig] = parts as [string, string, string, string];
  if (!/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{22}$/.test(nonce)) return undefined;
  if (!sameText(mac(key, token.slice(0, token.lastIndexOf('.'))), sig)) return undefined;
  const expiresAt = new Date(Number(exp) * 1000);
  if (expiresAt.getTime() <= now) return undefined;
  try {
    const [issuer, subject] = JSON.parse(Buffer.from(who, 'base64url').toString('utf8')) as unknown[];
    if (typeof issuer !== 'string' || typeof subject !== 'string') return undefined;
    return { person: { issuer, subject }, expiresAt, id: nonce };
  } catch {
    return undefined;
  }
}

/** The key CLI access tokens are signed with. */
export function accessTokenKey(hmacKey: Buffer): Buffer {
  return derivedKey(hmacKey, 'warden person access tokens v1');
}

/** What a refresh token carries, sealed: the person, the IdP's refresh token and when it ends. */
export interface RefreshClaims {
  readonly person: PersonRef;
  readonly idpRefreshToken: string;
  readonly expiresAt: string;
}

function refreshKey(hmacKey: Buffer): Buffer {
  return derivedKey(hmacKey, 'warden person refresh tokens v1');
}

/** A refresh token: the IdP's refresh token sealed (AES-256-GCM) so only a Warden instance can use it. */
export function createRefreshToken(hmacKey: Buffer, claims: RefreshClaims): string {
  return `${REFRESH_TOKEN_PREFIX}${seal(refreshKey(hmacKey), 'refresh', claims)}`;
}

/** The claims of a refresh token, or undefined when it is malformed, altered or expired. */
export function openRefreshToken(
  hmacKey: Buffer,
  token: string,
  now = Date.now(),
): RefreshClaims | undefined {
  if (!token.startsWith(REFRESH_TOKEN_PREFIX) || token.length > 16_000) return undefined;
  const c = open(refreshKey(hmacKey), 'refresh', token.slice(REFRESH_TOKEN_PREFIX.length)) as
    | Partial<RefreshClaims>
    | undefined;
  if (
    typeof c?.idpRefreshToken !== 'string' ||
    typeof c.expiresAt !== 'string' ||
    typeof c.person?.issuer !== 'string' ||
    typeof c.person.subject !== 'string'
  ) {
    return undefined;
  }
  if (!(Date.parse(c.expiresAt) > now)) return undefined;
  return c as RefreshClaims;
}
