import { type CompiledPolicy, isWardenError, signCheckpoint, WardenError } from '@warden/core';
import { type KeyRing, loadOrCreateKeyRing } from '../keys/key-ring.js';
import { defaultKeyFile, openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { Engine, type EngineOptions } from './engine.js';

export interface OpenEngineOptions extends Omit<EngineOptions, 'store' | 'keys'> {
  /** A SQLite path or a postgres:// URL; default ./warden.db. */
  readonly db?: string;
  /** Or an already open store (not closed by the engine). */
  readonly store?: Store;
  readonly keys?: KeyRing;
  /** Where the signing and HMAC keys live; created on first use. Default beside the SQLite file. */
  readonly keysFile?: string;
  readonly policy: CompiledPolicy;
  /**
   * Refuse (KEYS_INVALID) a key the database has not seen, instead of recording a key rotation: for
   * admin tools, which must never rotate the key by being pointed at the wrong file.
   */
  readonly requireKnownKey?: boolean;
}

/**
 * Opens the store, loads (or creates) the keys and registers this engine's public key, recording the
 * key change in the audit trail the first time a key is seen.
 */
export async function openEngine(options: OpenEngineOptions): Promise<Engine> {
  const store = options.store ?? (await openStore(options.db));
  try {
    const keys = options.keys ?? loadOrCreateKeyRing(options.keysFile ?? defaultKeyFile(options.db));
    const engine = new Engine({ ...options, store, keys, closeStore: !options.store });
    // Events a process killed before its next checkpoint left unsigned: seen now, signed below.
    const unsigned = await unsignedHead(store);
    const known = await store.publicKeys();
    const isKnown = known.some((k) => k.keyId === keys.keyId);
    if (!isKnown && options.requireKnownKey && known.length > 0) {
      throw new WardenError(
        'KEYS_INVALID',
        `key ${keys.keyId} is not one this database uses (${known.map((k) => k.keyId).join(', ')}); pass the key file the engine uses with --keys`,
      );
    }
    if (!isKnown) {
      const ts = new Date().toISOString();
      const event = engine.systemEvent(
        known.length > 0 ? 'key.rotated' : 'key.added',
        { kind: 'system', id: 'warden' },
        {
          data: { keyId: keys.keyId, publicKey: keys.publicPem, previousKeyIds: known.map((k) => k.keyId) },
        },
      );
      await engine.commit({
        mutations: [{ kind: 'key.register', keyId: keys.keyId, pem: keys.publicPem, ts }],
        events: [event],
      });
    }
    if (unsigned) await signHead(engine, options.onError);
    return engine;
  } catch (err) {
    if (!options.store) await store.close();
    throw err;
  }
}

/** Whether the chain goes past its last checkpoint (a hint read outside the lock; see signHead). */
async function unsignedHead(store: Store): Promise<boolean> {
  const head = await store.head();
  const last = (await store.checkpoints({ fromSeq: head.seq })).filter((c) => c.kind !== 'seal').at(-1);
  return head.seq > 0 && (last?.seq ?? 0) < head.seq;
}

/**
 * Signs a checkpoint over the head at start, so what a crashed process wrote does not stay unsigned until
 * the next event. The store decides under the chain lock whether the head is still unsigned
 * (`ifBehind`): instances starting together sign once. A failure is reported, not fatal: the engine
 * still starts (a read-only database fails its writes closed).
 */
async function signHead(engine: Engine, onError: ((err: WardenError) => void) | undefined): Promise<void> {
  try {
    await engine.commit({
      events: [],
      checkpoint: {
        kind: 'periodic',
        ifBehind: true,
        keyId: engine.keys.keyId,
        ts: new Date().toISOString(),
        sign: (body) => signCheckpoint(body, engine.keys.signingKey),
      },
    });
  } catch (err) {
    onError?.(
      isWardenError(err)
        ? err
        : new WardenError('INTERNAL', `signing the head at start failed: ${String(err)}`),
    );
  }
}
