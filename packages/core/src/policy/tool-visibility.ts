import type { CompiledPolicy } from './compiled-policy.js';
import { candidatesFor, planFor } from './policy-evaluator.js';

/**
 * Whether any call of `tool` by `agent` could be allowed or sent for review under the policy, judged
 * without arguments. `may`: some call could be. `blocked`: a block rule with no condition and no target
 * to miss stops every call. `unnamed`: no allow or review rule names the tool and the default is block —
 * the only case a grant can lift. What an agent is shown (an MCP gateway's tools/list) follows this, so
 * it never sees a tool it can never use.
 */
export function toolReach(
  policy: CompiledPolicy,
  agent: string,
  tool: string,
): 'may' | 'blocked' | 'unnamed' {
  // Monitor mode decides nothing: every call is allowed, with what would have happened in its reasons.
  if (policy.mode === 'monitor') return 'may';
  let permissive = false;
  for (const c of candidatesFor(planFor(policy, agent), tool)) {
    if (c.rule.effect === 'block') {
      if (c.targets === null && c.when === null) return 'blocked';
    } else {
      permissive = true;
    }
  }
  return permissive || policy.defaultEffect !== 'block' ? 'may' : 'unnamed';
}
