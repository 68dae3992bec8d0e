import { WardenError } from '@warden/core';
import type { PersonRecord, Store } from '@warden/engine';
import type { PersonRef } from './person-tokens.js';
import type { Principal } from './principal.js';

interface Cached {
  readonly person: PersonRecord | undefined;
  readonly at: number;
}

/**
 * People signed in through the IdP, read from the people store on authenticated requests (cached at most
 * `ttlMs`, 2 s by default): a person's role and approver groups are always those of their latest sign-in
 * on any instance, so a group removed in the IdP is gone from every session at their next sign-in.
 */
export class PersonDirectory {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, Cached>();

  constructor(store: Store, options: { ttlMs?: number } = {}) {
    this.#store = store;
    this.#ttlMs = options.ttlMs ?? 2_000;
  }

  /**
   * The principal of a person sign-in (a session cookie or an access token): UNAUTHENTICATED when the
   * person is unknown or SSO is not configured for their issuer, SSO_DENIED when their groups no longer
   * map to a role.
   */
  async principal(
    ref: PersonRef,
    signIn: { id: string; expiresAt: Date; issuer: string | undefined },
    now = Date.now(),
  ): Promise<Principal> {
    if (signIn.issuer === undefined || ref.issuer !== signIn.issuer) {
      throw new WardenError(
        'UNAUTHENTICATED',
        'this sign-in is from an identity provider this server no longer trusts; sign in again',
        {
          reason: 'issuer',
        },
      );
    }
    const person = await this.get(ref, now);
    if (!person) {
      throw new WardenError(
        'UNAUTHENTICATED',
        'this sign-in names a person Warden does not know; sign in again',
        {
          reason: 'unknown',
        },
      );
    }
    if (person.role === null) {
      throw new WardenError(
        'SSO_DENIED',
        `${person.name} has no Warden role: at their last sign-in their IdP groups (${person.groups.join(', ') || 'none'}) map to none of auth.oidc.roles`,
        { reason: 'no_role' },
      );
    }
    return {
      keyId: `sso_${signIn.id}`,
      kind: 'human',
      id: person.name,
      role: person.role,
      expiresAt: signIn.expiresAt.toISOString(),
      issuer: person.issuer,
      subject: person.subject,
      approverGroups: person.approverGroups,
    };
  }

  /** The stored person, cached for at most ttlMs. */
  async get(ref: PersonRef, now = Date.now()): Promise<PersonRecord | undefined> {
    const key = JSON.stringify([ref.issuer, ref.subject]);
    const hit = this.#cache.get(key);
    if (hit && now - hit.at <= this.#ttlMs) return hit.person;
    const person = await this.#store.person(ref.issuer, ref.subject);
    if (this.#cache.size >= 10_000) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(key, { person, at: now });
    return person;
  }

  /** Forgets a person now (this instance just recorded their sign-in). */
  forget(ref: PersonRef): void {
    this.#cache.delete(JSON.stringify([ref.issuer, ref.subject]));
  }
}
