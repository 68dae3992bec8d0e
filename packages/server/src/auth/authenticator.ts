import { WardenError } from '@warden/core';
import { type ApiKeyRecord, hashApiSecret, isApiSecretShape, type Store } from '@warden/engine';
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

  constructor(store: Store, options: { ttlMs?: number } = {}) {
    this.#store = store;
    this.#ttlMs = options.ttlMs ?? 2_000;
  }

  /** The principal for a header, or UNAUTHENTICATED naming what is wrong. */
  async authenticate(header: string | undefined, now = Date.now()): Promise<Principal> {
    const secret = bearer(header);
    const hash = hashApiSecret(secret);
    let hit = this.#cache.get(hash);
    if (!hit || now - hit.at > this.#ttlMs) {
      hit = { key: await this.#store.apiKeyByHash(hash), at: now };
      if (this.#cache.size > 10_000) this.#cache.clear();
      this.#cache.set(hash, hit);
    }
    return principalOf(hit.key, now);
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
  };
}
