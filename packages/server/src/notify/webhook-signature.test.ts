import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signWebhook, webhookKey, whsecProblem } from './webhook-signature.js';

// Receivers verify with the `standardwebhooks` library, so that is what checks every signature here.
const whsec = `whsec_${randomBytes(32).toString('base64')}`;
const raw = 'a-plain-secret-0123456789';
const id = 'ntf_0195a0c0-7d2e-7000-8000-000000000001';
const body = '{"type":"approval.requested","id":"evt_1"}';

/** The three Standard Webhooks headers of a delivery signed now. */
function signedNow(secret: string | string[], at = Math.floor(Date.now() / 1000)) {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(at),
    'webhook-signature': signWebhook(secret, id, at, body),
  };
}

describe('Standard Webhooks signatures', () => {
  it('signs "<id>.<timestamp>.<body>" exactly as the standardwebhooks library does for a whsec_ secret', () => {
    const t = 1_750_000_000;
    expect(signWebhook(whsec, id, t, body)).toBe(new Webhook(whsec).sign(id, new Date(t * 1000), body));
    expect(new Webhook(whsec).verify(body, signedNow(whsec))).toEqual(JSON.parse(body));
    expect(signWebhook(whsec, id, t, Buffer.from(body))).toBe(signWebhook(whsec, id, t, body));
  });

  it('keys a secret without whsec_ by its UTF-8 bytes: the raw format, or whsec_ + its base64, verifies', () => {
    const headers = signedNow(raw);
    expect(new Webhook(raw, { format: 'raw' }).verify(body, headers)).toBeTruthy();
    expect(new Webhook(`whsec_${Buffer.from(raw).toString('base64')}`).verify(body, headers)).toBeTruthy();
    const unicode = 'ünïcode-secret-🔑-0123';
    expect(
      new Webhook(new TextEncoder().encode(unicode), { format: 'raw' }).verify(body, signedNow(unicode)),
    ).toBeTruthy();
    expect(webhookKey(raw)).toEqual(Buffer.from(raw, 'utf8'));
  });

  it('refuses a wrong secret, a changed body, id or timestamp', () => {
    const headers = signedNow(whsec);
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    expect(() => new Webhook(other).verify(body, headers)).toThrow(/No matching signature/);
    expect(() => new Webhook(whsec).verify(`${body} `, headers)).toThrow(/No matching signature/);
    expect(() => new Webhook(whsec).verify(body, { ...headers, 'webhook-id': 'ntf_other' })).toThrow(
      /No matching signature/,
    );
    const t = Number(headers['webhook-timestamp']) - 1;
    expect(() => new Webhook(whsec).verify(body, { ...headers, 'webhook-timestamp': String(t) })).toThrow(
      /No matching signature/,
    );
  });

  it('lists one v1 signature per secret while rotating, so a receiver with either secret verifies', () => {
    const old = `whsec_${randomBytes(24).toString('base64')}`;
    const headers = signedNow([whsec, old]);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(whsec).verify(body, headers)).toBeTruthy();
    expect(new Webhook(old).verify(body, headers)).toBeTruthy();
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(body, headers)).toThrow();
  });

  it('is refused by the library once the timestamp is older than its tolerance (a replay)', () => {
    const old = signedNow(whsec, Math.floor(Date.now() / 1000) - 6 * 60);
    expect(() => new Webhook(whsec).verify(body, old)).toThrow(/timestamp too old/);
  });

  it('says what is wrong with a malformed whsec_ secret, and accepts anything else', () => {
    expect(whsecProblem('whsec_test_0123456789abcdef')).toMatch(/standard base64/);
    expect(whsecProblem('whsec_dGVzdA==dGVzdA==')).toMatch(/standard base64/);
    expect(whsecProblem(`whsec_${randomBytes(16).toString('base64')}`)).toMatch(
      /at least 24 bytes \(it holds 16\)/,
    );
    expect(whsecProblem(whsec)).toBeUndefined();
    expect(whsecProblem(`whsec_${randomBytes(24).toString('base64').replace(/=+$/, '')}`)).toBeUndefined();
    expect(whsecProblem(raw)).toBeUndefined();
    expect(() => webhookKey('whsec_not base64!')).toThrow(RangeError);
  });

  it('refuses to sign with a bad timestamp, an id with a dot, or no secret', () => {
    expect(() => signWebhook(whsec, id, -1, body)).toThrow(RangeError);
    expect(() => signWebhook(whsec, id, 1.5, body)).toThrow(RangeError);
    expect(() => signWebhook(whsec, 'ntf.1', 1, body)).toThrow(/without dots/);
    expect(() => signWebhook(whsec, '', 1, body)).toThrow(/non-empty/);
    expect(() => signWebhook([], id, 1, body)).toThrow(/at least one/);
    expect(() => signWebhook('', id, 1, body)).toThrow(/empty/);
  });
});
