import { WardenError } from '@warden/core';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../server-context.js';
import {
  CSRF_HEADER,
  csrfMatches,
  sessionKey,
  sessionTokenOf,
  verifySessionToken,
} from './dashboard-session.js';
import { ACCESS_TOKEN_PREFIX, accessTokenKey, verifyPersonToken } from './person-tokens.js';
import type { Principal } from './principal.js';

/** Authenticates a request's key and checks its role; past the failure limit, only known keys are looked up. */
export async function authorize(
  ctx: ServerContext,
  request: FastifyRequest,
  roles: readonly string[],
): Promise<Principal> {
  const principal = await countingFailures(ctx, request, (limited) => authenticate(ctx, request, limited));
  if (!roles.includes(principal.role)) {
    throw new WardenError(
      'FORBIDDEN',
      `the ${principal.role} role may not do this (allowed: ${roles.join(', ')})`,
      {
        role: principal.role,
        allowed: roles,
      },
    );
  }
  ctx.keyLimiter?.take(principal.keyId, 'requests with this key');
  return principal;
}

/**
 * Runs an authentication and counts its failure against the caller's address. A valid key is never
 * refused for its address's failures (a NAT or proxy shares one address). Past the limit (`limited`), a
 * bad key gets 429 instead of 401 and only keys this instance has seen are looked up, so guessing costs
 * neither the database nor the cache anything.
 */
export async function countingFailures<T>(
  ctx: ServerContext,
  request: FastifyRequest,
  authenticate: (limited: boolean) => Promise<T>,
): Promise<T> {
  const limited = !ctx.authFailures.allows(request.ip);
  try {
    return await authenticate(limited);
  } catch (err) {
    if (err instanceof WardenError && err.code === 'UNAUTHENTICATED') {
      ctx.authFailures.take(request.ip, 'failed authentications from this address');
    }
    throw err;
  }
}

/**
 * The principal behind a request: the Authorization header when there is one (API clients), else the
 * dashboard's session cookie. A cookie alone is what a browser sends to any page's request, so a request
 * that changes something must also carry the session's CSRF token, and come from this origin.
 */
async function authenticate(
  ctx: ServerContext,
  request: FastifyRequest,
  limited: boolean,
): Promise<Principal> {
  const header = request.headers.authorization;
  const cookie = header ? undefined : sessionTokenOf(request.headers.cookie);
  const access = header ? /^Bearer[ \t]+(wdp1\.\S+)[ \t]*$/i.exec(header)?.[1] : undefined;
  if (access !== undefined) return personBearer(ctx, access);
  if (cookie === undefined) {
    return ctx.auth.authenticate(header, { knownOnly: limited });
  }
  const key = sessionKey(ctx.engine.keys.hmacKey);
  const session = verifySessionToken(key, cookie);
  if (!session) {
    throw new WardenError(
      'UNAUTHENTICATED',
      'the dashboard sign-in has expired or is not valid; sign in again',
      {
        reason: 'session',
      },
    );
  }
  if (await ctx.signedOut.isSignedOut(session.id)) {
    throw new WardenError('UNAUTHENTICATED', 'this dashboard sign-in was signed out; sign in again', {
      reason: 'session',
    });
  }
  const principal = session.person
    ? await ctx.people.principal(session.person, {
        id: session.id,
        expiresAt: session.expiresAt,
        issuer: ctx.oidc?.issuer,
      })
    : await ctx.auth.authenticateKeyId(session.keyId);
  ctx.auth.notePerson(principal);
  if (principal.kind !== 'human') {
    throw new WardenError('UNAUTHENTICATED', 'only a person can sign in to the dashboard', {
      reason: 'session',
    });
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    if (
      !csrfMatches(key, cookie, request.headers[CSRF_HEADER]) ||
      !sameOrigin(request, ctx.config.publicUrl)
    ) {
      throw new WardenError(
        'CSRF_REJECTED',
        `a signed-in browser request that changes something needs the ${CSRF_HEADER} header from /v1/auth/session and this origin`,
      );
    }
  }
  return { ...principal, sessionExpiresAt: session.expiresAt.toISOString(), sessionId: session.id };
}

/** A person's CLI access token (`Authorization: Bearer wdp1.…`, from the device flow or a refresh). */
async function personBearer(ctx: ServerContext, token: string): Promise<Principal> {
  const claims = verifyPersonToken(accessTokenKey(ctx.engine.keys.hmacKey), ACCESS_TOKEN_PREFIX, token);
  if (!claims) {
    throw new WardenError(
      'UNAUTHENTICATED',
      'the access token has expired or is not valid; refresh it (POST /v1/auth/refresh) or run `warden login`',
      { reason: 'access_token' },
    );
  }
  // Signed out (DELETE /v1/auth/session with this bearer, on any instance): refused like a signed-out cookie.
  if (await ctx.signedOut.isSignedOut(claims.id)) {
    throw new WardenError('UNAUTHENTICATED', 'this access token was signed out; run `warden login` again', {
      reason: 'access_token',
    });
  }
  const principal = await ctx.people.principal(claims.person, {
    id: claims.id,
    expiresAt: claims.expiresAt,
    issuer: ctx.oidc?.issuer,
  });
  ctx.auth.notePerson(principal);
  // The sign-in id names the token, so a sign-out closes the live streams opened with it (sse closeSession).
  return { ...principal, sessionId: claims.id };
}

/**
 * Origin, when the browser sends it, must be this server: the Host it asked for, or `publicUrl` (behind a
 * proxy that rewrites Host). A cross-site form or fetch is refused; the CSRF token is the main guard.
 */
function sameOrigin(request: FastifyRequest, publicUrl: string | undefined): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    const from = new URL(origin);
    if (publicUrl && new URL(publicUrl).origin === from.origin) return true;
    // Parsed the same way, so a default port written out (host:80) matches one left implicit.
    return from.host === new URL(`${from.protocol}//${request.headers.host ?? ''}`).host;
  } catch {
    return false;
  }
}
