import type { ToolCall } from './call.js';
import type { CompiledPolicy, CompiledRule } from './compiled-policy.js';
import type { Decision } from './decision.js';
import { evaluate, planFor } from './policy-evaluator.js';

/** One rule as explain saw it: in scope, whether its tools matched, and what its targets and condition gave. */
export interface RuleTrace {
  readonly id: string;
  readonly effect: CompiledRule['effect'];
  readonly section: string;
  readonly tools: readonly string[];
  readonly toolMatched: boolean;
  readonly targets?: readonly { readonly name: string; readonly result: boolean | string }[];
  readonly when?: { readonly source: string; readonly result: boolean | string };
  readonly matched: boolean;
  readonly decided: boolean;
  readonly location: string;
}

/** A decision with the full reasoning behind it. */
export interface Explanation {
  readonly decision: Decision;
  readonly agentKnown: boolean;
  readonly sections: readonly string[];
  readonly rules: readonly RuleTrace[];
}

/** Evaluates a call and records every rule in the agent's scope, matched or not, with CEL results. */
export function explain(policy: CompiledPolicy, call: ToolCall): Explanation {
  const traces: Omit<RuleTrace, 'decided'>[] = [];
  const decision = evaluate(policy, call, {
    rule(rule, toolMatched, outcome) {
      const loc = rule.src.yaml.locate([...rule.src.path, 'id']);
      traces.push({
        id: rule.id,
        effect: rule.effect,
        section: rule.section,
        tools: rule.tools,
        toolMatched,
        ...(outcome?.targets
          ? { targets: outcome.targets.map((t) => ({ name: t.name, result: asResult(t.result) })) }
          : {}),
        ...(rule.when
          ? {
              when: {
                source: rule.when.source,
                result: outcome?.when === undefined ? 'not evaluated' : asResult(outcome.when),
              },
            }
          : {}),
        matched: outcome?.matched === true,
        location: `${rule.src.yaml.file}:${loc.line}:${loc.col}`,
      });
    },
  });
  const plan = planFor(policy, call.agent);
  return {
    decision,
    agentKnown: policy.plans.has(call.agent),
    sections: plan.sections,
    rules: traces.map((t) => ({ ...t, decided: t.id === decision.ruleId })),
  };
}

function asResult(r: boolean | Error): boolean | string {
  return r instanceof Error ? `error: ${r.message}` : r;
}
