import { WardenError } from '@warden/core';
import { type ApiKeyRecord, hashApiSecret, isApiSecretShape, type Store } from '@warden/engine';
import type { PersonRef } from './person-tokens.js';
import type { Principal } from './principal.js';

interface Cached {
  readonly key: ApiKeyRecord | undefined;
  readonly at: number;
}

/**
 * Resolves `Authorization: Bearer <key>` to a principal. Lookups are cached for a short time so the hot
 * path does not query the database per request; a revocation seen in the audit stream (from any instance)
 * evicts the key at once, and the cache lifetime bounds how stale any other change can be.
 */
export class Authenticator {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, Cached>();
  /** Hashes of keys that have existed: when an address is over its failure limit, only these are looked up. */
  readonly #known = new Set<string>();
  /** False when people sign in only through SSO (auth.keySignIn: false): human keys are refused. */
  readonly #humanKeys: boolean;
  /** The person behind each SSO sign-in id (`sso_…`) this instance has let in, for `stillValid`. */
  readonly #people = new Map<string, PersonRef>();

  constructor(store: Store, options: { ttlMs?: number; humanKeys?: boolean } = {}) {
    this.#store = store;
    this.#ttlMs = options.ttlMs ?? 2_000;
    this.#humanKeys = options.humanKeys ?? true;
  }

  /** SSO_REQUIRED for a human key when people sign in only through SSO; the principal otherwise. */
  #allowed(p: Principal): Principal {
    if (p.kind === 'human' && !this.#humanKeys) {
      throw new WardenError(
        'SSO_REQUIRED',
        `people sign in only through SSO here (auth.keySignIn is false), so the human API key ${p.keyId} is refused: sign in with \`warden login\` or the dashboard's SSO sign-in; agent and service keys are unchanged`,
        { keyId: p.keyId },
      );
    }
    return p;
  }

  /**
   * The principal for a header, or UNAUTHENTICATED naming what is wrong. With `knownOnly` (the caller's
   * address is over its failure limit) a key this instance has never seen is refused (RATE_LIMITED)
   * without a database lookup; a real key is still looked up and let in.
   */
  async authenticate(
    header: string | undefined,
    options: { now?: number; knownOnly?: boolean } = {},
  ): Promise<Principal> {
    const now = options.now ?? Date.now();
    const secret = bearer(header);
    const hash = hashApiSecret(secret);
    let hit = this.#cache.get(hash);
    if (!hit || now - hit.at > this.#ttlMs) {
      if (options.knownOnly && !this.#known.has(hash)) {
        throw new WardenError('RATE_LIMITED', 'too many failed authentications from this address', {
          retryAfterSeconds: 10,
        });
      }
      hit = { key: await this.#store.apiKeyByHash(hash), at: now };
      // Only keys that exist are kept: unknown keys (guesses) would otherwise crowd real ones out.
      if (hit.key) {
        if (this.#known.size < 1_000_000) this.#known.add(hash);
        if (this.#cache.size >= 10_000) this.#cache.delete(this.#cache.keys().next().value as string);
        this.#cache.set(hash, hit);
      }
    }
    return this.#allowed(principalOf(hit.key, now));
  }

  /**
   * The principal for a key named by id (a dashboard session names its key, not the secret). Cached like
   * `authenticate`; a missing, revoked or expired key is UNAUTHENTICATED.
   */
  async authenticateKeyId(keyId: string, now = Date.now()): Promise<Principal> {
    const cacheKey = `id:${keyId}`;
    let hit = this.#cache.get(cacheKey);
    if (!hit || now - hit.at > this.#ttlMs) {
      hit = { key: await this.#store.apiKey(keyId), at: now };
      if (hit.key) {
        if (this.#cache.size >= 10_000) this.#cache.delete(this.#cache.keys().next().value as string);
        this.#cache.set(cacheKey, hit);
      }
    }
    return this.#allowed(principalOf(hit.key, now));
  }

  /** Remembers who an SSO sign-in (`sso_…`) is, so `stillValid` can ask about the person later. */
  notePerson(p: Principal): void {
    if (!p.keyId.startsWith('sso_') || !p.issuer || !p.subject) return;
    if (this.#people.size >= 100_000) this.#people.delete(this.#people.keys().next().value as string);
    this.#people.set(p.keyId, { issuer: p.issuer, subject: p.subject });
  }

  /**
   * Asks the database, not the cache, whether a key is still good (neither revoked nor expired); for a
   * person's SSO sign-in (`sso_…`), whether the person still has a role (an IdP group removal seen at a
   * sign-in, or `warden people revoke`, sets none). A sign-in this instance never let in is not good.
   */
  async stillValid(keyId: string, now = Date.now()): Promise<boolean> {
    if (keyId.startsWith('sso_')) {
      const ref = this.#people.get(keyId);
      const person = ref ? await this.#store.person(ref.issuer, ref.subject) : undefined;
      return person !== undefined && person.role !== null;
    }
    const key = await this.#store.apiKey(keyId);
    return key !== undefined && !key.revokedAt && !(key.expiresAt && Date.parse(key.expiresAt) <= now);
  }

  /** Forgets a key now (it was revoked). */
  evict(keyId: string): void {
    for (const [hash, c] of this.#cache) if (c.key?.id === keyId) this.#cache.delete(hash);
  }
}

function bearer(header: string | undefined): string {
  if (!header) {
    throw new WardenError('UNAUTHENTICATED', 'send an API key: Authorization: Bearer <key>', {
      reason: 'missing',
    });
  }
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!m) {
    throw new WardenError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <key>"', {
      reason: 'malformed',
    });
  }
  const secret = m[1] as string;
  if (!isApiSecretShape(secret)) {
    throw new WardenError('UNAUTHENTICATED', 'the API key is not a Warden key (they start with wdn_)', {
      reason: 'malformed',
    });
  }
  return secret;
}

function principalOf(key: ApiKeyRecord | undefined, now: number): Principal {
  if (!key) throw new WardenError('UNAUTHENTICATED', 'the API key is not known', { reason: 'unknown' });
  if (key.revokedAt) {
    throw new WardenError('UNAUTHENTICATED', `the API key ${key.id} was revoked`, {
      reason: 'revoked',
      keyId: key.id,
    });
  }
  if (key.expiresAt && Date.parse(key.expiresAt) <= now) {
    throw new WardenError('UNAUTHENTICATED', `the API key ${key.id} expired at ${key.expiresAt}`, {
      reason: 'expired',
      keyId: key.id,
    });
  }
  return {
    keyId: key.id,
    kind: key.principalKind,
    id: key.principal,
    role: key.role,
    expiresAt: key.expiresAt,
    ...(key.permissions?.length ? { permissions: key.permissions } : {}),
  };
}
