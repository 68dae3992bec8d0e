import type { z } from 'zod';
import { compileBudgets } from '../budget/budget-policy.js';
import { canonicalHash } from '../canonical/canonical-json.js';
import { WardenError } from '../errors/warden-error.js';
import { buildPlan } from './agent-plan.js';
import { BUILTIN_APPROVAL, resolveApproval } from './approval-requirement.js';
import type { AgentPlan, CompiledPolicy, CompiledTarget, SourceRef } from './compiled-policy.js';
import { type Diagnostic, formatDiagnostic, sortDiagnostics } from './diagnostic.js';
import { didYouMean, keysAt } from './did-you-mean.js';
import { resolveGroups } from './group-resolution.js';
import { lintPolicy } from './policy-lint.js';
import { mergeDocuments, type ValidDocument } from './policy-merge.js';
import { PolicyDocumentSchema } from './policy-schema.js';
import { type Ctx, checkApprovalRefs, compileSections, compileTarget } from './rule-compiler.js';
import { diag, type ParsedYaml, type Path, type PolicySource, parseYamlSource } from './yaml-source.js';

/** The outcome of analysing a policy: every diagnostic, and the compiled policy when there is no error. */
export interface PolicyAnalysis {
  readonly policy?: CompiledPolicy;
  readonly diagnostics: readonly Diagnostic[];
}

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

/**
 * For a value that matches no branch of a union (e.g. `tools: ["a", 3]` against string | string[]),
 * Zod says only "Invalid input"; the branch that got furthest into the value explains it best.
 */
function explainUnions(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [issue];
    const depth = (branch: readonly z.core.$ZodIssue[]) => Math.max(...branch.map((i) => i.path.length));
    const best = issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
    if (depth(best) === 0) {
      const expected = [
        ...new Set(issue.errors.flat().flatMap((i) => (i.code === 'invalid_type' ? [i.expected] : []))),
      ];
      const listed = expected.map((e) => (e === 'array' ? 'a list' : `a ${e}`)).join(' or ');
      return [{ ...issue, message: listed ? `expected ${listed}` : issue.message }];
    }
    return explainUnions(best.map((i) => ({ ...i, path: [...issue.path, ...i.path] }) as z.core.$ZodIssue));
  });
}

function schemaDiagnostics(yaml: ParsedYaml, rawIssues: readonly z.core.$ZodIssue[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of explainUnions(rawIssues)) {
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

function buildPolicy(
  doc: CompiledPolicy['document'],
  origin: ReadonlyMap<string, ParsedYaml>,
  diagnostics: Diagnostic[],
): CompiledPolicy | undefined {
  const ctx: Ctx = { diagnostics, usesNow: false, order: 0 };
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
    targets.set(
      name,
      compileTarget(ctx, name, targets.size, spec, refFor(`targets.${name}`, ['targets', name])),
    );
  }
  const groups = Object.entries(doc.groups ?? {}).map(([name, g]) => ({
    name,
    spec: g,
    src: refFor(`groups.${name}`, ['groups', name]),
  }));
  const agents = Object.entries(doc.agents ?? {}).map(([name, a]) => ({
    name,
    spec: a,
    src: refFor(`agents.${name}`, ['agents', name]),
  }));
  const groupSpecs = new Map(groups.map((g) => [g.name, { extends: g.spec.extends ?? [], src: g.src }]));
  const scopes = resolveGroups(
    groupSpecs,
    agents.map((a) => ({ name: a.name, groups: a.spec.groups ?? [], src: a.src })),
    diagnostics,
  );
  const sectionRules = compileSections(
    ctx,
    [
      ...groups.map((g) => ({ section: `groups.${g.name}`, specs: g.spec.rules, src: g.src })),
      ...agents.map((a) => ({ section: `agents.${a.name}`, specs: a.spec.rules, src: a.src })),
    ],
    { targets, approverGroups, defaultApproval },
  );
  const budgets = compileBudgets(
    doc,
    refFor,
    (agent) => [
      ...new Set([...(agent === '*' ? [] : (scopes?.get(agent) ?? [])), ...(scopes?.get('*') ?? [])]),
    ],
    diagnostics,
  );
  if (diagnostics.some((d) => d.severity === 'error') || !scopes) return undefined;

  const wildcardGroups = scopes.get('*') ?? [];
  const plans = new Map<string, AgentPlan>();
  for (const { name } of agents) {
    if (name !== '*')
      plans.set(name, buildPlan(name, [...(scopes.get(name) ?? []), ...wildcardGroups], sectionRules));
  }
  const defaultEffect = doc.defaults?.decision ?? 'block';
  return {
    version: canonicalHash(doc),
    name: doc.name ?? 'unnamed policy',
    mode: doc.mode ?? 'enforce',
    defaultEffect,
    defaultApproval,
    defaultReasons: Object.freeze([`no rule matched; the default decision is ${defaultEffect}`]),
    document: doc,
    origin,
    approverGroups,
    targets,
    groups: groupSpecs,
    plans,
    wildcardPlan: buildPlan('*', wildcardGroups, sectionRules),
    rules: [...sectionRules.values()].flat(),
    usesNow: ctx.usesNow,
    redactFields: doc.redaction?.fields ?? [],
    budgets,
    identity: compileIdentity(doc),
  };
}

/** `identity` settings: the agent's section, else the `*` section, else `defaults`; off when unset. */
function compileIdentity(doc: CompiledPolicy['document']): CompiledPolicy['identity'] {
  const fallback =
    doc.agents?.['*']?.identity?.requireTaskToken ?? doc.defaults?.identity?.requireTaskToken ?? false;
  const perAgent = new Map<string, boolean>();
  for (const [name, a] of Object.entries(doc.agents ?? {})) {
    if (a.identity?.requireTaskToken !== undefined) perAgent.set(name, a.identity.requireTaskToken);
  }
  return { requireTaskToken: (agent) => perAgent.get(agent) ?? fallback };
}
