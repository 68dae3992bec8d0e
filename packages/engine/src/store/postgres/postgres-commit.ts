import { type AuditEvent, type ChainHead, type SignedCheckpoint, WardenError } from '@warden/core';
import type pg from 'pg';
import { makeCheckpoint, type PreparedUnit, purgeOf } from '../commit-plan.js';
import type { CommitResult, Mutation } from '../store.js';
import {
  appendLinked,
  ChainAppend,
  type LockedHead,
  lastCheckpoint,
  lockChainHead,
} from './postgres-chain-lock.js';
import type { EventPayload } from './postgres-event-payload.js';
import { CHAIN_CHANNEL } from './postgres-listener.js';
import { MutationWriter, purgeEvents } from './postgres-mutations.js';

/**
 * Mutations that must see every commit ordered before them, as in SQLite, where each transaction sees all
 * earlier ones: a purge (checkpoints, holds), an API key creation (the bootstrap's "no key yet" check;
 * every creation, so none slips in beside a bootstrap unseen) and a stored policy (its n then follows the
 * chain order, so the newest stored is the last recorded).
 */
function needsChainLock(m: Mutation): boolean {
  return (
    m.kind === 'audit.purge' ||
    m.kind === 'state.purge' ||
    m.kind === 'api_key.create' ||
    m.kind === 'policy.store'
  );
}

function isBudget(m: Mutation): boolean {
  return m.kind.startsWith('budget.');
}

/**
 * Whether other instances must hear of an event at once (approvals, pauses, policies, keys…). Calls are
 * the hot path and need no push: a waiter on a call waits for its approval, which is announced.
 */
function announced(e: AuditEvent): boolean {
  return e.type !== 'call.decided' && e.type !== 'call.completed';
}

// The lock and the NOTIFY in one round trip. The CTE is materialised so the NOTIFY runs once, on the row
// as locked (a row updated meanwhile is read again by the lock step). NOTIFY is delivered at COMMIT.
const LOCK_AND_ANNOUNCE_SQL = `
WITH head AS MATERIALIZED (SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE)
SELECT seq, hash, txid_current()::text AS xid, pg_notify('${CHAIN_CHANNEL}', (seq + $1::bigint)::text) FROM head`;

/** Takes the chain lock as lockChainHead does, and announces the head this commit will leave. */
async function lockAndAnnounce(client: pg.ClientBase, added: number): Promise<LockedHead> {
  const r = await client.query<LockedHead>(LOCK_AND_ANNOUNCE_SQL, [added]);
  const head = r.rows[0];
  if (!head)
    throw new WardenError('STORE_INVALID', 'the audit_head row is missing: the schema was tampered with');
  return { seq: head.seq, hash: head.hash, xid: head.xid };
}

/** What one commit wrote, and its transaction id when it chained events (for a lost acknowledgement). */
export interface CommittedUnits {
  readonly results: CommitResult[];
  readonly xid?: string;
  /** The head this commit leaves, when it chained events (what the next commit expects to link onto). */
  readonly head?: ChainHead;
}

/**
 * One commit, inside its transaction. State changes are applied before the chain lock is taken, so the
 * lock is held only for linking, one INSERT and the COMMIT, and a holder never waits on another
 * instance's row locks. From the first unit with a mutation that needs the lock (a purge, an API key
 * creation, a stored policy; all rare) the rest runs under the lock and strictly in order, with
 * everything linked so far written first before a purge: it sees the same rows and holds as in SQLite.
 * A commit holding an event other than a call's is announced on CHAIN_CHANNEL with the same lock query.
 * Budget rows are locked and changed under the chain lock (see BudgetWriter), for every unit at once.
 */
export async function commitUnits(
  client: pg.ClientBase,
  prepared: readonly PreparedUnit[],
  payload: EventPayload,
  expected?: ChainHead,
  /**
   * More writes under the chain lock once the events are chained (the rollups); called once. It must send
   * its statement before its first await: on the one-write path it rides in the append's round trip.
   */
  underLock: () => Promise<void> = async () => {},
): Promise<CommittedUnits> {
  const mutations = new MutationWriter(client);
  const firstLocked = prepared.findIndex((p) => p.unit.mutations?.some(needsChainLock));
  const locked = firstLocked === -1 ? prepared.length : firstLocked;
  const early = prepared.slice(0, locked).flatMap((p) => p.unit.mutations ?? []);
  const budgets = prepared.flatMap((p) => p.unit.mutations ?? []).filter(isBudget);
  const chained = prepared.some((p) => p.bodies.length > 0 || p.unit.checkpoint !== undefined);
  if (
    firstLocked === -1 &&
    payload.bodies.length > 0 &&
    !prepared.some((p) => p.unit.checkpoint) &&
    payload.chunks(0, payload.bodies.length).length === 1
  ) {
    return commitLinked(client, mutations, prepared, payload, early, budgets, expected, underLock);
  }
  await mutations.applyAll(early.filter((m) => !isBudget(m)));
  if (!chained && firstLocked === -1) {
    await mutations.lockBudgets(budgets);
    for (const m of early.filter(isBudget)) await mutations.apply(m);
    return { results: prepared.map(() => ({ events: [] })) };
  }

  const announce = prepared.some((p) => p.unit.events.some(announced));
  const head = announce ? await lockAndAnnounce(client, payload.bodies.length) : await lockChainHead(client);
  // Budget counters are locked only now, under the chain lock: a settlement holds a hot counter (an
  // agent's or the global budget) for the end of one commit, not while it queues for the chain, so the
  // reservations of other calls wait on it only briefly. Commits cannot deadlock on counters (they
  // take the chain lock first) and a reservation holds nothing but counters, taken in the same order.
  await mutations.lockBudgets(budgets);
  for (const m of early.filter(isBudget)) await mutations.apply(m);
  const chain = new ChainAppend(head, payload);
  let last = prepared.some((p) => p.unit.checkpoint) ? await lastCheckpoint(client) : undefined;
  const results: CommitResult[] = [];
  for (const [i, { unit, bodies }] of prepared.entries()) {
    // A purge deletes last, once its record and purge checkpoint are written (see purgeOf).
    const purge = purgeOf(unit);
    if (i >= locked) {
      for (const m of unit.mutations ?? []) if (m !== purge) await mutations.apply(m);
      await mutations.flush();
    }
    const events = chain.append(bodies.length).map((r) => ({ seq: r.seq, hash: r.hash }));
    if (!unit.checkpoint || (unit.checkpoint.ifBehind && (last?.seq ?? 0) >= chain.head.seq)) {
      results.push({ events });
      continue;
    }
    const checkpoint: SignedCheckpoint = makeCheckpoint(chain.head, last, unit.checkpoint);
    chain.addCheckpoint(checkpoint);
    last = checkpoint;
    results.push({ events, checkpoint });
    if (purge) {
      await chain.flush(client);
      await purgeEvents(client, purge.throughSeq, chain.head.seq);
    }
  }
  await chain.flush(client);
  await underLock();
  return { results, xid: head.xid };
}

/**
 * The one-write path (events and state changes, no checkpoint, nothing that needs the lock first): the
 * bodies are linked before the lock onto the head this instance expects, and the lock, the INSERT and the
 * head's advance go in one statement (warden_append), sent on the heels of BEGIN, with the session INSERT
 * right behind it, without waiting for replies in between (the connection pipelines). So a commit waits
 * for two round trips, this one and COMMIT, where it waited for five (BEGIN, sessions, lock, append,
 * COMMIT). When another instance moved the head, the statement returns it still locked and the bodies
 * are linked again onto it: one more round trip. Locks are taken chain first, then budget counters in
 * key order, then sessions and approval requests as applyAll sorts them (the order commits with a
 * reservation need); a list of session ensures alone, with no counter to lock, rides in the pipeline.
 */
async function commitLinked(
  client: pg.ClientBase,
  mutations: MutationWriter,
  prepared: readonly PreparedUnit[],
  payload: EventPayload,
  early: readonly Mutation[],
  budgets: readonly Mutation[],
  expected: ChainHead | undefined,
  underLock: () => Promise<void>,
): Promise<CommittedUnits> {
  const state = early.filter((m) => !isBudget(m));
  const announce = prepared.some((p) => p.unit.events.some(announced));
  const text = payload.text(0, payload.bodies.length);
  const sent = appendLinked(client, expected ?? { seq: -1, hash: '' }, payload, text, announce);
  sent.catch(() => {});
  // An ensure-only list sends its one INSERT synchronously and nothing after it, so it can follow the
  // append on the wire; anything else may read and lock rows, and waits for the locks before it.
  const pipelined = budgets.length === 0 && state.every((m) => m.kind === 'session.ensure');
  const applied = pipelined ? mutations.applyAll(state) : undefined;
  applied?.catch(() => {});
  // Behind the append, so under the chain lock even when the append found another head.
  const extra = pipelined ? underLock() : undefined;
  extra?.catch(() => {});
  let appended = await sent;
  if (!appended.written) {
    appended = await appendLinked(client, appended.head, payload, text, announce);
    if (!appended.written) throw new WardenError('INTERNAL', 'the chain head moved while it was locked');
  }
  if (applied) {
    await applied;
    await extra;
  } else {
    await mutations.lockBudgets(budgets);
    await mutations.applyAll(state);
    for (const m of budgets) await mutations.apply(m);
    await underLock();
  }
  const results: CommitResult[] = [];
  let at = 0;
  for (const { bodies } of prepared) {
    const events = appended.rows.slice(at, at + bodies.length).map((r) => ({ seq: r.seq, hash: r.hash }));
    results.push({ events });
    at += bodies.length;
  }
  return { results, xid: appended.xid, head: appended.to };
}
