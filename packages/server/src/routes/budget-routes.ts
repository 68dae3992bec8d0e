import { BUDGET_METRICS, BUDGET_SCOPES, BUDGET_WINDOWS, WardenError } from '@warden/core';
import { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import { IdParams } from '../http/id-params.js';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';

/** One budget counter as the API shows it: where it stands in its current window. */
export const BudgetStatusSchema = z
  .object({
    key: z.string(),
    budgetId: z.string(),
    scope: z.enum(BUDGET_SCOPES),
    scopeKey: z.string().meta({
      description: '`session:<id>`, `agent:<name>`, `team:<group>`, `global` or `tag:<label>=<value>`.',
    }),
    metric: z.enum(BUDGET_METRICS),
    window: z.enum(BUDGET_WINDOWS),
    windowStart: z
      .string()
      .meta({ description: 'ISO UTC start of the window; `session` for a session window.' }),
    windowEnd: z.string().nullable(),
    limit: z.number().meta({ description: 'The limit in force (a limit raised on resume wins).' }),
    used: z.number().meta({ description: 'Settled usage.' }),
    reserved: z.number().meta({ description: 'Held by calls admitted and not yet completed.' }),
    remaining: z.number(),
    ratio: z.number().meta({ description: 'used / limit.' }),
    alerted: z.number().meta({ description: 'The highest alert threshold (percent) already announced.' }),
    updatedAt: z.string(),
  })
  .meta({ id: 'BudgetStatus' });

/** A name in a query string: no control characters reach the database (see IdParams). */
const QueryName = IdParams.shape.id;

/** What a budget listing may ask for. */
export interface BudgetFilter {
  readonly agent?: string;
  readonly session?: string;
  readonly budgetId?: string;
}

/**
 * The filter a principal may use. People see every budget (an unknown session is SESSION_NOT_FOUND).
 * An agent key sees only its own: the counters its agent or one of its own sessions draws on; another
 * agent's name is refused, and another agent's session is the same 404 as a missing one, so an agent
 * cannot probe other sessions.
 */
export async function budgetFilterFor(
  ctx: ServerContext,
  p: Principal,
  q: { agent?: string | undefined; session?: string | undefined; budget?: string | undefined },
): Promise<BudgetFilter> {
  const budgetId = q.budget ? { budgetId: q.budget } : {};
  if (p.role !== 'agent') {
    return {
      ...(q.agent ? { agent: q.agent } : {}),
      ...(q.session ? { session: q.session } : {}),
      ...budgetId,
    };
  }
  if (q.agent && q.agent !== p.id) {
    throw new WardenError(
      'AGENT_MISMATCH',
      `an agent key sees only its own budgets (${p.id}), not ${q.agent}'s`,
      {
        agent: q.agent,
        key: p.id,
      },
    );
  }
  if (!q.session) return { agent: p.id, ...budgetId };
  const session = await ctx.engine.store.getSession(q.session);
  if (session?.agent !== p.id) throw new WardenError('SESSION_NOT_FOUND', `no session has id ${q.session}`);
  return { session: q.session, ...budgetId };
}

export const budgetRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/budgets',
    tag: 'budgets',
    summary:
      'Budget counters in their current window: used, reserved, limit and remaining, by agent, session or budget id (an agent key sees only its own).',
    roles: ['agent', 'approver', 'admin', 'auditor'],
    query: z.strictObject({
      agent: QueryName.optional().meta({ description: 'Budgets that apply to this agent.' }),
      session: QueryName.optional().meta({ description: 'Budgets this session draws on.' }),
      budget: QueryName.optional().meta({ description: 'Only this budget id of the policy.' }),
    }),
    response: { status: 200, schema: z.object({ budgets: z.array(BudgetStatusSchema) }) },
    errors: ['SESSION_NOT_FOUND', 'AGENT_MISMATCH'],
    async handler({ query, principal, ctx }) {
      return { budgets: await ctx.engine.budgets.status(await budgetFilterFor(ctx, principal, query)) };
    },
  }),
];
