import { type Actor, signCheckpoint, systemActor, uuidv7, WardenError } from '@warden/core';
import type { Engine } from '../engine/engine.js';
import type { LegalHold, StateCounts } from '../store/store.js';

const DAY_MS = 86_400_000;

/** What a purge did: nothing, or the events it removed and the checkpoint that anchors the rest. */
export interface PurgeOutcome {
  readonly purged: number;
  readonly throughSeq: number | null;
  readonly cutoff: string;
  readonly reason?: string;
  /** The approval-state rows deleted with the events (counted just before; see purgeExpired). */
  readonly state?: StateCounts;
}

/**
 * Removes events older than `retentionDays` from the hot store. It purges only up to a signed
 * checkpoint (the anchor), so the remaining chain stays verifiable from it, and it records a
 * `retention.purged` event naming the anchor, signed by a `purge` checkpoint. In the same commit it deletes the approval state that ended
 * before the cutoff (`state.purge`), so redacted arguments do not outlive the events about them; the
 * event's `data.state` holds how many rows of each table that was. Refused outright while any legal
 * hold is in place.
 */
export async function purgeExpired(
  engine: Engine,
  options: { retentionDays: number; by?: Actor; now?: Date },
): Promise<PurgeOutcome> {
  if (!Number.isFinite(options.retentionDays) || options.retentionDays < 1) {
    throw new WardenError('USAGE', `retention must be at least 1 day, got ${options.retentionDays}`);
  }
  const store = engine.store;
  const cutoff = new Date(
    (options.now ?? new Date()).getTime() - options.retentionDays * DAY_MS,
  ).toISOString();
  const holds = await store.legalHolds();
  if (holds.length > 0) {
    throw new WardenError(
      'LEGAL_HOLD_ACTIVE',
      `legal hold ${holds.map((h) => h.id).join(', ')} in place; nothing purged`,
    );
  }
  const oldest = await store.oldestEvent();
  const expiredThrough = await store.lastSeqBefore(cutoff);
  if (!oldest || expiredThrough < oldest.seq)
    return { purged: 0, throughSeq: null, cutoff, reason: 'nothing has expired' };
  const anchors = await store.checkpoints({ fromSeq: oldest.seq, toSeq: expiredThrough });
  const anchor = anchors.filter((c) => c.kind !== 'seal').at(-1);
  if (!anchor) {
    return {
      purged: 0,
      throughSeq: null,
      cutoff,
      reason: 'no signed checkpoint covers the expired events yet',
    };
  }
  // Counted just before the commit, outside its transaction (the event is hashed before it is written).
  // Rows under the cutoff have ended, so nothing joins them meanwhile; the count overstates only if a
  // stale approved request is used in between, or another purge deletes the rows first, the same race
  // in which the event's fromSeq would name events another purge already removed.
  const state = await store.finishedState(cutoff);
  const by = options.by ?? systemActor('retention');
  const event = engine.systemEvent('retention.purged', by, {
    data: {
      throughSeq: anchor.seq,
      anchorHash: anchor.hash,
      fromSeq: oldest.seq,
      cutoff,
      retentionDays: options.retentionDays,
      state,
    },
  });
  // The record is signed by a purge checkpoint in the same commit, and only then are the events deleted:
  // the database accepts a purge only so (schema 6).
  await engine.commit({
    mutations: [
      { kind: 'audit.purge', throughSeq: anchor.seq },
      { kind: 'state.purge', before: cutoff },
    ],
    events: [event],
    checkpoint: {
      kind: 'purge',
      keyId: engine.keys.keyId,
      ts: new Date().toISOString(),
      sign: (body) => signCheckpoint(body, engine.keys.signingKey),
    },
  });
  return { purged: anchor.seq - oldest.seq + 1, throughSeq: anchor.seq, cutoff, state };
}

/** Places a legal hold: no event is purged while any hold exists. */
export async function placeLegalHold(
  engine: Engine,
  by: Actor,
  reason: string,
  id = uuidv7(),
): Promise<LegalHold> {
  if (!reason.trim())
    throw new WardenError('USAGE', 'a legal hold needs a reason (the matter or ticket it is for)');
  const hold: LegalHold = { id, reason, placedBy: by.id, placedAt: new Date().toISOString() };
  const event = engine.systemEvent('legal_hold.placed', by, { data: { holdId: id, reason } });
  await engine.commit({ mutations: [{ kind: 'legal_hold.place', hold }], events: [event] });
  return hold;
}

/** Releases a legal hold. */
export async function releaseLegalHold(engine: Engine, by: Actor, id: string, reason: string): Promise<void> {
  const event = engine.systemEvent('legal_hold.released', by, { data: { holdId: id, reason } });
  await engine.commit({ mutations: [{ kind: 'legal_hold.release', id }], events: [event] });
}
