import { WardenError } from '@warden/core';
import { pauseSession, resumeSession, SESSION_STATES } from '@warden/engine';
import { z } from 'zod';
import { actorOf } from '../auth/principal.js';
import { IdParams } from '../http/id-params.js';
import { defineRoute } from '../http/route-spec.js';
import { BudgetStatusSchema } from './budget-routes.js';

export const SessionSchema = z
  .object({
    id: z.string(),
    agent: z.string(),
    state: z.enum(SESSION_STATES),
    stateReason: z.string().nullable(),
    triggeredBy: z.string().nullable(),
    delegationChain: z.array(z.string()),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Session' });

const UsageSchema = z.object({
  calls: z.object({ allow: z.number(), review: z.number(), block: z.number() }),
  completed: z.number(),
  errors: z.number(),
  inputTokens: z.number(),
  outputTokens: z.number(),
  costUsd: z.number(),
});

const SessionParams = IdParams;
const ReasonBody = z.strictObject({
  reason: z
    .string()
    .trim()
    .min(1, 'say why')
    .max(2_000)
    .meta({ description: 'Recorded in the audit trail.' }),
});

/** A resume may raise budgets that paused the session, for their current window. */
const ResumeBody = ReasonBody.extend({
  raise: z
    .array(
      z.strictObject({
        budget: z.string().min(1).max(200).meta({ description: 'A budget id of the policy.' }),
        limit: z
          .number()
          .positive()
          .max(1e12)
          .meta({ description: "The new limit, in the budget's metric." }),
      }),
    )
    .min(1)
    .max(20)
    .refine((r) => new Set(r.map((x) => x.budget)).size === r.length, 'name each budget once')
    .optional()
    .meta({
      description:
        'Sets the limit of each named session budget for this session (shared budgets are refused with BUDGET_SHARED; audited as budget.raised).',
    }),
});

export const sessionRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/sessions',
    tag: 'sessions',
    summary: 'List sessions, most recently active first.',
    roles: ['approver', 'admin', 'auditor'],
    query: z.strictObject({
      state: z.enum(SESSION_STATES).optional(),
      agent: z.string().min(1).max(200).optional(),
      limit: z.coerce.number().int().min(1).max(1_000).default(100),
      cursor: z.string().max(200).optional(),
    }),
    response: {
      status: 200,
      schema: z.object({ sessions: z.array(SessionSchema), nextCursor: z.string().nullable() }),
    },
    errors: ['QUERY_INVALID'],
    handler: ({ query, ctx }) => ctx.engine.store.listSessions(query),
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/sessions/:id',
    tag: 'sessions',
    summary: 'One session: its state, what it has used and where each budget it draws on stands.',
    roles: ['approver', 'admin', 'auditor'],
    params: SessionParams,
    response: {
      status: 200,
      schema: z.object({ session: SessionSchema, usage: UsageSchema, budgets: z.array(BudgetStatusSchema) }),
    },
    errors: ['SESSION_NOT_FOUND'],
    async handler({ params, ctx }) {
      const session = await ctx.engine.store.getSession(params.id);
      if (!session) throw new WardenError('SESSION_NOT_FOUND', `no session has id ${params.id}`);
      const [usage, budgets] = await Promise.all([
        ctx.engine.store.sessionUsage(params.id),
        ctx.engine.budgets.status({ session: params.id }),
      ]);
      return { session, usage, budgets };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/sessions/:id/pause',
    tag: 'sessions',
    summary: 'Pause a session: every further call in it is blocked until a human resumes it.',
    roles: ['approver', 'admin'],
    params: SessionParams,
    body: ReasonBody,
    response: { status: 200, schema: SessionSchema },
    errors: ['SESSION_NOT_FOUND', 'SESSION_STATE'],
    handler: ({ params, body, principal, ctx }) =>
      pauseSession(ctx.engine, params.id, actorOf(principal), body.reason),
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/sessions/:id/resume',
    tag: 'sessions',
    summary:
      'Resume a paused session, optionally raising the budgets that stopped it. Separation of duties: nobody with a stake in the session may.',
    roles: ['approver', 'admin'],
    params: SessionParams,
    body: ResumeBody,
    response: { status: 200, schema: SessionSchema },
    errors: [
      'SESSION_NOT_FOUND',
      'SESSION_STATE',
      'APPROVAL_SELF_APPROVAL',
      'BUDGET_NOT_FOUND',
      'BUDGET_SHARED',
    ],
    handler: ({ params, body, principal, ctx }) =>
      resumeSession(ctx.engine, params.id, actorOf(principal), body.reason, {
        ...(body.raise ? { raise: body.raise } : {}),
      }),
  }),
];
