import { createHmac, randomBytes } from 'node:crypto';
import { createPersonToken, type PersonRef, verifyPersonToken } from './person-tokens.js';
import { mac, sameText } from './text-mac.js';

/**
 * Dashboard sign-in sessions. A person signs in once with their API key; the browser then holds a signed
 * token in an HttpOnly cookie instead of the key, so page scripts never see a secret. The token names the
 * key, not its secret: every request still looks the key up, so revoking or expiring the key ends every
 * session made with it, on every instance. Every instance derives the same signing key from the engine's
 * key file, which all instances on one database already share.
 *
 * Token: `v1.<keyId>.<expires (unix s)>.<nonce>.<base64url HMAC-SHA256 of everything before>`. A person
 * signed in through SSO holds the person form, `p1.<issuer and subject>.<expires>.<nonce>.<HMAC>` (see
 * person-tokens.ts): it names the person, whose current role and groups every request reads.
 */
export const SESSION_COOKIE = 'warden_session';
/**
 * The cookie's name over HTTPS: the `__Host-` prefix makes the browser refuse it unless it is Secure, for
 * this exact host and path `/`, so a sibling subdomain cannot plant a session of its own.
 */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;
/** The header a cookie-authenticated request that changes something must carry (double submit). */
export const CSRF_HEADER = 'x-warden-csrf';
/** How long a dashboard sign-in lasts (a key's own expiry cuts it shorter). */
export const SESSION_TTL_MS = 8 * 3_600_000;

const MAX_TOKEN_LENGTH = 512;
const TOKEN = /^v1\.([A-Za-z0-9_-]{1,100})\.(\d{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** The prefix of the person form of a session token. */
export const PERSON_SESSION_PREFIX = 'p1.';

/** What a verified token says. */
export interface DashboardSession {
  /** The key signed in with; for a person signed in through SSO, their sign-in id (`sso_<id>`). */
  readonly keyId: string;
  /** Set for a person signed in through SSO. */
  readonly person?: PersonRef;
  readonly expiresAt: Date;
  /** The token's random part: names this sign-in (in the audit trail, and when it is signed out). */
  readonly id: string;
}

/** The signing key for sessions, derived from the engine's HMAC key so it is never stored anywhere. */
export function sessionKey(hmacKey: Buffer): Buffer {
  return createHmac('sha256', hmacKey).update('warden dashboard sessions v1').digest();
}

/** A new token for a key, valid until `expiresAt` (rounded down to the second). */
export function createSessionToken(key: Buffer, keyId: string, expiresAt: Date): string {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(keyId))
    throw new RangeError(`a key id cannot be put in a token: ${keyId}`);
  const body = `v1.${keyId}.${Math.floor(expiresAt.getTime() / 1000)}.${randomBytes(16).toString('base64url')}`;
  return `${body}.${mac(key, body)}`;
}

/** A new session token for a person signed in through SSO, valid until `expiresAt`. */
export function createPersonSessionToken(key: Buffer, person: PersonRef, expiresAt: Date): string {
  return createPersonToken(key, PERSON_SESSION_PREFIX, person, expiresAt);
}

/** The session a token carries, or undefined when it is malformed, forged or expired. */
export function verifySessionToken(
  key: Buffer,
  token: string | undefined,
  now = Date.now(),
): DashboardSession | undefined {
  if (token?.startsWith(PERSON_SESSION_PREFIX)) {
    const p = verifyPersonToken(key, PERSON_SESSION_PREFIX, token, now);
    return p ? { keyId: `sso_${p.id}`, person: p.person, expiresAt: p.expiresAt, id: p.id } : undefined;
  }
  if (!token || token.length > MAX_TOKEN_LENGTH) return undefined;
  const m = TOKEN.exec(token);
  if (!m) return undefined;
  const body = token.slice(0, token.lastIndexOf('.'));
  if (!sameText(mac(key, body), m[4] as string)) return undefined;
  const expiresAt = new Date(Number(m[2]) * 1000);
  if (expiresAt.getTime() <= now) return undefined;
  return { keyId: m[1] as string, expiresAt, id: m[3] as string };
}

/** The CSRF token bound to one session token: a page learns it from the API, a forged form cannot. */
export function csrfTokenFor(key: Buffer, sessionToken: string): string {
  return mac(key, `csrf:${sessionToken}`);
}

/** Whether a request's CSRF header matches its session (constant time). */
export function csrfMatches(key: Buffer, sessionToken: string, header: unknown): boolean {
  return typeof header === 'string' && sameText(csrfTokenFor(key, sessionToken), header);
}

/** One cookie's value from a Cookie header (the first, if a name repeats). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 16_384) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The session token a request carries, under either cookie name. */
export function sessionTokenOf(cookieHeader: string | undefined): string | undefined {
  return readCookie(cookieHeader, SECURE_SESSION_COOKIE) ?? readCookie(cookieHeader, SESSION_COOKIE);
}

/** The Set-Cookie value for a session (an empty token with maxAge 0 clears it). */
export function sessionCookie(token: string, options: { maxAgeSeconds: number; secure: boolean }): string {
  return [
    `${options.secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE}=${token}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}
