import { createPublicKey, hash, type KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson } from '../canonical/canonical-json.js';
import type { CheckpointBody, SignedCheckpoint } from './checkpoint-schema.js';

/**
 * Signed checkpoints: Ed25519 signatures over (sequence, head hash, time, previous checkpoint). Kept
 * outside the database, they make the chain trustworthy even against someone who can rewrite the
 * database wholesale: a rewritten chain no longer ends in a signed hash.
 */

export type { CheckpointBody, SignedCheckpoint } from './checkpoint-schema.js';

/** A short stable id for a public key: the first 16 hex digits of the SHA-256 of its SPKI DER. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return hash('sha256', pub.export({ type: 'spki', format: 'der' }), 'hex').slice(0, 16);
}

/** Signs a checkpoint body with an Ed25519 private key. */
export function signCheckpoint(body: CheckpointBody, privateKey: KeyObject): SignedCheckpoint {
  const signature = sign(null, Buffer.from(canonicalJson(body)), privateKey).toString('base64');
  return { ...body, signature };
}

/** True when the signature is valid for the body under `publicKey`. Never throws. */
export function checkpointSignatureValid(cp: SignedCheckpoint, publicKey: KeyObject): boolean {
  const { signature, ...body } = cp;
  try {
    return verify(null, Buffer.from(canonicalJson(body)), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** The digest a following checkpoint names as its `prev`. */
export function checkpointDigest(cp: SignedCheckpoint): string {
  return hash('sha256', canonicalJson(cp), 'hex');
}
