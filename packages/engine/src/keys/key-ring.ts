import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { keyIdOf, WardenError } from '@warden/core';
import { z } from 'zod';

/**
 * The engine's secrets: an Ed25519 key that signs checkpoints and an HMAC key that fingerprints
 * unredacted arguments. They live in a key file outside the database (mode 0600), so whoever can
 * rewrite the database still cannot forge a signed checkpoint. Every instance on one database
 * shares the same file.
 */
export interface KeyRing {
  readonly signingKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicPem: string;
  readonly keyId: string;
  readonly hmacKey: Buffer;
}

const KeyFileSchema = z.strictObject({
  version: z.literal(1),
  signingKey: z.string().includes('PRIVATE KEY'),
  hmacKey: z.string().min(44),
});

/** A fresh key ring. */
export function generateKeyRing(): KeyRing {
  const { privateKey } = generateKeyPairSync('ed25519');
  return ringOf(privateKey, randomBytes(32));
}

/** Reads the key file at `path`, creating it (0600) with fresh keys when it does not exist. */
export function loadOrCreateKeyRing(path: string): KeyRing {
  if (!existsSync(path)) {
    const ring = generateKeyRing();
    const file = {
      version: 1,
      signingKey: ring.signingKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      hmacKey: ring.hmacKey.toString('base64'),
    };
    mkdirSync(dirname(path), { recursive: true });
    try {
      writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      return ring;
    } catch (err) {
      // Another instance created it first: use theirs, so all instances share one key.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw keysError(path, err);
    }
  }
  return readKeyRing(path);
}

/** Reads an existing key file; KEYS_INVALID names the problem. */
export function readKeyRing(path: string): KeyRing {
  let parsed: z.infer<typeof KeyFileSchema>;
  try {
    parsed = KeyFileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    throw keysError(path, err);
  }
  try {
    return ringOf(createPrivateKey(parsed.signingKey), Buffer.from(parsed.hmacKey, 'base64'));
  } catch (err) {
    throw keysError(path, err);
  }
}

/** Public keys from a file holding one or more PEM public keys (or a Warden key file). */
export function readPublicKeys(path: string): KeyObject[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw keysError(path, err);
  }
  if (text.trimStart().startsWith('{')) return [readKeyRing(path).publicKey];
  const pems = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
  if (pems.length === 0) throw new WardenError('KEYS_INVALID', `${path} holds no PEM public key`);
  try {
    return pems.map((pem) => createPublicKey(pem));
  } catch (err) {
    throw keysError(path, err);
  }
}

function ringOf(signingKey: KeyObject, hmacKey: Buffer): KeyRing {
  if (signingKey.asymmetricKeyType !== 'ed25519') {
    throw new WardenError('KEYS_INVALID', 'the signing key must be an Ed25519 key');
  }
  const publicKey = createPublicKey(signingKey);
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { signingKey, publicKey, publicPem, keyId: keyIdOf(publicKey), hmacKey };
}

function keysError(path: string, err: unknown): WardenError {
  const why = err instanceof z.ZodError ? 'it is not a Warden key file' : (err as Error).message;
  return new WardenError('KEYS_INVALID', `cannot use key file ${path}: ${why}`);
}
