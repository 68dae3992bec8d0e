import {
  APPROVAL_STATUSES,
  type ApprovalRecord,
  samePrincipal,
  tally,
  type Voter,
  WardenError,
} from '@warden/core';
import { z } from 'zod';
import { actorOf, type Principal } from '../auth/principal.js';
import { IdParams } from '../http/id-params.js';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';
import { waitForApproval } from './approval-wait.js';

const VoteSchema = z.object({
  principal: z.string(),
  kind: z.enum(['agent', 'human', 'service']),
  role: z.string(),
  vote: z.enum(['approve', 'deny']),
  reason: z.string().optional(),
  ts: z.string(),
  via: z.string().optional(),
});

const ProgressSchema = z.object({
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
    requirements: z.array(z.unknown()),
    groups: z.record(z.string(), z.array(z.string())),
    requireReason: z.boolean(),
    onTimeout: z.enum(['block', 'allow']),
    createdAt: z.string(),
    expiresAt: z.string(),
    escalateAt: z.string().nullable(),
    escalated: z.boolean(),
    votes: z.array(VoteSchema),
    progress: z.array(ProgressSchema),
    decidedAt: z.string().nullable(),
    decidedBy: z.string().nullable(),
    outcomeReason: z.string().nullable(),
    override: z.boolean(),
    usedAt: z.string().nullable(),
    usedByCall: z.string().nullable(),
  })
  .meta({ id: 'Approval' });

/** The API view of a request. */
export function approvalView(a: ApprovalRecord): z.infer<typeof ApprovalViewSchema> {
  // callHmac binds the request to the whole call; it means nothing to a reader and stays inside.
  const { version: _version, updatedAt: _updated, callHmac: _call, argsFlags, ...rest } = a;
  return {
    ...rest,
    reasons: [...a.reasons],
    ...(argsFlags ? { argsFlags: [...argsFlags] } : {}),
    delegationChain: [...a.delegationChain],
    requirements: [...a.requirements],
    groups: Object.fromEntries(Object.entries(a.groups).map(([g, m]) => [g, [...m]])),
    votes: a.votes.map((v) => ({ ...v })),
    progress: tally(a).progress.map((p) => ({ ...p, missingGroups: [...p.missingGroups] })),
  };
}

/** The voter a key stands for: its kind, name, role and key id, never anything from the request body. */
export function voterOf(p: Principal): Voter {
  return { kind: p.kind, id: p.id, role: p.role, keyId: p.keyId };
}

/** A request an agent key may see: only its own agent's. Others get the same 404 as a missing one. */
async function visible(ctx: ServerContext, id: string, p: Principal): Promise<ApprovalRecord> {
  const a = await ctx.engine.approvals.get(id);
  if (p.role === 'agent' && a.agent !== p.id) {
    throw new WardenError('APPROVAL_NOT_FOUND', `no approval request has id ${id}`);
  }
  return a;
}

/**
 * A request an agent key may vote on: its own (to be refused, and recorded, for separation of duties) or
 * one whose rule names it as an approver. Any other is a 404, so an agent cannot probe other requests.
 */
export async function votable(ctx: ServerContext, id: string, p: Principal): Promise<void> {
  if (p.role !== 'agent') return;
  const a = await ctx.engine.approvals.get(id);
  const named = a.requirements.some((r) =>
    [...r.approvers.agents, ...(r.escalate?.to.agents ?? [])].some((x) => samePrincipal(x, p.id)),
  );
  if (a.agent !== p.id && !named)
    throw new WardenError('APPROVAL_NOT_FOUND', `no approval request has id ${id}`);
}

/** The view for `p`: an agent does not see who is in the approver groups. */
export function viewFor(a: ApprovalRecord, p: Principal): z.infer<typeof ApprovalViewSchema> {
  const view = approvalView(a);
  return p.role === 'agent' ? { ...view, groups: {} } : view;
}

/** The channel a vote came through, for the audit: the CLI and dashboard say so in a header. */
function channelOf(header: string | string[] | undefined): string {
  return header === 'cli' || header === 'dashboard' ? header : 'api';
}

const ApprovalParams = IdParams;
const Reason = z.string().trim().max(2_000).optional().meta({ description: 'Recorded with the vote.' });
/** The body of a vote: an optional reason (required where the rule says so). */
export const VoteBody = z.strictObject({ reason: Reason });
/** What a vote can be refused with, on any channel. */
export const VOTE_ERRORS = [
  'APPROVAL_NOT_FOUND',
  'APPROVAL_SELF_APPROVAL',
  'APPROVAL_NOT_ELIGIBLE',
  'APPROVAL_DECIDED',
  'APPROVAL_ALREADY_VOTED',
  'APPROVAL_REASON_REQUIRED',
] as const;

function voteRoute(vote: 'approve' | 'deny') {
  return defineRoute({
    method: 'POST',
    url: `/v1/approvals/:id/${vote}`,
    tag: 'approvals',
    summary:
      vote === 'approve'
        ? 'Approve a pending request. Separation of duties: nobody with a stake in it may; an agent only where the rule names it.'
        : 'Deny a pending request; the held call is blocked once the denials reach the threshold.',
    roles: ['approver', 'admin', 'agent'],
    params: ApprovalParams,
    body: VoteBody,
    response: { status: 200, schema: ApprovalViewSchema },
    errors: VOTE_ERRORS,
    async handler({ params, body, principal, ctx, request }) {
      await votable(ctx, params.id, principal);
      const a = await ctx.engine.approvals.vote(params.id, voterOf(principal), vote, {
        ...(body.reason ? { reason: body.reason } : {}),
        via: channelOf(request.headers['warden-client']),
      });
      return viewFor(a, principal);
    },
  });
}

export const approvalRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/approvals',
    tag: 'approvals',
    summary: 'List approval requests, newest first (pending ones by default filter `status=pending`).',
    roles: ['approver', 'admin', 'auditor'],
    query: z.strictObject({
      status: z.enum(APPROVAL_STATUSES).optional(),
      agent: z.string().min(1).max(200).optional(),
      session: z.string().min(1).max(200).optional(),
      limit: z.coerce.number().int().min(1).max(1_000).default(100),
      cursor: z.string().max(400).optional(),
    }),
    response: {
      status: 200,
      schema: z.object({ approvals: z.array(ApprovalViewSchema), nextCursor: z.string().nullable() }),
    },
    errors: ['QUERY_INVALID'],
    async handler({ query, ctx }) {
      const page = await ctx.engine.approvals.list(query);
      return { approvals: page.approvals.map(approvalView), nextCursor: page.nextCursor };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/approvals/:id',
    tag: 'approvals',
    summary: 'One approval request with its votes and progress (an agent sees only its own).',
    roles: ['approver', 'admin', 'auditor', 'agent'],
    params: ApprovalParams,
    response: { status: 200, schema: ApprovalViewSchema },
    errors: ['APPROVAL_NOT_FOUND'],
    handler: async ({ params, principal, ctx }) =>
      viewFor(await visible(ctx, params.id, principal), principal),
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/approvals/:id/wait',
    tag: 'approvals',
    summary:
      'Long-poll: answers as soon as the request is decided (from any instance), or with it still pending after timeoutMs.',
    roles: ['agent', 'approver', 'admin'],
    params: ApprovalParams,
    query: z.strictObject({ timeoutMs: z.coerce.number().int().min(0).default(30_000) }),
    response: { status: 200, schema: ApprovalViewSchema },
    errors: ['APPROVAL_NOT_FOUND'],
    async handler({ params, query, principal, ctx, request }) {
      if (query.timeoutMs > ctx.config.maxWaitMs) {
        throw new WardenError('REQUEST_INVALID', `timeoutMs must be at most ${ctx.config.maxWaitMs}`, {
          problems: [`timeoutMs: at most ${ctx.config.maxWaitMs}`],
        });
      }
      await visible(ctx, params.id, principal);
      const gone = new AbortController();
      request.raw.once('close', () => gone.abort());
      return viewFor(await waitForApproval(ctx, params.id, query.timeoutMs, gone.signal), principal);
    },
  }),
  voteRoute('approve'),
  voteRoute('deny'),
  defineRoute({
    method: 'POST',
    url: '/v1/approvals/:id/override',
    tag: 'approvals',
    summary:
      'Admin override: decide alone, whatever the quorum, with a reason. Always audited; never by anyone with a stake.',
    roles: ['admin'],
    params: ApprovalParams,
    body: z.strictObject({
      decision: z.enum(['approve', 'deny']),
      reason: z.string().trim().min(1, 'say why').max(2_000),
    }),
    response: { status: 200, schema: ApprovalViewSchema },
    errors: VOTE_ERRORS,
    handler: async ({ params, body, principal, ctx }) =>
      approvalView(
        await ctx.engine.approvals.override(params.id, voterOf(principal), body.decision, body.reason),
      ),
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/approvals/:id/cancel',
    tag: 'approvals',
    summary: 'Withdraw a pending request: the requesting agent, or an admin.',
    roles: ['agent', 'admin'],
    params: ApprovalParams,
    body: VoteBody,
    response: { status: 200, schema: ApprovalViewSchema },
    errors: ['APPROVAL_NOT_FOUND', 'APPROVAL_DECIDED'],
    async handler({ params, body, principal, ctx }) {
      await visible(ctx, params.id, principal);
      return viewFor(
        await ctx.engine.approvals.cancel(params.id, actorOf(principal), body.reason ?? null),
        principal,
      );
    },
  }),
];
