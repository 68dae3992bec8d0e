import { z } from 'zod';
import { APPROVAL_STATUSES } from './wire-vocabulary.js';

/** Schemas of the approval routes (/v1/approvals/…, notification links). */

export const VoteSchema = z.object({
  principal: z.string(),
  kind: z.enum(['agent', 'human', 'service']),
  role: z.string(),
  vote: z.enum(['approve', 'deny']),
  reason: z.string().optional(),
  ts: z.string(),
  via: z.string().optional(),
  /** An SSO person's IdP approver groups when they voted, and their issuer and subject. */
  groups: z.array(z.string()).optional(),
  issuer: z.string().optional(),
  subject: z.string().optional(),
  /** The API key a person voted with (an SSO person has none). */
  keyId: z.string().optional(),
});

const ApproversSchema = z.object({
  roles: z.array(z.string()),
  principals: z.array(z.string()),
  groups: z.array(z.string()),
  agents: z.array(z.string()),
});

/** An approval requirement of a review rule, resolved: every field set, defaults applied. */
export const ApprovalRequirementSchema = z
  .object({
    approvers: ApproversSchema,
    quorum: z.number().int(),
    requireEach: z.array(z.string()),
    denyThreshold: z.number().int(),
    timeoutMs: z.number(),
    onTimeout: z.enum(['block', 'allow']),
    requireReason: z.boolean(),
    escalate: z.object({ afterMs: z.number(), to: ApproversSchema }).optional(),
  })
  .meta({ id: 'ApprovalRequirement' });

/** Where one approval requirement stands. */
export const ApprovalProgressSchema = z.object({
  approvals: z.number(),
  quorum: z.number(),
  missingGroups: z.array(z.string()),
  denials: z.number(),
  denyThreshold: z.number(),
  met: z.boolean(),
});

/** An approval request as the API shows it: the stored request plus where its votes stand. */
export const ApprovalViewSchema = z
  .object({
    id: z.string(),
    callId: z.string(),
    status: z.enum(APPROVAL_STATUSES),
    agent: z.string(),
    session: z.string(),
    tool: z.string(),
    args: z.unknown().meta({ description: 'Redacted, as the audit trail stores them.' }),
    argsHmac: z.string(),
    argsFlags: z
      .array(z.string())
      .optional()
      .meta({ description: 'Set when the stored arguments were capped or cut: not all of them are shown.' }),
    target: z.string().nullable(),
    ruleId: z.string().nullable(),
    policyVersion: z.string(),
    reasons: z.array(z.string()),
    triggeredBy: z.string().nullable(),
    delegationChain: z.array(z.string()),
    requirements: z.array(ApprovalRequirementSchema),
    groups: z.record(z.string(), z.array(z.string())),
    requireReason: z.boolean(),
    onTimeout: z.enum(['block', 'allow']),
    createdAt: z.string(),
    expiresAt: z.string(),
    escalateAt: z.string().nullable(),
    escalated: z.boolean(),
    votes: z.array(VoteSchema),
    progress: z.array(ApprovalProgressSchema),
    decidedAt: z.string().nullable(),
    decidedBy: z.string().nullable(),
    outcomeReason: z.string().nullable(),
    override: z.boolean(),
    usedAt: z.string().nullable(),
    usedByCall: z.string().nullable(),
  })
  .meta({ id: 'Approval' });

export const ApprovalListQuerySchema = z.strictObject({
  status: z.enum(APPROVAL_STATUSES).optional(),
  agent: z.string().min(1).max(200).optional(),
  session: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
  cursor: z.string().max(400).optional(),
});

export const ApprovalListSchema = z.object({
  approvals: z.array(ApprovalViewSchema),
  nextCursor: z.string().nullable(),
});

export const ApprovalWaitQuerySchema = z.strictObject({
  timeoutMs: z.coerce.number().int().min(0).default(30_000),
});

/** The body of a vote (or a cancel): an optional reason (required where the rule says so). */
export const VoteRequestSchema = z.strictObject({
  reason: z.string().trim().max(2_000).optional().meta({ description: 'Recorded with the vote.' }),
});

/** An admin override: decide alone, with a reason. */
export const OverrideRequestSchema = z.strictObject({
  decision: z.enum(['approve', 'deny']),
  reason: z.string().trim().min(1, 'say why').max(2_000),
});

/** The signed token of a notification link. */
export const LinkTokenParamsSchema = z.strictObject({ token: z.string().min(10).max(1_000) });
