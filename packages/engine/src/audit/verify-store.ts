import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  ChainVerifier,
  canonicalJson,
  type SignedCheckpoint,
  type VerifyReport,
  WardenError,
} from '@warden/core';
import type { Store } from '../store/store.js';

export interface VerifyStoreOptions {
  /** Keys trusted to sign checkpoints; default: the keys registered in the store. */
  readonly publicKeys?: readonly KeyObject[];
  /** Checkpoints kept outside the database; checked together with the stored ones. */
  readonly checkpoints?: readonly SignedCheckpoint[];
  readonly pageSize?: number;
  /** Called after each page with the number of events checked so far. */
  readonly onProgress?: (checked: number) => void;
}

/**
 * Verifies the whole chain in a store: every hash recomputed, every sequence number present, every
 * checkpoint signature valid and matched. External checkpoints catch a truncation or a rewrite that
 * also removed the checkpoints from the database.
 */
export async function verifyStore(store: Store, options: VerifyStoreOptions = {}): Promise<VerifyReport> {
  const publicKeys = options.publicKeys ?? (await storedKeys(store));
  const stored = await store.checkpoints();
  const seen = new Set(stored.map((c) => canonicalJson(c)));
  const checkpoints = [...stored, ...(options.checkpoints ?? []).filter((c) => !seen.has(canonicalJson(c)))];
  const verifier = new ChainVerifier({ mode: 'store', checkpoints, publicKeys });
  const pageSize = options.pageSize ?? 20_000;
  let after = 0;
  let checked = 0;
  for (;;) {
    const rows = await store.readChain(after, pageSize);
    if (rows.length === 0) break;
    let ok = true;
    for (const row of rows) {
      ok = verifier.push(row);
      if (!ok) break;
    }
    checked += rows.length;
    options.onProgress?.(checked);
    if (!ok) break;
    after = (rows[rows.length - 1] as { seq: number }).seq;
  }
  return verifier.finish();
}

async function storedKeys(store: Store): Promise<KeyObject[]> {
  const keys = await store.publicKeys();
  try {
    return keys.map((k) => createPublicKey(k.pem));
  } catch (err) {
    throw new WardenError(
      'KEYS_INVALID',
      `a public key stored in the database is malformed: ${(err as Error).message}`,
    );
  }
}
