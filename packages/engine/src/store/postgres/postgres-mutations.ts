import { type ReservationRecord, WardenError } from '@warden/core';
import type pg from 'pg';
import { numbered, personValues, UPSERT_PERSON_SQL } from '../people-rows.js';
import {
  API_KEY_COLUMNS,
  apiKeyValues,
  POLICY_VERSION_COLUMNS,
  policyVersionValues,
  refuseUnlessCurrent,
} from '../row-mapping.js';
import { sessionExists } from '../session-exists.js';
import type { Mutation, SessionRecord } from '../store.js';
import {
  addGrant,
  enqueueNotification,
  finishNotification,
  lockApprovals,
  purgeFinished,
  revokeGrant,
  saveApproval,
} from './postgres-approvals.js';
import { BudgetWriter, purgeBudgets } from './postgres-budget-mutations.js';

/**
 * Applies the state changes of a commit inside its transaction, with the outcome of applying them one by
 * one in order. session.ensure (one per new session, so often one per unit) goes in one INSERT per run,
 * sorted by id.
 */
export class MutationWriter {
  readonly #client: pg.ClientBase;
  readonly #budgets: BudgetWriter;
  #ensures: Ensure[] = [];

  constructor(client: pg.ClientBase) {
    this.#client = client;
    this.#budgets = new BudgetWriter(client);
  }

  /**
   * Locks the budget reservations and counters every mutation of the commit changes (those applied under
   * the chain lock too), in the order reserve locks them: called under the chain lock, before any
   * budget mutation is applied.
   */
  async lockBudgets(ms: readonly Mutation[], reserving: readonly ReservationRecord[] = []): Promise<void> {
    await this.#budgets.lock(ms, reserving);
  }

  /**
   * Applies a list, taking row locks in an order every instance shares, so that instances do not deadlock
   * each other: all session.ensure first, in one sorted run, then the sessions changing state, locked in id
   * order, then the approval requests being updated, likewise, then the rest in order. A state change on a
   * session that only a later ensure of the list creates is refused, as it would be in order.
   */
  async applyAll(ms: readonly Mutation[]): Promise<void> {
    const created = await this.#insertSessions(ms.flatMap((m) => (m.kind === 'session.ensure' ? [m] : [])));
    const changing = ms.flatMap((m) => (m.kind === 'session.state' ? [m.id] : []));
    if (changing.length > 0) {
      await this.#client.query('SELECT 1 FROM sessions WHERE id = ANY ($1::text[]) ORDER BY id FOR UPDATE', [
        changing,
      ]);
    }
    await lockApprovals(this.#client, ms);
    const ensured = new Set<string>();
    for (const m of ms) {
      if (m.kind === 'session.ensure') ensured.add(m.session.id);
      else if (m.kind === 'session.state' && created.has(m.id) && !ensured.has(m.id)) {
        throw new WardenError('SESSION_NOT_FOUND', `no session has id ${m.id}`);
      } else await this.apply(m);
    }
  }

  async apply(m: Mutation): Promise<void> {
    if (m.kind === 'session.ensure') {
      this.#ensures.push(m);
      return;
    }
    await this.flush();
    const c = this.#client;
    switch (m.kind) {
      case 'session.state':
        return setSessionState(c, m);
      case 'legal_hold.place':
        await c.query('INSERT INTO legal_holds (id, reason, placed_by, placed_at) VALUES ($1, $2, $3, $4)', [
          m.hold.id,
          m.hold.reason,
          m.hold.placedBy,
          m.hold.placedAt,
        ]);
        return;
      case 'legal_hold.release': {
        const r = await c.query('DELETE FROM legal_holds WHERE id = $1', [m.id]);
        if (r.rowCount === 0) throw new WardenError('QUERY_INVALID', `no legal hold has id ${m.id}`);
        return;
      }
      case 'key.register':
        await c.query(
          'INSERT INTO signing_keys (key_id, pem, registered_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
          [m.keyId, m.pem, m.ts],
        );
        return;
      case 'audit.purge':
        throw new WardenError(
          'INTERNAL',
          "a purge is applied after its unit's events (purgeOf, purgeEvents)",
        );
      case 'api_key.create':
        return createApiKey(c, m);
      case 'api_key.revoke':
        return revokeApiKey(c, m);
      case 'person.upsert':
        await c.query(numbered(UPSERT_PERSON_SQL), personValues(m.person));
        return;
      case 'policy.store':
        if (m.ifCurrent !== undefined) {
          // Under the chain lock (needsChainLock): no other policy is stored between this read and the insert.
          const newest = await c.query<{ version: string }>(
            'SELECT version FROM policy_versions ORDER BY n DESC LIMIT 1',
          );
          refuseUnlessCurrent(newest.rows[0]?.version ?? null, m.ifCurrent);
        }
        await c.query(
          `INSERT INTO policy_versions (${POLICY_VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`,
          policyVersionValues(m.policy),
        );
        return;
      case 'approval.save':
        return saveApproval(c, m);
      case 'grant.add':
        return addGrant(c, m.grant);
      case 'grant.revoke':
        return revokeGrant(c, m);
      case 'notification.enqueue':
        return enqueueNotification(c, m.notification);
      case 'notification.finish':
        return finishNotification(c, m);
      case 'state.purge':
        await purgeFinished(c, m.before);
        return purgeBudgets(c, m.before);
      case 'budget.settle':
      case 'budget.release':
      case 'budget.expire':
      case 'budget.alert':
      case 'budget.limit':
        return this.#budgets.apply(m);
    }
  }

  /** Writes the pending session.ensure run. */
  async flush(): Promise<void> {
    const sessions = this.#ensures;
    this.#ensures = [];
    await this.#insertSessions(sessions);
  }

  /**
   * Inserts the sessions that do not exist yet, the first of each id winning; returns the ids inserted.
   * An `onlyIfNew` ensure that did not insert its row (the session existed, or an earlier ensure of the
   * run created it) refuses the commit.
   */
  async #insertSessions(ensures: Ensure[]): Promise<Set<string>> {
    if (ensures.length === 0) return new Set();
    // Stable: the first record of an id stays first.
    const sorted = [...ensures].sort((a, b) =>
      a.session.id < b.session.id ? -1 : a.session.id > b.session.id ? 1 : 0,
    );
    const col = <T>(f: (s: SessionRecord) => T) => sorted.map((e) => f(e.session));
    // Named: prepared once per connection, as it runs in nearly every commit.
    const r = await this.#client.query<{ id: string }>({
      name: 'warden_ensure_sessions',
      text: `INSERT INTO sessions (id, agent, state, state_reason, triggered_by, delegation_chain, created_at, updated_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
       ON CONFLICT (id) DO NOTHING
       RETURNING id`,
      values: [
        col((s) => s.id),
        col((s) => s.agent),
        col((s) => s.state),
        col((s) => s.stateReason),
        col((s) => s.triggeredBy),
        col((s) => JSON.stringify(s.delegationChain)),
        col((s) => s.createdAt),
        col((s) => s.updatedAt),
      ],
    });
    const created = new Set(r.rows.map((row) => row.id));
    for (const [i, e] of sorted.entries()) {
      const first = i === 0 || sorted[i - 1]?.session.id !== e.session.id;
      if (e.onlyIfNew && !(first && created.has(e.session.id))) throw sessionExists(e.session.id);
    }
    return created;
  }
}

type Ensure = Extract<Mutation, { kind: 'session.ensure' }>;

type StateChange = Extract<Mutation, { kind: 'session.state' }>;

/** Locks the session row, so the `from` check and the change see the same state. */
async function setSessionState(c: pg.ClientBase, m: StateChange): Promise<void> {
  const r = await c.query<{ state: string }>('SELECT state FROM sessions WHERE id = $1 FOR UPDATE', [m.id]);
  const row = r.rows[0];
  if (!row) throw new WardenError('SESSION_NOT_FOUND', `no session has id ${m.id}`);
  if (!(m.from as readonly string[]).includes(row.state)) {
    throw new WardenError('SESSION_STATE', `session ${m.id} is ${row.state}; cannot make it ${m.state}`);
  }
  await c.query('UPDATE sessions SET state = $1, state_reason = $2, updated_at = $3 WHERE id = $4', [
    m.state,
    m.reason,
    m.ts,
    m.id,
  ]);
}

/**
 * Deletes events 1..throughSeq once the unit's record (at `recordSeq`, the head) and its purge checkpoint
 * are written. Runs under the chain lock (checkpoints and holds are then current). The delete trigger
 * lets rows through only under the audit_purges row inserted here, which its own trigger accepts only for
 * a recorded, signed purge (schema 6); holds and the anchor are checked first for a clear error.
 */
export async function purgeEvents(c: pg.ClientBase, throughSeq: number, recordSeq: number): Promise<void> {
  const r = await c.query<{ holds: number; anchored: boolean }>(
    `SELECT (SELECT count(*) FROM legal_holds) AS holds,
            EXISTS (SELECT 1 FROM checkpoints WHERE seq = $1 AND kind <> 'seal') AS anchored`,
    [throughSeq],
  );
  const { holds, anchored } = r.rows[0] as { holds: number; anchored: boolean };
  if (holds > 0)
    throw new WardenError('LEGAL_HOLD_ACTIVE', `${holds} legal hold(s) in place; nothing is purged`);
  if (!anchored)
    throw new WardenError('INTERNAL', `no signed checkpoint at seq ${throughSeq} to anchor the purge`);
  await c.query('INSERT INTO audit_purges (record_seq, through_seq, purged_at) VALUES ($1, $2, $3)', [
    recordSeq,
    throughSeq,
    new Date().toISOString(),
  ]);
  // Whole monthly partitions at or below throughSeq go at once (schema 12, same rule as the rows); the
  // rest, the default partition's rows included, row by row. The call index rows go with their events.
  await c.query('SELECT warden_drop_purged_partitions($1)', [throughSeq]);
  await c.query('DELETE FROM audit_events WHERE seq <= $1', [throughSeq]);
  await c.query('DELETE FROM audit_calls WHERE seq <= $1', [throughSeq]);
}

/**
 * Stores a key. Runs under the chain lock (see commitUnits), so the bootstrap check sees every key
 * committed before it: two instances bootstrapping at once create one key.
 */
async function createApiKey(
  c: pg.ClientBase,
  m: Extract<Mutation, { kind: 'api_key.create' }>,
): Promise<void> {
  if (m.onlyIfNone) {
    const r = await c.query('SELECT 1 FROM api_keys LIMIT 1');
    if (r.rows.length > 0) {
      throw new WardenError('KEYS_EXIST', 'API keys already exist, so no admin key was bootstrapped');
    }
  }
  await c.query(
    `INSERT INTO api_keys (${API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    apiKeyValues(m.key),
  );
}

/** Locks the key row, so of two revocations at once the second sees the first and is refused. */
async function revokeApiKey(
  c: pg.ClientBase,
  m: Extract<Mutation, { kind: 'api_key.revoke' }>,
): Promise<void> {
  const r = await c.query<{ revoked_at: string | null }>(
    'SELECT revoked_at FROM api_keys WHERE id = $1 FOR UPDATE',
    [m.id],
  );
  const row = r.rows[0];
  if (!row) throw new WardenError('KEY_NOT_FOUND', `no API key has id ${m.id}`);
  if (row.revoked_at !== null) {
    throw new WardenError('KEY_REVOKED', `API key ${m.id} was already revoked at ${row.revoked_at}`);
  }
  await c.query('UPDATE api_keys SET revoked_at = $1, revoked_by = $2 WHERE id = $3', [m.ts, m.by, m.id]);
}
