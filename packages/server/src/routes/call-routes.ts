import { performance } from 'node:perf_hooks';
import {
  CheckRequestSchema,
  type CheckResponse,
  CheckResponseSchema,
  CompleteRequestSchema,
  CompleteResponseSchema,
  IdParamsSchema,
  TASK_TOKEN_HEADER,
  VisibleToolsRequestSchema,
  VisibleToolsSchema,
} from '@warden/api';
import type { ApprovalRecord } from '@warden/core';
import {
  type AuditEvent,
  approvalLetsRun,
  callFieldIssues,
  isWardenError,
  refineCallFields,
  type ToolCall,
  ToolCallSchema,
  WardenError,
} from '@warden/core';
import type { CheckOptions, CheckResult, UsageEstimate } from '@warden/engine';
import type { FastifyRequest } from 'fastify';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';
import { incomingTrace } from '../telemetry/incoming-trace.js';
import { waitForApproval } from './approval-wait.js';

const CallIdParams = IdParamsSchema;

/**
 * The API's check request with the domain's rules for a call's fields (no credential-looking ids, only
 * visible characters in a person's name), so such a call is refused before anything is recorded.
 */
const CheckBody = CheckRequestSchema.superRefine(refineCallFields);
/** The tools named must be tool names the domain accepts too. */
const VisibleToolsBody = VisibleToolsRequestSchema.superRefine((body, ctx) => {
  body.tools.forEach((tool, i) => {
    for (const { message } of callFieldIssues({ tool }))
      ctx.addIssue({ code: 'custom', message, path: ['tools', i] });
  });
});

export const callRoutes = [
  defineRoute({
    method: 'POST',
    url: '/v1/calls',
    tag: 'calls',
    summary:
      'Decide a tool call: allow, review or block. The decision is durable in the audit trail before the answer.',
    roles: ['agent'],
    body: CheckBody,
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
      const taskToken = taskTokenOf(request.headers);
      const result = await check(
        ctx,
        { ...call, agent: principal.id },
        {
          ...(approvalId !== undefined ? { approvalId } : {}),
          ...(estimate ? { estimate } : {}),
          keyId: principal.keyId,
          ...(taskToken !== undefined ? { taskToken } : {}),
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
      // The call as it was decided: with a token, its initiator and chain are the token's.
      const claims =
        taskToken !== undefined ? await ctx.engine.tasks.inspect(taskToken, principal.id) : undefined;
      return resumeAfterApproval(
        ctx,
        {
          ...call,
          agent: principal.id,
          session: result.session,
          ...(claims
            ? {
                triggeredBy: claims.initiator.name,
                ...(claims.chain.length ? { delegationChain: claims.chain.map((l) => l.agent) } : {}),
              }
            : {}),
        },
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
    body: VisibleToolsBody,
    response: { status: 200, schema: VisibleToolsSchema },
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
    response: { status: 200, schema: CompleteResponseSchema },
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

function blocked(result: CheckResult, approval: NonNullable<CheckResponse['approval']>, reason: string) {
  return { ...result, effect: 'block' as const, reasons: [...result.reasons, reason], approval };
}

/** The task token a request carries (Warden-Task-Token), or undefined; an empty one is presented as is (refused). */
export function taskTokenOf(headers: FastifyRequest['headers']): string | undefined {
  const value = headers[TASK_TOKEN_HEADER];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : value;
}

/** Agent ids seen to satisfy the call's agent rules (a key's agent never changes): checked once each. */
const validAgents = new Set<string>();

/** Whether a key's agent id is one a call may carry (keys made before a rule existed may not be). */
function agentIsValid(agent: string): boolean {
  if (validAgents.has(agent)) return true;
  if (!ToolCallSchema.shape.agent.safeParse(agent).success) return false;
  if (validAgents.size < 10_000) validAgents.add(agent);
  return true;
}

async function check(
  ctx: ServerContext,
  call: ToolCall,
  options: CheckOptions,
  headers: FastifyRequest['headers'],
): Promise<CheckResult> {
  const start = performance.now();
  // Completions held by the proxy and the gateway join this decision's commit.
  ctx.completions.beforeDecision();
  // The body was validated once, against the API's schema refined with the domain's rules (CheckBody,
  // which ToolCallSchema equals): the engine does not parse it again. The agent comes from the key, not
  // the body: an id the rules refuse goes through `check`, which records it as an invalid call.
  const result = agentIsValid(call.agent)
    ? await ctx.engine.checkValidated(call, options)
    : await ctx.engine.check(call, options);
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
