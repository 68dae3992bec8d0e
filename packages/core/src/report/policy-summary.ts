import type { CompiledPolicy } from '../policy/compiled-policy.js';
import type { AgentRules } from './soc2-report.js';

/**
 * The rules each agent a policy names is subject to (its own, its groups', `agents.*`), counted by
 * effect, and its budgets; then `*`: what applies to any agent the policy does not name.
 */
export function policyAgentRules(policy: CompiledPolicy): AgentRules[] {
  const named = [...policy.plans.values()].sort((a, b) => (a.agent < b.agent ? -1 : 1));
  const plans = [...named, { ...policy.wildcardPlan, agent: '*' }];
  return plans.map((plan) => {
    const counts = { allow: 0, review: 0, block: 0 };
    for (const rule of plan.rules) counts[rule.effect] += 1;
    return {
      agent: plan.agent,
      rules: plan.rules.length,
      ...counts,
      budgets: policy.budgets.forAgent(plan.agent).budgets.length,
    };
  });
}
