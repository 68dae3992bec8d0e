import { dirname, relative, resolve } from 'node:path';
import {
  type CaseResult,
  type CompiledPolicy,
  formatDiagnostic,
  loadPolicyTests,
  runPolicyTests,
  WardenError,
} from '@warden/core';
import { listYaml, readBounded } from '@warden/engine';
import { type CliIo, EXIT } from '../cli-io.js';
import { describeError } from '../describe-error.js';
import { loadPolicyOrReport } from './load-policy.js';

export interface TestOptions {
  readonly policy?: string;
}

/**
 * `warden policy test FILE|DIR`: runs every `*.test.yaml` case against its policy (named in the file,
 * relative to it, or --policy) and prints pass/fail per case with a diff; exit 1 on any failure.
 */
export function policyTest(target: string, opts: TestOptions, io: CliIo): number {
  const abs = resolve(io.cwd, target);
  const testFiles = listYaml(abs, { tests: true });
  if (testFiles.length === 0)
    throw new WardenError('POLICY_NOT_FOUND', `no policy test files (*.test.yaml) under ${target}`);
  const policies = new Map<string, CompiledPolicy | undefined>();
  let passed = 0;
  let failed = 0;
  let broken = 0;
  for (const file of testFiles) {
    const shown = relative(io.cwd, file) || file;
    const { loaded, diagnostics } = loadPolicyTests(readBounded(file, shown));
    if (!loaded) {
      for (const d of diagnostics) io.err(`${formatDiagnostic(d)}\n`);
      broken++;
      continue;
    }
    const policyPath = opts.policy
      ? resolve(io.cwd, opts.policy)
      : loaded.tests.policy
        ? resolve(dirname(file), loaded.tests.policy)
        : undefined;
    if (!policyPath) {
      io.err(
        `${shown}: says no \`policy:\` and no --policy was given; add \`policy: ../path/to/policy\` to the file\n`,
      );
      broken++;
      continue;
    }
    if (!policies.has(policyPath)) policies.set(policyPath, loadReferencedPolicy(policyPath, shown, io));
    const policy = policies.get(policyPath);
    if (!policy) {
      broken++;
      continue;
    }
    io.out(
      `${shown}  (policy ${relative(io.cwd, policyPath) || policyPath}, version ${policy.version.slice(0, 12)})\n`,
    );
    for (const r of runPolicyTests(policy, loaded)) {
      if (r.passed) passed++;
      else failed++;
      io.out(formatCase(r, shown));
    }
  }
  const brokenNote = broken ? `, ${broken} test file(s) could not run` : '';
  io.out(`\n${passed} passed, ${failed} failed${brokenNote}\n`);
  return failed > 0 || broken > 0 ? EXIT.failed : EXIT.ok;
}

function formatCase(r: CaseResult, file: string): string {
  const notes = r.warnings.map((w) => `      note: ${w}\n`).join('');
  if (r.passed) return `  ✓ ${r.name}\n${notes}`;
  const lines = [`  ✗ ${r.name}  (${file}:${r.line})`];
  for (const m of r.mismatches) {
    lines.push(`      ${m.field.padEnd(8)}- expected: ${m.expected}`);
    lines.push(`      ${''.padEnd(8)}+ actual:   ${m.actual}`);
  }
  lines.push(`      why: ${r.decision.reasons.join('; ')}`);
  return `${lines.join('\n')}\n${notes}`;
}

/** Loads the policy a test file names; a missing or unreadable one is reported against that test file. */
function loadReferencedPolicy(policyPath: string, testFile: string, io: CliIo): CompiledPolicy | undefined {
  const shown = relative(io.cwd, policyPath) || policyPath;
  try {
    return loadPolicyOrReport([shown], io);
  } catch (err) {
    io.err(`${testFile}: cannot load its policy ${shown}: ${describeError(err)}\n`);
    return undefined;
  }
}
