import { type AuditEvent, type BudgetLine, detectBurn, type MeteredCall, type Usage } from '@warden/core';
import type { ChargedTo } from '../budget/budget-service.js';
import type { CheckDeps } from './check/check-deps.js';
import { asWardenError, WARDEN } from './check/engine-decision.js';
import { pauseLater } from './check/pause-session.js';

/**
 * After a completion: alerts and a hard breach from the settlement, and the token-burn breaker. A
 * failure here is reported, never thrown: the completion itself is already recorded.
 */
export async function afterCompletion(
  deps: CheckDeps,
  decided: AuditEvent,
  usage: Usage | undefined,
  lines: readonly BudgetLine[] | undefined,
): Promise<void> {
  const session = decided.session as string;
  const agent = decided.agent as string;
  const policy = deps.port.policy();
  // Monitor mode records and allows: alerts go out, but nothing is paused.
  const monitor = policy.mode === 'monitor';
  try {
    if (lines?.length) {
      const metered: MeteredCall = { agent, session, tool: decided.tool as string };
      await afterCharge(deps, lines, metered, decided.callId as string);
    }
    const tokens = (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0);
    const settings = deps.port.policy().budgets.forAgent(agent).breakers;
    if (tokens > 0 && settings.tokenBurn && !monitor) {
      const now = Date.now();
      const samples = deps.history.burn(session, { at: now, tokens }, settings.tokenBurn.overMs);
      const trip = detectBurn(samples, now, settings);
      if (trip) {
        const reason = `${trip.reason}; session ${session} is paused until a human resumes it`;
        const event = deps.port.event('breaker.tripped', WARDEN, {
          agent,
          session,
          callId: decided.callId as string,
          data: { breaker: trip.breaker, reason: trip.reason, ...trip.detail },
        });
        await pauseLater(deps.port, session, agent, 'RUNAWAY_DETECTED', reason, [event]);
      }
    }
  } catch (err) {
    deps.onError(asWardenError(err));
  }
}

/**
 * After spend was charged to budget lines (a completion's settlement, or the sweep charging an expired
 * reservation its estimate): announces the thresholds crossed and pauses the session on a hard breach.
 */
export async function afterCharge(
  deps: Pick<CheckDeps, 'port' | 'budgets'>,
  lines: readonly BudgetLine[],
  call: ChargedTo,
  callId: string,
): Promise<void> {
  const breach = await deps.budgets.afterSettle(lines, call);
  if (!breach || deps.port.policy().mode === 'monitor') return;
  const limit = breach.limitOverride ?? breach.limit;
  const reason = `budget ${breach.budgetId} (${breach.scopeKey}) went over its limit: ${breach.used} used of ${limit} ${breach.metric}; session ${call.session} is paused until a human resumes it`;
  const exceeded = deps.port.event('budget.exceeded', WARDEN, {
    agent: call.agent,
    session: call.session,
    callId,
    data: {
      budgetId: breach.budgetId,
      scopeKey: breach.scopeKey,
      metric: breach.metric,
      limit,
      used: breach.used,
      reason,
    },
  });
  await pauseLater(deps.port, call.session, call.agent, 'BUDGET_EXCEEDED', reason, [exceeded]);
}
