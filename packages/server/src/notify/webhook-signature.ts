import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures. Every delivery to a target with a secret carries a header
 *
 *     Warden-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * To verify one, a receiver: splits the header on `,` and each part on the first `=`; takes `t` and every
 * `v1` (ignoring unknown keys, which later schemes may add); refuses the delivery when `t` is further than
 * its tolerance (5 minutes here) from its own clock, which stops replays; computes the HMAC over the exact
 * bytes received, prefixed with `t` and a dot; and accepts when it equals any `v1`, compared in constant
 * time. Several `v1` values appear while a secret is being rotated (one per secret); receivers may likewise
 * hold the old and the new secret at once. The Warden-Delivery header is the same for every retry of one
 * delivery, so receivers can drop duplicates by it.
 */
export const SIGNATURE_HEADER = 'warden-signature';

/**
 * The Warden-Signature value for `body` (scheme on {@link SIGNATURE_HEADER}); pass several secrets while
 * rotating to emit one `v1` each.
 */
export function signWebhook(
  secret: string | readonly string[],
  timestampSec: number,
  body: string | Uint8Array,
): string {
  if (!Number.isSafeInteger(timestampSec) || timestampSec < 0) {
    throw new RangeError('the webhook timestamp must be a non-negative integer number of seconds');
  }
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new RangeError('at least one webhook secret is needed to sign');
  const sigs = secrets.map((s) => `v1=${mac(s, timestampSec, body).toString('hex')}`);
  return [`t=${timestampSec}`, ...sigs].join(',');
}

/** Options for {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** How far (seconds) the signed timestamp may be from now, either way. Default 300. */
  readonly toleranceSec?: number;
  /** The current time in unix seconds; default the clock. */
  readonly nowSec?: number;
}

/**
 * True when `header` carries a fresh timestamp and a `v1` signature of `body` by `secret` (or by any of
 * several secrets, for rotation). Never throws: malformed headers are simply false.
 */
export function verifyWebhook(
  secret: string | readonly string[],
  header: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): boolean {
  const parsed = parseSignatureHeader(header);
  if (!parsed) return false;
  const tolerance = options.toleranceSec ?? 300;
  const now = options.nowSec ?? Math.floor(Date.now() / 1000);
  if (!(Math.abs(now - parsed.t) <= tolerance)) return false;
  const secrets = typeof secret === 'string' ? [secret] : secret;
  let ok = false;
  // Every pair is compared, without stopping early, so timing does not say which one matched.
  for (const s of secrets) {
    if (typeof s !== 'string' || s.length === 0) continue;
    const expected = mac(s, parsed.t, body);
    for (const candidate of parsed.v1) if (timingSafeEqual(expected, candidate)) ok = true;
  }
  return ok;
}

function mac(secret: string, t: number, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest();
}

const MAX_HEADER_LENGTH = 4_096;

/** `t` and the decoded `v1` digests, or undefined when the header is malformed. */
function parseSignatureHeader(header: string | null | undefined): { t: number; v1: Buffer[] } | undefined {
  if (typeof header !== 'string' || header.length > MAX_HEADER_LENGTH) return undefined;
  let t: number | undefined;
  const v1: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (t !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      t = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) return undefined;
      v1.push(Buffer.from(value, 'hex'));
    }
  }
  return t === undefined || v1.length === 0 ? undefined : { t, v1 };
}
