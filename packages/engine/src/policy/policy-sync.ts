import { compilePolicySources, WardenError } from '@warden/core';
import type { Engine } from '../engine/engine.js';
import type { PolicyVersionRecord } from '../store/store.js';

export interface PolicySync {
  /** Checks the store now (also used right after this instance stored a policy). */
  poll(): Promise<void>;
  close(): void;
}

/**
 * Keeps this instance on the policy most recently stored in the shared database, so a policy replaced
 * through any instance is in force on all of them within one interval. The instance that stored it has
 * already recorded the change; the others adopt it silently. A stored policy that no longer compiles
 * (a newer Warden wrote it) is reported and the policy in force stays.
 */
export function syncPolicy(
  engine: Engine,
  options: { intervalMs?: number; onError?: (err: WardenError) => void; onAdopt?: (version: string) => void },
): PolicySync {
  let running: Promise<void> | undefined;
  // Only a version that failed to compile is remembered (so it is reported once, not every interval);
  // any other stored version that differs from the one in force is adopted, also a revert to an older one.
  let failed: string | undefined;
  const check = async () => {
    let current: Awaited<ReturnType<typeof engine.store.currentPolicy>>;
    try {
      current = await engine.store.currentPolicy();
      if (!current || current.version === engine.policy.version || current.version === failed) return;
      engine.adoptPolicy(compileStored(current));
      failed = undefined;
      options.onAdopt?.(current.version);
    } catch (err) {
      if (current) failed = current.version;
      options.onError?.(err instanceof WardenError ? err : new WardenError('INTERNAL', String(err)));
    }
  };
  const poll = () => {
    running ??= check().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(poll, options.intervalMs ?? 1_000);
  timer.unref();
  return {
    poll,
    close: () => clearInterval(timer),
  };
}

/** Compiles a stored policy version. */
export function compileStored(record: PolicyVersionRecord) {
  return compilePolicySources(record.sources.map((s) => ({ file: s.path, text: s.text })));
}
