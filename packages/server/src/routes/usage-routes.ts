import { UsageQuerySchema, UsageSeriesSchema } from '@warden/api';
import { USAGE_METRICS, UsageSeriesBuilder, WardenError } from '@warden/core';
import { parseAuditQuery } from '@warden/engine';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Events read for one chart at most (newest first); beyond this the answer says `truncated`. */
const MAX_EVENTS = 100_000;
const MAX_BUCKETS = 1_000;

/** The teams an agent belongs to under the policy in force: the groups among its plan's sections. */
function teamsOf(ctx: ServerContext): (agent: string) => readonly string[] {
  const policy = ctx.engine.policy;
  // Asked once per event: each agent's teams are worked out once per request.
  const known = new Map<string, readonly string[]>();
  return (agent) => {
    let teams = known.get(agent);
    if (!teams) {
      const plan = policy.plans.get(agent) ?? policy.wildcardPlan;
      teams = plan.sections.filter((s) => s.startsWith('groups.')).map((s) => s.slice('groups.'.length));
      known.set(agent, teams);
    }
    return teams;
  };
}

/**
 * Adds the completed calls of a time range to `builder`, newest first, page by page (only the sums are
 * held), up to MAX_EVENTS: a truncated chart lacks the oldest calls, not the newest.
 */
async function addCompletedCalls(
  ctx: ServerContext,
  builder: UsageSeriesBuilder,
  from: string,
  to: string,
): Promise<{ read: number; truncated: boolean }> {
  let read = 0;
  let cursor: string | undefined;
  do {
    const limit = Math.min(1_000, MAX_EVENTS - read);
    const page = await ctx.engine.store.queryAudit(
      parseAuditQuery({
        type: 'call.completed',
        from,
        to,
        order: 'desc',
        limit,
        ...(cursor ? { cursor } : {}),
      }),
    );
    for (const r of page.records) builder.add(r.event);
    read += page.records.length;
    cursor = page.nextCursor ?? undefined;
    if (cursor && read >= MAX_EVENTS) return { read, truncated: true };
  } while (cursor);
  return { read, truncated: false };
}

export const usageRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/usage',
    tag: 'budgets',
    summary:
      'Usage over time from the audit trail: completed calls, tokens and cost per hour or day, per agent or per team (the groups of the policy in force).',
    roles: ['approver', 'admin', 'auditor'],
    query: UsageQuerySchema,
    response: { status: 200, schema: UsageSeriesSchema },
    errors: ['QUERY_INVALID'],
    async handler({ query, ctx }) {
      const toMs = query.to ? Date.parse(query.to) : Date.now();
      const fromMs = query.from ? Date.parse(query.from) : toMs - DAY;
      if (!(fromMs < toMs)) throw new WardenError('QUERY_INVALID', 'from must be before to');
      const bucket = query.bucket ?? (toMs - fromMs <= 3 * DAY ? 'hour' : 'day');
      const bucketMs = bucket === 'hour' ? HOUR : DAY;
      if ((toMs - fromMs) / bucketMs > MAX_BUCKETS) {
        throw new WardenError(
          'QUERY_INVALID',
          `that is more than ${MAX_BUCKETS} ${bucket}s; narrow the range or use bucket=day`,
        );
      }
      const from = new Date(fromMs).toISOString();
      const to = new Date(toMs).toISOString();
      const keysOf = query.by === 'team' ? teamsOf(ctx) : (agent: string) => [agent];
      const builder = new UsageSeriesBuilder({ fromMs, toMs, bucketMs, keysOf });
      const { read, truncated } = await addCompletedCalls(ctx, builder, from, to);
      const series = builder.result();
      return {
        from,
        to,
        bucket,
        by: query.by,
        metrics: [...USAGE_METRICS],
        buckets: [...series.buckets],
        lines: series.lines,
        eventsRead: read,
        truncated,
      };
    },
  }),
];
