import { type Actor, systemActor } from '@warden/core';
import type { PolicyVersionRecord } from '../store/store.js';

/** Who records a policy `warden serve --policy FILE` put in force at start. */
export const POLICY_FILE_ACTOR: Actor = systemActor('policy-file');

/**
 * The `createdBy` of stored versions that came from a policy file: this start-up actor, the watcher's
 * (`policy-watcher`), and `warden`, which recorded the file at start before POLICY_FILE_ACTOR existed.
 * These ids are reserved key names; a key from before that holds one can only make a PUT look file-made,
 * which makes the file win at the next start (the safe side): keeping a stored policy needs the file's own version as the newest file-made one.
 */
const FILE_ACTOR_IDS: ReadonlySet<string> = new Set([POLICY_FILE_ACTOR.id, 'policy-watcher', 'warden']);

/**
 * The newest version in `history` (newest first, as the store returns it) that a policy file put in
 * force: what "the version this file last applied" means at a restart.
 */
export function lastFromPolicyFile(history: readonly PolicyVersionRecord[]): PolicyVersionRecord | undefined {
  return history.find((h) => FILE_ACTOR_IDS.has(h.createdBy));
}
