import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/**
 * Keys for the person sign-in tokens, each derived from the engine's HMAC key under its own label (like
 * the dashboard session key): every instance on one database derives the same ones, none is stored.
 */
export function derivedKey(hmacKey: Buffer, label: string): Buffer {
  return createHmac('sha256', hmacKey).update(label).digest();
}

/**
 * Seals a JSON value with AES-256-GCM: `<iv>.<ciphertext>.<tag>` in base64url, bound to `purpose` (as
 * associated data) so a box made for one use cannot be opened as another.
 */
export function seal(key: Buffer, purpose: string, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(purpose));
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return [iv, body, cipher.getAuthTag()].map((b) => b.toString('base64url')).join('.');
}

/** The value a sealed box holds, or undefined when it is malformed, altered or sealed for another purpose. */
export function open(key: Buffer, purpose: string, box: string): unknown {
  const parts = box.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const [iv, body, tag] = parts.map((p) => Buffer.from(p, 'base64url')) as [Buffer, Buffer, Buffer];
    if (iv.length !== 12 || tag.length !== 16) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(purpose));
    decipher.setAuthTag(tag);
    const text = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
