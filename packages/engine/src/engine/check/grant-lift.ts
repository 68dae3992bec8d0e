import type { ToolCall } from '@warden/core';
import type { SessionRecord } from '../../store/store.js';
import type { CheckDeps } from './check-deps.js';
import type { EngineDecision } from './engine-decision.js';

/**
 * A grant lifts only the default block (no rule matched): a block rule or a review always stands. The
 * session's owner, initiator and chain are the grant's stake (a new session: the caller's own).
 */
export async function grantLift(
  deps: CheckDeps,
  decision: EngineDecision,
  call: ToolCall,
  sessionId: string,
  now: Date,
  session: SessionRecord | undefined,
): Promise<EngineDecision> {
  if (decision.ruleId !== null || decision.policyEffect !== 'block') return decision;
  const stake = session ?? { agent: call.agent, triggeredBy: null, delegationChain: [] };
  const grant = await deps.grants.find(call, sessionId, now, stake);
  if (!grant) return decision;
  return {
    ...decision,
    effect: 'allow',
    policyEffect: 'allow',
    reasons: [`allowed by grant ${grant.id} from ${grant.createdBy}: ${grant.reason}`],
    grantId: grant.id,
  };
}
