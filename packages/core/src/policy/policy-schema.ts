import { EFFECTS } from '@warden/api';
import { z } from 'zod';
import { BUDGET_METRICS, BUDGET_SCOPES, BUDGET_WINDOWS } from '../budget/budget-line.js';
import { DIAGNOSTIC_CODES, type DiagnosticCode } from './diagnostic.js';
import { parseDuration } from './duration.js';

/**
 * The policy file format. This Zod schema is the single source of truth: the TypeScript types, the
 * validation of every file and the JSON Schema for editors (`warden policy schema`) all come from it.
 */

const NAME = /^[A-Za-z0-9_.:@/-]+$/;
const name = z.string().min(1).max(200).regex(NAME, 'use letters, digits and _ . : @ / - only');
/** Agent section keys: a name, or `*` for the section that applies to every agent. */
const agentKey = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_.:@/-]+$|^\*$/, 'use letters, digits and _ . : @ / - only, or "*" for every agent');

const duration = z
  .string()
  .refine((s) => parseDuration(s) !== undefined, 'not a duration: write e.g. 90s, 15m, 2h, 1d or 1h30m')
  .meta({ description: 'A duration such as 90s, 15m, 2h, 1d or 1h30m.' });

const globs = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
  .meta({ description: 'A tool-name glob or a list of them: `*` any characters, `?` one, `{a,b}` either.' });

const cel = z.string().min(1).meta({
  description:
    'A CEL condition over the call; it sees agent, session, tool, args, target, labels, triggeredBy, delegationChain and now.',
});

export { EFFECTS };

/** Warnings a rule may accept (errors never can). */
const ACCEPTABLE_WARNINGS = Object.entries(DIAGNOSTIC_CODES)
  .filter(([, [severity]]) => severity === 'warning')
  .map(([code]) => code) as [DiagnosticCode, ...DiagnosticCode[]];
/** The three tiers of a decision. */
export type Effect = (typeof EFFECTS)[number];

/** Who may vote on an approval request; anyone matching any entry is eligible. */
export const ApproverSetSchema = z
  .strictObject({
    roles: z
      .array(z.string().min(1))
      .optional()
      .meta({ description: 'Key roles allowed to vote, e.g. approver.' }),
    principals: z.array(name).optional().meta({ description: 'Named humans allowed to vote.' }),
    groups: z
      .array(name)
      .optional()
      .meta({ description: 'Approver groups (from `approverGroups`) allowed to vote.' }),
    agents: z.array(name).optional().meta({
      description: 'Agents explicitly allowed to vote (agent-to-agent approval); never the requester.',
    }),
  })
  .meta({ description: 'Who may approve: any listed role, principal, approver group or agent.' });

/** What a `review` decision requires before the call may run. */
export const ApprovalSpecSchema = z
  .strictObject({
    approvers: ApproverSetSchema.optional(),
    quorum: z
      .number()
      .int()
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'Distinct approvals needed (N of M).' }),
    requireEach: z
      .array(name)
      .optional()
      .meta({ description: 'Approver groups that must each contribute at least one approval.' }),
    denyThreshold: z
      .number()
      .int()
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'Denials that reject the call.' }),
    timeout: duration.optional(),
    onTimeout: z
      .enum(['block', 'allow'])
      .optional()
      .meta({ description: 'What an expired request means; `block` unless you have a very good reason.' }),
    requireReason: z.boolean().optional().meta({ description: 'Approvers must write a reason.' }),
    escalate: z
      .strictObject({ after: duration, to: ApproverSetSchema })
      .optional()
      .meta({ description: 'Widen the approver set when the request is still pending after `after`.' }),
  })
  .meta({ description: 'Approval requirement of a review rule; unset fields come from defaults.approval.' });

/** One rule: an effect, the tools it covers, optionally the targets and a CEL condition. */
export const RuleSchema = z
  .strictObject({
    id: name.meta({ description: 'Stable rule id, unique in the policy; decisions and the audit name it.' }),
    effect: z
      .enum(EFFECTS)
      .meta({ description: 'allow: runs; review: a human approves first; block: never runs.' }),
    tools: globs,
    targets: z
      .array(name)
      .min(1)
      .optional()
      .meta({ description: 'Named targets; the rule applies only when the call hits at least one of them.' }),
    when: cel.optional(),
    reason: z.string().max(1000).optional().meta({ description: 'Shown to the agent and the approver.' }),
    approval: ApprovalSpecSchema.optional(),
    accept: z.partialRecord(z.enum(ACCEPTABLE_WARNINGS), z.string().min(10).max(1000)).optional().meta({
      description:
        'Lint warnings the author has reviewed for this rule, each with the reason it is accepted.',
    }),
  })
  .meta({ description: 'A rule. Precedence: block beats review beats allow.' });

/** A named sensitive target: a condition over the call, referable by name from rules. */
export const TargetSchema = z
  .strictObject({
    description: z.string().max(1000).optional(),
    tools: globs.optional(),
    match: globs.optional().meta({ description: "Globs over the call's declared `target` (e.g. prod-*)." }),
    labels: z
      .record(z.string(), z.string())
      .refine(
        (l) => Object.keys(l).length > 0,
        'labels needs at least one label (an empty set would match every call)',
      )
      .optional()
      .meta({ description: 'Labels the call must carry, all of them, with these values.' }),
    when: cel.optional(),
  })
  .meta({ description: 'A call hits the target when every given criterion matches.' });

const rules = z.array(RuleSchema).optional();

/** One budget: a limit on what a scope may consume in a window. */
export const BudgetSchema = z
  .strictObject({
    id: name.meta({ description: 'Unique in the policy; counters, alerts and resumes name it.' }),
    metric: z
      .enum(BUDGET_METRICS)
      .meta({ description: 'usd: cost from the price table; tokens: input + output; calls: tool calls.' }),
    limit: z.number().positive().max(1e12).meta({ description: 'The hard limit per scope and window.' }),
    scope: z.enum(BUDGET_SCOPES).meta({
      description:
        'session: each session; agent: each agent; team: all members of the group declaring it together; global: everyone; tag: each value of a call label.',
    }),
    tag: name.optional().meta({ description: 'For scope tag: the call label whose value is the scope.' }),
    window: z.enum(BUDGET_WINDOWS).meta({
      description:
        "session: the session's lifetime; hour/day/week (from Monday)/month: calendar periods in defaults.timeZone.",
    }),
    alerts: z.array(z.number().positive().max(1000)).max(10).optional().meta({
      description:
        'Soft thresholds in percent of the limit, each announced once per window. Default 50, 80, 100.',
    }),
    tools: globs
      .optional()
      .meta({ description: 'Only calls to these tools count (e.g. llm:* for model spend).' }),
  })
  .meta({
    description: 'Checked before a call runs: a call that would go over is refused and pauses its session.',
  });

const off = z.literal(false);
/** Runaway-loop detectors for one session; each trips a pause. `false` switches one off. */
export const BreakersSchema = z
  .strictObject({
    repeat: z
      .union([off, z.strictObject({ max: z.number().int().min(1).max(10_000), within: duration })])
      .optional()
      .meta({
        description:
          'The same tool with the same arguments more than `max` times within `within`. Default 10 in 10m.',
      }),
    pingPong: z
      .union([off, z.strictObject({ cycles: z.number().int().min(2).max(1_000), within: duration })])
      .optional()
      .meta({
        description:
          'Two calls (tool and arguments) alternating A, B, A, B… for `cycles` rounds within `within`. Default 5 in 10m.',
      }),
    rate: z
      .union([off, z.strictObject({ perMinute: z.number().int().min(1).max(1_000_000) })])
      .optional()
      .meta({ description: 'More than `perMinute` calls in any 60 seconds. Default 120.' }),
    tokenBurn: z
      .union([
        off,
        z.strictObject({
          expectedPerMinute: z.number().positive().max(1e12),
          factor: z.number().min(1).max(10_000).optional(),
          over: duration.optional(),
        }),
      ])
      .optional()
      .meta({
        description:
          'Tokens settled over `over` above `factor` × the expected rate. An omitted factor or over keeps the one of defaults.breakers (built in: 10 and 5m). Default 20000 tokens/min.',
      }),
  })
  .meta({ description: 'Circuit breakers that pause a session caught in a loop.' });

const budgets = z.array(BudgetSchema).max(100).optional();

export const GroupSchema = z.strictObject({
  description: z.string().max(1000).optional(),
  extends: z.array(name).optional().meta({ description: 'Groups whose rules this group inherits.' }),
  rules,
  budgets,
});

/** Which identities must be verified for a call (see docs/tasks.md). */
export const IdentitySettingsSchema = z
  .strictObject({
    requireTaskToken: z.boolean().optional().meta({
      description:
        'A call naming an initiator (triggeredBy) or a delegation chain must carry a task token (Warden-Task-Token); without one it is blocked IDENTITY_REQUIRED. Default false.',
    }),
  })
  .meta({ description: 'Identity requirements: set under defaults, or per agent to override them.' });

export const AgentSchema = z.strictObject({
  description: z.string().max(1000).optional(),
  groups: z.array(name).optional().meta({ description: 'Groups (teams) whose rules this agent inherits.' }),
  rules,
  budgets,
  breakers: BreakersSchema.optional().meta({
    description: "Overrides defaults.breakers for this agent's sessions.",
  }),
  identity: IdentitySettingsSchema.optional().meta({
    description: 'Overrides defaults.identity for this agent.',
  }),
});

export const DefaultsSchema = z.strictObject({
  decision: z
    .enum(EFFECTS)
    .optional()
    .meta({ description: 'Decision when no rule matches. Default block (least privilege).' }),
  approval: ApprovalSpecSchema.optional(),
  timeZone: z.string().min(1).max(100).optional().meta({
    description:
      'IANA time zone (e.g. Europe/Berlin) that budget hours, days, weeks and months follow. Default UTC.',
  }),
  budgets,
  breakers: BreakersSchema.optional(),
  identity: IdentitySettingsSchema.optional(),
});

/** One policy file. A policy may span several files; their sections are merged. */
export const PolicyDocumentSchema = z
  .strictObject({
    warden: z.literal(1).optional().meta({ description: 'Policy format version.' }),
    name: z.string().max(200).optional(),
    description: z.string().max(2000).optional(),
    mode: z
      .enum(['enforce', 'monitor'])
      .optional()
      .meta({ description: 'monitor records what would have happened and allows everything.' }),
    defaults: DefaultsSchema.optional(),
    redaction: z
      .strictObject({
        fields: z.array(z.string().min(1).max(200)).max(500).optional().meta({
          description:
            'Argument and result field names whose whole value is replaced before storage (case, "_" and "-" ignored), on top of the built-in list (password, token, api_key, authorization, …).',
        }),
      })
      .optional()
      .meta({ description: 'What the audit trail must never store.' }),
    approverGroups: z
      .record(name, z.array(name))
      .optional()
      .meta({ description: 'Named sets of humans, referable from approval requirements.' }),
    targets: z.record(name, TargetSchema).optional(),
    groups: z.record(name, GroupSchema).optional(),
    agents: z
      .record(agentKey, AgentSchema)
      .optional()
      .meta({ description: 'Per-agent sections; the section named "*" applies to every agent.' }),
  })
  .meta({ title: 'Warden policy', description: 'Which tools each AI agent may call, and on what terms.' });

export type PolicyDocument = z.infer<typeof PolicyDocumentSchema>;
export type RuleSpec = z.infer<typeof RuleSchema>;
export type TargetSpec = z.infer<typeof TargetSchema>;
export type ApprovalSpec = z.infer<typeof ApprovalSpecSchema>;
export type ApproverSet = z.infer<typeof ApproverSetSchema>;
export type BudgetSpec = z.infer<typeof BudgetSchema>;
export type BreakersSpec = z.infer<typeof BreakersSchema>;

/** JSON Schema (draft 2020-12) of a policy file, for editor autocompletion and validation. */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PolicyDocumentSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}
