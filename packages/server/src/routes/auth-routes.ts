import { SignedInSchema, SignInRequestSchema } from '@warden/api';
import { keyActor, WARDEN_ACTOR, WardenError } from '@warden/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { countingFailures } from '../auth/authorize-request.js';
import {
  createSessionToken,
  csrfTokenFor,
  type DashboardSession,
  SESSION_TTL_MS,
  sessionCookie,
  sessionKey,
  sessionTokenOf,
  verifySessionToken,
} from '../auth/dashboard-session.js';
import { ACCESS_TOKEN_PREFIX, accessTokenKey, verifyPersonToken } from '../auth/person-tokens.js';
import { actorOf, type Principal } from '../auth/principal.js';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';
import { peopleRoutes } from './people-routes.js';
import { browserSignInErrors, SSO_CALLBACK_PATH } from './sso-browser-errors.js';
import { ssoRoutes } from './sso-routes.js';

const HUMAN_ROLES = ['approver', 'admin', 'auditor'] as const;

function publicPrincipal(p: Principal) {
  return {
    id: p.id,
    kind: p.kind,
    role: p.role,
    keyId: p.keyId,
    expiresAt: p.expiresAt,
    ...(p.issuer && p.subject
      ? { issuer: p.issuer, subject: p.subject, approverGroups: [...(p.approverGroups ?? [])] }
      : {}),
  };
}

function secure(ctx: ServerContext, request: FastifyRequest): boolean {
  return request.protocol === 'https' || (ctx.config.publicUrl ?? '').startsWith('https:');
}

function clearCookie(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('set-cookie', sessionCookie('', { maxAgeSeconds: 0, secure: secure(ctx, request) }));
}

/**
 * Sign-in for the dashboard: a person's API key is exchanged for an HttpOnly session cookie; or, through
 * SSO (sso-routes.ts), the IdP's word on the person is.
 */
export const authRoutes = [
  // The IdP's redirect back is a browser's page load: a refusal goes to the sign-in page, in words.
  ...ssoRoutes.map((r) => (r.url === SSO_CALLBACK_PATH ? browserSignInErrors(r) : r)),
  ...peopleRoutes,
  defineRoute({
    method: 'POST',
    url: '/v1/auth/session',
    tag: 'auth',
    summary:
      "Sign in to the dashboard with a person's API key: sets an HttpOnly, SameSite=Strict session cookie and returns the CSRF token. Agent and service keys are refused.",
    roles: 'public',
    body: SignInRequestSchema,
    response: { status: 200, schema: SignedInSchema },
    errors: ['UNAUTHENTICATED', 'FORBIDDEN', 'RATE_LIMITED', 'SSO_REQUIRED'],
    async handler({ body, ctx, request, reply }) {
      const principal = await countingFailures(ctx, request, (limited) =>
        ctx.auth.authenticate(`Bearer ${body.key.trim()}`, { knownOnly: limited }),
      );
      if (principal.kind !== 'human') {
        throw new WardenError(
          'FORBIDDEN',
          `the dashboard is for people: this is ${principal.kind === 'agent' ? 'an agent' : 'a service'} key (${principal.id}); sign in with a key made by \`warden keys create --human NAME --role ROLE\``,
          { role: principal.role, allowed: HUMAN_ROLES },
        );
      }
      const now = Date.now();
      const keyEnd = principal.expiresAt ? Date.parse(principal.expiresAt) : Number.POSITIVE_INFINITY;
      const expiresAt = new Date(Math.min(now + SESSION_TTL_MS, keyEnd));
      const key = sessionKey(ctx.engine.keys.hmacKey);
      const token = createSessionToken(key, principal.keyId, expiresAt);
      const session = verifySessionToken(key, token, now) as DashboardSession;
      // Signing in is access to the governance plane: it is in the audit trail (CC6), durable before reply.
      await ctx.engine.commit({
        events: [
          ctx.engine.systemEvent('auth.signed_in', actorOf(principal), {
            data: {
              keyId: principal.keyId,
              role: principal.role,
              session: session.id,
              expiresAt: expiresAt.toISOString(),
              address: request.ip,
            },
          }),
        ],
      });
      reply.header(
        'set-cookie',
        sessionCookie(token, {
          maxAgeSeconds: (expiresAt.getTime() - now) / 1000,
          secure: secure(ctx, request),
        }),
      );
      reply.header('cache-control', 'no-store');
      return {
        principal: publicPrincipal(principal),
        csrfToken: csrfTokenFor(key, token),
        expiresAt: expiresAt.toISOString(),
      };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/auth/session',
    tag: 'auth',
    summary: 'Who is signed in, and the CSRF token of the dashboard session (null with a bearer key).',
    roles: HUMAN_ROLES,
    response: { status: 200, schema: SignedInSchema },
    async handler({ principal, ctx, request, reply }) {
      reply.header('cache-control', 'no-store');
      const token = request.headers.authorization ? undefined : sessionTokenOf(request.headers.cookie);
      const key = sessionKey(ctx.engine.keys.hmacKey);
      return {
        principal: publicPrincipal(principal),
        csrfToken: token ? csrfTokenFor(key, token) : null,
        expiresAt: principal.sessionExpiresAt ?? null,
      };
    },
  }),
  defineRoute({
    method: 'DELETE',
    url: '/v1/auth/session',
    tag: 'auth',
    summary:
      "Sign out of the dashboard (its cookie) or of the CLI (`Authorization: Bearer wdp1.…`, a person's access token): the sign-in stops working on every instance (audited as auth.signed_out), its live streams close, and the cookie is cleared.",
    roles: 'public',
    response: { status: 204 },
    async handler({ ctx, request, reply }) {
      clearCookie(ctx, request, reply);
      const hmacKey = ctx.engine.keys.hmacKey;
      const access = /^Bearer[ \t]+(wdp1\.\S+)[ \t]*$/i.exec(request.headers.authorization ?? '')?.[1];
      const bearer = access
        ? verifyPersonToken(accessTokenKey(hmacKey), ACCESS_TOKEN_PREFIX, access)
        : undefined;
      const token = request.headers.authorization ? undefined : sessionTokenOf(request.headers.cookie);
      const session: DashboardSession | undefined = bearer
        ? { keyId: `sso_${bearer.id}`, person: bearer.person, expiresAt: bearer.expiresAt, id: bearer.id }
        : verifySessionToken(sessionKey(hmacKey), token);
      // Only a live sign-in is recorded: a stale or forged cookie is just cleared.
      if (!session || (await ctx.signedOut.isSignedOut(session.id))) return null;
      const owner = session.person
        ? await ctx.people
            .principal(session.person, {
              id: session.id,
              expiresAt: session.expiresAt,
              issuer: session.person.issuer,
            })
            .catch(() => undefined)
        : await ctx.auth.authenticateKeyId(session.keyId).catch(() => undefined);
      // A key revoked or expired since the sign-in is still named as itself, never as Warden.
      const stored = owner || session.person ? undefined : await ctx.engine.store.apiKey(session.keyId);
      const expiresAt = session.expiresAt.toISOString();
      ctx.signedOut.add(session.id, expiresAt);
      ctx.sse.closeSession(session.id);
      await ctx.engine.commit({
        events: [
          ctx.engine.systemEvent(
            'auth.signed_out',
            owner
              ? actorOf(owner)
              : session.person
                ? { kind: 'human', id: session.person.subject, ...session.person }
                : stored
                  ? keyActor({ kind: stored.principalKind, id: stored.principal, keyId: stored.id })
                  : WARDEN_ACTOR,
            { data: { keyId: session.keyId, session: session.id, expiresAt } },
          ),
        ],
      });
      return null;
    },
  }),
];
