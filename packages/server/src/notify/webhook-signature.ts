import { createHmac } from 'node:crypto';

/**
 * Webhook signatures, as the Standard Webhooks specification (https://www.standardwebhooks.com) has
 * them, so receivers verify with an existing library in any language. Every delivery carries
 *
 *     webhook-id: <the notification id; the same on every retry of one delivery>
 *     webhook-timestamp: <unix seconds of this attempt>
 *     webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")> [v1,<…> …]
 *
 * (the signature only when the webhook has a secret). The key is the secret's bytes: a `whsec_<base64>`
 * secret is the base64-decoded bytes after the prefix (what every Standard Webhooks library does with
 * it); any other secret is its UTF-8 bytes, which a receiver gets with the library's raw format, or by
 * giving it `whsec_` + base64 of the secret (see {@link webhookKey}). While a secret is rotated, every
 * configured secret signs, and the header lists one `v1,…` per secret, space-separated.
 */
export const WEBHOOK_ID_HEADER = 'webhook-id';
/** Unix seconds of the attempt (receivers refuse one too far from their clock: a replay). */
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
/** `v1,<base64>` per secret, space-separated. */
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';

/** The prefix that marks a secret as base64 bytes (Standard Webhooks' secret format). */
export const WHSEC_PREFIX = 'whsec_';

/** Standard Webhooks asks for at least 24 random bytes in a `whsec_` secret. */
export const MIN_WHSEC_BYTES = 24;

/**
 * Why `secret` cannot be used as a `whsec_` secret, or undefined when it can (or is not one). Checked
 * when the config is read, so a typo fails the start rather than every delivery.
 */
export function whsecProblem(secret: string): string | undefined {
  if (!secret.startsWith(WHSEC_PREFIX)) return undefined;
  const b64 = secret.slice(WHSEC_PREFIX.length);
  const bytes = Buffer.from(b64, 'base64');
  // Buffer.from skips what is not base64; a round trip shows whether anything was skipped.
  if (
    !/^[A-Za-z0-9+/]+={0,2}$/.test(b64) ||
    bytes.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, '')
  )
    return 'after whsec_ must come standard base64 (A-Z a-z 0-9 + /, = padding)';
  if (bytes.length < MIN_WHSEC_BYTES)
    return `a whsec_ secret must hold at least ${MIN_WHSEC_BYTES} bytes (it holds ${bytes.length})`;
  return undefined;
}

/**
 * Why `secret`, not in whsec_ form, cannot be used, or undefined when it can: it must be printable ASCII.
 * Warden signs with its UTF-8 bytes, but a receiver's library reads a raw secret in its own way (the
 * standardwebhooks package takes each character's code as a byte), so beyond ASCII the two disagree and
 * every signature fails. Binary or non-ASCII keys belong in the whsec_ form.
 */
export function rawSecretProblem(secret: string): string | undefined {
  if (secret.startsWith(WHSEC_PREFIX) || /^[\x20-\x7E]*$/.test(secret)) return undefined;
  return 'a secret not in whsec_ form must be printable ASCII, so receivers derive the same key; use whsec_ + base64 of random bytes (e.g. whsec_$(openssl rand -base64 32))';
}

/** The HMAC key of a secret: the decoded bytes of a `whsec_<base64>` secret, else its UTF-8 bytes. */
export function webhookKey(secret: string): Buffer {
  if (secret.length === 0) throw new RangeError('a webhook secret cannot be empty');
  const problem = whsecProblem(secret);
  if (problem) throw new RangeError(problem);
  return secret.startsWith(WHSEC_PREFIX)
    ? Buffer.from(secret.slice(WHSEC_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/**
 * The webhook-signature value for one attempt: `v1,<base64>` per secret, space-separated (several while
 * rotating). The id must not contain a dot, which would make the signed content ambiguous.
 */
export function signWebhook(
  secret: string | readonly string[],
  id: string,
  timestampSec: number,
  body: string | Uint8Array,
): string {
  if (!Number.isSafeInteger(timestampSec) || timestampSec < 0) {
    throw new RangeError('the webhook timestamp must be a non-negative integer number of seconds');
  }
  if (id.length === 0 || id.includes('.')) {
    throw new RangeError(`the webhook id must be non-empty and without dots, not "${id}"`);
  }
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new RangeError('at least one webhook secret is needed to sign');
  return secrets
    .map((s) => {
      const mac = createHmac('sha256', webhookKey(s)).update(`${id}.${timestampSec}.`).update(body);
      return `v1,${mac.digest('base64')}`;
    })
    .join(' ');
}
