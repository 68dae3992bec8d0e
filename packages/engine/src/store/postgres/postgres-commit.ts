import {
  type AuditEvent,
  type ChainHead,
  type ReservationRecord,
  type SignedCheckpoint,
  WardenError,
} from '@warden/core';
import type pg from 'pg';
import { makeCheckpoint, type PreparedUnit, purgeOf, refusedUnit } from '../commit-plan.js';
import type { CommitResult, CommitUnit, Mutation, ReserveRefusal } from '../store.js';
import { reserveInCommit } from './postgres-budgets.js';
import {
  appendLinked,
  ChainAppend,
  type LockedHead,
  lastCheckpoint,
  lockChainHead,
} from './postgres-chain-lock.js';
import { EventPayload } from './postgres-event-payload.js';
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
  /** The units whose events were chained: a refused reservation's replacement in place of its unit. */
  readonly units: readonly CommitUnit[];
  readonly xid?: string;
  /** The head this commit leaves, when it chained events (what the next commit expects to link onto). */
  readonly head?: ChainHead;
}

/**
 * One commit, inside its transaction. Lock order, the same for every commit, so instances never deadlock
 * each other: the chain lock first (a commit that chains events, a checkpoint or a reservation), then
 * every budget counter the commit changes or reserves against, in key order (see BudgetWriter), then
 * sessions and approval requests as applyAll sorts them. A reserve of its own takes counters only, in key
 * order, and a commit that chains nothing takes no chain lock; neither waits for one while holding a
 * counter, so neither can close a cycle. The chain lock is taken before any mutation is applied: a unit
 * that reserves has its mutations chosen only once its reservation is decided (its own, or those of
 * `onRefused`'s unit), so its sessions are locked after the counters, and any session a commit could hold
 * while queuing for the chain would close a cycle with it. From the first unit with a mutation that
 * needs the lock (a purge, an API key creation, a stored policy; all rare) the rest runs strictly in
 * order, with everything linked so far written first before a purge: it sees the same rows and holds as
 * in SQLite. A commit holding an event other than a call's is announced on CHAIN_CHANNEL with the head
 * it leaves: in the lock query, or, when it reserves, once its units are decided.
 */
export async function commitUnits(
  client: pg.ClientBase,
  given: readonly PreparedUnit[],
  givenPayload: EventPayload,
  /** The head this instance expects the chain to have (what its last commit left), for the one-write path. */
  expected?: ChainHead,
  /**
   * More writes under the chain lock once the events are chained (the rollups of the units written);
   * called once. It must send its statement before its first await: on the one-write path it rides in
   * the append's round trip.
   */
  underLock: (written: readonly CommitUnit[]) => Promise<void> = async () => {},
): Promise<CommittedUnits> {
  const mutations = new MutationWriter(client);
  const reserving = given.flatMap((p) => (p.unit.reserve ? [p.unit.reserve] : []));
  const budgets = given.flatMap((p) => p.unit.mutations ?? []).filter(isBudget);
  const chained =
    reserving.length > 0 || given.some((p) => p.bodies.length > 0 || p.unit.checkpoint !== undefined);
  const firstLocked = given.findIndex((p) => p.unit.mutations?.some(needsChainLock));
  if (!chained && firstLocked === -1) {
    // Counters before sessions, as under the chain lock.
    const all = given.flatMap((p) => p.unit.mutations ?? []);
    await mutations.lockBudgets(budgets);
    await mutations.applyAll(all.filter((m) => !isBudget(m)));
    for (const m of budgets) await mutations.apply(m);
    const units = given.map((p) => p.unit);
    await underLock(units);
    return { results: given.map(() => ({ events: [] })), units };
  }
  // The one-write path: no reservation to admit (its outcome decides the units written, so such a
  // commit takes the lock first, as a checkpoint or a purge does), nothing that needs the lock first.
  if (
    reserving.length === 0 &&
    firstLocked === -1 &&
    givenPayload.bodies.length > 0 &&
    !given.some((p) => p.unit.checkpoint) &&
    givenPayload.chunks(0, givenPayload.bodies.length).length === 1
  ) {
    return commitLinked(client, mutations, given, givenPayload, budgets, expected, underLock);
  }

  // With a reservation, the units written (so the head left) are known only once it is decided.
  const announceNow = reserving.length === 0 && given.some((p) => p.unit.events.some(announced));
  const head = announceNow
    ? await lockAndAnnounce(client, givenPayload.bodies.length)
    : await lockChainHead(client);
  // Budget counters are locked only now, under the chain lock: a settlement holds a hot counter (an
  // agent's or the global budget) for the end of one commit, not while it queues for the chain, so the
  // reservations of other calls wait on it only briefly.
  await mutations.lockBudgets(budgets, reserving);
  // The budget changes of the units that reserve nothing (settlements, releases, limits) go in before
  // the reservations are admitted, as SQLite applies a batch unit by unit: a completion batched ahead of
  // the next decision (deferred completions make that the usual case) must count against it. Applying
  // those of units later in the batch early too only admits against the state this transaction leaves.
  const head0 = firstLocked === -1 ? given.length : firstLocked;
  const settledFirst = new Set(
    given
      .slice(0, head0)
      .filter((p) => !p.unit.reserve)
      .flatMap((p) => p.unit.mutations ?? [])
      .filter(isBudget),
  );
  if (reserving.length > 0) for (const m of settledFirst) await mutations.apply(m);
  else settledFirst.clear();
  const { prepared, payload, refusals } = await admitReservations(client, given, givenPayload);
  if (!announceNow && prepared.some((p) => p.unit.events.some(announced))) {
    await client.query('SELECT pg_notify($1, $2)', [CHAIN_CHANNEL, String(head.seq + payload.bodies.length)]);
  }
  const locked = firstLocked === -1 ? prepared.length : firstLocked;
  const early = prepared.slice(0, locked).flatMap((p) => p.unit.mutations ?? []);
  await mutations.applyAll(early.filter((m) => !isBudget(m)));
  for (const m of early.filter(isBudget)) if (!settledFirst.has(m)) await mutations.apply(m);
  const chain = new ChainAppend(head, payload);
  let last = prepared.some((p) => p.unit.checkpoint) ? await lastCheckpoint(client) : undefined;
  const results: CommitResult[] = [];
  for (const [i, { unit, bodies }] of prepared.entries()) {
    const refused = refusals.get(i);
    const noted = refused ? { refused } : {};
    // A purge deletes last, once its record and purge checkpoint are written (see purgeOf).
    const purge = purgeOf(unit);
    if (i >= locked) {
      for (const m of unit.mutations ?? []) if (m !== purge) await mutations.apply(m);
      await mutations.flush();
    }
    const events = chain.append(bodies.length).map((r) => ({ seq: r.seq, hash: r.hash }));
    if (!unit.checkpoint || (unit.checkpoint.ifBehind && (last?.seq ?? 0) >= chain.head.seq)) {
      results.push({ events, ...noted });
      continue;
    }
    const checkpoint: SignedCheckpoint = makeCheckpoint(chain.head, last, unit.checkpoint);
    chain.addCheckpoint(checkpoint);
    last = checkpoint;
    results.push({ events, checkpoint, ...noted });
    if (purge) {
      await chain.flush(client);
      await purgeEvents(client, purge.throughSeq, chain.head.seq);
    }
  }
  await chain.flush(client);
  const units = prepared.map((p) => p.unit);
  await underLock(units);
  // What the next one-write commit links onto (warden_append checks it: a wrong guess costs a round trip).
  return { results, units, xid: head.xid, head: { ...chain.head } };
}

/**
 * Admits the reservations of the units that carry one (reserveInCommit, one round trip) and puts
 * `onRefused`'s unit in the place of each refused one, serialised here (the rare path), with the payload
 * rebuilt.
 */
async function admitReservations(
  client: pg.ClientBase,
  given: readonly PreparedUnit[],
  payload: EventPayload,
): Promise<{
  prepared: readonly PreparedUnit[];
  payload: EventPayload;
  refusals: Map<number, ReserveRefusal>;
}> {
  const indices = given.flatMap((p, i) => (p.unit.reserve ? [i] : []));
  const refusals = new Map<number, ReserveRefusal>();
  if (indices.length === 0) return { prepared: given, payload, refusals };
  const refused = await reserveInCommit(
    client,
    indices.map((i) => given[i]?.unit.reserve as ReservationRecord),
  );
  if (refused.size === 0) return { prepared: given, payload, refusals };
  for (const [k, r] of refused) refusals.set(indices[k] as number, r);
  const prepared = given.map((p, i) => {
    const r = refusals.get(i);
    return r ? refusedUnit(p.unit, r) : p;
  });
  return { prepared, payload: new EventPayload(prepared), refusals };
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
  budgets: readonly Mutation[],
  expected: ChainHead | undefined,
  underLock: (written: readonly CommitUnit[]) => Promise<void>,
): Promise<CommittedUnits> {
  const units = prepared.map((p) => p.unit);
  const state = units.flatMap((u) => u.mutations ?? []).filter((m) => !isBudget(m));
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
  const extra = pipelined ? underLock(units) : undefined;
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
    await underLock(units);
  }
  const results: CommitResult[] = [];
  let at = 0;
  for (const { bodies } of prepared) {
    const events = appended.rows.slice(at, at + bodies.length).map((r) => ({ seq: r.seq, hash: r.hash }));
    results.push({ events });
    at += bodies.length;
  }
  return { results, units, xid: appended.xid, head: appended.to };
}
