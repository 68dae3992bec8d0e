import { UsageQuerySchema, UsageSeriesSchema } from '@warden/api';
import { USAGE_METRICS, UsageSeriesBuilder, WardenError } from '@warden/core';
import { readUsage, wholeHours } from '@warden/engine';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
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

export const usageRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/usage',
    tag: 'budgets',
    summary:
      'Usage over time from the audit trail: completed calls, tokens and cost per hour or day, per agent or per team (the groups of the policy in force). Exact over any range of whole hours (from is rounded down and to up to the hour; the answer gives the range counted): read from sums kept in the commit of the calls they count.',
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
      const keysOf = query.by === 'team' ? teamsOf(ctx) : (agent: string) => [agent];
      // Whole hours (from rounded down, to up; the answer says which), read from the rollups kept in
      // the commit of the calls they count: exact at any volume, nothing capped, never truncated.
      const range = wholeHours(fromMs, toMs);
      const builder = new UsageSeriesBuilder({ ...range, bucketMs, keysOf });
      const read = await readUsage(ctx.engine.store, { ...range, days: bucket === 'day' }, builder);
      const series = builder.result();
      return {
        from: new Date(range.fromMs).toISOString(),
        to: new Date(range.toMs).toISOString(),
        bucket,
        by: query.by,
        metrics: [...USAGE_METRICS],
        buckets: [...series.buckets],
        lines: series.lines,
        eventsRead: 0,
        cellsRead: read.cellsRead,
        truncated: false,
      };
    },
  }),
];
