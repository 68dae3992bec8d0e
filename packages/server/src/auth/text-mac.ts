import { createHmac, timingSafeEqual } from 'node:crypto';

/** The base64url HMAC-SHA256 of a text under a derived key: the signature of a cookie or token. */
export function mac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url');
}

/** Whether two texts are equal, compared in constant time (a signature an attacker is guessing at). */
export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
