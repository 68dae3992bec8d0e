import { sameDutyName } from '../approval/separation-of-duties.js';
import type { Actor } from './audit-event.js';

/**
 * Warden's own identity in the audit trail. Only Warden records `system` events; the names it records
 * them under are reserved, so that no key, of any kind, can be named to read like Warden in a list.
 */

/**
 * Every id Warden records its own acts under, as `system` actors: `warden` for everything it does by
 * itself (checkpoints, sweeps, expiries, trips, bootstrap), and the components that act alone: the
 * policy file applied at start and its watcher, the retention purge and `warden demo`'s setup. The one list both sides use: the
 * engine records no `system` actor outside it (`systemActorProblem`), and no key may be named like any
 * of it (`reservedPrincipalName`). Add an id here before recording under it.
 */
export const SYSTEM_ACTOR_IDS = [
  'warden',
  'policy-file',
  'policy-watcher',
  'retention',
  'warden-demo',
] as const;

/** An id Warden records its own acts under. */
export type SystemActorId = (typeof SYSTEM_ACTOR_IDS)[number];

/** The `system` actor for one of Warden's own ids. */
export function systemActor(id: SystemActorId): Actor {
  return Object.freeze({ kind: 'system', id });
}

/** The actor of everything Warden does by itself: checkpoints, sweeps, expiries, trips, bootstrap. */
export const WARDEN_ACTOR: Actor = systemActor('warden');

/**
 * Why `actor` may not be recorded now, or undefined: a `system` actor must carry one of
 * `SYSTEM_ACTOR_IDS`. Older trails hold other `system` ids (service keys before `service` existed), so
 * the audit event schema still reads them; only new events are held to the list.
 */
export function systemActorProblem(actor: Actor): string | undefined {
  if (actor.kind !== 'system' || (SYSTEM_ACTOR_IDS as readonly string[]).includes(actor.id)) return undefined;
  return `a system actor must be one of Warden's own (${SYSTEM_ACTOR_IDS.join(', ')}), not ${JSON.stringify(actor.id)}`;
}

/** Names no API key may carry, nor any look-alike of them: Warden's own ids, and `system` itself. */
export const RESERVED_PRINCIPAL_NAMES = [...SYSTEM_ACTOR_IDS, 'system'] as const;

/**
 * Plain-ASCII letter pairs that read as one letter and that the UTS #39 table does not join (it maps
 * `m` to `rn`, but has no `vv` for `w` nor `cl` for `d`): `vvarden` reads as `warden`. Used for reserved
 * names only, a short list where a false match costs a key name, never a decision.
 */
const ASCII_PAIRS: readonly [RegExp, string][] = [
  [/vv/gi, 'w'],
  [/cl/gi, 'd'],
];

/** The reserved name `name` is or looks like (`Warden`, `SYSTEM`, `systern`, `vvarden`), or undefined. */
export function reservedPrincipalName(name: string): string | undefined {
  const paired = ASCII_PAIRS.reduce((s, [pair, letter]) => s.replace(pair, letter), name);
  return RESERVED_PRINCIPAL_NAMES.find((r) => sameDutyName(name, r) || sameDutyName(paired, r));
}

/** The audit actor of a key's principal: its kind (never `system`), its name and the key's id. */
export function keyActor(p: {
  readonly kind: 'agent' | 'human' | 'service';
  readonly id: string;
  readonly keyId: string;
}): Actor {
  return { kind: p.kind, id: p.id, keyId: p.keyId };
}
