import { z } from 'zod';
import { BudgetStatusSchema } from './budget-schemas.js';
import { SESSION_STATES } from './wire-vocabulary.js';

/** Schemas of the session routes (/v1/sessions/…). */

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

/** What a session has used: its calls by effect, completions, errors, tokens and cost. */
export const SessionUsageSchema = z.object({
  calls: z.object({ allow: z.number(), review: z.number(), block: z.number() }),
  completed: z.number(),
  errors: z.number(),
  inputTokens: z.number(),
  outputTokens: z.number(),
  costUsd: z.number(),
});

export const SessionListQuerySchema = z.strictObject({
  state: z.enum(SESSION_STATES).optional(),
  agent: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
  cursor: z.string().max(200).optional(),
});

export const SessionListSchema = z.object({
  sessions: z.array(SessionSchema),
  nextCursor: z.string().nullable(),
});

/** One session with what it has used and where each budget it draws on stands. */
export const SessionDetailSchema = z.object({
  session: SessionSchema,
  usage: SessionUsageSchema,
  budgets: z.array(BudgetStatusSchema),
});

/** A pause: why, recorded in the audit trail. */
export const ReasonRequestSchema = z.strictObject({
  reason: z
    .string()
    .trim()
    .min(1, 'say why')
    .max(2_000)
    .meta({ description: 'Recorded in the audit trail.' }),
});

/** A resume may raise budgets that paused the session, for their current window. */
export const ResumeRequestSchema = ReasonRequestSchema.extend({
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
