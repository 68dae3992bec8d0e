import type { CheckResult } from '@warden/engine';
import { HTTP_STATUS } from '../http/error-status.js';
import type { LlmEndpoint } from './llm-endpoints.js';
import { LlmProxyError } from './provider-errors.js';

/**
 * The status of a refused request. A budget refusal is 429, the status LLM clients and agent frameworks
 * read as "out of quota"; a policy block or review is 403; an engine code keeps its API status (a
 * paused session 409, the store down 503).
 */
function refusalStatus(r: CheckResult): number {
  if (r.effect === 'review' || r.code === undefined) return 403;
  if (r.code === 'BUDGET_EXCEEDED') return 429;
  return HTTP_STATUS[r.code] ?? 403;
}

/**
 * The answer to a request Warden did not allow: the provider's error shape, with the Warden code, the
 * rule and reasons in the message (what a person reads in an agent's log) and in full beside it. The
 * official clients are told not to retry a refusal; a store outage (5xx) may be retried.
 */
export function refusalOf(r: CheckResult, endpoint: LlmEndpoint): LlmProxyError {
  const review = r.effect === 'review';
  const code = r.code ?? (review ? 'REVIEW_REQUIRED' : 'POLICY_BLOCKED');
  const status = refusalStatus(r);
  const rule = r.ruleId ? ` by rule ${r.ruleId}` : '';
  const reasons = r.reasons.length > 0 ? r.reasons.join('; ') : 'no reason given';
  const what = review ? `needs a human approval${rule}` : `was refused${rule}`;
  return new LlmProxyError({
    status,
    code,
    message: `this llm:${endpoint.provider} request ${what}: ${reasons} (call ${r.callId})`,
    retry: status >= 500,
    warden: {
      callId: r.callId,
      session: r.session,
      effect: r.effect,
      ruleId: r.ruleId,
      reasons: r.reasons,
      ...(r.code ? { code: r.code } : {}),
      ...(r.approval ? { approvalId: r.approval.id } : {}),
      ...(r.budget ? { budget: r.budget } : {}),
    },
  });
}
