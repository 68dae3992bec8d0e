import { analyzePolicy, type Diagnostic, formatDiagnostic } from '@warden/core';
import { loadPolicySources } from '@warden/engine';
import { type CliIo, EXIT } from '../cli-io.js';

export interface LintOptions {
  readonly strict?: boolean;
  readonly separate?: boolean;
  readonly json?: boolean;
}

/**
 * `warden policy lint FILE…`: the files and folders given form one policy (use --separate to lint each
 * as its own). Prints `FILE:LINE:COL severity CODE message` per problem; exit 1 on errors (or warnings
 * with --strict).
 */
export function policyLint(paths: readonly string[], opts: LintOptions, io: CliIo): number {
  const groups = opts.separate ? paths.map((p) => [p]) : [paths];
  const all: Diagnostic[] = [];
  const summaries: string[] = [];
  for (const group of groups) {
    const { policy, diagnostics } = analyzePolicy(loadPolicySources(group, io.cwd));
    all.push(...diagnostics);
    const label = group.join(' ');
    if (policy) {
      const warnings = diagnostics.length;
      summaries.push(
        `${label}: policy "${policy.name}" version ${policy.version.slice(0, 12)}, ${policy.rules.length} rules, ${policy.plans.size} agents — ${warnings ? `${warnings} warning(s)` : 'no problems'}`,
      );
    } else {
      const errors = diagnostics.filter((d) => d.severity === 'error').length;
      summaries.push(`${label}: invalid — ${errors} error(s), ${diagnostics.length - errors} warning(s)`);
    }
  }
  if (opts.json) io.out(`${JSON.stringify({ diagnostics: all }, null, 2)}\n`);
  else for (const d of all) io.out(`${formatDiagnostic(d)}\n`);
  for (const s of summaries) io.err(`${s}\n`);
  const failed = all.some((d) => d.severity === 'error' || (opts.strict && d.severity === 'warning'));
  if (failed && opts.strict && !all.some((d) => d.severity === 'error'))
    io.err('failing because --strict treats warnings as errors\n');
  return failed ? EXIT.failed : EXIT.ok;
}
