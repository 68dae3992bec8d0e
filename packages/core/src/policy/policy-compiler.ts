import type { z } from 'zod';
import { canonicalHash } from '../canonical/canonical-json.js';
import { WardenError } from '../errors/warden-error.js';
import { BUILTIN_APPROVAL, resolveApproval } from './approval-requirement.js';
import { type Condition, compileCondition, isConditionProblem } from './cel-condition.js';
import type {
  AgentPlan,
  ApprovalRequirement,
  CompiledPolicy,
  CompiledRule,
  CompiledTarget,
  SourceRef,
} from './compiled-policy.js';
import { type Diagnostic, formatDiagnostic, sortDiagnostics } from './diagnostic.js';
import { didYouMean, keysAt } from './did-you-mean.js';
import { compileGlob, type GlobMatcher } from './glob.js';
import { resolveGroups } from './group-resolution.js';
import { lintPolicy } from './policy-lint.js';
import { mergeDocuments, type ValidDocument } from './policy-merge.js';
import { type Effect, PolicyDocumentSchema, type RuleSpec } from './policy-schema.js';
import { diag, type ParsedYaml, type Path, type PolicySource, parseYamlSource } from './yaml-source.js';

/** The outcome of analysing a policy: every diagnostic, and the compiled policy when there is no error. */
export interface PolicyAnalysis {
  readonly policy?: CompiledPolicy;
  readonly diagnostics: readonly Diagnostic[];
}

const TIER: Record<Effect, number> = { block: 0, review: 1, allow: 2 };

/**
 * Parses, validates, compiles and lints a policy made of one or more YAML sources. Pure and total:
 * it never throws on bad input; problems come back as located diagnostics.
 */
export function analyzePolicy(sources: readonly PolicySource[]): PolicyAnalysis {
  const diagnostics: Diagnostic[] = [];
  const docs: ValidDocument[] = [];
  for (const src of sources) {
    const { parsed, diagnostics: ds } = parseYamlSource(src);
    diagnostics.push(...ds);
    if (!parsed) continue;
    const result = PolicyDocumentSchema.safeParse(parsed.value);
    if (!result.success) {
      diagnostics.push(...schemaDiagnostics(parsed, result.error.issues));
      continue;
    }
    docs.push({ yaml: parsed, doc: result.data });
  }
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics: sortDiagnostics(diagnostics) };
  const merged = mergeDocuments(docs, diagnostics);
  const policy = buildPolicy(merged.doc, merged.origin, diagnostics);
  if (!policy || diagnostics.some((d) => d.severity === 'error'))
    return { diagnostics: sortDiagnostics(diagnostics) };
  diagnostics.push(...lintPolicy(policy));
  return { policy, diagnostics: sortDiagnostics(diagnostics) };
}

/** Compiles policy YAML text, throwing `POLICY_INVALID` (with every diagnostic in details) on any error. */
export function compilePolicy(yamlText: string, file = 'policy.yaml'): CompiledPolicy {
  return compilePolicySources([{ file, text: yamlText }]);
}

/** Compiles a multi-file policy, throwing `POLICY_INVALID` on any error. */
export function compilePolicySources(sources: readonly PolicySource[]): CompiledPolicy {
  const { policy, diagnostics } = analyzePolicy(sources);
  if (!policy) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const head = errors.slice(0, 5).map(formatDiagnostic).join('\n');
    const more = errors.length > 5 ? `\n… and ${errors.length - 5} more` : '';
    throw new WardenError('POLICY_INVALID', `policy has ${errors.length} error(s):\n${head}${more}`, {
      diagnostics,
    });
  }
  return policy;
}

function schemaDiagnostics(yaml: ParsedYaml, issues: readonly z.core.$ZodIssue[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push(
          diag(
            yaml.file,
            yaml.locate([...path, key], { key: true }),
            'UNKNOWN_KEY',
            `unknown key "${key}"${where(path)}${didYouMean(key, keysAt(PolicyDocumentSchema, path))}`,
          ),
        );
      }
      continue;
    }
    out.push(diag(yaml.file, yaml.locate(path), 'SCHEMA', schemaMessage(yaml.value, path, issue.message)));
  }
  return out;
}

/** Zod's message, except that a missing key is called what it is ("Invalid input" says nothing). */
function schemaMessage(root: unknown, path: Path, message: string): string {
  const parent = path.slice(0, -1);
  const key = path.at(-1);
  const container = valueAt(root, parent);
  if (
    typeof key === 'string' &&
    container &&
    typeof container === 'object' &&
    !Array.isArray(container) &&
    !(key in container)
  ) {
    return `missing required key "${key}"${where(parent)}`;
  }
  return `${path.length ? `${path.join('.')}: ` : ''}${message}`;
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function where(path: Path): string {
  return path.length ? ` in ${path.join('.')}` : ' at the top level';
}

interface Ctx {
  readonly diagnostics: Diagnostic[];
  readonly origin: ReadonlyMap<string, ParsedYaml>;
  usesNow: boolean;
  order: number;
}

function buildPolicy(
  doc: CompiledPolicy['document'],
  origin: ReadonlyMap<string, ParsedYaml>,
  diagnostics: Diagnostic[],
): CompiledPolicy | undefined {
  const ctx: Ctx = { diagnostics, origin, usesNow: false, order: 0 };
  const refFor = (key: string, path: Path): SourceRef => ({
    yaml: origin.get(key) ?? (origin.values().next().value as ParsedYaml),
    path,
  });
  const approverGroups = new Map(Object.entries(doc.approverGroups ?? {}));
  const defaultApproval = resolveApproval(BUILTIN_APPROVAL, doc.defaults?.approval);
  if (doc.defaults?.approval)
    checkApprovalRefs(ctx, defaultApproval, approverGroups, refFor('defaults', ['defaults', 'approval']));

  const targets = new Map<string, CompiledTarget>();
  for (const [name, spec] of Object.entries(doc.targets ?? {})) {
    const src = refFor(`targets.${name}`, ['targets', name]);
    targets.set(name, compileTarget(ctx, name, targets.size, spec, src));
  }

  const groupSpecs = new Map(
    Object.entries(doc.groups ?? {}).map(([n, g]) => [
      n,
      { extends: g.extends ?? [], src: refFor(`groups.${n}`, ['groups', n]) },
    ]),
  );
  const agentSpecs = Object.entries(doc.agents ?? {});
  const scopes = resolveGroups(
    groupSpecs,
    agentSpecs.map(([n, a]) => ({
      name: n,
      groups: a.groups ?? [],
      src: refFor(`agents.${n}`, ['agents', n]),
    })),
    diagnostics,
  );

  const sectionRules = new Map<string, CompiledRule[]>();
  const seenIds = new Map<string, SourceRef>();
  const compileSection = (section: string, specs: readonly RuleSpec[] | undefined, src: SourceRef) => {
    const list: CompiledRule[] = [];
    (specs ?? []).forEach((spec, i) => {
      const rsrc: SourceRef = { yaml: src.yaml, path: [...src.path, 'rules', i] };
      const prev = seenIds.get(spec.id);
      if (prev) {
        const at = prev.yaml.locate([...prev.path, 'id']);
        diagnostics.push(
          diag(
            rsrc.yaml.file,
            rsrc.yaml.locate([...rsrc.path, 'id']),
            'DUPLICATE_RULE_ID',
            `rule id "${spec.id}" is already used at ${prev.yaml.file}:${at.line}`,
          ),
        );
      } else seenIds.set(spec.id, rsrc);
      const rule = compileRule(ctx, section, spec, rsrc, targets, approverGroups, defaultApproval);
      if (rule) list.push(rule);
    });
    sectionRules.set(section, list);
  };
  for (const [name, g] of Object.entries(doc.groups ?? {}))
    compileSection(`groups.${name}`, g.rules, refFor(`groups.${name}`, ['groups', name]));
  for (const [name, a] of agentSpecs)
    compileSection(`agents.${name}`, a.rules, refFor(`agents.${name}`, ['agents', name]));
  if (diagnostics.some((d) => d.severity === 'error') || !scopes) return undefined;

  const planFor = (agent: string, groups: readonly string[]): AgentPlan => {
    const sections = [`agents.${agent}`, ...groups.map((g) => `groups.${g}`)];
    if (agent !== '*') sections.push('agents.*');
    const unique = [...new Set(sections)];
    const rank = new Map(unique.map((s, i) => [s, i]));
    const rules = unique.flatMap((s) => sectionRules.get(s) ?? []);
    rules.sort(
      (a, b) =>
        TIER[a.effect] - TIER[b.effect] ||
        (rank.get(a.section) ?? 0) - (rank.get(b.section) ?? 0) ||
        a.order - b.order,
    );
    return {
      agent,
      sections: unique.filter((s) => sectionRules.has(s) || s === `agents.${agent}`),
      rules,
      byTool: new Map(),
    };
  };
  const wildcardGroups = scopes.get('*') ?? [];
  const plans = new Map<string, AgentPlan>();
  for (const [name] of agentSpecs) {
    if (name === '*') continue;
    plans.set(name, planFor(name, [...(scopes.get(name) ?? []), ...wildcardGroups]));
  }
  return {
    version: canonicalHash(doc),
    name: doc.name ?? 'unnamed policy',
    mode: doc.mode ?? 'enforce',
    defaultEffect: doc.defaults?.decision ?? 'block',
    defaultApproval,
    defaultReasons: Object.freeze([
      `no rule matched; the default decision is ${doc.defaults?.decision ?? 'block'}`,
    ]),
    document: doc,
    origin,
    approverGroups,
    targets,
    groups: groupSpecs,
    plans,
    wildcardPlan: planFor('*', wildcardGroups),
    rules: [...sectionRules.values()].flat(),
    usesNow: ctx.usesNow,
  };
}

function compileGlobs(
  ctx: Ctx,
  patterns: string | readonly string[],
  src: SourceRef,
  key: string,
): { list: string[]; match: GlobMatcher } {
  const list = typeof patterns === 'string' ? [patterns] : [...patterns];
  const matchers: GlobMatcher[] = [];
  list.forEach((p, i) => {
    try {
      matchers.push(compileGlob(p));
    } catch (err) {
      const path = typeof patterns === 'string' ? [...src.path, key] : [...src.path, key, i];
      ctx.diagnostics.push(diag(src.yaml.file, src.yaml.locate(path), 'BAD_GLOB', (err as Error).message));
    }
  });
  const [only] = matchers;
  const match: GlobMatcher = matchers.length === 1 && only ? only : (name) => matchers.some((m) => m(name));
  return { list, match };
}

function compileWhen(ctx: Ctx, source: string | undefined, src: SourceRef): Condition | undefined {
  if (source === undefined) return undefined;
  const c = compileCondition(source);
  if (isConditionProblem(c)) {
    ctx.diagnostics.push(
      diag(src.yaml.file, src.yaml.locate([...src.path, 'when'], { offset: c.offset }), c.kind, c.message),
    );
    return undefined;
  }
  if (c.usesNow) ctx.usesNow = true;
  return c;
}

function compileTarget(
  ctx: Ctx,
  name: string,
  index: number,
  spec: CompiledTarget['spec'],
  src: SourceRef,
): CompiledTarget {
  if (!spec.tools && !spec.match && !spec.labels && !spec.when) {
    ctx.diagnostics.push(
      diag(
        src.yaml.file,
        src.yaml.locate(src.path, { key: true }),
        'SCHEMA',
        `target "${name}" has no criteria: give at least one of tools, match, labels, when`,
      ),
    );
  }
  return {
    name,
    index,
    spec,
    src,
    ...(spec.tools ? { matchTool: compileGlobs(ctx, spec.tools, src, 'tools').match } : {}),
    ...(spec.match ? { matchTarget: compileGlobs(ctx, spec.match, src, 'match').match } : {}),
    ...(spec.labels ? { labels: Object.entries(spec.labels) } : {}),
    ...(spec.when ? { when: compileWhen(ctx, spec.when, src) } : {}),
  } as CompiledTarget;
}

function compileRule(
  ctx: Ctx,
  section: string,
  spec: RuleSpec,
  src: SourceRef,
  targets: ReadonlyMap<string, CompiledTarget>,
  approverGroups: ReadonlyMap<string, readonly string[]>,
  defaultApproval: ApprovalRequirement,
): CompiledRule | undefined {
  const tools = compileGlobs(ctx, spec.tools, src, 'tools');
  const refs: CompiledTarget[] = [];
  spec.targets?.forEach((name, i) => {
    const t = targets.get(name);
    if (t) refs.push(t);
    else {
      const known = `${[...targets.keys()].join(', ') || 'none defined'}`;
      ctx.diagnostics.push(
        diag(
          src.yaml.file,
          src.yaml.locate([...src.path, 'targets', i]),
          'UNKNOWN_TARGET',
          `unknown target "${name}"${didYouMean(name, targets.keys())} (known: ${known})`,
        ),
      );
    }
  });
  const when = compileWhen(ctx, spec.when, src);
  let approval: ApprovalRequirement | undefined;
  if (spec.effect === 'review') {
    approval = resolveApproval(defaultApproval, spec.approval);
    if (spec.approval)
      checkApprovalRefs(ctx, approval, approverGroups, { yaml: src.yaml, path: [...src.path, 'approval'] });
  }
  return {
    id: spec.id,
    effect: spec.effect,
    order: ctx.order++,
    section,
    tools: tools.list,
    matchTool: tools.match,
    ...(refs.length ? { targets: refs } : {}),
    ...(when ? { when } : {}),
    ...(spec.reason !== undefined ? { reason: spec.reason } : {}),
    reasons: Object.freeze([spec.reason ?? `rule ${spec.id} (${spec.effect}) matched`]),
    ...(approval ? { approval } : {}),
    spec,
    src,
  };
}

function checkApprovalRefs(
  ctx: Ctx,
  a: ApprovalRequirement,
  groups: ReadonlyMap<string, readonly string[]>,
  src: SourceRef,
): void {
  const check = (names: readonly string[], path: Path) => {
    names.forEach((g, i) => {
      if (!groups.has(g)) {
        const known = [...groups.keys()].join(', ') || 'none defined';
        ctx.diagnostics.push(
          diag(
            src.yaml.file,
            src.yaml.locate([...src.path, ...path, i]),
            'UNKNOWN_APPROVER_GROUP',
            `unknown approver group "${g}"${didYouMean(g, groups.keys())} (known: ${known})`,
          ),
        );
      }
    });
  };
  check(a.approvers.groups, ['approvers', 'groups']);
  check(a.requireEach, ['requireEach']);
  if (a.escalate) check(a.escalate.to.groups, ['escalate', 'to', 'groups']);
}
