import { randomBytes } from 'node:crypto';
import { readCookie } from '../dashboard-session.js';
import { derivedKey, open, seal } from '../sealed-box.js';

/** The cookie that carries a browser sign-in's state, nonce and PKCE verifier between login and callback. */
export const SIGN_IN_STATE_COOKIE = 'warden_oidc';
/**
 * Its name over HTTPS: the `__Host-` prefix makes the browser refuse it unless it is Secure, for this exact
 * host and path `/`, so a sibling subdomain cannot plant a sign-in state of its own (a login CSRF).
 */
export const SECURE_SIGN_IN_STATE_COOKIE = `__Host-${SIGN_IN_STATE_COOKIE}`;
/** How long a person has at the IdP before the sign-in must start again. */
export const SIGN_IN_STATE_TTL_MS = 10 * 60_000;

/** What the browser holds (sealed: it cannot read or alter it) while it is at the IdP. */
export interface SignInState {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly returnTo: string;
  readonly redirectUri: string;
  readonly expiresAt: number;
}

function stateKey(hmacKey: Buffer): Buffer {
  return derivedKey(hmacKey, 'warden oidc sign-in state v1');
}

/** A new state and nonce for a sign-in. */
export function newSignInState(p: Pick<SignInState, 'verifier' | 'returnTo' | 'redirectUri'>): SignInState {
  return {
    ...p,
    state: randomBytes(24).toString('base64url'),
    nonce: randomBytes(24).toString('base64url'),
    expiresAt: Date.now() + SIGN_IN_STATE_TTL_MS,
  };
}

/**
 * The Set-Cookie value for a sign-in state (or, with `undefined`, the one that clears it). SameSite=Lax:
 * the IdP's redirect back is a cross-site top-level navigation, which a Strict cookie would miss.
 */
export function signInStateCookie(hmacKey: Buffer, state: SignInState | undefined, secure: boolean): string {
  const value = state ? seal(stateKey(hmacKey), 'oidc-sign-in', state) : '';
  return [
    secure ? `${SECURE_SIGN_IN_STATE_COOKIE}=${value}` : `${SIGN_IN_STATE_COOKIE}=${value}`,
    secure ? 'Path=/' : 'Path=/v1/auth/oidc',
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${state ? Math.floor(SIGN_IN_STATE_TTL_MS / 1000) : 0}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/** The sign-in state a request's cookie carries, or undefined when it is missing, altered or expired. */
export function readSignInState(hmacKey: Buffer, cookieHeader: string | undefined): SignInState | undefined {
  const raw =
    readCookie(cookieHeader, SECURE_SIGN_IN_STATE_COOKIE) ?? readCookie(cookieHeader, SIGN_IN_STATE_COOKIE);
  if (!raw) return undefined;
  const s = open(stateKey(hmacKey), 'oidc-sign-in', raw) as Partial<SignInState> | undefined;
  if (
    typeof s?.state !== 'string' ||
    typeof s.nonce !== 'string' ||
    typeof s.verifier !== 'string' ||
    typeof s.returnTo !== 'string' ||
    typeof s.redirectUri !== 'string' ||
    typeof s.expiresAt !== 'number' ||
    s.expiresAt <= Date.now()
  ) {
    return undefined;
  }
  return s as SignInState;
}

/**
 * A path on this server to return to after sign-in, or `/`: never another origin (`//evil`, `/\evil`,
 * `https://evil`), so the sign-in cannot be used as an open redirect.
 */
export function safeReturnTo(raw: string | undefined): string {
  if (raw === undefined) return '/';
  if (!raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f\\]/.test(raw)) return '/';
  try {
    const base = 'http://warden.invalid';
    const url = new URL(raw, base);
    if (url.origin !== base) return '/';
    // The RESULT is what lands in Location: dot segments (`/..//evil`, `/%2e%2e//evil`) collapse into a
    // path that starts `//`, which a browser reads as another host. Check what is returned, not the input.
    const path = `${url.pathname}${url.search}${url.hash}`;
    if (!path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return '/';
    return new URL(path, base).origin === base ? path : '/';
  } catch {
    return '/';
  }
}
