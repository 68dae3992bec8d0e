import { sameDutyName } from '../approval/separation-of-duties.js';
import type { Actor } from './audit-event.js';

/**
 * Warden's own identity in the audit trail. Only Warden records `system` events; the names it records
 * them under are reserved, so that no key, of any kind, can be named to read like Warden in a list.
 */

/** The actor of everything Warden does by itself: checkpoints, sweeps, expiries, trips, bootstrap. */
export const WARDEN_ACTOR: Actor = Object.freeze({ kind: 'system', id: 'warden' });

/** Names no API key may carry, nor any look-alike of them (compared as separation of duties compares). */
export const RESERVED_PRINCIPAL_NAMES = ['warden', 'system'] as const;

/** The reserved name `name` is or looks like (`Warden`, `SYSTEM`, `systern`), or undefined. */
export function reservedPrincipalName(name: string): string | undefined {
  return RESERVED_PRINCIPAL_NAMES.find((r) => sameDutyName(name, r));
}

/** The audit actor of a key's principal: its kind (never `system`), its name and the key's id. */
export function keyActor(p: {
  readonly kind: 'agent' | 'human' | 'service';
  readonly id: string;
  readonly keyId: string;
}): Actor {
  return { kind: p.kind, id: p.id, keyId: p.keyId };
}
