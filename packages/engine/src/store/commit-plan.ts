import {
  type ChainedRow,
  type ChainHead,
  type CheckpointBody,
  canonicalJson,
  checkpointDigest,
  linkHash,
  type SignedCheckpoint,
  WardenError,
} from '@warden/core';
import type { CheckpointRequest, CommitUnit, Mutation, ReserveRefusal } from './store.js';

/** A unit with its event bodies already serialised, so the chain lock is held only for hashing. */
export interface PreparedUnit {
  readonly unit: CommitUnit;
  readonly bodies: readonly string[];
}

/** Serialises every event body to canonical JSON, outside any transaction. */
export function prepareUnits(units: readonly CommitUnit[]): PreparedUnit[] {
  return units.map((unit) => {
    if (unit.reserve && !unit.onRefused) {
      throw new WardenError('INTERNAL', `a unit reserving ${unit.reserve.id} names no unit for its refusal`);
    }
    return { unit, bodies: unit.events.map((e) => canonicalJson(e)) };
  });
}

/**
 * The unit committed in place of `unit` once its reservation was refused, its bodies serialised here:
 * inside the transaction, but refusals are the rare path. Budget mutations are refused in it: the
 * counters a commit changes are locked before any reservation is admitted, in key order (PostgreSQL).
 */
export function refusedUnit(unit: CommitUnit, refused: ReserveRefusal): PreparedUnit {
  const alternate = (unit.onRefused as NonNullable<CommitUnit['onRefused']>)(refused);
  if (alternate.mutations?.some((m) => m.kind.startsWith('budget.'))) {
    throw new WardenError('INTERNAL', 'a unit committed for a refused reservation changes no budget');
  }
  return { unit: alternate, bodies: alternate.events.map((e) => canonicalJson(e)) };
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

type PurgeMutation = Extract<Mutation, { kind: 'audit.purge' }>;

/**
 * The unit's purge, if it has one, checked for the shape the database accepts (schema 6): one purge,
 * its `retention.purged` record as the unit's last event, naming the same through seq, and a `purge`
 * checkpoint signed over that record. The store applies it after writing both.
 */
export function purgeOf(unit: CommitUnit): PurgeMutation | undefined {
  const purges = (unit.mutations ?? []).filter((m): m is PurgeMutation => m.kind === 'audit.purge');
  if (purges.length === 0) return undefined;
  const record = unit.events.at(-1);
  const through = (record?.data as { throughSeq?: unknown } | undefined)?.throughSeq;
  const purge = purges[0] as PurgeMutation;
  if (
    purges.length > 1 ||
    record?.type !== 'retention.purged' ||
    through !== purge.throughSeq ||
    unit.checkpoint?.kind !== 'purge' ||
    unit.checkpoint.ifBehind
  ) {
    throw new WardenError(
      'INTERNAL',
      'a purge commits with its retention.purged record (naming its throughSeq) as the last event and a purge checkpoint',
    );
  }
  return purge;
}
