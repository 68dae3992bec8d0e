import { createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { keyIdOf } from '@warden/core';

/** The issuer every Warden task token names (`iss`): stable, so every instance and version agrees. */
export const TASK_TOKEN_ISSUER = 'urn:warden:task-token';
/** The audience of a task token (`aud`): Warden's own check path, nothing else. */
export const TASK_TOKEN_AUDIENCE = 'urn:warden:check';

/** The Ed25519 key pair that signs task tokens, and its fingerprint (the JWT header's `kid`). */
export interface TaskSigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly kid: string;
}

/** PKCS #8 DER prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * Derives the task-token key from the engine's HMAC key (HKDF-SHA256, its own salt and info, so it
 * shares nothing usable with the argument fingerprints or the checkpoint key). Every instance reading
 * the same key file signs and verifies alike without another secret to distribute; a new key file is a
 * new key, and every token signed under the old one stops verifying (another `kid`).
 */
export function deriveTaskSigningKey(hmacKey: Buffer): TaskSigningKey {
  const seed = Buffer.from(hkdfSync('sha256', hmacKey, 'warden task tokens', 'ed25519 signing key v1', 32));
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, kid: `task-${keyIdOf(publicKey)}` };
}

/** The public key as a JWK Set (RFC 7517), for `GET /v1/tasks/jwks`. */
export function taskJwks(key: TaskSigningKey): { keys: Record<string, string>[] } {
  const jwk = key.publicKey.export({ format: 'jwk' }) as Record<string, string>;
  return { keys: [{ ...jwk, kid: key.kid, alg: 'EdDSA', use: 'sig' }] };
}
