import { analyzePolicy, type CompiledPolicy, formatDiagnostic } from '@warden/core';
import { loadPolicySources } from '@warden/engine';
import type { CliIo } from '../cli-io.js';

/** Compiles the policy at `paths`, printing its errors and returning undefined when it is invalid. */
export function loadPolicyOrReport(paths: readonly string[], io: CliIo): CompiledPolicy | undefined {
  const { policy, diagnostics } = analyzePolicy(loadPolicySources(paths, io.cwd));
  if (policy) return policy;
  for (const d of diagnostics) io.err(`${formatDiagnostic(d)}\n`);
  io.err(`the policy is invalid; run \`warden policy lint ${paths.join(' ')}\` for details\n`);
  return undefined;
}
