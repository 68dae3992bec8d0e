import {
  IdParamsSchema,
  ReasonRequestSchema,
  ResumeRequestSchema,
  SessionDetailSchema,
  SessionListQuerySchema,
  SessionListSchema,
  SessionSchema,
} from '@warden/api';
import { WardenError } from '@warden/core';
import { pauseSession, resumeSession, sessionRollupQuery, sessionUsageOf } from '@warden/engine';
import { personAliases } from '../auth/person-aliases.js';
import { actorOf } from '../auth/principal.js';
import { defineRoute } from '../http/route-spec.js';

export const sessionRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/sessions',
    tag: 'sessions',
    summary: 'List sessions, most recently active first.',
    roles: ['approver', 'admin', 'auditor'],
    query: SessionListQuerySchema,
    response: { status: 200, schema: SessionListSchema },
    errors: ['QUERY_INVALID'],
    handler: ({ query, ctx }) => ctx.engine.store.listSessions(query),
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/sessions/:id',
    tag: 'sessions',
    summary: 'One session: its state, what it has used and where each budget it draws on stands.',
    roles: ['approver', 'admin', 'auditor'],
    params: IdParamsSchema,
    response: { status: 200, schema: SessionDetailSchema },
    errors: ['SESSION_NOT_FOUND'],
    async handler({ params, ctx }) {
      const session = await ctx.engine.store.getSession(params.id);
      if (!session) throw new WardenError('SESSION_NOT_FOUND', `no session has id ${params.id}`);
      // The session's figures from its rollup cell (kept in the commit of its calls): one row read,
      // however long the session or the trail.
      const [cells, budgets] = await Promise.all([
        ctx.engine.store.rollups(sessionRollupQuery(params.id)),
        ctx.engine.budgets.status({ session: params.id }),
      ]);
      return { session, usage: sessionUsageOf(cells), budgets };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/sessions/:id/pause',
    tag: 'sessions',
    summary: 'Pause a session: every further call in it is blocked until a human resumes it.',
    roles: ['approver', 'admin'],
    params: IdParamsSchema,
    body: ReasonRequestSchema,
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
    params: IdParamsSchema,
    body: ResumeRequestSchema,
    response: { status: 200, schema: SessionSchema },
    errors: [
      'SESSION_NOT_FOUND',
      'SESSION_STATE',
      'APPROVAL_SELF_APPROVAL',
      'BUDGET_NOT_FOUND',
      'BUDGET_SHARED',
    ],
    handler: async ({ params, body, principal, ctx }) =>
      resumeSession(ctx.engine, params.id, actorOf(principal), body.reason, {
        ...(body.raise ? { raise: body.raise } : {}),
        ...(await personAliases(ctx.engine.store, principal)),
      }),
  }),
];
