import type { ToolCall } from './call.js';
import type { CelContext } from './cel-condition.js';
import type { AgentPlan, CompiledPolicy, CompiledRule, CompiledTarget } from './compiled-policy.js';
import type { ConditionError, Decision } from './decision.js';

const EMPTY: Readonly<Record<string, never>> = Object.freeze({});
const NO_CHAIN: readonly string[] = Object.freeze([]);
const EPOCH = new Date(0);
/** Per-agent bound on distinct cached tool names, so hostile tool names cannot grow memory without end. */
const MAX_CACHED_TOOLS = 4096;

/** Observes each rule as it is considered; used by explain, absent on the hot path. */
export interface RuleObserver {
  rule(rule: CompiledRule, toolMatched: boolean, outcome: RuleOutcome | undefined): void;
}

/** How one rule fared against a call. */
export interface RuleOutcome {
  readonly matched: boolean;
  readonly targets?: readonly { readonly name: string; readonly result: boolean | Error }[];
  readonly when?: boolean | Error;
}

/** Picks the plan (the agent's rules in decision order) for an agent; unknown agents get `*` only. */
export function planFor(policy: CompiledPolicy, agent: string): AgentPlan {
  return policy.plans.get(agent) ?? policy.wildcardPlan;
}

function candidates(plan: AgentPlan, tool: string): readonly CompiledRule[] {
  let list = plan.byTool.get(tool);
  if (list === undefined) {
    list = plan.rules.filter((r) => r.matchTool(tool));
    if (plan.byTool.size >= MAX_CACHED_TOOLS) plan.byTool.clear();
    plan.byTool.set(tool, list);
  }
  return list;
}

/** Per-call evaluation state: the CEL context and target results are built once, on first need. */
class CallState {
  #ctx: CelContext | undefined;
  #targets: Map<number, boolean | Error> | undefined;
  errors: ConditionError[] | undefined;

  addError(e: ConditionError): void {
    if (this.errors === undefined) this.errors = [];
    this.errors.push(e);
  }
  constructor(
    readonly call: ToolCall,
    readonly usesNow: boolean,
  ) {}

  get ctx(): CelContext {
    if (this.#ctx === undefined) {
      const c = this.call;
      this.#ctx = {
        agent: c.agent,
        session: c.session ?? '',
        tool: c.tool,
        args: c.args ?? EMPTY,
        target: c.target ?? '',
        labels: c.labels ?? EMPTY,
        triggeredBy: c.triggeredBy ?? '',
        delegationChain: c.delegationChain ?? NO_CHAIN,
        now: c.now ?? (this.usesNow ? new Date() : EPOCH),
      };
    }
    return this.#ctx;
  }

  target(t: CompiledTarget): boolean | Error {
    const cached = this.#targets?.get(t.index);
    if (cached !== undefined) return cached;
    const result = hitsTarget(t, this);
    if (this.#targets === undefined) this.#targets = new Map();
    this.#targets.set(t.index, result);
    return result;
  }
}

function hitsTarget(t: CompiledTarget, s: CallState): boolean | Error {
  const c = s.call;
  if (t.matchTool && !t.matchTool(c.tool)) return false;
  if (t.matchTarget && (c.target === undefined || !t.matchTarget(c.target))) return false;
  if (t.labels) {
    for (const [k, v] of t.labels) if (c.labels?.[k] !== v) return false;
  }
  return t.when ? t.when.run(s.ctx) : true;
}

/** Decides whether `rule` matches; errors count as a match for block/review and not for allow. */
function matchRule(rule: CompiledRule, s: CallState, observe: boolean): RuleOutcome | boolean {
  const failClosed = rule.effect !== 'allow';
  let targetResults: { name: string; result: boolean | Error }[] | undefined;
  if (rule.targets) {
    let hit = false;
    for (const t of rule.targets) {
      const r = s.target(t);
      if (observe) {
        targetResults = targetResults ?? [];
        targetResults.push({ name: t.name, result: r });
      }
      if (r instanceof Error) {
        s.addError({
          ruleId: rule.id,
          target: t.name,
          message: r.message,
          treatedAs: failClosed ? 'match' : 'no-match',
        });
        if (failClosed) hit = true;
      } else if (r) hit = true;
      if (hit && !observe) break;
    }
    if (!hit)
      return observe ? { matched: false, ...(targetResults ? { targets: targetResults } : {}) } : false;
  }
  if (!rule.when)
    return observe ? { matched: true, ...(targetResults ? { targets: targetResults } : {}) } : true;
  const w = rule.when.run(s.ctx);
  let matched = w === true;
  if (w instanceof Error) {
    s.addError({
      ruleId: rule.id,
      message: w.message,
      treatedAs: failClosed ? 'match' : 'no-match',
    });
    matched = failClosed;
  }
  return observe ? { matched, when: w, ...(targetResults ? { targets: targetResults } : {}) } : matched;
}

/**
 * Evaluates a call against a compiled policy. Pure apart from filling the per-tool candidate cache.
 * Deny-overrides: the first matching rule in block → review → allow order decides; all matches are listed.
 */
export function evaluate(policy: CompiledPolicy, call: ToolCall, observer?: RuleObserver): Decision {
  const plan = planFor(policy, call.agent);
  const s = new CallState(call, policy.usesNow);
  const matched: string[] = [];
  let decider: CompiledRule | undefined;
  if (observer) {
    const cands = new Set(candidates(plan, call.tool));
    for (const rule of plan.rules) {
      const toolMatched = cands.has(rule);
      const outcome = toolMatched ? (matchRule(rule, s, true) as RuleOutcome) : undefined;
      observer.rule(rule, toolMatched, outcome);
      if (outcome?.matched) {
        matched.push(rule.id);
        decider ??= rule;
      }
    }
  } else {
    for (const rule of candidates(plan, call.tool)) {
      if (matchRule(rule, s, false) === true) {
        matched.push(rule.id);
        decider ??= rule;
      }
    }
  }
  return decide(policy, decider, matched, s.errors);
}

function decide(
  policy: CompiledPolicy,
  rule: CompiledRule | undefined,
  matched: string[],
  errors: ConditionError[] | undefined,
): Decision {
  const policyEffect = rule ? rule.effect : policy.defaultEffect;
  const monitor = policy.mode === 'monitor';
  let reasons = rule ? rule.reasons : policy.defaultReasons;
  if (errors || (monitor && policyEffect !== 'allow')) {
    const more = [...reasons];
    if (errors)
      for (const e of errors)
        more.push(
          `condition of ${e.ruleId}${e.target ? ` (target ${e.target})` : ''} failed: ${e.message}; treated as ${e.treatedAs} (fail closed)`,
        );
    if (monitor && policyEffect !== 'allow')
      more.push(`monitor mode: would have been ${policyEffect}, allowed`);
    reasons = more;
  }
  return {
    effect: monitor ? 'allow' : policyEffect,
    policyEffect,
    mode: policy.mode,
    ruleId: rule ? rule.id : null,
    matchedRuleIds: matched,
    reasons,
    policyVersion: policy.version,
    approval: policyEffect === 'review' ? (rule?.approval ?? policy.defaultApproval) : undefined,
    conditionErrors: errors,
  };
}
