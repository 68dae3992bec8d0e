import { createHash } from 'node:crypto';
import {
  StartedTaskSchema,
  StartTaskRequestSchema,
  TASK_TOKEN_TYPE,
  TaskJwksSchema,
  TokenExchangeRequestSchema,
  TokenExchangeResponseSchema,
} from '@warden/api';
import { type Actor, WardenError } from '@warden/core';
import type { IssuedTaskToken, TaskInitiator } from '@warden/engine';
import { decodeJwt } from 'jose';
import { actorOf, type Principal } from '../auth/principal.js';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';
import { humanKeyRefused, isSignedInPerson, signedInInitiator } from './task-person-initiator.js';

const ANY_KEY = ['agent', 'approver', 'admin', 'auditor'] as const;

export const taskRoutes = [
  defineRoute({
    method: 'POST',
    url: '/v1/tasks',
    tag: 'tasks',
    summary:
      "Start a task for an agent: with the person's OIDC ID token, as a person signed in by SSO (for themselves), or as a service key holding the initiator permission. Answers a signed task token binding session, agent and initiator.",
    roles: ANY_KEY,
    body: StartTaskRequestSchema,
    response: { status: 201, schema: StartedTaskSchema },
    errors: [
      'ID_TOKEN_INVALID',
      'IDP_UNAVAILABLE',
      'FORBIDDEN',
      'SSO_DENIED',
      'SESSION_STATE',
      'AGENT_MISMATCH',
    ],
    async handler({ body, principal, ctx }) {
      // An agent key starts tasks for itself only; a backend may start them for any agent.
      if (principal.kind === 'agent' && body.agent !== principal.id) {
        throw new WardenError(
          'AGENT_MISMATCH',
          `this key belongs to agent ${principal.id}; it cannot start a task for ${body.agent}`,
          { keyAgent: principal.id, bodyAgent: body.agent },
        );
      }
      const { initiator, by, idToken, via } = await initiatorOf(ctx, principal, body);
      const task = await ctx.engine.tasks.start(
        {
          agent: body.agent,
          initiator,
          ...(idToken ? { idToken } : {}),
          ...(via ? { via } : {}),
          ...(initiator.method === 'api_key' && ctx.oidc ? { idpIssuer: await idpIssuer(ctx.oidc) } : {}),
          ...(body.session ? { session: body.session } : {}),
          ...(body.labels ? { labels: body.labels } : {}),
          ...(body.ttl ? { ttlSeconds: body.ttl } : {}),
        },
        by,
      );
      return view(task);
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/tasks/token',
    tag: 'tasks',
    summary:
      "Token exchange (RFC 8693, form-encoded or JSON): the parent agent, with its own key, presents its task token as subject_token and names the child agent as the actor; answers the child's token, whose act claims nest the chain.",
    roles: ['agent'],
    body: TokenExchangeRequestSchema,
    response: { status: 200, schema: TokenExchangeResponseSchema },
    errors: ['TASK_TOKEN_INVALID'],
    async handler({ body, principal, ctx }) {
      const child = await ctx.engine.tasks.exchange(
        {
          subjectToken: body.subject_token,
          actor: (body.actor ?? body.actor_token) as string,
          ...(body.ttl ? { ttlSeconds: body.ttl } : {}),
        },
        { agent: principal.id, keyId: principal.keyId },
        actorOf(principal),
      );
      return {
        access_token: child.token,
        issued_token_type: TASK_TOKEN_TYPE,
        token_type: 'N_A' as const,
        expires_in: Math.max(0, Math.floor((Date.parse(child.expiresAt) - Date.now()) / 1000)),
        tokenId: child.tokenId,
        taskId: child.taskId,
        session: child.session,
        agent: child.agent,
        expiresAt: child.expiresAt,
        delegationChain: [...child.delegationChain],
      };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/tasks/jwks',
    tag: 'tasks',
    summary: 'The public key task tokens are signed with (a JWK Set), for verifying a token elsewhere.',
    roles: 'public',
    response: { status: 200, schema: TaskJwksSchema },
    handler: async ({ ctx }) =>
      ctx.engine.tasks.jwks() as {
        keys: { kty: string; crv: string; x: string; kid: string; alg: string }[];
      },
  }),
];

/**
 * Who starts the task, verified: the person of an ID token the identity provider signed, or — without
 * one — a service key holding the initiator permission, vouching for the subject and name it sends.
 */
async function initiatorOf(
  ctx: ServerContext,
  principal: Principal,
  body: { idToken?: string | undefined; initiator?: { subject: string; name: string } | undefined },
): Promise<{
  initiator: TaskInitiator;
  by: Actor;
  idToken?: { id: string; issuedAt: Date };
  via?: 'sso_sign_in';
}> {
  const vouches = principal.kind === 'service' && (principal.permissions ?? []).includes('initiator');
  if (body.idToken !== undefined) {
    // A person's ID token is theirs to hand to the application they signed in to: only the agent the
    // task is for (checked above) or a trusted backend may present one, not any key that got hold of it.
    if (principal.kind !== 'agent' && !vouches) {
      throw new WardenError(
        'FORBIDDEN',
        `a task is started with an ID token by the agent it is for (its own key) or by a service key holding the initiator permission; this ${principal.kind} key (${principal.role}) may not`,
        {
          role: principal.role,
          allowed: ['agent key (for itself)', 'service key with permission initiator'],
        },
      );
    }
    if (body.initiator !== undefined) {
      throw new WardenError(
        'REQUEST_INVALID',
        'send idToken or initiator, not both: the ID token names the person',
        {
          problems: ['initiator: not with idToken'],
        },
      );
    }
    const oidc = ctx.oidc;
    if (!oidc) {
      throw new WardenError(
        'ID_TOKEN_INVALID',
        'no identity provider is configured (auth.oidc), so no ID token can be verified',
        { reason: 'not_configured' },
      );
    }
    const config = ctx.config.auth?.oidc;
    const person = await oidc.verifyIdToken(body.idToken, {
      ...(config ? { audiences: [config.clientId, ...(config.taskAudiences ?? [])] } : {}),
      // A fresh sign-in only: an ID token is a proof of authentication, not a standing credential.
      maxAgeSeconds: ID_TOKEN_MAX_AGE_SECONDS,
    });
    return {
      initiator: { method: 'oidc', issuer: person.issuer, subject: person.subject, name: person.name },
      by: actorOf(principal),
      idToken: idTokenOnce(body.idToken, person.issuer),
    };
  }
  // A person signed in by SSO starts tasks as themselves: the IdP verified who they are at their sign-in.
  if (isSignedInPerson(principal)) {
    return {
      initiator: await signedInInitiator(ctx, principal, body.initiator),
      by: actorOf(principal),
      via: 'sso_sign_in',
    };
  }
  if (principal.kind === 'human') throw humanKeyRefused(principal);
  if (!vouches) {
    throw new WardenError(
      'FORBIDDEN',
      "starting a task needs the person's ID token (idToken), a person signed in by SSO (warden login, for themselves), or a service key holding the initiator permission (warden keys create --service NAME --role auditor --permission initiator)",
      {
        role: principal.role,
        allowed: ['a person signed in by SSO (for themselves)', 'service key with permission initiator'],
      },
    );
  }
  if (!body.initiator) {
    throw new WardenError('REQUEST_INVALID', 'initiator { subject, name } is required without idToken', {
      problems: ['initiator: required without idToken'],
    });
  }
  return {
    initiator: {
      method: 'api_key',
      subject: body.initiator.subject,
      name: body.initiator.name,
      keyId: principal.keyId,
    },
    by: actorOf(principal),
  };
}

/** How long after it was issued an ID token may start a task. */
const ID_TOKEN_MAX_AGE_SECONDS = 300;

/**
 * What names a verified ID token for "each starts one task": a SHA-256 of its issuer and `jti`, or of the
 * whole token when it has no `jti` (never the token itself), and its `iat`.
 */
function idTokenOnce(token: string, issuer: string): { id: string; issuedAt: Date } {
  const claims = decodeJwt(token);
  const jti = typeof claims.jti === 'string' ? claims.jti : undefined;
  // Hex under a neutral prefix: the trail's secret redaction would take `token: <base64>` for a secret.
  const id = createHash('sha256')
    .update(jti ? `jti\n${issuer}\n${jti}` : `token\n${token}`)
    .digest('hex');
  const iat = typeof claims.iat === 'number' ? claims.iat * 1000 : Date.now();
  return { id: `sha256:${id}`, issuedAt: new Date(iat) };
}

/** The identity provider's issuer as its ID tokens name it (the configured one when it is unreachable). */
async function idpIssuer(oidc: NonNullable<ServerContext['oidc']>): Promise<string> {
  try {
    return (await oidc.discovery.metadata()).issuer;
  } catch {
    return oidc.issuer;
  }
}

function view(t: IssuedTaskToken) {
  return {
    token: t.token,
    tokenId: t.tokenId,
    taskId: t.taskId,
    session: t.session,
    agent: t.agent,
    expiresAt: t.expiresAt,
    initiator: { ...t.initiator },
    delegationChain: [...t.delegationChain],
  };
}
