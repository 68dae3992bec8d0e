import { resolveApproval } from './approval-requirement.js';
import { type Condition, compileCondition, isConditionProblem } from './cel-condition.js';
import type { ApprovalRequirement, CompiledRule, CompiledTarget, SourceRef } from './compiled-policy.js';
import type { Diagnostic } from './diagnostic.js';
import { didYouMean } from './did-you-mean.js';
import { compileGlob, type GlobMatcher } from './glob.js';
import type { RuleSpec } from './policy-schema.js';
import { diag, type Path } from './yaml-source.js';

/** Shared state of one compilation: where problems go, and facts gathered on the way. */
export interface Ctx {
  readonly diagnostics: Diagnostic[];
  usesNow: boolean;
  order: number;
}

/** What rules may refer to while they compile. */
export interface RuleEnv {
  readonly targets: ReadonlyMap<string, CompiledTarget>;
  readonly approverGroups: ReadonlyMap<string, readonly string[]>;
  readonly defaultApproval: ApprovalRequirement;
}

/**
 * Compiles the rules of every section, reporting duplicate ids (ids are unique across the whole policy so
 * a decision names exactly one rule). Returns section name → rules in declaration order.
 */
export function compileSections(
  ctx: Ctx,
  sections: readonly {
    readonly section: string;
    readonly specs: readonly RuleSpec[] | undefined;
    readonly src: SourceRef;
  }[],
  env: RuleEnv,
): Map<string, CompiledRule[]> {
  const out = new Map<string, CompiledRule[]>();
  const seenIds = new Map<string, SourceRef>();
  for (const { section, specs, src } of sections) {
    const list: CompiledRule[] = [];
    (specs ?? []).forEach((spec, i) => {
      const rsrc: SourceRef = { yaml: src.yaml, path: [...src.path, 'rules', i] };
      const prev = seenIds.get(spec.id);
      if (prev) {
        const at = prev.yaml.locate([...prev.path, 'id']);
        const where = rsrc.yaml.locate([...rsrc.path, 'id']);
        ctx.diagnostics.push(
          diag(
            rsrc.yaml.file,
            where,
            'DUPLICATE_RULE_ID',
            `rule id "${spec.id}" is already used at ${prev.yaml.file}:${at.line}`,
          ),
        );
      } else seenIds.set(spec.id, rsrc);
      list.push(compileRule(ctx, section, spec, rsrc, env));
    });
    out.set(section, list);
  }
  return out;
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

/** Compiles one named target. */
export function compileTarget(
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

function compileRule(ctx: Ctx, section: string, spec: RuleSpec, src: SourceRef, env: RuleEnv): CompiledRule {
  const { targets, approverGroups, defaultApproval } = env;
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

/** Reports approver groups an approval requirement names but the policy does not define. */
export function checkApprovalRefs(
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
