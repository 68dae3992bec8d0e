import { BudgetListSchema, BudgetQuerySchema } from '@warden/api';
import { WardenError } from '@warden/core';
import type { Principal } from '../auth/principal.js';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';

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
    query: BudgetQuerySchema,
    response: { status: 200, schema: BudgetListSchema },
    errors: ['SESSION_NOT_FOUND', 'AGENT_MISMATCH'],
    async handler({ query, principal, ctx }) {
      return { budgets: await ctx.engine.budgets.status(await budgetFilterFor(ctx, principal, query)) };
    },
  }),
];
