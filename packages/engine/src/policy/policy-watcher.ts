import { type FSWatcher, watch } from 'node:fs';
import { resolve } from 'node:path';
import {
  type Actor,
  analyzePolicy,
  type CompiledPolicy,
  compilePolicySources,
  formatDiagnostic,
  systemActor,
  WardenError,
} from '@warden/core';
import type { Engine } from '../engine/engine.js';
import { applyPolicy } from './policy-apply.js';
import { listYaml, loadPolicySources } from './policy-files.js';

/** Compiles the policy in `paths` (files or folders); POLICY_INVALID lists every diagnostic. */
export function loadPolicy(paths: readonly string[], cwd = process.cwd()): CompiledPolicy {
  const { policy, diagnostics } = analyzePolicy(loadPolicySources(paths, cwd));
  if (policy) return policy;
  const errors = diagnostics.filter((d) => d.severity === 'error');
  throw new WardenError(
    'POLICY_INVALID',
    `the policy is invalid:\n${errors.map(formatDiagnostic).join('\n')}`,
    {
      diagnostics: errors,
    },
  );
}

export interface PolicyWatcher {
  close(): void;
}

/**
 * Reloads the engine's policy when a file under `paths` changes. An invalid edit is reported and the
 * policy in force stays (fail safe: a typo never opens or closes everything); a valid one is recorded
 * as a policy change by `by` before it takes effect. Bursts of writes are coalesced.
 */
export function watchPolicy(
  engine: Engine,
  paths: readonly string[],
  options: {
    by?: Actor;
    debounceMs?: number;
    /**
     * The version the files held when watching began. A change event that leaves the files compiling to
     * the version they last held (a touch, a save without edits) is not a change, so it does not undo a
     * policy put in force since by other means (PUT /v1/policy).
     */
    fileVersion?: string;
    /** A change this watcher recorded. */
    onReload?: (r: { oldVersion: string; newVersion: string }) => void;
    /** A change another instance (watching the same files) recorded first, now in force here too. */
    onAdopt?: (version: string) => void;
    onError?: (err: WardenError) => void;
  } = {},
): PolicyWatcher {
  const by = options.by ?? systemActor('policy-watcher');
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  let fileVersion = options.fileVersion;
  const reload = () => {
    running = running.then(async () => {
      try {
        const sources = loadPolicySources(paths, process.cwd());
        const next = compilePolicySources(sources);
        if (next.version === fileVersion || next.version === engine.policy.version) {
          fileVersion = next.version;
          return;
        }
        // Stored with its text, so every instance sharing the database and every restart picks it up.
        const stored = sources.map((s) => ({ path: s.file, text: s.text }));
        // Applied first, reported after: the report is optional, the change is not (an `a?.(await b())`
        // here once skipped the change whenever no one listened for it).
        const applied = await applyPolicy(engine, next, by, stored);
        fileVersion = next.version;
        if (applied.recorded) options.onReload?.(applied);
        else options.onAdopt?.(applied.newVersion);
      } catch (err) {
        options.onError?.(err instanceof WardenError ? err : new WardenError('INTERNAL', String(err)));
      }
    });
  };
  const watchers: FSWatcher[] = [];
  for (const p of paths) {
    const dirs = new Set([
      resolve(p),
      ...listYaml(resolve(p), { tests: false }).map((f) => resolve(f, '..')),
    ]);
    for (const d of dirs) {
      const w = watch(d, () => {
        clearTimeout(timer);
        timer = setTimeout(reload, options.debounceMs ?? 150);
      });
      w.on('error', (err) => options.onError?.(new WardenError('INTERNAL', `watching ${d}: ${err.message}`)));
      watchers.push(w);
    }
  }
  return {
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
