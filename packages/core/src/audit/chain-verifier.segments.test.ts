import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chainEvents, EMPTY_HEAD, GENESIS_HASH } from './audit-chain.js';
import type { AuditEvent, ChainedRow } from './audit-event.js';
import { ChainVerifier, type VerifyReport } from './chain-verifier.js';
import { checkpointDigest, keyIdOf, type SignedCheckpoint, signCheckpoint } from './checkpoint.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const TS = '2025-03-01T12:00:00.000Z';

const event = (i: number): AuditEvent =>
  i === 150
    ? {
        id: `evt-${i}`,
        ts: TS,
        type: 'retention.purged',
        actor: { kind: 'system', id: 'w' },
        data: { throughSeq: 40 },
      }
    : { id: `evt-${i}`, ts: TS, type: 'call.decided', actor: { kind: 'agent', id: 'a1' }, tool: 't' };

const rows = chainEvents(
  EMPTY_HEAD,
  Array.from({ length: 200 }, (_, i) => event(i + 1)),
).rows;
const row = (seq: number) => rows[seq - 1] as ChainedRow;
const link = (r: ChainedRow) => `${r.seq}\n${r.prev}\n${r.body}`;

/** Periodic checkpoints at `seqs`, chained to one another. */
function checkpointsAt(...seqs: number[]): SignedCheckpoint[] {
  let prev: string | null = null;
  return seqs.map((seq) => {
    const body = {
      kind: 'periodic' as const,
      seq,
      hash: row(seq).hash,
      ts: TS,
      prev,
      keyId: keyIdOf(publicKey),
    };
    const cp = signCheckpoint(body, privateKey);
    prev = checkpointDigest(cp);
    return cp;
  });
}

function segment(from: number, to: number, prev: string, checkpoints: SignedCheckpoint[] = []): VerifyReport {
  const seg = new ChainVerifier({ mode: 'store', checkpoints, publicKeys: [], segment: { prev } });
  for (const r of rows.slice(from - 1, to)) if (!seg.push(r)) break;
  return seg.finish();
}

const main = (checkpoints: SignedCheckpoint[] = []) =>
  new ChainVerifier({ mode: 'store', checkpoints, publicKeys: [publicKey] });

describe('ChainVerifier segments', () => {
  it('report where they started, their head and the purge records they saw, without end checks', () => {
    const report = segment(101, 160, row(100).hash, checkpointsAt(190));
    expect(report).toMatchObject({
      ok: true,
      checked: 60,
      firstSeq: 101,
      lastSeq: 160,
      headHash: row(160).hash,
      startPrev: row(100).hash,
      purgedThrough: [40],
    });
  });

  it('absorbed in order add up to the whole chain', () => {
    const v = main(checkpointsAt(50, 120));
    expect(v.absorb(segment(1, 80, GENESIS_HASH))).toBe(true);
    expect(v.absorb(segment(81, 200, row(80).hash))).toBe(true);
    expect(v.finish()).toMatchObject({
      ok: true,
      checked: 200,
      firstSeq: 1,
      lastSeq: 200,
      headHash: row(200).hash,
      lastCheckpointSeq: 120,
      unsignedTail: 80,
    });
  });

  it('must join up: a segment starting from another hash is PREV_MISMATCH at its first seq', () => {
    const v = main();
    v.absorb(segment(1, 80, GENESIS_HASH));
    expect(v.absorb(segment(81, 200, row(79).hash))).toBe(false);
    expect(v.finish().problem).toMatchObject({ code: 'PREV_MISMATCH', seq: 81 });
  });

  it('must come in order: a skipped or repeated segment is a SEQUENCE_GAP or SEQUENCE_ORDER', () => {
    const skipped = main();
    skipped.absorb(segment(1, 80, GENESIS_HASH));
    skipped.absorb(segment(101, 200, row(100).hash));
    expect(skipped.finish().problem).toMatchObject({ code: 'SEQUENCE_GAP', seq: 81 });
    const repeated = main();
    repeated.absorb(segment(1, 80, GENESIS_HASH));
    repeated.absorb(segment(61, 200, row(60).hash));
    expect(repeated.finish().problem).toMatchObject({ code: 'SEQUENCE_ORDER', seq: 61 });
  });

  it('leave the end checks to the verifier that absorbs them', () => {
    const checkpoints = checkpointsAt(50, 199);
    const v = main(checkpoints);
    v.absorb(segment(1, 150, GENESIS_HASH, checkpoints));
    expect(v.finish().problem).toMatchObject({ code: 'TRUNCATED', seq: 151 });
  });

  it('of a purged chain start from the anchoring checkpoint, not from genesis', () => {
    const [anchor] = checkpointsAt(40) as [SignedCheckpoint];
    const anchored = main([anchor]);
    anchored.absorb(segment(41, 200, anchor.hash));
    expect(anchored.finish()).toMatchObject({ ok: true, firstSeq: 41, checked: 160 });
    const fromGenesis = main([anchor]);
    fromGenesis.absorb(segment(41, 200, GENESIS_HASH));
    expect(fromGenesis.finish().problem).toMatchObject({ code: 'PREV_MISMATCH', seq: 41 });
  });

  it('an empty segment changes nothing', () => {
    const v = main();
    v.absorb(segment(1, 80, GENESIS_HASH));
    expect(v.absorb(segment(81, 80, row(80).hash))).toBe(true);
    expect(v.finish()).toMatchObject({ ok: true, lastSeq: 80 });
  });
});

describe('ChainVerifier.pushLink (the hashed text as one string)', () => {
  function viaLinks(links: [number, string, string][]): VerifyReport {
    const v = new ChainVerifier({ mode: 'store', checkpoints: [], publicKeys: [] });
    for (const [seq, hash, text] of links) if (!v.pushLink(seq, hash, text)) break;
    return v.finish();
  }
  const links = rows.map((r): [number, string, string] => [r.seq, r.hash, link(r)]);

  it('verifies what push verifies, purge records included', () => {
    const tail = new ChainVerifier({
      mode: 'store',
      checkpoints: checkpointsAt(40),
      publicKeys: [publicKey],
    });
    for (const r of rows.slice(40)) expect(tail.pushLink(r.seq, r.hash, link(r))).toBe(true);
    expect(tail.finish()).toMatchObject({ ok: true, firstSeq: 41, checked: 160 });
    expect(viaLinks(links)).toMatchObject({ ok: true, checked: 200, headHash: row(200).hash });
  });

  it('is PREV_MISMATCH when the stored prev is not the hash before, HASH_MISMATCH when the body changed', () => {
    const relinked = links.map((l): [number, string, string] =>
      l[0] === 60 ? [60, l[1], `60\n${GENESIS_HASH}\n${row(60).body}`] : l,
    );
    expect(viaLinks(relinked).problem).toMatchObject({ code: 'PREV_MISMATCH', seq: 60 });
    const edited = links.map((l): [number, string, string] => (l[0] === 70 ? [70, l[1], `${l[2]} `] : l));
    expect(viaLinks(edited).problem).toMatchObject({ code: 'HASH_MISMATCH', seq: 70 });
    const renumbered = links.map((l): [number, string, string] =>
      l[0] === 80 ? [80, l[1], link(row(81))] : l,
    );
    expect(viaLinks(renumbered).problem).toMatchObject({ code: 'PREV_MISMATCH', seq: 80 });
  });
});
