import { z } from 'zod';
import { ApprovalRequirementSchema } from './approval-schemas.js';
import { AuditOutcomeSchema } from './audit-schemas.js';
import { APPROVAL_STATUSES, EFFECTS } from './wire-vocabulary.js';

/**
 * Schemas of the call routes (/v1/calls, /v1/tools/visible). The fields of a tool call carry the wire's
 * rules (character sets, lengths, JSON shapes); the domain (@warden/core's ToolCallSchema) adds its own
 * to the same fields: no credential-looking ids, only visible characters in a person's name.
 */

/**
 * Agent and tool names: letters, digits and `_ . : @ / -`, case-sensitive. Whitespace, control and
 * look-alike characters are refused rather than matched, so `"db.drop "` cannot slip past a rule that
 * blocks `db.drop`.
 */
const CALL_NAME = /^[A-Za-z0-9_.:@/-]+$/;

/** A name of an agent or tool (`what` names it in the error). */
export function callNameSchema(what: string, max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .regex(CALL_NAME, `${what} may only contain letters, digits and _ . : @ / -`);
}

const MAX_ARG_DEPTH = 32;

/** A JSON object, refused when any key at any depth is `__proto__` (it would be dropped or alter lookups). */
function isSafeObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const stack: { v: unknown; depth: number }[] = [{ v, depth: 0 }];
  while (stack.length > 0) {
    const { v: cur, depth } = stack.pop() as { v: unknown; depth: number };
    if (typeof cur !== 'object' || cur === null) continue;
    if (depth > MAX_ARG_DEPTH) return false;
    for (const key of Object.keys(cur)) {
      if (key === '__proto__') return false;
      stack.push({ v: (cur as Record<string, unknown>)[key], depth: depth + 1 });
    }
  }
  return true;
}

/**
 * Label sizes: labels go into every audit event and (under a tag budget) a budget scope key, and each stored
 * text is scanned for secrets, so a caller cannot make one call cost megabytes of storage and scanning.
 */
export const MAX_LABEL_KEY = 128;
export const MAX_LABEL_VALUE = 1024;

/**
 * An identifier stored in a query column (session, triggeredBy): text without control characters, which
 * PostgreSQL cannot store (U+0000) and which have no place in an id a person reads.
 */
export function columnIdSchema(what: string) {
  return (
    z
      .string()
      .min(1, `${what} must not be empty`)
      .max(200)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse them.
      .regex(/^[^\u0000-\u001f\u007f]*$/, `${what} must not contain control characters`)
  );
}

/** The fields of a tool call as they travel, each with the wire's rules. */
export const ToolCallFields = {
  agent: callNameSchema('agent', 200),
  tool: callNameSchema('tool', 500),
  args: z.custom<Record<string, unknown>>(isSafeObject, {
    message: `args must be a JSON object, nested at most ${MAX_ARG_DEPTH} deep, with no "__proto__" keys`,
  }),
  session: columnIdSchema('session'),
  target: z.string().max(500),
  labels: z
    .custom<Record<string, string>>(
      (v) => isSafeObject(v) && Object.values(v).every((x) => typeof x === 'string'),
      { message: 'labels must be an object of strings, with no "__proto__" key' },
    )
    .superRefine((v, ctx) => {
      for (const [key, value] of Object.entries(v)) {
        if (key.length > MAX_LABEL_KEY) {
          ctx.addIssue({
            code: 'custom',
            message: `label name "${key.slice(0, 20)}…" is longer than ${MAX_LABEL_KEY} characters`,
          });
        } else if (value.length > MAX_LABEL_VALUE) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `label "${key}" is longer than ${MAX_LABEL_VALUE} characters`,
          });
        }
      }
    }),
  triggeredBy: columnIdSchema('triggeredBy'),
  delegationChainEntry: callNameSchema('delegationChain entries', 200),
  /** At most this many agents up a delegation chain. */
  maxDelegationChain: 64,
} as const;

const tokens = z.number().nonnegative().max(1e12);

/** What a call may consume: reserved in every budget that applies before the call is allowed. */
export const UsageEstimateSchema = z
  .strictObject({
    model: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .meta({ description: 'Priced from the price table for USD budgets.' }),
    inputTokens: tokens.optional(),
    outputTokens: tokens.optional(),
    costUsd: tokens.optional().meta({ description: 'A cost known in advance; wins over pricing the model.' }),
    spent: z.literal(true).optional().meta({
      description:
        'The usage is already spent and reported after the fact: nothing is reserved. Without it, an estimate of only zeros reserves the default estimate.',
    }),
  })
  .meta({
    id: 'UsageEstimate',
    description: 'What the call may consume at most; settled with the actual usage reported on completion.',
  });

/**
 * A call as an agent sends it. `agent` may be left out (the key names it); `now` is not accepted: the
 * policy's clock is the server's, or an agent could step outside a time-window rule.
 */
export const CheckRequestSchema = z
  .strictObject({
    tool: ToolCallFields.tool,
    args: ToolCallFields.args.optional(),
    session: ToolCallFields.session.optional(),
    target: ToolCallFields.target.optional(),
    labels: ToolCallFields.labels.optional(),
    triggeredBy: ToolCallFields.triggeredBy.optional(),
    delegationChain: z
      .array(ToolCallFields.delegationChainEntry)
      .max(ToolCallFields.maxDelegationChain)
      .optional(),
    agent: ToolCallFields.agent.optional().meta({ description: "Must equal the key's agent when given." }),
    wait: z.number().int().min(0).optional().meta({
      description:
        'For a review decision: wait up to this many ms for the approval decision; approved, the call is allowed.',
    }),
    approvalId: z.string().min(1).max(200).optional().meta({
      description:
        'Redeem an approved request: allowed once, only for the same session, tool and arguments; a changed call voids it.',
    }),
    estimate: UsageEstimateSchema.optional(),
  })
  .meta({ id: 'CheckRequest' });

/** The budget that refused a call (code BUDGET_EXCEEDED). */
export const BudgetRefusalSchema = z.object({
  budgetId: z.string(),
  scopeKey: z.string(),
  metric: z.string(),
  limit: z.number(),
  used: z.number(),
  reserved: z.number(),
  requested: z.number(),
});

const EFFECT = z.enum(EFFECTS);

/** The decision on a call: what the caller must do, why, and where it is recorded. */
export const CheckResponseSchema = z
  .object({
    callId: z.string(),
    session: z.string(),
    effect: EFFECT,
    policyEffect: EFFECT,
    ruleId: z.string().nullable(),
    matchedRuleIds: z.array(z.string()),
    reasons: z.array(z.string()),
    policyVersion: z.string(),
    approvals: z
      .array(ApprovalRequirementSchema)
      .optional()
      .meta({ description: 'Every distinct requirement of the review rules that matched: all must be met.' }),
    code: z
      .string()
      .optional()
      .meta({ description: 'Set when the engine blocked regardless of the policy.' }),
    auditSeq: z.number().int().optional(),
    approval: z
      .object({
        id: z.string(),
        status: z.enum(APPROVAL_STATUSES),
        expiresAt: z.string(),
        decidedBy: z.string().nullable().optional(),
      })
      .optional()
      .meta({ description: 'The approval request a review opened or this call redeemed, as it stands.' }),
    grantId: z.string().optional().meta({ description: 'The grant that lifted the default block.' }),
    reservationId: z
      .string()
      .optional()
      .meta({ description: 'The budget reservation the allowed call holds until it completes.' }),
    budget: BudgetRefusalSchema.optional().meta({
      description: 'With code BUDGET_EXCEEDED: the budget that would have gone over.',
    }),
  })
  .meta({ id: 'CheckResponse' });

/** How an allowed call ended: result or error, duration and usage. */
export const CompleteRequestSchema = AuditOutcomeSchema.meta({ id: 'CompleteRequest' });

export const CompleteResponseSchema = z.object({ callId: z.string(), auditSeq: z.number().int() });

export const VisibleToolsRequestSchema = z
  .strictObject({
    tools: z.array(ToolCallFields.tool).max(10_000),
    session: z.string().min(1).max(200).optional().meta({
      description:
        "Also show tools a grant of this session lifts (default: a grant of any of the agent's sessions).",
    }),
  })
  .meta({ id: 'VisibleToolsRequest' });

export const VisibleToolsSchema = z
  .object({ agent: z.string(), visible: z.array(z.string()) })
  .meta({ id: 'VisibleTools' });
