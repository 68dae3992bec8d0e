import { performance } from 'node:perf_hooks';
import type { ApprovalRecord } from '@warden/core';
import {
  APPROVAL_STATUSES,
  type AuditEvent,
  AuditOutcomeSchema,
  approvalLetsRun,
  isWardenError,
  type ToolCall,
  ToolCallSchema,
  WardenError,
} from '@warden/core';
import type { CheckOptions, CheckResult, UsageEstimate } from '@warden/engine';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { IdParams } from '../http/id-params.js';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';
import { incomingTrace } from '../telemetry/incoming-trace.js';
import { waitForApproval } from './approval-wait.js';

const tokens = z.number().nonnegative().max(1e12);

/** What a call may consume: reserved in every budget that applies before the call is allowed. */
const EstimateSchema = z
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
export const CheckRequestSchema = ToolCallSchema.omit({ now: true, agent: true })
  .extend({
    agent: ToolCallSchema.shape.agent
      .optional()
      .meta({ description: "Must equal the key's agent when given." }),
    wait: z.number().int().min(0).optional().meta({
      description:
        'For a review decision: wait up to this many ms for the approval decision; approved, the call is allowed.',
    }),
    approvalId: z.string().min(1).max(200).optional().meta({
      description:
        'Redeem an approved request: allowed once, only for the same session, tool and arguments; a changed call voids it.',
    }),
    estimate: EstimateSchema.optional(),
  })
  .meta({ id: 'CheckRequest' });

const EFFECT = z.enum(['allow', 'review', 'block']);

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
    approvals: z.array(z.unknown()).optional(),
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
    budget: z
      .object({
        budgetId: z.string(),
        scopeKey: z.string(),
        metric: z.string(),
        limit: z.number(),
        used: z.number(),
        reserved: z.number(),
        requested: z.number(),
      })
      .optional()
      .meta({ description: 'With code BUDGET_EXCEEDED: the budget that would have gone over.' }),
  })
  .meta({ id: 'CheckResponse' });

export const CompleteRequestSchema = AuditOutcomeSchema.meta({ id: 'CompleteRequest' });

const CallIdParams = IdParams;

export const callRoutes = [
  defineRoute({
    method: 'POST',
    url: '/v1/calls',
    tag: 'calls',
    summary:
      'Decide a tool call: allow, review or block. The decision is durable in the audit trail before the answer.',
    roles: ['agent'],
    body: CheckRequestSchema,
    response: { status: 200, schema: CheckResponseSchema },
    errors: ['AGENT_MISMATCH', 'SHUTTING_DOWN'],
    async handler({ body, principal, ctx, request, reply }) {
      if (body.agent !== undefined && body.agent !== principal.id) {
        throw new WardenError(
          'AGENT_MISMATCH',
          `this key belongs to agent ${principal.id}; it cannot act as ${body.agent}`,
          { keyAgent: principal.id, bodyAgent: body.agent },
        );
      }
      if (body.wait !== undefined && body.wait > ctx.config.maxWaitMs) {
        throw new WardenError('REQUEST_INVALID', `wait must be at most ${ctx.config.maxWaitMs} ms`, {
          problems: [`wait: at most ${ctx.config.maxWaitMs}`],
        });
      }
      const { wait, approvalId, estimate, ...call } = body;
      const result = await check(
        ctx,
        { ...call, agent: principal.id },
        {
          ...(approvalId !== undefined ? { approvalId } : {}),
          ...(estimate ? { estimate } : {}),
          keyId: principal.keyId,
        },
        request.headers,
      );
      if (result.effect !== 'review' || !wait || !result.approval) return result;
      // The request side is already finished once its body is read: the response closing early says
      // the caller hung up.
      const gone = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) gone.abort();
      });
      const decided = await waitForApproval(ctx, result.approval.id, wait, gone.signal);
      // A caller that hung up never learns the call id: using the approval for it would waste it.
      if (gone.signal.aborted) return result;
      return resumeAfterApproval(
        ctx,
        { ...call, agent: principal.id, session: result.session },
        result,
        decided,
        estimate,
        principal.keyId,
      );
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/tools/visible',
    tag: 'calls',
    summary:
      "Of the tools named, those the policy does not certainly block for the key's agent (or an active grant covers): for least-privilege tool listings.",
    roles: ['agent'],
    body: z
      .strictObject({
        tools: z.array(ToolCallSchema.shape.tool).max(10_000),
        session: z.string().min(1).max(200).optional().meta({
          description:
            "Also show tools a grant of this session lifts (default: a grant of any of the agent's sessions).",
        }),
      })
      .meta({ id: 'VisibleToolsRequest' }),
    response: {
      status: 200,
      schema: z.object({ agent: z.string(), visible: z.array(z.string()) }).meta({ id: 'VisibleTools' }),
    },
    errors: [],
    handler: async ({ body, principal, ctx }) => ({
      agent: principal.id,
      visible: await ctx.engine.visibleTools(principal.id, body.tools, body.session),
    }),
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/calls/:id/complete',
    tag: 'calls',
    summary: 'Record how an allowed call ended: result or error, duration and usage.',
    roles: ['agent'],
    params: CallIdParams,
    body: CompleteRequestSchema,
    response: { status: 200, schema: z.object({ callId: z.string(), auditSeq: z.number().int() }) },
    errors: [
      'CALL_NOT_FOUND',
      'CALL_NOT_RUNNABLE',
      'CALL_ALREADY_COMPLETED',
      'CALL_VOIDED',
      'STORE_UNAVAILABLE',
    ],
    async handler({ params, body, principal, ctx, request }) {
      const start = performance.timeOrigin + performance.now();
      let end: number | undefined;
      let error: string | undefined;
      let call: AuditEvent | undefined;
      try {
        const { auditSeq, decided } = await ctx.engine.complete(params.id, body, principal.id, {
          keyId: principal.keyId,
        });
        call = decided;
        end = performance.timeOrigin + performance.now();
        ctx.metrics.completions.inc({ status: body.status });
        return { callId: params.id, auditSeq };
      } catch (err) {
        error = err instanceof WardenError ? err.code : 'INTERNAL';
        throw err;
      } finally {
        ctx.tracer?.record({
          name: 'warden.complete',
          parent: incomingTrace(request.headers),
          startMs: start,
          endMs: end ?? performance.timeOrigin + performance.now(),
          attributes: {
            'warden.agent': principal.id,
            'warden.call_id': params.id,
            'warden.status': body.status,
            'warden.tool': call?.tool,
            'warden.session': call?.session,
            'warden.decision': call?.decision?.effect,
            'warden.rule': call?.decision?.ruleId ?? undefined,
          },
          ...(error ? { error } : {}),
        });
      }
    },
  }),
];

/**
 * The answer to a call that waited for its approval: approved, it is allowed and the approval is used by
 * it (once); denied or expired, it is blocked; still pending, it stays a review.
 */
async function resumeAfterApproval(
  ctx: ServerContext,
  call: ToolCall,
  result: CheckResult,
  a: ApprovalRecord,
  estimate: UsageEstimate | undefined,
  keyId: string,
) {
  const approval = { id: a.id, status: a.status, expiresAt: a.expiresAt, decidedBy: a.decidedBy };
  if (a.status === 'pending') return { ...result, approval };
  if (approvalLetsRun(a)) {
    try {
      // Approved, but the session may have been paused meanwhile, or the policy changed: checked again.
      const go = await ctx.engine.proceedApproved(call, a.id, result.callId, estimate, { keyId });
      if (!go.allowed) return { ...blocked(result, approval, go.reason), code: go.code };
      const by = a.override ? `${a.decidedBy} (override)` : (a.decidedBy ?? 'expiry');
      return {
        ...result,
        effect: 'allow' as const,
        reasons: [...result.reasons, `approved by ${by}`],
        approval,
      };
    } catch (err) {
      if (!isWardenError(err, 'APPROVAL_DECIDED')) throw err;
      const now = await ctx.engine.approvals.get(a.id);
      return blocked(result, { ...approval, status: now.status }, `approval ${a.id} is ${now.status}`);
    }
  }
  const why = a.outcomeReason ? `: ${a.outcomeReason}` : '';
  return blocked(
    result,
    approval,
    `approval ${a.id} was ${a.status}${a.decidedBy ? ` by ${a.decidedBy}` : ''}${why}`,
  );
}

function blocked(result: CheckResult, approval: Record<string, unknown>, reason: string) {
  return { ...result, effect: 'block' as const, reasons: [...result.reasons, reason], approval };
}

async function check(
  ctx: ServerContext,
  call: Record<string, unknown>,
  options: CheckOptions,
  headers: FastifyRequest['headers'],
): Promise<CheckResult> {
  const start = performance.now();
  const result = await ctx.engine.check(call, options);
  const end = performance.now();
  ctx.metrics.decisions.inc({ effect: result.effect, rule: result.ruleId ?? '', code: result.code ?? '' });
  ctx.metrics.checkSeconds.observe({ effect: result.effect }, (end - start) / 1000);
  ctx.tracer?.record({
    name: 'warden.check',
    // The caller's span (W3C traceparent, which the SDK sends from the agent's active span) is the parent.
    parent: incomingTrace(headers),
    startMs: performance.timeOrigin + start,
    endMs: performance.timeOrigin + end,
    attributes: {
      'warden.agent': call.agent as string,
      'warden.tool': call.tool as string,
      'warden.session': result.session,
      'warden.decision': result.effect,
      'warden.rule': result.ruleId ?? undefined,
      'warden.call_id': result.callId,
      'warden.code': result.code,
      'warden.policy_version': result.policyVersion,
    },
  });
  return result;
}
