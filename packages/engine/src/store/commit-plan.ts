import {
  type ChainedRow,
  type ChainHead,
  type CheckpointBody,
  canonicalJson,
  checkpointDigest,
  linkHash,
  type SignedCheckpoint,
} from '@warden/core';
import type { CheckpointRequest, CommitUnit } from './store.js';

/** A unit with its event bodies already serialised, so the chain lock is held only for hashing. */
export interface PreparedUnit {
  readonly unit: CommitUnit;
  readonly bodies: readonly string[];
}

/** Serialises every event body to canonical JSON, outside any transaction. */
export function prepareUnits(units: readonly CommitUnit[]): PreparedUnit[] {
  return units.map((unit) => ({ unit, bodies: unit.events.map((e) => canonicalJson(e)) }));
}

/** Links bodies onto the head; returns the rows and moves `head` forward. */
export function linkBodies(head: { seq: number; hash: string }, bodies: readonly string[]): ChainedRow[] {
  const rows: ChainedRow[] = [];
  for (const body of bodies) {
    const seq = head.seq + 1;
    const hash = linkHash(seq, head.hash, body);
    rows.push({ seq, prev: head.hash, hash, body });
    head.seq = seq;
    head.hash = hash;
  }
  return rows;
}

/** Signs a checkpoint at `head`, chained to the last checkpoint. */
export function makeCheckpoint(
  head: ChainHead,
  last: SignedCheckpoint | undefined,
  req: CheckpointRequest,
): SignedCheckpoint {
  const body: CheckpointBody = {
    kind: req.kind,
    seq: head.seq,
    hash: head.hash,
    ts: req.ts,
    prev: last ? checkpointDigest(last) : null,
    keyId: req.keyId,
  };
  return req.sign(body);
}
