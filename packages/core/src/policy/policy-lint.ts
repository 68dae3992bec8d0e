import { TIER } from './agent-plan.js';
import type {
  AgentPlan,
  ApprovalRequirement,
  CompiledPolicy,
  CompiledRule,
  CompiledTarget,
} from './compiled-policy.js';
import type { Diagnostic, DiagnosticCode } from './diagnostic.js';
import { formatDuration } from './duration.js';
import { compileGlob, globCovers, isLiteralGlob } from './glob.js';
import { diag, type Path } from './yaml-source.js';

/** Roles that can never vote on an approval, whatever a policy says. */
const NON_APPROVING_ROLES = new Set(['agent', 'auditor']);

/**
 * Warnings about a policy that compiles but is risky or confused: broad allows, allows of sensitive
 * targets, reviews nobody can approve, rules that can never match or never decide, a default of allow.
 */
export function lintPolicy(policy: CompiledPolicy): Diagnostic[] {
  const out: Diagnostic[] = [];
  const doc = policy.document;
  const defaults = policy.origin.get('defaults');
  const modeFile = policy.origin.get('mode');
  // A rule's `accept` silences warnings its author has reviewed, each with a recorded reason.
  const at = (rule: CompiledRule, code: DiagnosticCode, message: string, path: Path = ['id']) => {
    if (rule.spec.accept?.[code] !== undefined) return;
    out.push(
      diag(
        rule.src.yaml.file,
        rule.src.yaml.locate([...rule.src.path, ...path]),
        code,
        `rule ${rule.id}: ${message}`,
      ),
    );
  };

  if (defaults && doc.defaults?.decision === 'allow') {
    out.push(
      diag(
        defaults.file,
        defaults.locate(['defaults', 'decision']),
        'DEFAULT_ALLOW',
        'default decision is allow: every tool no rule mentions runs unchecked; use block (least privilege)',
      ),
    );
  }
  if (modeFile && policy.mode === 'monitor') {
    out.push(
      diag(
        modeFile.file,
        modeFile.locate(['mode']),
        'MONITOR_MODE',
        'mode is monitor: nothing is blocked or held for review, decisions are only recorded',
      ),
    );
  }
  if (defaults && doc.defaults?.approval)
    lintApproval(policy, policy.defaultApproval, undefined, (code, m) =>
      out.push(
        diag(defaults.file, defaults.locate(['defaults', 'approval']), code, `default approval: ${m}`),
      ),
    );

  const used = new Set(policy.rules.flatMap((r) => r.targets ?? []));
  for (const t of policy.targets.values()) {
    if (!used.has(t))
      out.push(
        diag(
          t.src.yaml.file,
          t.src.yaml.locate(t.src.path, { key: true }),
          'TARGET_UNUSED',
          `target ${t.name} is defined but no rule refers to it, so it protects nothing`,
        ),
      );
  }
  const plansBySection = sectionPlans(policy);
  for (const rule of policy.rules) {
    if (rule.effect === 'allow') lintAllow(policy, rule, plansBySection.get(rule.section) ?? [], at);
    if (rule.effect !== 'review' && rule.spec.approval)
      at(
        rule,
        'APPROVAL_IGNORED',
        `approval settings only apply to review rules; this rule is ${rule.effect}`,
        ['approval'],
      );
    if (rule.effect === 'review' && rule.approval) {
      lintApproval(policy, rule.approval, rule, (code, m) =>
        at(rule, code, m, rule.spec.approval ? ['approval'] : ['effect']),
      );
    }
    if (rule.effect === 'review') {
      const unverified = (plansBySection.get(rule.section) ?? [])
        .map((p) => p.agent)
        .filter((agent) => !policy.identity.requireTaskToken(agent));
      if (unverified.length > 0) {
        at(
          rule,
          'REVIEW_UNVERIFIED_IDENTITY',
          `its separation of duties compares the initiator and delegation chain a call claims: ${unverified.map((a) => (a === '*' ? 'agents the policy does not name' : a)).join(', ')} ${unverified.length === 1 ? 'does' : 'do'} not require a task token; set identity: { requireTaskToken: true } under defaults or the agent`,
          ['effect'],
        );
      }
    }
    const never = neverMatches(rule, plansBySection.get(rule.section)?.length ?? 0);
    if (never) {
      at(rule, 'RULE_NEVER_MATCHES', never);
      continue;
    }
    const shadow = shadowedBy(rule, plansBySection.get(rule.section) ?? []);
    if (shadow) {
      const how =
        shadow.effect === rule.effect
          ? 'already decides every call it covers'
          : `(${shadow.effect}) takes precedence for every call it covers`;
      at(rule, 'RULE_SHADOWED', `can never decide: unconditional rule ${shadow.id} ${how}`);
    }
  }
  return out;
}

type Report = (r: CompiledRule, c: DiagnosticCode, m: string, p?: Path) => void;

function lintAllow(
  policy: CompiledPolicy,
  rule: CompiledRule,
  plans: readonly AgentPlan[],
  at: Report,
): void {
  if (rule.tools.some((g) => /^[*?.]+$/.test(g))) {
    at(
      rule,
      'ALLOW_WILDCARD',
      `allows every tool${rule.when || rule.targets ? ' (behind a condition)' : ''}; list the tools the agent needs`,
      ['tools'],
    );
  }
  if (rule.targets) {
    at(
      rule,
      'ALLOW_SENSITIVE_TARGET',
      `allows calls to sensitive target(s) ${rule.targets.map((t) => t.name).join(', ')} without review`,
      ['targets'],
    );
    return;
  }
  for (const t of policy.targets.values()) {
    if (!toolsOverlap(rule.tools, t.spec.tools)) continue;
    if (plans.every((plan) => guarded(plan, rule, t))) continue;
    at(
      rule,
      'ALLOW_SENSITIVE_TARGET',
      `may allow calls that hit sensitive target ${t.name} without review; add a review or block rule with targets: [${t.name}] for these tools`,
      ['tools'],
    );
  }
}

/** True when a review or block rule ahead of `rule` in `plan` catches every call of its tools that hits `t`. */
function guarded(plan: AgentPlan, rule: CompiledRule, t: CompiledTarget): boolean {
  const idx = plan.rules.indexOf(rule);
  return plan.rules
    .slice(0, idx)
    .some(
      (g) =>
        g.effect !== 'allow' &&
        !g.when &&
        (!g.targets || g.targets.includes(t)) &&
        covers(g.tools, rule.tools),
    );
}

function covers(outer: readonly string[], inner: readonly string[]): boolean {
  return inner.every((i) => outer.some((o) => globCovers(o, i)));
}

function lintApproval(
  policy: CompiledPolicy,
  a: ApprovalRequirement,
  rule: CompiledRule | undefined,
  report: (code: DiagnosticCode, message: string) => void,
): void {
  // Rules that merely inherit the default are not re-reported: the default gets its own warning.
  const own = rule ? rule.spec.approval : policy.document.defaults?.approval;
  if (a.onTimeout === 'allow' && own?.onTimeout === 'allow') {
    report('TIMEOUT_ALLOWS', 'an expired request lets the call run; use onTimeout: block');
  }
  if (a.escalate && (own?.escalate || own?.timeout) && a.escalate.afterMs >= a.timeoutMs) {
    report(
      'ESCALATION_TOO_LATE',
      `escalation after ${formatDuration(a.escalate.afterMs)} never happens: the request expires after ${formatDuration(a.timeoutMs)}`,
    );
  }
  const why = unapprovable(policy, a, rule);
  if (why) report('REVIEW_UNAPPROVABLE', `nobody can approve: ${why}`);
}

function unapprovable(
  policy: CompiledPolicy,
  a: ApprovalRequirement,
  rule: CompiledRule | undefined,
): string | undefined {
  const roles = a.approvers.roles.filter((r) => !NON_APPROVING_ROLES.has(r));
  const members = (g: string) => policy.approverGroups.get(g) ?? [];
  const requester = rule?.section.startsWith('agents.') ? rule.section.slice('agents.'.length) : undefined;
  const agents = a.approvers.agents.filter((x) => x !== requester);
  const people = new Set([...a.approvers.principals, ...a.approvers.groups.flatMap(members), ...agents]);
  if (roles.length === 0 && people.size === 0) {
    if (a.approvers.roles.length > 0) return `roles ${a.approvers.roles.join(', ')} can never approve`;
    if (a.approvers.agents.length > 0 && agents.length === 0)
      return 'the only approving agent is the requester itself';
    return 'no approver roles, principals, groups or agents are listed';
  }
  if (roles.length === 0 && people.size < a.quorum)
    return `quorum is ${a.quorum} but only ${people.size} distinct approver(s) exist`;
  for (const g of a.requireEach)
    if (members(g).length === 0) return `approver group ${g} must approve but has no members`;
  return undefined;
}

/** For each section, the agent plans that include it. */
function sectionPlans(policy: CompiledPolicy): Map<string, AgentPlan[]> {
  const map = new Map<string, AgentPlan[]>();
  for (const plan of [...policy.plans.values(), policy.wildcardPlan]) {
    for (const s of new Set(plan.rules.map((r) => r.section))) {
      const list = map.get(s) ?? [];
      list.push(plan);
      map.set(s, list);
    }
  }
  return map;
}

function neverMatches(rule: CompiledRule, planCount: number): string | undefined {
  if (planCount === 0)
    return `no agent is in ${rule.section.replace('.', ' ')}, so the rule applies to nobody`;
  if (rule.when?.constant === false) return `its condition "${rule.when.source}" is always false`;
  if (rule.targets?.every((t) => t.matchTool && !toolsOverlap(rule.tools, t.spec.tools))) {
    return `its tools (${rule.tools.join(', ')}) never overlap the tools of target(s) ${rule.targets.map((t) => t.name).join(', ')}`;
  }
  return undefined;
}

function toolsOverlap(
  ruleGlobs: readonly string[],
  targetTools: string | readonly string[] | undefined,
): boolean {
  if (targetTools === undefined) return true;
  const tglobs = typeof targetTools === 'string' ? [targetTools] : targetTools;
  return ruleGlobs.some((r) => tglobs.some((t) => globsMayOverlap(r, t)));
}

function globsMayOverlap(a: string, b: string): boolean {
  if (isLiteralGlob(a)) return compileGlob(b)(a);
  if (isLiteralGlob(b)) return compileGlob(a)(b);
  const pa = a.split(/[*?{]/)[0] ?? '';
  const pb = b.split(/[*?{]/)[0] ?? '';
  return pa.startsWith(pb) || pb.startsWith(pa);
}

/** The rule that keeps `rule` from ever deciding in every plan that contains it, if there is one. */
function shadowedBy(rule: CompiledRule, plans: readonly AgentPlan[]): CompiledRule | undefined {
  let shadow: CompiledRule | undefined;
  for (const plan of plans) {
    const idx = plan.rules.indexOf(rule);
    const s = plan.rules
      .slice(0, idx)
      .find((o) => TIER[o.effect] <= TIER[rule.effect] && alwaysMatches(o, rule.tools));
    if (!s) return undefined;
    shadow ??= s;
  }
  return shadow;
}

/**
 * True when `o` certainly matches every call to `tools`: no condition, its tools cover them, and any
 * targets it names are defined by tools alone and cover them too.
 */
function alwaysMatches(o: CompiledRule, tools: readonly string[]): boolean {
  if (o.when || !covers(o.tools, tools)) return false;
  if (!o.targets) return true;
  return o.targets.some((t) => {
    const s = t.spec;
    if (!s.tools || s.match || s.labels || s.when) return false;
    return covers(typeof s.tools === 'string' ? [s.tools] : s.tools, tools);
  });
}
