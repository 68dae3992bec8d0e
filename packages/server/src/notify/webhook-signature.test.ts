import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from './webhook-signature.js';

const secret = 'whsec_0123456789abcdef';
const body = '{"type":"approval.requested","id":"evt_1"}';
const t = 1_750_000_000;

describe('webhook signatures', () => {
  it('signs as t=<seconds>,v1=<hex HMAC of "<t>.<body>"> and verifies its own signature', () => {
    const header = signWebhook(secret, t, body);
    const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(header).toBe(`t=${t},v1=${expected}`);
    expect(verifyWebhook(secret, header, body, { nowSec: t })).toBe(true);
    expect(verifyWebhook(secret, header, Buffer.from(body), { nowSec: t + 10 })).toBe(true);
  });

  it('refuses a changed body, a changed timestamp, a wrong secret and a forged digest', () => {
    const header = signWebhook(secret, t, body);
    expect(verifyWebhook(secret, header, `${body} `, { nowSec: t })).toBe(false);
    expect(verifyWebhook(secret, header.replace(`t=${t}`, `t=${t + 1}`), body, { nowSec: t })).toBe(false);
    expect(verifyWebhook('another-secret-0123456789', header, body, { nowSec: t })).toBe(false);
    const flipped = header.replace(/v1=(.)/, (_m, c: string) => `v1=${c === '0' ? '1' : '0'}`);
    expect(verifyWebhook(secret, flipped, body, { nowSec: t })).toBe(false);
  });

  it('refuses stale and future timestamps outside the tolerance', () => {
    const header = signWebhook(secret, t, body);
    expect(verifyWebhook(secret, header, body, { nowSec: t + 300 })).toBe(true);
    expect(verifyWebhook(secret, header, body, { nowSec: t + 301 })).toBe(false);
    expect(verifyWebhook(secret, header, body, { nowSec: t - 301 })).toBe(false);
    expect(verifyWebhook(secret, header, body, { nowSec: t + 1000, toleranceSec: 2000 })).toBe(true);
    // The default clock: a header signed now is fresh, one from 2025 is not.
    expect(verifyWebhook(secret, signWebhook(secret, Math.floor(Date.now() / 1000), body), body)).toBe(true);
    expect(verifyWebhook(secret, header, body)).toBe(false);
  });

  it('accepts any matching v1, so both sides can rotate secrets', () => {
    const next = 'whsec_next_fedcba9876543210';
    const both = signWebhook([secret, next], t, body);
    expect(both.match(/v1=/g)).toHaveLength(2);
    expect(verifyWebhook(secret, both, body, { nowSec: t })).toBe(true);
    expect(verifyWebhook(next, both, body, { nowSec: t })).toBe(true);
    // A receiver holding old and new secrets accepts a sender that has switched to the new one.
    expect(verifyWebhook([secret, next], signWebhook(next, t, body), body, { nowSec: t })).toBe(true);
    expect(verifyWebhook(['nope-nope-nope-nope'], both, body, { nowSec: t })).toBe(false);
    // Unknown schemes are ignored rather than refused.
    expect(verifyWebhook(secret, `${both},v2=abc`, body, { nowSec: t })).toBe(true);
  });

  it('refuses malformed headers without throwing', () => {
    const good = signWebhook(secret, t, body);
    const digest = good.split('v1=')[1];
    for (const header of [
      undefined,
      null,
      '',
      'garbage',
      `v1=${digest}`,
      `t=${t}`,
      `t=abc,v1=${digest}`,
      `t=-5,v1=${digest}`,
      `t=${t},t=${t},v1=${digest}`,
      `t=${t},v1=${digest?.slice(2)}`,
      `t=${t},v1=${'z'.repeat(64)}`,
      `t=${t},v1`,
      `${good},${'x'.repeat(5000)}`,
    ]) {
      expect(verifyWebhook(secret, header, body, { nowSec: t }), String(header)).toBe(false);
    }
    expect(verifyWebhook('', good, body, { nowSec: t })).toBe(false);
    expect(verifyWebhook([], good, body, { nowSec: t })).toBe(false);
    expect(verifyWebhook(secret, ` t=${t} , v1=${digest} `, body, { nowSec: t })).toBe(true);
  });

  it('refuses to sign with a bad timestamp or no secret', () => {
    expect(() => signWebhook(secret, 1.5, body)).toThrow(RangeError);
    expect(() => signWebhook([], t, body)).toThrow(RangeError);
  });
});
