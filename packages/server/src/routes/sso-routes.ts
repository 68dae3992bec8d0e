import {
  AuthConfigViewSchema,
  DeviceAuthorizationSchema,
  DeviceTokenRequestSchema,
  DeviceTokenSchema,
  OidcCallbackQuerySchema,
  OidcLoginQuerySchema,
  RefreshRequestSchema,
  SignedInTokensSchema,
} from '@warden/api';
import { WardenError } from '@warden/core';
import type { FastifyRequest } from 'fastify';
import {
  createPersonSessionToken,
  SESSION_TTL_MS,
  sessionCookie,
  sessionKey,
  verifySessionToken,
} from '../auth/dashboard-session.js';
import { normalIssuer } from '../auth/oidc/auth-config.js';
import { SIGN_IN_MAX_AGE_SECONDS, type VerifiedPerson } from '../auth/oidc/id-token-verifier.js';
import { pkcePair } from '../auth/oidc/oidc-relying-party.js';
import type { OidcService } from '../auth/oidc/oidc-service.js';
import { recordPersonSignIn, type SignInVia } from '../auth/oidc/person-sign-in.js';
import {
  newSignInState,
  readSignInState,
  safeReturnTo,
  signInStateCookie,
} from '../auth/oidc/sign-in-state.js';
import {
  ACCESS_TOKEN_PREFIX,
  ACCESS_TOKEN_TTL_MS,
  accessTokenKey,
  createPersonToken,
  createRefreshToken,
  openRefreshToken,
  REFRESH_TOKEN_TTL_MS,
  verifyPersonToken,
} from '../auth/person-tokens.js';
import { RateLimiter } from '../auth/rate-limiter.js';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';

const LOGIN_URL = '/v1/auth/oidc/login';
const CALLBACK_PATH = '/v1/auth/oidc/callback';
const SSO_ERRORS = [
  'ID_TOKEN_INVALID',
  'SSO_DENIED',
  'IDP_UNAVAILABLE',
  'NOT_FOUND',
  'RATE_LIMITED',
] as const;
/** Refusals of an unauthenticated sign-in request that count against its address, like a bad key. */
const FAILURES = new Set(['UNAUTHENTICATED', 'SSO_DENIED', 'ID_TOKEN_INVALID']);
/** Device sign-ins one address may start: each one costs the IdP a pending grant. */
const deviceStarts = new WeakMap<ServerContext, RateLimiter>();

/**
 * Runs an unauthenticated sign-in step (device start, device poll, refresh) under the caller's address's
 * authentication failure limit: past it, RATE_LIMITED without asking the IdP; a refusal counts.
 */
async function limited<T>(ctx: ServerContext, request: FastifyRequest, step: () => Promise<T>): Promise<T> {
  if (!ctx.authFailures.allows(request.ip)) {
    ctx.authFailures.take(request.ip, 'failed sign-ins from this address');
  }
  try {
    return await step();
  } catch (err) {
    if (err instanceof WardenError && FAILURES.has(err.code)) {
      ctx.authFailures.take(request.ip, 'failed sign-ins from this address');
    }
    throw err;
  }
}

function oidcOf(ctx: ServerContext): OidcService {
  if (!ctx.oidc) {
    throw new WardenError(
      'NOT_FOUND',
      'SSO is not configured on this server: set auth.oidc in its config file (see docs/sso.md)',
    );
  }
  return ctx.oidc;
}

function secure(ctx: ServerContext, request: FastifyRequest): boolean {
  return request.protocol === 'https' || (ctx.config.publicUrl ?? '').startsWith('https:');
}

/** This server's own origin for the IdP's redirect: publicUrl when set, else the address the browser used. */
function baseUrl(ctx: ServerContext, request: FastifyRequest): string {
  if (ctx.config.publicUrl) return ctx.config.publicUrl.replace(/\/+$/, '');
  return `${request.protocol}://${request.host}`;
}

/** A CLI's tokens for a person who just signed in: an access token (≤ 1 h) and a sealed refresh token. */
function tokensFor(ctx: ServerContext, person: VerifiedPerson, idpRefreshToken: string | undefined) {
  if (!idpRefreshToken) {
    throw new WardenError(
      'IDP_UNAVAILABLE',
      `the identity provider ${person.issuer} issued no refresh token; allow the refresh_token grant (and offline_access) for this client`,
      { issuer: person.issuer },
    );
  }
  const now = Date.now();
  const expiresAt = new Date(now + ACCESS_TOKEN_TTL_MS);
  const hmacKey = ctx.engine.keys.hmacKey;
  const ref = { issuer: person.issuer, subject: person.subject };
  const accessToken = createPersonToken(accessTokenKey(hmacKey), ACCESS_TOKEN_PREFIX, ref, expiresAt);
  const claims = verifyPersonToken(accessTokenKey(hmacKey), ACCESS_TOKEN_PREFIX, accessToken, now);
  const refreshToken = createRefreshToken(hmacKey, {
    person: ref,
    idpRefreshToken,
    expiresAt: new Date(now + REFRESH_TOKEN_TTL_MS).toISOString(),
  });
  return {
    status: 'ok' as const,
    accessToken,
    refreshToken,
    expiresAt: expiresAt.toISOString(),
    principal: {
      id: person.name,
      kind: 'human' as const,
      role: person.role ?? 'auditor',
      keyId: `sso_${claims?.id ?? ''}`,
      expiresAt: expiresAt.toISOString(),
      issuer: person.issuer,
      subject: person.subject,
      approverGroups: person.approverGroups,
    },
  };
}

async function signIn(
  ctx: ServerContext,
  request: FastifyRequest,
  person: VerifiedPerson,
  via: SignInVia,
  session?: { id: string; expiresAt: Date },
): Promise<void> {
  await recordPersonSignIn(ctx, person, {
    via,
    ...(session ? { session: session.id } : {}),
    expiresAt: (session?.expiresAt ?? new Date(Date.now() + ACCESS_TOKEN_TTL_MS)).toISOString(),
    address: request.ip,
  });
}

/** Sign-in through the company's identity provider (OpenID Connect): the dashboard's and the CLI's. */
export const ssoRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/auth/config',
    tag: 'auth',
    summary: 'How people sign in here: with an API key (unless keySignIn is off) and/or SSO through the IdP.',
    roles: 'public',
    response: { status: 200, schema: AuthConfigViewSchema },
    async handler({ ctx }) {
      return {
        keySignIn: ctx.config.auth.keySignIn,
        sso: { enabled: ctx.oidc !== undefined, loginUrl: ctx.oidc ? LOGIN_URL : null },
      };
    },
  }),
  defineRoute({
    method: 'GET',
    url: LOGIN_URL,
    tag: 'auth',
    summary:
      "Starts the dashboard's SSO sign-in: redirects to the IdP (authorization code flow, PKCE S256, state and nonce in a short-lived sealed HttpOnly cookie). returnTo: a path on this server.",
    roles: 'public',
    query: OidcLoginQuerySchema,
    response: { status: 302 },
    errors: [...SSO_ERRORS],
    async handler({ query, ctx, request, reply }) {
      const oidc = oidcOf(ctx);
      const { verifier, challenge } = pkcePair();
      const state = newSignInState({
        verifier,
        returnTo: safeReturnTo(query.returnTo),
        redirectUri: `${baseUrl(ctx, request)}${CALLBACK_PATH}`,
      });
      const location = await oidc.client.authorizationUrl({
        redirectUri: state.redirectUri,
        state: state.state,
        nonce: state.nonce,
        challenge,
      });
      reply.header('set-cookie', signInStateCookie(ctx.engine.keys.hmacKey, state, secure(ctx, request)));
      reply.header('cache-control', 'no-store');
      reply.header('location', location);
      return null;
    },
  }),
  defineRoute({
    method: 'GET',
    url: CALLBACK_PATH,
    tag: 'auth',
    summary:
      "The IdP's redirect back: verifies state, exchanges the code, verifies the ID token (issuer, audience, expiry, signature, nonce), records the sign-in (auth.signed_in; identity.roles_changed when role or groups changed), sets the dashboard's session cookie and redirects to returnTo.",
    roles: 'public',
    query: OidcCallbackQuerySchema,
    response: { status: 302 },
    errors: [...SSO_ERRORS],
    async handler({ query, ctx, request, reply }) {
      const oidc = oidcOf(ctx);
      const hmacKey = ctx.engine.keys.hmacKey;
      const https = secure(ctx, request);
      const saved = readSignInState(hmacKey, request.headers.cookie);
      // The state cookie is single-use: cleared whatever happens next.
      reply.header('set-cookie', signInStateCookie(hmacKey, undefined, https));
      reply.header('cache-control', 'no-store');
      if (query.error) {
        throw new WardenError(
          'SSO_DENIED',
          `the identity provider ended the sign-in: ${query.error}${query.error_description ? ` (${query.error_description})` : ''}`,
          { reason: query.error },
        );
      }
      if (!saved) {
        throw new WardenError(
          'SSO_DENIED',
          `the sign-in took longer than 10 minutes or was started in another browser; start again at ${LOGIN_URL}`,
          { reason: 'state' },
        );
      }
      if (!query.state || query.state !== saved.state) {
        throw new WardenError(
          'SSO_DENIED',
          `the sign-in's state does not match; start again at ${LOGIN_URL}`,
          {
            reason: 'state',
          },
        );
      }
      // RFC 9207: an IdP that names itself must be ours (a mix-up attack names another).
      if (query.iss !== undefined && normalIssuer(query.iss) !== oidc.issuer) {
        throw new WardenError('SSO_DENIED', `the answer came from ${query.iss}, not ${oidc.issuer}`, {
          reason: 'issuer',
        });
      }
      if (!query.code) {
        throw new WardenError('SSO_DENIED', 'the identity provider sent no authorization code', {
          reason: 'code',
        });
      }
      const tokens = await oidc.client.exchangeCode({
        code: query.code,
        redirectUri: saved.redirectUri,
        verifier: saved.verifier,
      });
      const person = await oidc.verifyIdToken(tokens.idToken, {
        nonce: saved.nonce,
        maxAgeSeconds: SIGN_IN_MAX_AGE_SECONDS,
      });
      const now = Date.now();
      const key = sessionKey(hmacKey);
      const token = createPersonSessionToken(
        key,
        { issuer: person.issuer, subject: person.subject },
        new Date(now + SESSION_TTL_MS),
      );
      const session = verifySessionToken(key, token, now);
      if (!session) throw new WardenError('INTERNAL', 'a session token just made does not verify');
      await signIn(ctx, request, person, 'dashboard', session);
      // Fastify appends Set-Cookie: the clearing one set above is replaced by this pair.
      reply.removeHeader('set-cookie');
      reply.header('set-cookie', [
        signInStateCookie(hmacKey, undefined, https),
        sessionCookie(token, { maxAgeSeconds: (session.expiresAt.getTime() - now) / 1000, secure: https }),
      ]);
      reply.header('location', saved.returnTo);
      return null;
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/auth/device',
    tag: 'auth',
    summary:
      'Starts a CLI sign-in (device authorization grant through this server, which holds the client secret): show the user code and open the verification URI, then poll POST /v1/auth/device/token.',
    roles: 'public',
    response: { status: 200, schema: DeviceAuthorizationSchema },
    errors: [...SSO_ERRORS],
    async handler({ ctx, request, reply }) {
      reply.header('cache-control', 'no-store');
      const oidc = oidcOf(ctx);
      return limited(ctx, request, async () => {
        let starts = deviceStarts.get(ctx);
        if (!starts) {
          starts = new RateLimiter(ctx.config.authFailuresPerMinute / 60, ctx.config.authFailuresPerMinute);
          deviceStarts.set(ctx, starts);
        }
        starts.take(request.ip, 'device sign-ins started from this address');
        const started = await oidc.client.startDevice();
        request.log.info({ address: request.ip, userCode: started.userCode }, 'device sign-in started');
        return started;
      });
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/auth/device/token',
    tag: 'auth',
    summary:
      'Polls a CLI sign-in: pending (poll again after `interval` s) until the person has signed in at the IdP, then a Warden access token (≤ 1 h) and refresh token; the sign-in is audited.',
    roles: 'public',
    body: DeviceTokenRequestSchema,
    response: { status: 200, schema: DeviceTokenSchema },
    errors: [...SSO_ERRORS],
    async handler({ body, ctx, request, reply }) {
      const oidc = oidcOf(ctx);
      reply.header('cache-control', 'no-store');
      return limited(ctx, request, async () => {
        const poll = await oidc.client.pollDevice(body.deviceCode);
        if (poll.pending) return { status: 'pending' as const, interval: poll.interval };
        const person = await oidc.verifyIdToken(poll.tokens.idToken, {
          maxAgeSeconds: SIGN_IN_MAX_AGE_SECONDS,
        });
        await signIn(ctx, request, person, 'device');
        return tokensFor(ctx, person, poll.tokens.refreshToken);
      });
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/auth/refresh',
    tag: 'auth',
    summary:
      "New CLI tokens for a refresh token, on any instance: the person's role and groups are read again from the IdP (a sign-in, audited).",
    roles: 'public',
    body: RefreshRequestSchema,
    response: { status: 200, schema: SignedInTokensSchema },
    errors: [...SSO_ERRORS, 'UNAUTHENTICATED'],
    async handler({ body, ctx, request, reply }) {
      const oidc = oidcOf(ctx);
      reply.header('cache-control', 'no-store');
      return limited(ctx, request, async () => {
        const claims = openRefreshToken(ctx.engine.keys.hmacKey, body.refreshToken);
        if (!claims || normalIssuer(claims.person.issuer) !== oidc.issuer) {
          throw new WardenError(
            'UNAUTHENTICATED',
            'the refresh token is expired, altered or from another server; run `warden login` again',
            { reason: 'refresh_token' },
          );
        }
        const tokens = await oidc.client.refresh(claims.idpRefreshToken);
        const person = await oidc.verifyIdToken(tokens.idToken, { maxAgeSeconds: SIGN_IN_MAX_AGE_SECONDS });
        if (person.subject !== claims.person.subject) {
          throw new WardenError('ID_TOKEN_INVALID', 'the ID token of the refresh names another person', {
            reason: 'subject',
          });
        }
        await signIn(ctx, request, person, 'refresh');
        return tokensFor(ctx, person, tokens.refreshToken);
      });
    },
  }),
];
