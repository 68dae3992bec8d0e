import type { ToolCall } from './call.js';
import type { CelContext, Condition } from './cel-condition.js';
import type {
  AgentPlan,
  ApprovalRequirement,
  CompiledPolicy,
  CompiledRule,
  CompiledTarget,
} from './compiled-policy.js';
import type { ConditionError, Decision } from './decision.js';

const EMPTY: Readonly<Record<string, never>> = Object.freeze({});
const NO_CHAIN: readonly string[] = Object.freeze([]);
const EPOCH = new Date(0);
/** Per-agent bound on distinct cached tool names, so hostile tool names cannot grow memory without end. */
const MAX_CACHED_TOOLS = 4096;

/** Observes each rule in the agent's scope as it is considered; used by explain, absent on the hot path. */
export interface RuleObserver {
  rule(rule: CompiledRule, toolMatched: boolean, outcome: RuleOutcome | undefined): void;
}

/** How one rule fared against a call. */
export interface RuleOutcome {
  readonly matched: boolean;
  readonly targets?: readonly { readonly name: string; readonly result: boolean | Error }[];
  readonly when?: boolean | Error;
}

/**
 * A rule that can match one tool, flattened to a single object shape (compiled rules come in several
 * shapes, which would make the hot loop's property reads megamorphic). Its targets are narrowed to those
 * whose tool globs accept the tool; the others can never hit.
 */
export interface Candidate {
  readonly rule: CompiledRule;
  readonly id: string;
  readonly failClosed: boolean;
  /**
   * The targets still to check: null when the rule names none, or when one of them is certainly hit
   * (defined by tools alone, and those tools accept this tool); otherwise never empty.
   */
  readonly targets: readonly CompiledTarget[] | null;
  /** The rule's targets whose tool globs accept the tool, for explain's trace. */
  readonly tracedTargets: readonly CompiledTarget[] | null;
  readonly when: Condition | null;
}

/** Picks the plan (the agent's rules in decision order) for an agent; unknown agents get `*` only. */
export function planFor(policy: CompiledPolicy, agent: string): AgentPlan {
  return policy.plans.get(agent) ?? policy.wildcardPlan;
}

/** The candidates for `tool` in decision order, computed once per plan and tool. */
export function candidatesFor(plan: AgentPlan, tool: string): readonly Candidate[] {
  const cached = plan.byTool.get(tool);
  if (cached !== undefined) return cached;
  const list: Candidate[] = [];
  for (const rule of plan.rules) {
    if (!rule.matchTool(tool)) continue;
    let traced: CompiledTarget[] | null = null;
    if (rule.targets) {
      traced = rule.targets.filter((t) => !t.matchTool || t.matchTool(tool));
      if (traced.length === 0) continue;
    }
    const certain = traced?.some((t) => !t.matchTarget && !t.labels && !t.when) ?? false;
    list.push({
      rule,
      id: rule.id,
      failClosed: rule.effect !== 'allow',
      targets: certain ? null : traced,
      tracedTargets: traced,
      when: rule.when ?? null,
    });
  }
  if (plan.byTool.size >= MAX_CACHED_TOOLS) plan.byTool.clear();
  plan.byTool.set(tool, list);
  return list;
}

/** What one evaluation has learned so far: the CEL context and target results, built on first need. */
interface Scratch {
  readonly call: ToolCall;
  readonly usesNow: boolean;
  readonly targetCount: number;
  ctx: CelContext | undefined;
  hits: (boolean | Error | undefined)[] | undefined;
  errors: ConditionError[] | undefined;
}

function celContext(s: Scratch): CelContext {
  if (s.ctx === undefined) {
    const c = s.call;
    s.ctx = {
      agent: c.agent,
      session: c.session ?? '',
      tool: c.tool,
      args: c.args ?? EMPTY,
      target: c.target ?? '',
      labels: c.labels ?? EMPTY,
      triggeredBy: c.triggeredBy ?? '',
      delegationChain: c.delegationChain ?? NO_CHAIN,
      now: c.now ?? (s.usesNow ? new Date() : EPOCH),
    };
  }
  return s.ctx;
}

/** Whether the call hits target `t` (tool globs were already checked when the candidate was built). */
function targetResult(t: CompiledTarget, s: Scratch): boolean | Error {
  if (s.hits === undefined) s.hits = new Array(s.targetCount);
  let r = s.hits[t.index];
  if (r === undefined) {
    const call = s.call;
    if (t.matchTarget && (call.target === undefined || !t.matchTarget(call.target))) r = false;
    else if (t.labels && !labelsMatch(t.labels, call.labels)) r = false;
    else r = t.when ? t.when.run(celContext(s)) : true;
    s.hits[t.index] = r;
  }
  return r;
}

function labelsMatch(want: readonly (readonly [string, string])[], have: ToolCall['labels']): boolean {
  for (const [k, v] of want) if (have?.[k] !== v) return false;
  return true;
}

function recordError(s: Scratch, c: Candidate, message: string, target?: string): void {
  if (s.errors === undefined) s.errors = [];
  s.errors.push({
    ruleId: c.id,
    ...(target ? { target } : {}),
    message,
    treatedAs: c.failClosed ? 'match' : 'no-match',
  });
}

/** Trace of one rule for explain; filled only when requested. */
interface Trace {
  targets: { name: string; result: boolean | Error }[];
  when?: boolean | Error;
}

/**
 * Whether candidate `c` matches. A condition that errors fails closed: it counts as a match for block and
 * review rules and as no match for allow rules, and the error is recorded. With `trace`, every target is
 * reported, but only those evaluated before the first hit can record errors, so decisions are identical.
 */
function matches(c: Candidate, s: Scratch, trace?: Trace): boolean {
  if (trace && c.targets === null && c.tracedTargets !== null) {
    // The hit is certain (a tools-only target): show every target, but record nothing the hot path skips.
    for (const t of c.tracedTargets) trace.targets.push({ name: t.name, result: targetResult(t, s) });
  } else if (c.targets !== null) {
    let hit = false;
    for (const t of c.targets) {
      if (hit && !trace) break;
      const r = targetResult(t, s);
      if (trace) trace.targets.push({ name: t.name, result: r });
      if (hit) continue;
      if (r === true) hit = true;
      else if (r !== false) {
        recordError(s, c, r.message, t.name);
        hit = c.failClosed;
      }
    }
    if (!hit) return false;
  }
  if (c.when === null) return true;
  const w = c.when.run(celContext(s));
  if (trace) trace.when = w;
  if (w === true || w === false) return w;
  recordError(s, c, w.message);
  return c.failClosed;
}

/**
 * Evaluates a call against a compiled policy. Pure apart from filling the per-tool candidate cache.
 * Deny-overrides: the first matching rule in block → review → allow order decides; all matches are listed.
 */
export function evaluate(policy: CompiledPolicy, call: ToolCall, observer?: RuleObserver): Decision {
  const plan = planFor(policy, call.agent);
  const list = candidatesFor(plan, call.tool);
  const s: Scratch = {
    call,
    usesNow: policy.usesNow,
    targetCount: policy.targets.size,
    ctx: undefined,
    hits: undefined,
    errors: undefined,
  };
  if (observer) return observe(policy, plan, list, s, observer);
  const acc: Matches = { ids: [], decider: undefined, reviews: undefined };
  for (let i = 0; i < list.length; i++) {
    const c = list[i] as Candidate;
    if (matches(c, s)) record(acc, c.rule);
  }
  return decide(policy, acc, s.errors);
}

/** The rules that matched, in decision order; the first decides. */
interface Matches {
  readonly ids: string[];
  decider: CompiledRule | undefined;
  /** Matched review rules: every one of their approval requirements applies, not just the decider's. */
  reviews: CompiledRule[] | undefined;
}

function record(acc: Matches, rule: CompiledRule): void {
  acc.ids.push(rule.id);
  if (acc.decider === undefined) acc.decider = rule;
  if (rule.effect === 'review') {
    if (acc.reviews === undefined) acc.reviews = [];
    acc.reviews.push(rule);
  }
}

/** The traced path: every rule in scope is reported, in the same order and with the same outcome. */
function observe(
  policy: CompiledPolicy,
  plan: AgentPlan,
  list: readonly Candidate[],
  s: Scratch,
  observer: RuleObserver,
): Decision {
  const byRule = new Map(list.map((c) => [c.rule, c]));
  const acc: Matches = { ids: [], decider: undefined, reviews: undefined };
  for (const rule of plan.rules) {
    const c = byRule.get(rule);
    if (!c) {
      observer.rule(
        rule,
        rule.matchTool(s.call.tool),
        rule.matchTool(s.call.tool)
          ? { matched: false, targets: rule.targets?.map((t) => ({ name: t.name, result: false })) ?? [] }
          : undefined,
      );
      continue;
    }
    const trace: Trace = { targets: [] };
    const m = matches(c, s, trace);
    const { targets, when } = trace;
    observer.rule(rule, true, {
      matched: m,
      ...(c.tracedTargets ? { targets } : {}),
      ...(when !== undefined ? { when } : {}),
    });
    if (m) record(acc, rule);
  }
  return decide(policy, acc, s.errors);
}

function decide(policy: CompiledPolicy, acc: Matches, errors: ConditionError[] | undefined): Decision {
  const rule = acc.decider;
  const policyEffect = rule ? rule.effect : policy.defaultEffect;
  const monitor = policy.mode === 'monitor';
  let reasons = rule ? rule.reasons : policy.defaultReasons;
  if (errors || (monitor && policyEffect !== 'allow')) {
    const more = [...reasons];
    if (errors) {
      for (const e of errors) {
        more.push(
          `condition of ${e.ruleId}${e.target ? ` (target ${e.target})` : ''} failed: ${e.message}; treated as ${e.treatedAs} (fail closed)`,
        );
      }
    }
    if (monitor && policyEffect !== 'allow')
      more.push(`monitor mode: would have been ${policyEffect}, allowed`);
    reasons = more;
  }
  return {
    effect: monitor ? 'allow' : policyEffect,
    policyEffect,
    mode: policy.mode,
    ruleId: rule ? rule.id : null,
    matchedRuleIds: acc.ids,
    reasons,
    policyVersion: policy.version,
    approval: policyEffect === 'review' ? (rule?.approval ?? policy.defaultApproval) : undefined,
    approvals: policyEffect === 'review' ? approvalsOf(policy, acc.reviews) : undefined,
    conditionErrors: errors,
  };
}

function approvalsOf(
  policy: CompiledPolicy,
  reviews: readonly CompiledRule[] | undefined,
): ApprovalRequirement[] {
  if (reviews === undefined) return [policy.defaultApproval];
  const out: ApprovalRequirement[] = [];
  for (const r of reviews) {
    const a = r.approval ?? policy.defaultApproval;
    if (!out.includes(a)) out.push(a);
  }
  return out;
}
