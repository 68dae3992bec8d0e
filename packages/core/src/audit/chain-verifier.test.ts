import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chainEvents, EMPTY_HEAD, GENESIS_HASH } from './audit-chain.js';
import type { AuditEvent, ChainedRow } from './audit-event.js';
import { CHAIN_PROBLEMS, ChainVerifier, type VerifiableRow, type VerifyReport } from './chain-verifier.js';
import { checkpointDigest, keyIdOf, type SignedCheckpoint, signCheckpoint } from './checkpoint.js';

const keys = generateKeyPairSync('ed25519');
const otherKeys = generateKeyPairSync('ed25519');
const TS = '2025-03-01T12:00:00.000Z';

function event(i: number, extra: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: `evt-${i}`,
    ts: TS,
    type: 'call.decided',
    actor: { kind: 'agent', id: `agent-${i % 3}` },
    tool: 'shell.exec',
    args: { n: i },
    ...extra,
  };
}

/** Rows 1..n, or the events given, chained from genesis. */
function chain(n: number, make: (i: number) => AuditEvent = event): ChainedRow[] {
  return chainEvents(
    EMPTY_HEAD,
    Array.from({ length: n }, (_, i) => make(i + 1)),
  ).rows;
}

const rowAt = (rows: readonly ChainedRow[], seq: number) => rows.find((r) => r.seq === seq) as ChainedRow;

/** A chain of periodic checkpoints over `rows` at `seqs`, each naming the digest of the one before. */
function checkpointsAt(
  rows: readonly ChainedRow[],
  seqs: readonly number[],
  key: KeyObject = keys.privateKey,
): SignedCheckpoint[] {
  let prev: string | null = null;
  return seqs.map((seq) => {
    const cp = signCheckpoint(
      { kind: 'periodic', seq, hash: rowAt(rows, seq).hash, ts: TS, prev, keyId: keyIdOf(key) },
      key,
    );
    prev = checkpointDigest(cp);
    return cp;
  });
}

function sealOf(rows: readonly ChainedRow[], from: number, to: number, fromPrev?: string): SignedCheckpoint {
  return signCheckpoint(
    {
      kind: 'seal',
      seq: to,
      hash: rowAt(rows, to).hash,
      ts: TS,
      prev: null,
      keyId: keyIdOf(keys.publicKey),
      fromSeq: from,
      fromPrev: fromPrev ?? rowAt(rows, from).prev,
    },
    keys.privateKey,
  );
}

interface VerifyOptions {
  readonly mode?: 'store' | 'export';
  readonly checkpoints?: readonly SignedCheckpoint[];
  readonly publicKeys?: readonly KeyObject[];
}

function verify(rows: readonly VerifiableRow[], o: VerifyOptions = {}): VerifyReport {
  const v = new ChainVerifier({
    mode: o.mode ?? 'store',
    checkpoints: o.checkpoints ?? [],
    publicKeys: o.publicKeys ?? [keys.publicKey],
  });
  for (const row of rows) if (!v.push(row)) break;
  return v.finish();
}

const problemOf = (r: VerifyReport) => (r.problem ? { code: r.problem.code, seq: r.problem.seq } : undefined);

describe('ChainVerifier: an intact store chain', () => {
  const rows = chain(300);

  it('verifies and reports the range, the head and the unsigned tail', () => {
    const report = verify(rows, { checkpoints: checkpointsAt(rows, [100, 200, 250]) });
    expect(report).toEqual({
      ok: true,
      checked: 300,
      firstSeq: 1,
      lastSeq: 300,
      headHash: rowAt(rows, 300).hash,
      checkpointsChecked: 3,
      lastCheckpointSeq: 250,
      unsignedTail: 50,
    });
  });

  it('counts every event as unsigned without checkpoints, and none when the head is signed', () => {
    expect(verify(rows)).toMatchObject({ ok: true, lastCheckpointSeq: null, unsignedTail: 300 });
    expect(verify(rows, { checkpoints: checkpointsAt(rows, [300]) })).toMatchObject({
      ok: true,
      unsignedTail: 0,
    });
  });

  it('verifies rows that do not carry prev', () => {
    const bare = rows.map(({ seq, hash, body }) => ({ seq, hash, body }));
    expect(verify(bare).ok).toBe(true);
  });

  it('reports an empty chain as ok with nothing checked', () => {
    expect(verify([])).toMatchObject({ ok: true, checked: 0, firstSeq: null, lastSeq: null, headHash: null });
  });

  it('ignores rows pushed after the first problem', () => {
    const v = new ChainVerifier({ mode: 'store', checkpoints: [], publicKeys: [] });
    for (const row of rows.slice(0, 10)) expect(v.push(row)).toBe(true);
    expect(v.push(rows[20] as ChainedRow)).toBe(false);
    expect(v.push(rows[10] as ChainedRow)).toBe(false);
    expect(v.finish()).toMatchObject({ ok: false, checked: 10, problem: { code: 'SEQUENCE_GAP', seq: 11 } });
  });
});

describe('ChainVerifier: tampering in a store chain', () => {
  const rows = chain(300);
  const cps = checkpointsAt(rows, [100, 200]);
  const with_ = (i: number, patch: Partial<ChainedRow>) =>
    rows.map((r, j) => (j === i ? { ...r, ...patch } : r));

  it('HASH_MISMATCH at an edited event', () => {
    const body = rowAt(rows, 137).body.replace('"shell.exec"', '"shell.noop"');
    const report = verify(with_(136, { body }), { checkpoints: cps });
    expect(problemOf(report)).toEqual({ code: 'HASH_MISMATCH', seq: 137 });
    expect(report.checked).toBe(136);
    expect(report.problem?.message).toContain('137');
  });

  it('HASH_MISMATCH at an event whose stored hash was changed', () => {
    const report = verify(with_(49, { hash: rowAt(rows, 1).hash }));
    expect(problemOf(report)).toEqual({ code: 'HASH_MISMATCH', seq: 50 });
  });

  it('PREV_MISMATCH at an event whose prev was changed', () => {
    expect(problemOf(verify(with_(49, { prev: GENESIS_HASH })))).toEqual({ code: 'PREV_MISMATCH', seq: 50 });
  });

  it('PREV_MISMATCH after an event edited together with its own hash', () => {
    const forged = chainEvents({ seq: 49, hash: rowAt(rows, 49).hash }, [event(50, { tool: 'x' })]).rows;
    const tampered = rows.map((r) => (r.seq === 50 ? (forged[0] as ChainedRow) : r));
    expect(problemOf(verify(tampered))).toEqual({ code: 'PREV_MISMATCH', seq: 51 });
  });

  it('SEQUENCE_GAP at the first deleted event', () => {
    expect(problemOf(verify(rows.filter((r) => r.seq !== 80)))).toEqual({ code: 'SEQUENCE_GAP', seq: 80 });
    const report = verify(rows.filter((r) => r.seq < 80 || r.seq > 82));
    expect(problemOf(report)).toEqual({ code: 'SEQUENCE_GAP', seq: 80 });
    expect(report.problem?.message).toContain('80–82');
  });

  it('SEQUENCE_ORDER at a repeated or backwards sequence number', () => {
    const repeated = [...rows.slice(0, 60), rows[59] as ChainedRow, ...rows.slice(60)];
    expect(problemOf(verify(repeated))).toEqual({ code: 'SEQUENCE_ORDER', seq: 60 });
    const moved = [...rows.slice(0, 50), rows[29] as ChainedRow, ...rows.slice(50)];
    expect(problemOf(verify(moved))).toEqual({ code: 'SEQUENCE_ORDER', seq: 30 });
    expect(problemOf(verify(with_(69, { seq: 69 })))).toEqual({ code: 'SEQUENCE_ORDER', seq: 69 });
  });

  it('TRUNCATED at the first missing event when a checkpoint lies beyond the last row', () => {
    const report = verify(rows.slice(0, 190), { checkpoints: checkpointsAt(rows, [100, 200]) });
    expect(problemOf(report)).toEqual({ code: 'TRUNCATED', seq: 191 });
    expect(report.problem?.message).toContain('checkpoint');
  });

  it('TRUNCATED when a seal lies beyond the last row', () => {
    const report = verify(rows.slice(0, 190), { checkpoints: [sealOf(rows, 101, 200)] });
    expect(problemOf(report)).toEqual({ code: 'TRUNCATED', seq: 191 });
    expect(report.problem?.message).toContain('seal');
  });

  it('TRUNCATED at 1 when every event is gone but a checkpoint remains', () => {
    expect(problemOf(verify([], { checkpoints: cps }))).toEqual({ code: 'TRUNCATED', seq: 1 });
  });

  it('CHECKPOINT_MISMATCH from the first event after the previous checkpoint for a rewritten suffix', () => {
    const forged = chainEvents(
      { seq: 149, hash: rowAt(rows, 149).hash },
      Array.from({ length: 151 }, (_, i) => event(150 + i, { tool: 'forged' })),
    ).rows;
    const rewritten = [...rows.slice(0, 149), ...forged];
    expect(problemOf(verify(rewritten, { checkpoints: cps }))).toEqual({
      code: 'CHECKPOINT_MISMATCH',
      seq: 101,
    });
    expect(problemOf(verify(rewritten, { checkpoints: checkpointsAt(rows, [200]) }))).toEqual({
      code: 'CHECKPOINT_MISMATCH',
      seq: 1,
    });
  });

  it('cannot see a rewrite of the unsigned tail (it is reported as unsigned)', () => {
    const forged = chainEvents(
      { seq: 249, hash: rowAt(rows, 249).hash },
      Array.from({ length: 51 }, (_, i) => event(250 + i, { tool: 'forged' })),
    ).rows;
    const report = verify([...rows.slice(0, 249), ...forged], { checkpoints: cps });
    expect(report).toMatchObject({ ok: true, unsignedTail: 100 });
  });

  it('CHECKPOINT_SIGNATURE when any checkpoint field was changed', () => {
    const [first, second] = cps as [SignedCheckpoint, SignedCheckpoint];
    const patches: Partial<SignedCheckpoint>[] = [
      { seq: 199 },
      { hash: rowAt(rows, 199).hash },
      { ts: '2025-03-01T12:00:01.000Z' },
      { prev: null },
      { kind: 'on-demand' },
      { signature: first.signature },
    ];
    for (const patch of patches) {
      const tampered = { ...second, ...patch };
      const report = verify(rows, { checkpoints: [first, tampered] });
      expect(problemOf(report), JSON.stringify(patch)).toEqual({
        code: 'CHECKPOINT_SIGNATURE',
        seq: tampered.seq,
      });
      expect(report.problem?.message).toContain('invalid');
    }
  });

  it('CHECKPOINT_SIGNATURE for a key that is not trusted, and ok once it is', () => {
    const foreign = checkpointsAt(rows, [100], otherKeys.privateKey);
    const report = verify(rows, { checkpoints: foreign });
    expect(problemOf(report)).toEqual({ code: 'CHECKPOINT_SIGNATURE', seq: 100 });
    expect(report.problem?.message).toContain('not among the trusted');
    expect(verify(rows, { checkpoints: foreign, publicKeys: [keys.publicKey, otherKeys.publicKey] }).ok).toBe(
      true,
    );
    const relabelled = { ...(cps[0] as SignedCheckpoint), keyId: keyIdOf(otherKeys.publicKey) };
    expect(problemOf(verify(rows, { checkpoints: [relabelled] }))?.code).toBe('CHECKPOINT_SIGNATURE');
  });

  it('CHECKPOINT_CHAIN when a checkpoint was removed from the middle of the checkpoint chain', () => {
    const [a, , c] = checkpointsAt(rows, [50, 100, 150]) as SignedCheckpoint[];
    const report = verify(rows, { checkpoints: [a as SignedCheckpoint, c as SignedCheckpoint] });
    expect(problemOf(report)).toEqual({ code: 'CHECKPOINT_CHAIN', seq: 150 });
  });

  it('checks checkpoints whatever order they are given in', () => {
    expect(verify(rows, { checkpoints: [...checkpointsAt(rows, [50, 100, 150])].reverse() }).ok).toBe(true);
  });
});

describe('ChainVerifier: retention', () => {
  const K = 100;
  const purge = (through: number) =>
    event(250, {
      type: 'retention.purged',
      actor: { kind: 'system', id: 'warden' },
      data: { throughSeq: through },
    });
  const full = chain(300, (i) => (i === 250 ? purge(K) : event(i)));
  const kept = full.filter((r) => r.seq > K);

  it('accepts a chain purged through an anchoring checkpoint with a purge record', () => {
    expect(verify(kept, { checkpoints: checkpointsAt(full, [K]) })).toMatchObject({
      ok: true,
      checked: 200,
      firstSeq: K + 1,
      lastSeq: 300,
      unsignedTail: 200,
    });
    expect(verify(kept, { checkpoints: checkpointsAt(full, [50, K, 200]) })).toMatchObject({
      ok: true,
      unsignedTail: 100,
    });
  });

  it('ANCHOR_MISSING at 1 without a checkpoint at the seq before the first row', () => {
    expect(problemOf(verify(kept))).toEqual({ code: 'ANCHOR_MISSING', seq: 1 });
    expect(problemOf(verify(kept, { checkpoints: checkpointsAt(full, [K - 1]) }))).toEqual({
      code: 'ANCHOR_MISSING',
      seq: 1,
    });
  });

  it('ANCHOR_MISSING when a seal, not a checkpoint, sits at the seq before the first row', () => {
    expect(problemOf(verify(kept, { checkpoints: [sealOf(full, 1, K)] }))?.code).toBe('ANCHOR_MISSING');
  });

  it('ANCHOR_MISSING with an anchor but no purge record for exactly the purged range', () => {
    const noPurge = chain(300).filter((r) => r.seq > K);
    expect(problemOf(verify(noPurge, { checkpoints: checkpointsAt(chain(300), [K]) }))).toEqual({
      code: 'ANCHOR_MISSING',
      seq: 1,
    });
    const wrong = chain(300, (i) => (i === 250 ? purge(K - 1) : event(i)));
    expect(
      problemOf(
        verify(
          wrong.filter((r) => r.seq > K),
          { checkpoints: checkpointsAt(wrong, [K]) },
        ),
      ),
    ).toEqual({ code: 'ANCHOR_MISSING', seq: 1 });
  });
});

describe('ChainVerifier: export mode', () => {
  const rows = chain(300);
  const periodic = checkpointsAt(rows, [50, 150]);
  const exported = rows.filter((r) => r.seq >= 101 && r.seq <= 200);
  const seal = sealOf(rows, 101, 200);
  const verifyExport = (r: readonly VerifiableRow[], checkpoints: readonly SignedCheckpoint[]) =>
    verify(r, { mode: 'export', checkpoints });

  it('verifies a range with the seal signed for exactly that range', () => {
    expect(verifyExport(exported, [...periodic, seal])).toMatchObject({
      ok: true,
      checked: 100,
      firstSeq: 101,
      lastSeq: 200,
      headHash: rowAt(rows, 200).hash,
      lastCheckpointSeq: 200,
      unsignedTail: 0,
    });
  });

  it('TRUNCATED at the seq of a row cut from the end', () => {
    expect(problemOf(verifyExport(exported.slice(0, -1), [...periodic, seal]))).toEqual({
      code: 'TRUNCATED',
      seq: 200,
    });
  });

  it('SEAL_MISMATCH when the first row is not where the seal starts', () => {
    expect(problemOf(verifyExport(exported.slice(1), [seal]))).toEqual({ code: 'SEAL_MISMATCH', seq: 102 });
    const otherPrev = sealOf(rows, 101, 200, rowAt(rows, 1).hash);
    expect(problemOf(verifyExport(exported, [otherPrev]))).toEqual({ code: 'SEAL_MISMATCH', seq: 101 });
  });

  it('SEAL_MISMATCH without a seal', () => {
    expect(problemOf(verifyExport(exported, periodic))).toEqual({ code: 'SEAL_MISMATCH', seq: 101 });
  });

  it('SEAL_MISMATCH when rows were appended beyond the seal', () => {
    const longer = rows.filter((r) => r.seq >= 101 && r.seq <= 210);
    expect(problemOf(verifyExport(longer, [seal]))?.code).toBe('SEAL_MISMATCH');
  });

  it('CHECKPOINT_MISMATCH from the start of the export for a wholly re-chained export', () => {
    const forged = chainEvents(
      { seq: 100, hash: rowAt(rows, 100).hash },
      Array.from({ length: 100 }, (_, i) => event(101 + i, { tool: 'forged' })),
    ).rows;
    expect(problemOf(verifyExport(forged, [...periodic, seal]))).toEqual({
      code: 'CHECKPOINT_MISMATCH',
      seq: 101,
    });
  });

  it('HASH_MISMATCH and PREV_MISMATCH inside an export', () => {
    const edited = exported.map((r) => (r.seq === 120 ? { ...r, body: r.body.replace('evt', 'EVT') } : r));
    expect(problemOf(verifyExport(edited, [seal]))).toEqual({ code: 'HASH_MISMATCH', seq: 120 });
    const relinked = exported.map((r) => (r.seq === 130 ? { ...r, prev: GENESIS_HASH } : r));
    expect(problemOf(verifyExport(relinked, [seal]))).toEqual({ code: 'PREV_MISMATCH', seq: 130 });
  });
});

describe('CHAIN_PROBLEMS', () => {
  it('describes every code', () => {
    expect(Object.keys(CHAIN_PROBLEMS).sort()).toEqual(
      [
        'ANCHOR_MISSING',
        'CHECKPOINT_CHAIN',
        'CHECKPOINT_MISMATCH',
        'CHECKPOINT_SIGNATURE',
        'COLUMN_MISMATCH',
        'HASH_MISMATCH',
        'PREV_MISMATCH',
        'SEAL_MISMATCH',
        'SEQUENCE_GAP',
        'SEQUENCE_ORDER',
        'TRUNCATED',
      ].sort(),
    );
  });
});
