import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../canonical/canonical-json.js';
import {
  type CheckpointBody,
  checkpointDigest,
  checkpointSignatureValid,
  keyIdOf,
  type SignedCheckpoint,
  signCheckpoint,
} from './checkpoint.js';
import { CheckpointBodySchema, SignedCheckpointSchema } from './checkpoint-schema.js';

const keys = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const HASH = 'ab'.repeat(32);

const body: CheckpointBody = {
  kind: 'periodic',
  seq: 1000,
  hash: HASH,
  ts: '2025-03-01T12:00:00.000Z',
  prev: 'cd'.repeat(32),
  keyId: keyIdOf(keys.publicKey),
};
const seal: CheckpointBody = { ...body, kind: 'seal', prev: null, fromSeq: 10, fromPrev: 'ef'.repeat(32) };

describe('keyIdOf', () => {
  it('is 16 hex digits, stable, and the same for the private key, the public key and its PEM', () => {
    const id = keyIdOf(keys.publicKey);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(keyIdOf(keys.publicKey)).toBe(id);
    expect(keyIdOf(keys.privateKey)).toBe(id);
    const pem = keys.publicKey.export({ type: 'spki', format: 'pem' });
    expect(keyIdOf(createPublicKey(pem))).toBe(id);
  });

  it('differs between keys', () => {
    expect(keyIdOf(other.publicKey)).not.toBe(keyIdOf(keys.publicKey));
  });
});

describe('signCheckpoint / checkpointSignatureValid', () => {
  it.each([
    ['periodic', body],
    ['seal', seal],
  ])('round-trips a %s checkpoint, which the schema accepts', (_, b) => {
    const cp = signCheckpoint(b, keys.privateKey);
    expect(cp).toEqual({ ...b, signature: expect.stringMatching(/^[A-Za-z0-9+/]+=*$/) });
    expect(Buffer.from(cp.signature, 'base64')).toHaveLength(64);
    expect(checkpointSignatureValid(cp, keys.publicKey)).toBe(true);
    expect(SignedCheckpointSchema.parse(cp)).toEqual(cp);
  });

  it('signs the canonical form: key order does not matter, and Ed25519 is deterministic', () => {
    const cp = signCheckpoint(body, keys.privateKey);
    const reordered = Object.fromEntries(Object.entries(cp).reverse()) as SignedCheckpoint;
    expect(checkpointSignatureValid(reordered, keys.publicKey)).toBe(true);
    expect(signCheckpoint({ ...body }, keys.privateKey).signature).toBe(cp.signature);
  });

  it('is invalidated by a change to any field', () => {
    const cp = signCheckpoint(seal, keys.privateKey);
    const changes: Partial<SignedCheckpoint>[] = [
      { kind: 'periodic' },
      { seq: 1001 },
      { seq: 999 },
      { hash: `${'ab'.repeat(31)}ac` },
      { ts: '2025-03-01T12:00:00.001Z' },
      { prev: HASH },
      { keyId: keyIdOf(other.publicKey) },
      { fromSeq: 11 },
      { fromPrev: HASH },
      { fromSeq: undefined },
    ];
    for (const change of changes) {
      expect(checkpointSignatureValid({ ...cp, ...change }, keys.publicKey), JSON.stringify(change)).toBe(
        false,
      );
    }
    const withExtra = { ...signCheckpoint(body, keys.privateKey), fromSeq: 1 };
    expect(checkpointSignatureValid(withExtra, keys.publicKey)).toBe(false);
  });

  it('is invalid under another key', () => {
    expect(checkpointSignatureValid(signCheckpoint(body, other.privateKey), keys.publicKey)).toBe(false);
  });

  it('never throws on a malformed signature or an unsuitable key', () => {
    const cp = signCheckpoint(body, keys.privateKey);
    const bytes = Buffer.from(cp.signature, 'base64');
    bytes[0] = (bytes[0] as number) ^ 1;
    const x25519 = generateKeyPairSync('x25519').publicKey;
    const bad: [SignedCheckpoint, typeof keys.publicKey][] = [
      [{ ...cp, signature: bytes.toString('base64') }, keys.publicKey],
      [{ ...cp, signature: '' }, keys.publicKey],
      [{ ...cp, signature: '!!! not base64 !!!' }, keys.publicKey],
      [{ ...cp, signature: cp.signature.slice(0, 40) }, keys.publicKey],
      [cp, x25519],
    ];
    for (const [c, key] of bad) expect(checkpointSignatureValid(c, key)).toBe(false);
  });
});

describe('checkpointDigest', () => {
  const cp = signCheckpoint(body, keys.privateKey);

  it('is the SHA-256 hex of the canonical signed checkpoint, whatever the key order', () => {
    expect(checkpointDigest(cp)).toMatch(/^[0-9a-f]{64}$/);
    const reordered = Object.fromEntries(Object.entries(cp).reverse()) as SignedCheckpoint;
    expect(checkpointDigest(reordered)).toBe(checkpointDigest(cp));
    expect(checkpointDigest(JSON.parse(canonicalJson(cp)))).toBe(checkpointDigest(cp));
  });

  it('changes with the content, the signature included', () => {
    const digests = new Set([
      checkpointDigest(cp),
      checkpointDigest({ ...cp, seq: 1001 }),
      checkpointDigest({ ...cp, hash: HASH.replace('a', 'b') }),
      checkpointDigest({ ...cp, prev: null }),
      checkpointDigest(signCheckpoint(body, other.privateKey)),
      checkpointDigest({ ...cp, signature: `${cp.signature.slice(0, -4)}AAA=` }),
    ]);
    expect(digests.size).toBe(6);
  });
});

describe('checkpoint schema', () => {
  it('rejects malformed bodies', () => {
    const bad: unknown[] = [
      { ...body, hash: HASH.toUpperCase() },
      { ...body, hash: 'ab' },
      { ...body, prev: 'x'.repeat(64) },
      { ...body, seq: -1 },
      { ...body, seq: 1.5 },
      { ...body, kind: 'daily' },
      { ...body, ts: 'yesterday' },
      { ...body, keyId: '' },
      { ...body, extra: true },
      { ...seal, fromSeq: 0 },
    ];
    for (const b of bad) expect(CheckpointBodySchema.safeParse(b).success, JSON.stringify(b)).toBe(false);
    expect(SignedCheckpointSchema.safeParse({ ...body, signature: '' }).success).toBe(false);
    expect(SignedCheckpointSchema.safeParse(body).success).toBe(false);
  });
});
