import {
  GrantListQuerySchema,
  GrantListSchema,
  GrantRequestSchema,
  type GrantView,
  GrantViewSchema,
  IdParamsSchema,
  RevokeGrantRequestSchema,
} from '@warden/api';
import type { GrantRecord } from '@warden/engine';
import { personAliases } from '../auth/person-aliases.js';
import { actorOf } from '../auth/principal.js';
import { defineRoute } from '../http/route-spec.js';

/** A grant as the API shows it, with whether it is in force now. */
export function grantView(g: GrantRecord, now = Date.now()): GrantView {
  return { ...g, active: g.revokedAt === null && Date.parse(g.expiresAt) > now };
}

export const grantRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/grants',
    tag: 'grants',
    summary: 'List grants, newest first: those in force, or all with `all=true`.',
    roles: ['approver', 'admin', 'auditor'],
    query: GrantListQuerySchema,
    response: { status: 200, schema: GrantListSchema },
    async handler({ query, ctx }) {
      const now = new Date();
      const grants = await ctx.engine.store.listGrants({
        ...(query.agent ? { agent: query.agent } : {}),
        all: query.all,
        now: now.toISOString(),
        limit: query.limit,
      });
      return { grants: grants.map((g) => grantView(g, now.getTime())) };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/grants',
    tag: 'grants',
    summary:
      'Grant an agent a tool for one session or a time window. It lifts the default block only: block rules and reviews still apply.',
    roles: ['approver', 'admin'],
    body: GrantRequestSchema,
    response: { status: 201, schema: GrantViewSchema },
    errors: ['GRANT_INVALID', 'APPROVAL_SELF_APPROVAL'],
    handler: async ({ body, principal, ctx }) =>
      grantView(
        await ctx.engine.grants.add(
          body,
          actorOf(principal),
          await personAliases(ctx.engine.store, principal),
        ),
      ),
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/grants/:id/revoke',
    tag: 'grants',
    summary: 'Revoke a grant at once, on every instance.',
    roles: ['approver', 'admin'],
    params: IdParamsSchema,
    body: RevokeGrantRequestSchema,
    response: { status: 200, schema: GrantViewSchema },
    errors: ['GRANT_NOT_FOUND', 'GRANT_INVALID'],
    handler: async ({ params, body, principal, ctx }) =>
      grantView(await ctx.engine.grants.revoke(params.id, actorOf(principal), body.reason ?? null)),
  }),
];
