import { type Actor, keyActor } from '@warden/core';
import type { ApiKeyPermission, ApiRole, PrincipalKind } from '@warden/engine';

/** Who is asking: resolved from the API key, never from the request body. */
export interface Principal {
  readonly keyId: string;
  readonly kind: PrincipalKind;
  /** The agent name for agent keys; the person's or service's name otherwise. */
  readonly id: string;
  readonly role: ApiRole;
  readonly expiresAt: string | null;
  /** What the key may do beyond its role (`initiator`: start tasks for a person it vouches for). */
  readonly permissions?: readonly ApiKeyPermission[];
  /** Set when the request came with the dashboard's sign-in cookie: when that sign-in ends. */
  readonly sessionExpiresAt?: string;
  /** And which sign-in it is (see DashboardSession.id). */
  readonly sessionId?: string;
  /** A person signed in through the IdP (their `keyId` is then their sign-in id, `sso_…`). */
  readonly issuer?: string;
  readonly subject?: string;
  /** Their IdP groups usable as policy approver groups, as of their last sign-in. */
  readonly approverGroups?: readonly string[];
}

/**
 * The audit actor for a principal: its kind, its name and the key it used (`system` is Warden's alone);
 * a person signed in through the IdP is named by issuer and subject instead of a key.
 */
export function actorOf(p: Principal): Actor {
  if (p.issuer && p.subject) return { kind: p.kind, id: p.id, issuer: p.issuer, subject: p.subject };
  return keyActor(p);
}
