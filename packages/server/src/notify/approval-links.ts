import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { WardenError } from '@warden/core';

/**
 * Signed action links for approval notifications: `<base64url JSON payload>.<base64url HMAC-SHA256 of the
 * payload part>`. A link never authorizes by itself: whoever opens it must still authenticate as an eligible
 * approver. The signature proves Warden made the link for this approval and action, the expiry bounds it,
 * and the random nonce lets the server record a link as used so it works once.
 */
export type ApprovalLinkAction = 'approve' | 'deny' | 'view';

/** The actions a link can carry. */
export const APPROVAL_LINK_ACTIONS: readonly ApprovalLinkAction[] = ['approve', 'deny', 'view'];

/** What a verified link says. `nonce` is base64url of 16 random bytes, unique per link. */
export interface ApprovalLink {
  readonly approvalId: string;
  readonly action: ApprovalLinkAction;
  readonly expiresAt: Date;
  readonly nonce: string;
}

const MIN_KEY_BYTES = 16;
const MAX_ID_LENGTH = 200;
// A real token is ~200 characters; anything far longer is refused before any work is done.
const MAX_TOKEN_LENGTH = 1_024;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** Makes a token for one approval and action, valid until `expiresAt` (to the second, rounded down). */
export function createApprovalLinkToken(
  key: Buffer,
  link: { approvalId: string; action: ApprovalLinkAction; expiresAt: Date },
): string {
  checkKey(key);
  if (typeof link.approvalId !== 'string' || link.approvalId.length === 0) {
    throw new RangeError('an approval link needs an approval id');
  }
  if (link.approvalId.length > MAX_ID_LENGTH) throw new RangeError('the approval id is too long for a link');
  if (!APPROVAL_LINK_ACTIONS.includes(link.action)) {
    throw new RangeError(`unknown approval link action ${String(link.action)}`);
  }
  const ms = link.expiresAt instanceof Date ? link.expiresAt.getTime() : Number.NaN;
  if (!Number.isFinite(ms)) throw new RangeError('an approval link needs a valid expiry date');
  const payload = {
    a: link.approvalId,
    x: link.action,
    e: Math.floor(ms / 1000),
    n: randomBytes(16).toString('base64url'),
  };
  const part = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  return `${part}.${sign(key, part).toString('base64url')}`;
}

/**
 * Checks a token's signature, shape and expiry and returns what it says; any problem is
 * WardenError LINK_INVALID, whatever the input. It does not check that the nonce is unused: the caller does.
 */
export function verifyApprovalLinkToken(key: Buffer, token: unknown, now: Date = new Date()): ApprovalLink {
  checkKey(key);
  if (typeof token !== 'string' || token.length === 0) throw invalid('the link has no token');
  if (token.length > MAX_TOKEN_LENGTH) throw invalid('the link token is too long');
  const parts = token.split('.');
  const [part, sig] = parts;
  if (parts.length !== 2 || !part || !sig || !B64URL.test(part) || !B64URL.test(sig)) {
    throw invalid('the link token is malformed');
  }
  const given = Buffer.from(sig, 'base64url');
  const expected = sign(key, part);
  // Checked before the payload is even parsed: nothing unsigned is trusted. The re-encoding check refuses
  // alternative spellings of the same bytes, so one link has exactly one token.
  if (
    given.length !== expected.length ||
    !timingSafeEqual(given, expected) ||
    given.toString('base64url') !== sig
  ) {
    throw invalid('the link signature does not match; it was altered or made by another server');
  }
  const link = parsePayload(part);
  if (link.expiresAt.getTime() <= now.getTime()) {
    const at = link.expiresAt.toISOString();
    throw invalid(`the link expired at ${at}; ask for a new one`, { expiresAt: at });
  }
  return link;
}

function parsePayload(part: string): ApprovalLink {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw invalid('the link payload is not valid JSON');
  }
  const p = raw as { a?: unknown; x?: unknown; e?: unknown; n?: unknown } | null;
  const ok =
    p !== null &&
    typeof p === 'object' &&
    !Array.isArray(p) &&
    typeof p.a === 'string' &&
    p.a.length > 0 &&
    p.a.length <= MAX_ID_LENGTH &&
    APPROVAL_LINK_ACTIONS.includes(p.x as ApprovalLinkAction) &&
    Number.isSafeInteger(p.e) &&
    (p.e as number) >= 0 &&
    typeof p.n === 'string' &&
    /^[A-Za-z0-9_-]{22}$/.test(p.n);
  if (!ok) throw invalid('the link payload is malformed');
  const expiresAt = new Date((p.e as number) * 1000);
  if (Number.isNaN(expiresAt.getTime())) throw invalid('the link payload is malformed');
  return { approvalId: p.a as string, action: p.x as ApprovalLinkAction, expiresAt, nonce: p.n as string };
}

function sign(key: Buffer, part: string): Buffer {
  return createHmac('sha256', key).update(part).digest();
}

function checkKey(key: Buffer): void {
  // A programming error, not a bad link: the server must always pass its own key.
  if (!Buffer.isBuffer(key) || key.length < MIN_KEY_BYTES) {
    throw new RangeError(`the approval link key must be a Buffer of at least ${MIN_KEY_BYTES} bytes`);
  }
}

function invalid(message: string, details: Record<string, unknown> = {}): WardenError {
  return new WardenError('LINK_INVALID', message, details);
}
