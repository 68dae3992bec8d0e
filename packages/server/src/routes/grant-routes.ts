import type { GrantRecord } from '@warden/engine';
import { z } from 'zod';
import { actorOf } from '../auth/principal.js';
import { IdParams } from '../http/id-params.js';
import { defineRoute } from '../http/route-spec.js';

export const GrantViewSchema = z
  .object({
    id: z.string(),
    agent: z.string(),
    tool: z.string(),
    when: z.string().nullable(),
    session: z.string().nullable(),
    expiresAt: z.string(),
    reason: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
    revokedBy: z.string().nullable(),
    active: z.boolean().meta({ description: 'Neither revoked nor expired now.' }),
  })
  .meta({ id: 'Grant' });

/** A grant as the API shows it, with whether it is in force now. */
export function grantView(g: GrantRecord, now = Date.now()): z.infer<typeof GrantViewSchema> {
  return { ...g, active: g.revokedAt === null && Date.parse(g.expiresAt) > now };
}

export const grantRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/grants',
    tag: 'grants',
    summary: 'List grants, newest first: those in force, or all with `all=true`.',
    roles: ['approver', 'admin', 'auditor'],
    query: z.strictObject({
      agent: z.string().min(1).max(200).optional(),
      all: z
        .enum(['true', 'false'])
        .optional()
        .transform((v) => v === 'true'),
      limit: z.coerce.number().int().min(1).max(1_000).default(200),
    }),
    response: { status: 200, schema: z.object({ grants: z.array(GrantViewSchema) }) },
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
    body: z.strictObject({
      agent: z.string().min(1).max(200),
      tool: z.string().min(1).max(500).meta({ description: 'A tool-name glob.' }),
      when: z.string().min(1).max(4_096).optional().meta({ description: 'A CEL condition over the call.' }),
      session: z.string().min(1).max(200).optional(),
      ttl: z
        .string()
        .min(1)
        .max(20)
        .optional()
        .meta({ description: 'How long, e.g. 1h; default 8h with a session.' }),
      reason: z.string().trim().min(1, 'say why the agent needs this').max(2_000),
    }),
    response: { status: 201, schema: GrantViewSchema },
    errors: ['GRANT_INVALID', 'APPROVAL_SELF_APPROVAL'],
    handler: async ({ body, principal, ctx }) =>
      grantView(await ctx.engine.grants.add(body, actorOf(principal))),
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/grants/:id/revoke',
    tag: 'grants',
    summary: 'Revoke a grant at once, on every instance.',
    roles: ['approver', 'admin'],
    params: IdParams,
    body: z.strictObject({ reason: z.string().trim().max(2_000).optional() }),
    response: { status: 200, schema: GrantViewSchema },
    errors: ['GRANT_NOT_FOUND', 'GRANT_INVALID'],
    handler: async ({ params, body, principal, ctx }) =>
      grantView(await ctx.engine.grants.revoke(params.id, actorOf(principal), body.reason ?? null)),
  }),
];
