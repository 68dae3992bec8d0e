import { z } from 'zod';
import { type ToolCall, ToolCallSchema } from './call.js';
import type { CompiledPolicy } from './compiled-policy.js';
import type { Decision } from './decision.js';
import type { Diagnostic } from './diagnostic.js';
import { candidatesFor, evaluate, planFor } from './policy-evaluator.js';
import { EFFECTS } from './policy-schema.js';
import { diag, type ParsedYaml, type PolicySource, parseYamlSource } from './yaml-source.js';

/** One expected outcome. `rule: null` expects the default decision. */
const ExpectSchema = z.strictObject({
  effect: z.enum(EFFECTS),
  rule: z.string().nullable().optional(),
  matched: z.array(z.string()).optional(),
  quorum: z.number().int().optional(),
});

/** A policy test file: which policy (relative to the file) and the cases to check against it. */
export const PolicyTestFileSchema = z.strictObject({
  policy: z.string().optional().meta({ description: 'Policy file or folder, relative to this test file.' }),
  cases: z
    .array(z.strictObject({ name: z.string().min(1), call: ToolCallSchema, expect: ExpectSchema }))
    .min(1),
});

export type PolicyTestFile = z.infer<typeof PolicyTestFileSchema>;

/** A parsed test file that can point back at its cases. */
export interface LoadedTestFile {
  readonly file: string;
  readonly tests: PolicyTestFile;
  readonly caseLine: (index: number) => number;
}

/** One field that differs between what a case expected and what the policy decided. */
export interface Mismatch {
  readonly field: 'effect' | 'rule' | 'matched' | 'quorum';
  readonly expected: string;
  readonly actual: string;
}

export interface CaseResult {
  readonly name: string;
  readonly line: number;
  readonly passed: boolean;
  readonly mismatches: readonly Mismatch[];
  readonly decision: Decision;
  /** Things that make the case less trustworthy without failing it. */
  readonly warnings: readonly string[];
}

/** Parses and validates a test file; problems come back as diagnostics, never thrown. */
export function loadPolicyTests(src: PolicySource): { loaded?: LoadedTestFile; diagnostics: Diagnostic[] } {
  const { parsed, diagnostics } = parseYamlSource(src);
  if (!parsed) return { diagnostics };
  const result = PolicyTestFileSchema.safeParse(parsed.value);
  if (!result.success) {
    return {
      diagnostics: result.error.issues.map((i) => {
        const path = i.path.filter((p): p is string | number => typeof p !== 'symbol');
        const where = path.length ? `${path.join('.')}: ` : '';
        return diag(src.file, locateIssue(parsed, path, i), 'SCHEMA', `${where}${i.message}`);
      }),
    };
  }
  return {
    loaded: { file: src.file, tests: result.data, caseLine: (n) => parsed.locate(['cases', n]).line },
    diagnostics: [],
  };
}

function locateIssue(parsed: ParsedYaml, path: (string | number)[], issue: z.core.$ZodIssue) {
  return issue.code === 'unrecognized_keys' && issue.keys[0]
    ? parsed.locate([...path, issue.keys[0]], { key: true })
    : parsed.locate(path);
}

/** Runs every case of a test file against a compiled policy. */
export function runPolicyTests(policy: CompiledPolicy, loaded: LoadedTestFile): CaseResult[] {
  return loaded.tests.cases.map((c, i) => {
    const decision = evaluate(policy, c.call);
    const mismatches: Mismatch[] = [];
    const e = c.expect;
    // The policy's own decision: in monitor mode `effect` is always allow, which would test nothing.
    if (decision.policyEffect !== e.effect)
      mismatches.push({ field: 'effect', expected: e.effect, actual: decision.policyEffect });
    if (e.rule !== undefined && decision.ruleId !== e.rule) {
      mismatches.push({
        field: 'rule',
        expected: e.rule ?? '(default)',
        actual: decision.ruleId ?? '(default)',
      });
    }
    if (e.matched !== undefined && e.matched.join(',') !== decision.matchedRuleIds.join(',')) {
      mismatches.push({
        field: 'matched',
        expected: e.matched.join(', ') || '(none)',
        actual: decision.matchedRuleIds.join(', ') || '(none)',
      });
    }
    if (e.quorum !== undefined && decision.approval?.quorum !== e.quorum) {
      mismatches.push({
        field: 'quorum',
        expected: String(e.quorum),
        actual: String(decision.approval?.quorum ?? '(no approval)'),
      });
    }
    const warnings =
      c.call.now === undefined && readsNow(policy, c.call)
        ? [
            'the policy reads `now` and this case sets no `now`, so its result depends on when it runs; add now: "2026-01-01T12:00:00Z"',
          ]
        : [];
    return {
      name: c.name,
      line: loaded.caseLine(i),
      passed: mismatches.length === 0,
      mismatches,
      decision,
      warnings,
    };
  });
}

/** True when a rule that could decide this call has a condition (or target condition) that reads `now`. */
function readsNow(policy: CompiledPolicy, call: ToolCall): boolean {
  if (!policy.usesNow) return false;
  return candidatesFor(planFor(policy, call.agent), call.tool).some(
    (c) => c.when?.usesNow === true || (c.tracedTargets ?? []).some((t) => t.when?.usesNow === true),
  );
}
