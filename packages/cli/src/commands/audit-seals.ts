import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  type ChainProblem,
  checkpointSignatureValid,
  keyIdOf,
  type SignedCheckpoint,
  type VerifyReport,
} from '@warden/core';
import type { Store } from '@warden/engine';

/**
 * Checks the export seals among external checkpoints against a database whose chain already verified.
 * ChainVerifier's store mode does not match seals (it only counts them as covering the whole chain),
 * so without this a tail cut after the last periodic checkpoint but before a kept seal would pass.
 * A seal vouches for the hash at its seq; the chain links everything before it.
 */
export async function checkSeals(
  store: Store,
  report: VerifyReport,
  external: readonly SignedCheckpoint[],
  trusted: readonly KeyObject[] | undefined,
): Promise<VerifyReport> {
  const seals = external.filter((c) => c.kind === 'seal');
  if (seals.length === 0 || !report.ok) return report;
  const anchors = [...(await store.checkpoints()), ...external]
    .filter((c) => c.kind !== 'seal')
    .map((c) => c.seq);
  const keys = new Map((trusted ?? (await storedKeys(store))).map((k) => [keyIdOf(k), k]));
  let covered = report.lastCheckpointSeq ?? 0;
  for (const seal of [...seals].sort((a, b) => a.seq - b.seq)) {
    const problem = await sealProblem(store, report, seal, keys.get(seal.keyId), anchors);
    if (problem) return { ...report, ok: false, problem };
    if (report.firstSeq !== null && seal.seq >= report.firstSeq) covered = Math.max(covered, seal.seq);
  }
  const { lastSeq, firstSeq } = report;
  const unsignedTail =
    lastSeq === null || firstSeq === null ? 0 : Math.max(0, lastSeq - Math.max(covered, firstSeq - 1));
  return {
    ...report,
    unsignedTail,
    checkpointsChecked: report.checkpointsChecked + seals.length,
    lastCheckpointSeq: covered > 0 ? covered : report.lastCheckpointSeq,
  };
}

async function sealProblem(
  store: Store,
  report: VerifyReport,
  seal: SignedCheckpoint,
  key: KeyObject | undefined,
  anchors: readonly number[],
): Promise<ChainProblem | undefined> {
  if (!key || !checkpointSignatureValid(seal, key)) {
    const why = key ? 'its signature is invalid' : `key ${seal.keyId} is not among the trusted public keys`;
    return { code: 'CHECKPOINT_SIGNATURE', seq: seal.seq, message: `export seal at seq ${seal.seq}: ${why}` };
  }
  const last = report.lastSeq ?? 0;
  if (seal.seq > last) {
    return {
      code: 'TRUNCATED',
      seq: last + 1,
      message: `events ${last + 1}–${seal.seq} are missing from the end (truncated): an export seal vouches for seq ${seal.seq}`,
    };
  }
  if (report.firstSeq === null || seal.seq < report.firstSeq) return undefined; // purged since
  const row = (await store.readChain(seal.seq - 1, 1))[0];
  if (row?.seq === seal.seq && row.hash === seal.hash) return undefined;
  // Every signed checkpoint before the seal matched, so the rewrite lies after the last of them.
  const from = Math.max(report.firstSeq - 1, ...anchors.filter((a) => a < seal.seq)) + 1;
  return {
    code: 'CHECKPOINT_MISMATCH',
    seq: from,
    message: `events ${from}–${seal.seq} do not match the export seal at seq ${seal.seq}: they were rewritten`,
  };
}

async function storedKeys(store: Store): Promise<KeyObject[]> {
  return (await store.publicKeys()).map((k) => createPublicKey(k.pem));
}
