import { type Actor, type CompiledPolicy, isWardenError } from '@warden/core';
import type { Engine } from '../engine/engine.js';

/** How many times a policy stored by someone else at the same moment is tried over. */
const ATTEMPTS = 3;

/** What applyPolicy did: recorded the change, or found it already recorded by another instance. */
export interface AppliedPolicy {
  readonly oldVersion: string;
  readonly newVersion: string;
  /** False when another instance had already stored this version: it was adopted, not recorded again. */
  readonly recorded: boolean;
}

/**
 * Puts `next` in force and records it (with its sources) once across the instances of a database: when
 * the newest stored version is already `next` (two instances watching one file see the same edit), it is
 * adopted rather than recorded twice. The store refuses a record over a version that moved meanwhile
 * (POLICY_CONFLICT), so the check and the record cannot interleave with another instance's.
 */
export async function applyPolicy(
  engine: Engine,
  next: CompiledPolicy,
  by: Actor,
  sources: readonly { path: string; text: string }[],
): Promise<AppliedPolicy> {
  for (let attempt = 1; ; attempt++) {
    const oldVersion = engine.policy.version;
    const current = await engine.store.currentPolicy();
    if (current?.version === next.version) {
      engine.adoptPolicy(next);
      return { oldVersion, newVersion: next.version, recorded: false };
    }
    try {
      const change = await engine.setPolicy(next, by, sources, { ifCurrent: current?.version ?? null });
      return { ...change, recorded: true };
    } catch (err) {
      if (!isWardenError(err, 'POLICY_CONFLICT') || attempt >= ATTEMPTS) throw err;
    }
  }
}
