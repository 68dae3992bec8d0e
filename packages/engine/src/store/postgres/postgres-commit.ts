import type { SignedCheckpoint } from '@warden/core';
import type pg from 'pg';
import { makeCheckpoint, type PreparedUnit } from '../commit-plan.js';
import type { CommitResult } from '../store.js';
import { ChainAppend, lastCheckpoint, lockChainHead } from './postgres-chain-lock.js';
import type { EventPayload } from './postgres-event-payload.js';
import { MutationWriter } from './postgres-mutations.js';

/**
 * One commit, inside its transaction. State changes are applied before the chain lock is taken, so the
 * lock is held only for linking, one INSERT and the COMMIT, and a holder never waits on another
 * instance's row locks. From the first purge on, the rest runs under the lock and strictly in order,
 * with everything linked so far written first: a purge sees the same rows and holds as in SQLite.
 */
export async function commitUnits(
  client: pg.ClientBase,
  prepared: readonly PreparedUnit[],
  payload: EventPayload,
): Promise<CommitResult[]> {
  const mutations = new MutationWriter(client);
  const firstPurge = prepared.findIndex((p) => p.unit.mutations?.some((m) => m.kind === 'audit.purge'));
  const locked = firstPurge === -1 ? prepared.length : firstPurge;
  await mutations.applyAll(prepared.slice(0, locked).flatMap((p) => p.unit.mutations ?? []));
  const chained = prepared.some((p) => p.bodies.length > 0 || p.unit.checkpoint !== undefined);
  if (!chained && firstPurge === -1) return prepared.map(() => ({ events: [] }));

  const chain = new ChainAppend(await lockChainHead(client), payload);
  let last = prepared.some((p) => p.unit.checkpoint) ? await lastCheckpoint(client) : undefined;
  const results: CommitResult[] = [];
  for (const [i, { unit, bodies }] of prepared.entries()) {
    if (i >= locked) {
      for (const m of unit.mutations ?? []) {
        if (m.kind === 'audit.purge') await chain.flush(client);
        await mutations.apply(m);
      }
      await mutations.flush();
    }
    const events = chain.append(bodies.length).map((r) => ({ seq: r.seq, hash: r.hash }));
    if (!unit.checkpoint) {
      results.push({ events });
      continue;
    }
    const checkpoint: SignedCheckpoint = makeCheckpoint(chain.head, last, unit.checkpoint);
    chain.addCheckpoint(checkpoint);
    last = checkpoint;
    results.push({ events, checkpoint });
  }
  await chain.flush(client);
  return results;
}
