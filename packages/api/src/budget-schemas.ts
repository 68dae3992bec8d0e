import { z } from 'zod';
import { QueryNameSchema } from './id-params.js';
import { BUDGET_METRICS, BUDGET_SCOPES, BUDGET_WINDOWS, USAGE_METRICS } from './wire-vocabulary.js';

/** Schemas of the budget and usage routes (/v1/budgets, /v1/usage). */

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

export const BudgetQuerySchema = z.strictObject({
  agent: QueryNameSchema.optional().meta({ description: 'Budgets that apply to this agent.' }),
  session: QueryNameSchema.optional().meta({ description: 'Budgets this session draws on.' }),
  budget: QueryNameSchema.optional().meta({ description: 'Only this budget id of the policy.' }),
});

export const BudgetListSchema = z.object({ budgets: z.array(BudgetStatusSchema) });

export const UsageQuerySchema = z.strictObject({
  from: z.iso
    .datetime({ offset: true })
    .optional()
    .meta({ description: 'Default: 24 hours before `to`. Rounded down to the hour.' }),
  to: z.iso
    .datetime({ offset: true })
    .optional()
    .meta({ description: 'Default: now. Rounded up to the hour.' }),
  bucket: z.enum(['hour', 'day']).optional().meta({ description: 'Default: hour up to 3 days, else day.' }),
  by: z.enum(['agent', 'team']).default('agent'),
});

/** One line of a usage chart: an agent or a team, one value per bucket and metric. */
export const UsageLineSchema = z.object({
  key: z.string(),
  calls: z.array(z.number()),
  tokens: z.array(z.number()),
  costUsd: z.array(z.number()),
  total: z.object({ calls: z.number(), tokens: z.number(), costUsd: z.number() }),
});

/** Usage over time: completed calls, tokens and cost per bucket, per agent or team. */
export const UsageSeriesSchema = z.object({
  /** The range counted: the one asked for, rounded out to whole hours. */
  from: z.string(),
  to: z.string(),
  bucket: z.enum(['hour', 'day']),
  by: z.enum(['agent', 'team']),
  metrics: z.array(z.enum(USAGE_METRICS)),
  buckets: z.array(z.string()),
  lines: z.array(UsageLineSchema),
  /** Events read from the trail: 0 since the answer is read from rollups (see cellsRead). */
  eventsRead: z.number(),
  /** Rollup cells read: the sums of whole hours and days, kept in the commit of the calls they count. */
  cellsRead: z.number().optional(),
  /** Always false: every call of the range is counted (kept for clients of older servers, which capped). */
  truncated: z.boolean(),
});
