import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chainEvents, EMPTY_HEAD, GENESIS_HASH } from './audit-chain.js';
import type { AuditEvent, ChainedRow } from './audit-event.js';
import { ChainVerifier, type VerifyReport } from './chain-verifier.js';
import { checkpointDigest, keyIdOf, type SignedCheckpoint, signCheckpoint } from './checkpoint.js';

/**
 * Parallel verification must be indistinguishable from sequential verification: the same verdict and
 * the same first untrusted seq, whatever the tampering and wherever the chain is split into segments.
 */

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const keyId = keyIdOf(publicKey);
const TS = '2025-03-01T12:00:00.000Z';

const event = (i: number, tool = 'shell.exec'): AuditEvent => ({
  id: `evt-${i}`,
  ts: TS,
  type: 'call.decided',
  actor: { kind: 'agent', id: 'a1' },
  tool,
});

const purgeRecord = (i: number, throughSeq: number): AuditEvent => ({
  id: `evt-${i}`,
  ts: TS,
  type: 'retention.purged',
  actor: { kind: 'system', id: 'warden' },
  data: { throughSeq },
});

function checkpointsAt(rows: readonly ChainedRow[], seqs: readonly number[]): SignedCheckpoint[] {
  let prev: string | null = null;
  return seqs.map((seq) => {
    const hash = (rows[seq - 1] as ChainedRow).hash;
    const cp = signCheckpoint({ kind: 'periodic', seq, hash, ts: TS, prev, keyId }, privateKey);
    prev = checkpointDigest(cp);
    return cp;
  });
}

type Tamper =
  | { kind: 'none' }
  | { kind: 'edit' | 'relink' | 'delete' | 'repeat' | 'backwards' | 'swap' | 'rewrite'; at: number }
  | { kind: 'truncate'; count: number }
  | { kind: 'dropCheckpoint' | 'forgeCheckpoint'; at: number }
  /** Retention: the oldest rows are gone; an anchoring checkpoint and a purge record may vouch for it. */
  | { kind: 'purge'; through: number; at: number; anchored: boolean; recorded: boolean };

const tamperArb: fc.Arbitrary<Tamper> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({
    kind: fc.constantFrom(
      'edit' as const,
      'relink' as const,
      'delete' as const,
      'repeat' as const,
      'backwards' as const,
      'swap' as const,
      'rewrite' as const,
    ),
    at: fc.nat(),
  }),
  fc.record({ kind: fc.constant('truncate' as const), count: fc.nat() }),
  fc.record({ kind: fc.constantFrom('dropCheckpoint' as const, 'forgeCheckpoint' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('purge' as const),
    through: fc.nat(),
    at: fc.nat(),
    anchored: fc.boolean(),
    recorded: fc.boolean(),
  }),
);

/** Applies one tampering to the stored rows (indexes taken modulo the length). */
function tamperRows(rows: ChainedRow[], t: Tamper): ChainedRow[] {
  if (t.kind === 'none' || t.kind === 'dropCheckpoint' || t.kind === 'forgeCheckpoint') return rows;
  if (t.kind === 'purge') return rows.slice(purgedThrough(t, rows.length));
  if (t.kind === 'truncate') return rows.slice(0, rows.length - 1 - (t.count % (rows.length - 1)));
  const i = t.at % rows.length;
  const row = rows[i] as ChainedRow;
  const out = [...rows];
  switch (t.kind) {
    case 'edit':
      out[i] = { ...row, body: row.body.replace('shell.exec', 'shell.EXEC') };
      break;
    case 'relink':
      out[i] = { ...row, prev: row.prev === GENESIS_HASH ? 'f'.repeat(64) : GENESIS_HASH };
      break;
    case 'delete':
      out.splice(i, 1);
      break;
    case 'repeat':
      out.splice(i + 1, 0, row);
      break;
    case 'backwards':
      out[i] = { ...row, seq: Math.max(1, row.seq - 1 - (t.at % 3)) };
      break;
    case 'swap':
      if (i + 1 < out.length) [out[i], out[i + 1]] = [out[i + 1] as ChainedRow, row];
      break;
    case 'rewrite': {
      const head = i === 0 ? EMPTY_HEAD : { seq: row.seq - 1, hash: row.prev };
      const forged = rows.slice(i).map((r) => event(r.seq, 'forged'));
      out.splice(i, rows.length - i, ...chainEvents(head, forged).rows);
      break;
    }
  }
  return out;
}

function tamperCheckpoints(cps: SignedCheckpoint[], t: Tamper): SignedCheckpoint[] {
  if (cps.length === 0 || (t.kind !== 'dropCheckpoint' && t.kind !== 'forgeCheckpoint')) return cps;
  const i = t.at % cps.length;
  if (t.kind === 'dropCheckpoint') return cps.filter((_, j) => j !== i);
  return cps.map((c, j) => (j === i ? { ...c, ts: '2025-03-01T12:00:01.000Z' } : c));
}

function sequential(rows: readonly ChainedRow[], checkpoints: readonly SignedCheckpoint[]): VerifyReport {
  const v = new ChainVerifier({ mode: 'store', checkpoints, publicKeys: [publicKey] });
  for (const row of rows) if (!v.push(row)) break;
  return v.finish();
}

/**
 * Where a segment starts, chosen as the engine does: the stored hash of the row before it, or, when
 * that row is not seq - 1, the anchoring checkpoint's hash or genesis.
 */
function segmentPrev(rows: readonly ChainedRow[], from: number, cps: readonly SignedCheckpoint[]): string {
  const seq = (rows[from] as ChainedRow).seq;
  const before = rows[from - 1];
  if (before?.seq === seq - 1) return before.hash;
  return cps.find((c) => c.seq === seq - 1 && c.kind !== 'seal')?.hash ?? GENESIS_HASH;
}

/** Verifies each segment on its own, as a worker would, then absorbs the reports in order. */
function parallel(
  rows: readonly ChainedRow[],
  checkpoints: readonly SignedCheckpoint[],
  cuts: readonly number[],
  fast = false,
): VerifyReport {
  const main = new ChainVerifier({ mode: 'store', checkpoints, publicKeys: [publicKey] });
  const bounds = [0, ...cuts, rows.length];
  for (let s = 0; s + 1 < bounds.length; s++) {
    const [from, to] = [bounds[s] as number, bounds[s + 1] as number];
    const prev = segmentPrev(rows, from, checkpoints);
    const seg = new ChainVerifier({ mode: 'store', checkpoints, publicKeys: [], segment: { prev } });
    for (const r of rows.slice(from, to)) {
      // The fast path hands over the hashed text, as SQLite builds it in the worker.
      if (!(fast ? seg.pushLink(r.seq, r.hash, `${r.seq}\n${r.prev}\n${r.body}`) : seg.push(r))) break;
    }
    if (!main.absorb(seg.finish())) break;
  }
  return main.finish();
}

/** How many of the oldest rows a purge removes (at least one, never all). */
const purgedThrough = (t: { through: number }, length: number) => 1 + (t.through % (length - 1));

const scenario = fc
  .record({
    length: fc.integer({ min: 2, max: 80 }),
    checkpointSeqs: fc.uniqueArray(fc.integer({ min: 1, max: 80 }), { maxLength: 6 }),
    tamper: tamperArb,
    cutSeeds: fc.uniqueArray(fc.nat(), { maxLength: 3 }),
    fast: fc.boolean(),
  })
  .map(({ length, checkpointSeqs, tamper, cutSeeds, fast }) => {
    const k = tamper.kind === 'purge' ? purgedThrough(tamper, length) : 0;
    // A purge record somewhere after the purged range, naming it, when the scenario asks for one.
    const recordAt = tamper.kind === 'purge' && tamper.recorded ? k + 1 + (tamper.at % (length - k)) : -1;
    const rows = chainEvents(
      EMPTY_HEAD,
      Array.from({ length }, (_, i) => (i + 1 === recordAt ? purgeRecord(i + 1, k) : event(i + 1))),
    ).rows;
    const anchored = tamper.kind === 'purge' && tamper.anchored ? [k] : [];
    const seqs = [...new Set([...checkpointSeqs.filter((s) => s <= length), ...anchored])].sort(
      (a, b) => a - b,
    );
    const stored = tamperRows(rows, tamper);
    // Cut points between rows, so that every segment holds at least one row.
    const cuts = [...new Set(cutSeeds.map((n) => 1 + (n % (stored.length - 1))))]
      .filter((c) => c < stored.length)
      .sort((a, b) => a - b);
    return { stored, checkpoints: tamperCheckpoints(checkpointsAt(rows, seqs), tamper), cuts, fast };
  });

/**
 * True when the tampering touches what checkpoints vouch for. The unsigned tail, and the first and last
 * checkpoints (nothing before or after links to them), can change unseen: that is the design.
 */
function signedTampering(t: Tamper, length: number, seqs: readonly number[]): boolean {
  const lastSigned = seqs[seqs.length - 1] ?? 0;
  switch (t.kind) {
    case 'none':
      return false;
    case 'truncate':
      return length - 1 - (t.count % (length - 1)) < lastSigned;
    case 'dropCheckpoint':
      return t.at % seqs.length > 0 && t.at % seqs.length < seqs.length - 1;
    case 'forgeCheckpoint':
      return seqs.length > 0;
    case 'repeat':
    case 'purge': // No purge record is written in this chain, so a purge is never vouched for.
      return true;
    case 'backwards':
      return t.at % length > 0;
    case 'swap':
      return (t.at % length) + 1 < length;
    default:
      return (t.at % length) + 1 <= lastSigned;
  }
}

const verdict = (r: VerifyReport) => ({ ok: r.ok, code: r.problem?.code, seq: r.problem?.seq });

describe('ChainVerifier: parallel segments', () => {
  it('absorbing segments gives the verdict of sequential verification', () => {
    fc.assert(
      fc.property(scenario, ({ stored, checkpoints, cuts, fast }) => {
        const one = sequential(stored, checkpoints);
        const many = parallel(stored, checkpoints, cuts, fast);
        expect(verdict(many)).toEqual(verdict(one));
        expect(verdict(parallel(stored, checkpoints, [], true))).toEqual(verdict(one));
        if (one.ok) {
          const { checked, firstSeq, lastSeq, headHash, lastCheckpointSeq, unsignedTail } = one;
          expect(many).toMatchObject({
            checked,
            firstSeq,
            lastSeq,
            headHash,
            lastCheckpointSeq,
            unsignedTail,
          });
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('catches every tampering within the signed part of the chain, split or not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 20, max: 60 }), tamperArb, (length, tamper) => {
        const rows = chainEvents(
          EMPTY_HEAD,
          Array.from({ length }, (_, i) => event(i + 1)),
        ).rows;
        const seqs = Array.from({ length: Math.floor(length / 10) }, (_, i) => (i + 1) * 10);
        fc.pre(signedTampering(tamper, length, seqs));
        const stored = tamperRows(rows, tamper);
        const checkpoints = tamperCheckpoints(checkpointsAt(rows, seqs), tamper);
        expect(sequential(stored, checkpoints).ok).toBe(false);
        expect(parallel(stored, checkpoints, [Math.floor(stored.length / 2)]).ok).toBe(false);
      }),
      { numRuns: 1_000 },
    );
  });
});
