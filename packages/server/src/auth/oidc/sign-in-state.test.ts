import { describe, expect, it } from 'vitest';
import { newSignInState, readSignInState, safeReturnTo, signInStateCookie } from './sign-in-state.js';

const key = Buffer.alloc(32, 7);
const state = newSignInState({ verifier: 'v', returnTo: '/', redirectUri: 'https://w.example/cb' });

describe('the sign-in state cookie', () => {
  it('is __Host-warden_oidc (Secure, Path=/) over https, warden_oidc on plain http, and is read back', () => {
    const secure = signInStateCookie(key, state, true);
    expect(secure).toMatch(
      /^__Host-warden_oidc=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600; Secure$/,
    );
    const plain = signInStateCookie(key, state, false);
    expect(plain).toMatch(/^warden_oidc=[^;]+; Path=\/v1\/auth\/oidc; HttpOnly; SameSite=Lax; Max-Age=600$/);
    for (const cookie of [secure, plain]) {
      expect(readSignInState(key, cookie.split(';')[0])?.state).toBe(state.state);
    }
    expect(signInStateCookie(key, undefined, true)).toMatch(/^__Host-warden_oidc=; Path=\/;.*Max-Age=0/);
  });
});

describe('safeReturnTo', () => {
  it('keeps a path on this server, with its query and fragment', () => {
    expect(safeReturnTo('/approvals?x=1#top')).toBe('/approvals?x=1#top');
    expect(safeReturnTo('/a/../approvals')).toBe('/approvals');
    expect(safeReturnTo(undefined)).toBe('/');
  });

  it('refuses another origin, however it is written', () => {
    for (const raw of ['//evil.com', '/\\evil.com', 'https://evil.com', 'evil.com', '/\tx']) {
      expect(safeReturnTo(raw), raw).toBe('/');
    }
  });

  it('checks the path it returns: dot segments that collapse into //host are refused', () => {
    for (const raw of ['/.//evil.com', '/..//evil.com', '/a/..//evil.com', '/%2e%2e//evil.com/x']) {
      expect(safeReturnTo(raw), raw).toBe('/');
    }
  });
});
