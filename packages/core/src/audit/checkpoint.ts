import { createPublicKey, hash, type KeyObject, sign, verify } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../canonical/canonical-json.js';

/**
 * Signed checkpoints: Ed25519 signatures over (sequence, head hash, time, previous checkpoint). Kept
 * outside the database, they make the chain trustworthy even against someone who can rewrite the
 * database wholesale: a rewritten chain no longer ends in a signed hash.
 */

export const CHECKPOINT_KINDS = ['periodic', 'on-demand', 'seal'] as const;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

/** The signed statement. A `seal` vouches for an export: it also names where the export starts. */
export const CheckpointBodySchema = z.strictObject({
  kind: z.enum(CHECKPOINT_KINDS),
  seq: z.number().int().nonnegative(),
  hash: hex64,
  ts: z.iso.datetime(),
  /** Digest of the previous checkpoint in the chain of checkpoints; null for the first and for seals. */
  prev: hex64.nullable(),
  keyId: z.string().min(1),
  /** Seals only: the first exported sequence number and the hash before it. */
  fromSeq: z.number().int().positive().optional(),
  fromPrev: hex64.optional(),
});

/** A checkpoint with its base64 Ed25519 signature over the canonical JSON of the body. */
export const SignedCheckpointSchema = CheckpointBodySchema.extend({ signature: z.string().min(1) });

export type CheckpointBody = z.infer<typeof CheckpointBodySchema>;
export type SignedCheckpoint = z.infer<typeof SignedCheckpointSchema>;

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
