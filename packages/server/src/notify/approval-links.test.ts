import { createHmac, randomBytes } from 'node:crypto';
import { isWardenError } from '@warden/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createApprovalLinkToken, verifyApprovalLinkToken } from './approval-links.js';

const key = randomBytes(32);
const now = new Date('2026-03-01T12:00:00Z');
const expiresAt = new Date('2026-03-01T13:00:00Z');
const link = {
  approvalId: 'apr_0195a0c0-0000-7000-8000-000000000001',
  action: 'approve' as const,
  expiresAt,
};

/** The LINK_INVALID error `fn` throws (fails the test if it throws anything else or nothing). */
function linkError(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(isWardenError(err, 'LINK_INVALID'), String(err)).toBe(true);
    return err as { code: string; message: string };
  }
  throw new Error('expected LINK_INVALID, nothing was thrown');
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const signed = (part: string, k = key) =>
  `${part}.${createHmac('sha256', k).update(part).digest('base64url')}`;

describe('approval link tokens', () => {
  it('round-trips the approval, action, expiry and a fresh nonce', () => {
    const token = createApprovalLinkToken(key, link);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const out = verifyApprovalLinkToken(key, token, now);
    expect(out).toMatchObject({ approvalId: link.approvalId, action: 'approve', expiresAt });
    expect(out.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const again = verifyApprovalLinkToken(key, createApprovalLinkToken(key, link), now);
    expect(again.nonce).not.toBe(out.nonce);
    for (const action of ['deny', 'view'] as const) {
      expect(
        verifyApprovalLinkToken(key, createApprovalLinkToken(key, { ...link, action }), now).action,
      ).toBe(action);
    }
    // The payload is the documented JSON.
    const payload = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString());
    expect(payload).toEqual({
      a: link.approvalId,
      x: 'approve',
      e: expiresAt.getTime() / 1000,
      n: out.nonce,
    });
  });

  it('refuses a token signed with another key', () => {
    const other = createApprovalLinkToken(randomBytes(32), link);
    expect(linkError(() => verifyApprovalLinkToken(key, other, now)).message).toMatch(/signature/);
  });

  it('refuses a modified payload, even one re-encoded cleanly', () => {
    const token = createApprovalLinkToken(key, link);
    const [part, sig] = token.split('.') as [string, string];
    const payload = JSON.parse(Buffer.from(part, 'base64url').toString());
    const denied = b64({ ...payload, x: 'deny' });
    expect(linkError(() => verifyApprovalLinkToken(key, `${denied}.${sig}`, now)).message).toMatch(
      /signature/,
    );
    const later = b64({ ...payload, e: payload.e + 86_400 });
    linkError(() => verifyApprovalLinkToken(key, `${later}.${sig}`, now));
    // An alternative spelling of the same signature bytes is not the same token.
    // (43 characters carry 258 bits for 256: flipping the last character's lowest bit keeps the bytes.)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = `${sig.slice(0, -1)}${alphabet[alphabet.indexOf(sig.at(-1) as string) ^ 1]}`;
    expect(Buffer.from(twin, 'base64url').equals(Buffer.from(sig, 'base64url'))).toBe(true);
    linkError(() => verifyApprovalLinkToken(key, `${part}.${twin}`, now));
  });

  it('refuses an expired token, and says when it expired', () => {
    const token = createApprovalLinkToken(key, link);
    expect(verifyApprovalLinkToken(key, token, new Date(expiresAt.getTime() - 1000)).action).toBe('approve');
    const err = linkError(() => verifyApprovalLinkToken(key, token, expiresAt));
    expect(err.message).toContain('expired at 2026-03-01T13:00:00.000Z');
    linkError(() => verifyApprovalLinkToken(key, token));
  });

  it('refuses correctly signed payloads that are not a link', () => {
    const good = { a: 'apr_1', x: 'approve', e: 1_900_000_000, n: 'A'.repeat(22) };
    expect(verifyApprovalLinkToken(key, signed(b64(good)), now).approvalId).toBe('apr_1');
    for (const bad of [
      null,
      [],
      'apr_1',
      { ...good, a: '' },
      { ...good, a: 7 },
      { ...good, x: 'delete' },
      { ...good, e: '1900000000' },
      { ...good, e: 1.5 },
      { ...good, e: -1 },
      { ...good, n: 'short' },
      { a: 'apr_1', x: 'approve', e: 1_900_000_000 },
    ]) {
      expect(linkError(() => verifyApprovalLinkToken(key, signed(b64(bad)), now)).message).toMatch(
        /malformed/,
      );
    }
    const notJson = Buffer.from('{nope').toString('base64url');
    expect(linkError(() => verifyApprovalLinkToken(key, signed(notJson), now)).message).toMatch(/JSON/);
  });

  it('throws only LINK_INVALID, whatever the input', () => {
    for (const garbage of [
      undefined,
      null,
      42,
      {},
      '',
      '.',
      'a.',
      '.b',
      'a.b.c',
      'a b.c',
      'x'.repeat(5000),
    ]) {
      linkError(() => verifyApprovalLinkToken(key, garbage, now));
    }
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.base64String(), fc.anything()), (input) => {
        linkError(() => verifyApprovalLinkToken(key, input, now));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses to make a link without a usable key, id, action or expiry', () => {
    expect(() => createApprovalLinkToken(Buffer.alloc(4), link)).toThrow(RangeError);
    expect(() => createApprovalLinkToken(key, { ...link, approvalId: '' })).toThrow(RangeError);
    expect(() => createApprovalLinkToken(key, { ...link, action: 'delete' as never })).toThrow(RangeError);
    expect(() => createApprovalLinkToken(key, { ...link, expiresAt: new Date('nope') })).toThrow(RangeError);
  });
});
