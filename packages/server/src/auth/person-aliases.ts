import { normalName, type VerifiedWho } from '@warden/core';
import type { PersonRecord, Store } from '@warden/engine';

/** A human acting: an SSO person (issuer + subject) or a human key (its id); only humans have aliases. */
export interface AliasedWho {
  readonly kind: string;
  readonly id: string;
  readonly keyId?: string | undefined;
  readonly issuer?: string | undefined;
  readonly subject?: string | undefined;
}

/** Everyone else a person is here: their other names and the verified identities behind them. */
export interface PersonAliases {
  /** Their other names (an SSO name, an email, a human key's principal), never their own `id`. */
  readonly alsoKnownAs: readonly string[];
  /** Their other verified identities: each SSO sign-in (issuer + subject) and each human key (key id). */
  readonly alsoVerified: readonly VerifiedWho[];
}

const NONE: PersonAliases = { alsoKnownAs: [], alsoVerified: [] };

/**
 * The other names and verified identities of the person behind `p`, for separation of duties and the
 * one-vote rule on every channel. An SSO person is also the human keys whose principal is their name or
 * email; a human key is also the SSO people whose name or email is its principal, and those people's
 * other keys. Revoked and expired keys count too: they can only refuse more, and an earlier vote cast
 * with one is still theirs. Agents and services have no aliases.
 */
export async function personAliases(store: Store, p: AliasedWho): Promise<PersonAliases> {
  if (p.kind !== 'human') return NONE;
  const names = new Map<string, string>();
  const verified = new Map<string, VerifiedWho>();
  const addName = (n: string | null | undefined) => {
    if (n && !names.has(normalName(n))) names.set(normalName(n), n);
  };
  const addPerson = (x: PersonRecord) => {
    verified.set(`idp ${x.issuer} ${x.subject}`, { issuer: x.issuer, subject: x.subject });
    addName(x.name);
    addName(x.email);
  };
  addName(p.id);
  if (p.issuer && p.subject) {
    const me = await store.person(p.issuer, p.subject);
    if (me) addPerson(me);
  } else {
    // A human key's principal may be an SSO person's name, or their email.
    const byName = await store.personByName(p.id);
    if (byName) addPerson(byName);
    if (p.id.includes('@')) for (const x of await store.peopleByEmail(p.id)) addPerson(x);
  }
  const keys = (await store.apiKeys()).filter(
    (k) => k.principalKind === 'human' && names.has(normalName(k.principal)),
  );
  for (const k of keys) {
    addName(k.principal);
    verified.set(`key ${k.id}`, { keyId: k.id });
  }
  names.delete(normalName(p.id));
  // Their own identity is compared already; an SSO person's sign-in id (`sso_…`) is no key.
  if (p.issuer && p.subject) verified.delete(`idp ${p.issuer} ${p.subject}`);
  else if (p.keyId) verified.delete(`key ${p.keyId}`);
  return { alsoKnownAs: [...names.values()], alsoVerified: [...verified.values()] };
}
