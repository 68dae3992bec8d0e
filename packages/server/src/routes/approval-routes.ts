import {
  ApprovalListQuerySchema,
  ApprovalListSchema,
  type ApprovalView,
  ApprovalViewSchema,
  ApprovalWaitQuerySchema,
  IdParamsSchema,
  OverrideRequestSchema,
  VoteRequestSchema,
} from '@warden/api';
import { type ApprovalRecord, samePrincipal, tally, type Voter, WardenError } from '@warden/core';
import { personAliases } from '../auth/person-aliases.js';
import { actorOf, type Principal } from '../auth/principal.js';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';
import { waitForApproval } from './approval-wait.js';

/** The API view of a request. */
export function approvalView(a: ApprovalRecord): ApprovalView {
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
  // A person signed in through the IdP votes as issuer + subject, with the approver groups of their last sign-in.
  if (p.issuer && p.subject) {
    return {
      kind: p.kind,
      id: p.id,
      role: p.role,
      issuer: p.issuer,
      subject: p.subject,
      groups: [...(p.approverGroups ?? [])],
    };
  }
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
export function viewFor(a: ApprovalRecord, p: Principal): ApprovalView {
  const view = approvalView(a);
  return p.role === 'agent' ? { ...view, groups: {} } : view;
}

/** The channel a vote came through, for the audit: the CLI and dashboard say so in a header. */
function channelOf(header: string | string[] | undefined): string {
  return header === 'cli' || header === 'dashboard' ? header : 'api';
}

const ApprovalParams = IdParamsSchema;
/** The body of a vote: an optional reason (required where the rule says so). */
export const VoteBody = VoteRequestSchema;
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
        // The same person under their other names (an SSO sign-in, a human key) has the same stake and one vote.
        ...(await personAliases(ctx.engine.store, principal)),
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
    query: ApprovalListQuerySchema,
    response: { status: 200, schema: ApprovalListSchema },
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
    query: ApprovalWaitQuerySchema,
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
    body: OverrideRequestSchema,
    response: { status: 200, schema: ApprovalViewSchema },
    errors: VOTE_ERRORS,
    handler: async ({ params, body, principal, ctx }) =>
      approvalView(
        await ctx.engine.approvals.override(
          params.id,
          voterOf(principal),
          body.decision,
          body.reason,
          await personAliases(ctx.engine.store, principal),
        ),
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
