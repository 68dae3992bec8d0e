import { z } from 'zod';
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

export const EFFECTS = ['allow', 'review', 'block'] as const;

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

export const GroupSchema = z.strictObject({
  description: z.string().max(1000).optional(),
  extends: z.array(name).optional().meta({ description: 'Groups whose rules this group inherits.' }),
  rules,
});

export const AgentSchema = z.strictObject({
  description: z.string().max(1000).optional(),
  groups: z.array(name).optional().meta({ description: 'Groups (teams) whose rules this agent inherits.' }),
  rules,
});

export const DefaultsSchema = z.strictObject({
  decision: z
    .enum(EFFECTS)
    .optional()
    .meta({ description: 'Decision when no rule matches. Default block (least privilege).' }),
  approval: ApprovalSpecSchema.optional(),
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

/** JSON Schema (draft 2020-12) of a policy file, for editor autocompletion and validation. */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PolicyDocumentSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}
