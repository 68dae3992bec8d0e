import {
  type Actor,
  type ApprovalRecord,
  type ApprovalVote,
  type AuditEvent,
  cancelApproval,
  castVote,
  dueAction,
  escalateApproval,
  expireApproval,
  identityKeys,
  isWardenError,
  normalName,
  overrideApproval,
  type Stake,
  selfApproval,
  stakeOf,
  useApproval,
  type VerifiedWho,
  type Voter,
  voteRefusal,
  WARDEN_ACTOR,
  WardenError,
} from '@warden/core';
import type { EnginePort } from '../engine/engine-port.js';
import type { ApprovalPage, ApprovalQuery, Mutation } from '../store/store.js';
import { approvalEvent, decidedApprovalEvent, outboxFor } from './approval-events.js';
import { sessionStake } from './session-stake.js';

/** How often a change computed over a stale version is recomputed before giving up. */
const MAX_RETRIES = 8;

/** The audit actor for a voter: its kind, its name and the key it voted with. */
export function voterActor(v: Voter): Actor {
  // An SSO person is named by issuer and subject (their sign-in id is not a key).
  if (v.issuer && v.subject) return { kind: v.kind, id: v.id, issuer: v.issuer, subject: v.subject };
  return { kind: v.kind, id: v.id, ...(v.keyId ? { keyId: v.keyId } : {}) };
}

/** The other names and verified identities of one person (see `vote`'s `alsoKnownAs`). */
export interface VoterAliases {
  /**
   * Other names the voter goes by (an email, a human key's principal, an SSO name): each is checked for a
   * stake and for a vote already cast, so one person neither decides their own request nor counts twice.
   */
  readonly alsoKnownAs?: readonly string[];
  /** Their other verified identities (an SSO sign-in's issuer + subject, a human key's id): the same. */
  readonly alsoVerified?: readonly VerifiedWho[];
}

/** A stake under another name or verified identity of the same voter. */
export function aliasStake(
  what: string,
  voter: { readonly id: string },
  aliases: VoterAliases,
  stakes: readonly Stake[],
): WardenError | undefined {
  for (const alias of aliases.alsoKnownAs ?? []) {
    const sod = selfApproval({ id: alias }, `${what} (as ${voter.id})`, ...stakes);
    if (sod) return sod;
  }
  for (const who of aliases.alsoVerified ?? []) {
    const sod = selfApproval({ ...who, id: voter.id }, what, ...stakes);
    if (sod) return sod;
  }
  return undefined;
}

/**
 * A vote already cast by the same person under another name, or by the same verified identity (issuer +
 * subject, key id) under any name: refused like a second vote under one name.
 */
function aliasVoted(a: ApprovalRecord, voter: Voter, aliases: VoterAliases): WardenError | undefined {
  const names = aliases.alsoKnownAs ?? [];
  const mine = new Set(
    [voter, ...(aliases.alsoVerified ?? [])].flatMap((w) =>
      identityKeys({ issuer: w.issuer, subject: w.subject, keyId: w.keyId }),
    ),
  );
  const earlier = a.votes.find(
    (v) =>
      names.some((n) => normalName(v.principal) === normalName(n)) ||
      identityKeys({ issuer: v.issuer, subject: v.subject, keyId: v.keyId }).some((k) => mine.has(k)),
  );
  if (earlier === undefined) return undefined;
  return new WardenError(
    'APPROVAL_ALREADY_VOTED',
    `${voter.id} has already voted on approval ${a.id} as ${earlier.principal}`,
  );
}

/**
 * Deciding approval requests. Every change is computed by the pure core over the version read, and
 * committed with its audit events only if the stored version is still that one: of two decisions racing
 * on any number of instances, exactly one lands and the other is recomputed over it.
 */
export class ApprovalService {
  readonly #engine: EnginePort;

  constructor(engine: EnginePort) {
    this.#engine = engine;
  }

  /** The request, with an expiry that is due applied first. */
  async get(id: string): Promise<ApprovalRecord> {
    const a = await this.#engine.store.approval(id);
    if (!a) throw new WardenError('APPROVAL_NOT_FOUND', `no approval request has id ${id}`);
    return dueAction(a, new Date()) === 'expire' ? (await this.#settleDue(a)).record : a;
  }

  async list(q: ApprovalQuery): Promise<ApprovalPage> {
    return this.#engine.store.listApprovals(q);
  }

  /**
   * Records an approve or deny vote. A vote refused for separation of duties or eligibility is itself
   * recorded (`approval.refused`) before the error is thrown.
   */
  async vote(
    id: string,
    voter: Voter,
    vote: ApprovalVote['vote'],
    opts: {
      reason?: string;
      via?: string;
      once?: boolean;
    } & VoterAliases = {},
  ): Promise<ApprovalRecord> {
    return this.#change(id, voterActor(voter), async (a, now) => {
      // A one-time link: its channel tag may appear on one vote only, checked over the version committed.
      if (opts.once && a.votes.some((v) => v.via === opts.via)) {
        throw new WardenError('LINK_INVALID', 'this link was already used; open the request to decide');
      }
      const stakes = await this.#sessionStake(a);
      const refusal =
        a.status === 'pending'
          ? (voteRefusal(a, voter, stakes) ??
            aliasStake(`decide approval ${a.id}`, voter, opts, [stakeOf(a), ...stakes]))
          : undefined;
      if (refusal) {
        await this.#refused(a, voter, refusal, vote);
        throw refusal;
      }
      // Like a second vote under the same name (castVote's check), not recorded as a refusal.
      const twice = a.status === 'pending' ? aliasVoted(a, voter, opts) : undefined;
      if (twice) throw twice;
      const { alsoKnownAs: _names, alsoVerified: _ids, ...voteOpts } = opts;
      return castVote(a, voter, vote, { ...voteOpts, now, extraStakes: stakes });
    });
  }

  /** An admin decides alone, with a reason; recorded as an override, never a self-approval. */
  async override(
    id: string,
    admin: Voter,
    decision: 'approve' | 'deny',
    reason: string,
    aliases: VoterAliases = {},
  ): Promise<ApprovalRecord> {
    return this.#change(id, voterActor(admin), async (a, now) => {
      const stakes = await this.#sessionStake(a);
      try {
        // The admin's other names and identities are checked as a voter's are (see `vote`).
        const alias =
          a.status === 'pending'
            ? aliasStake(`override approval ${a.id}`, admin, aliases, [stakeOf(a), ...stakes])
            : undefined;
        if (alias) throw alias;
        return overrideApproval(a, admin, decision, { reason, now, extraStakes: stakes });
      } catch (err) {
        if (isWardenError(err, 'APPROVAL_SELF_APPROVAL')) await this.#refused(a, admin, err, decision);
        throw err;
      }
    });
  }

  /** Withdraws a pending request (its agent, or an admin). */
  async cancel(id: string, by: Actor, reason: string | null): Promise<ApprovalRecord> {
    return this.#change(id, by, async (a, now) => cancelApproval(a, by.id, reason, now));
  }

  /**
   * Marks an approved request used by `callId` (the approved call itself, or one redeeming it); `by` is
   * the agent with the key it called with, when known.
   */
  async use(id: string, callId: string, by?: Actor): Promise<ApprovalRecord> {
    return this.#change(
      id,
      (a) => by ?? { kind: 'agent', id: a.agent },
      async (a, now) => useApproval(a, callId, now),
    );
  }

  /** Expires and escalates every request that is due; returns how many changed. */
  async sweep(now = new Date(), limit = 100): Promise<number> {
    const due = await this.#engine.store.dueApprovals(now.toISOString(), limit);
    let changed = 0;
    let failure: unknown;
    for (const a of due) {
      try {
        if ((await this.#settleDue(a, now)).settled) changed++;
      } catch (err) {
        // One request that cannot be settled must not hold up the others behind it: report it after.
        if (!isWardenError(err, 'APPROVAL_CONFLICT')) failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
    return changed;
  }

  /**
   * Applies what is due on `a` at `at` (expiry, escalation). `settled` is false when there was nothing
   * left to do: another instance, or a vote, got there first.
   */
  async #settleDue(a: ApprovalRecord, at?: Date): Promise<{ record: ApprovalRecord; settled: boolean }> {
    try {
      const record = await this.#change(
        a.id,
        WARDEN_ACTOR,
        async (cur, now) => {
          const action = dueAction(cur, now);
          if (action === 'expire') return expireApproval(cur, now);
          if (action === 'escalate') return escalateApproval(cur, now);
          throw new WardenError('APPROVAL_DECIDED', `approval ${cur.id} has nothing due`);
        },
        at,
      );
      return { record, settled: true };
    } catch (err) {
      if (!isWardenError(err, 'APPROVAL_DECIDED')) throw err;
      return { record: (await this.#engine.store.approval(a.id)) ?? a, settled: false };
    }
  }

  /** The session's stake, which separation of duties adds to the request's own. */
  async #sessionStake(a: ApprovalRecord): Promise<Stake[]> {
    return sessionStake(this.#engine.store, a.session);
  }

  async #refused(a: ApprovalRecord, voter: Voter, err: WardenError, vote: string): Promise<void> {
    const event = approvalEvent(
      'approval.refused',
      a,
      voterActor(voter),
      this.#engine.instanceId,
      new Date().toISOString(),
      { vote, code: err.code, reason: err.message, role: voter.role },
    );
    await this.#engine.commit({ events: [event] });
  }

  /**
   * Reads, computes the next version, and commits it with its events over the version read; recomputes
   * when another writer got there first.
   */
  async #change(
    id: string,
    by: Actor | ((a: ApprovalRecord) => Actor),
    compute: (a: ApprovalRecord, now: Date) => Promise<ApprovalRecord>,
    at?: Date,
  ): Promise<ApprovalRecord> {
    for (let attempt = 0; ; attempt++) {
      const a = await this.#engine.store.approval(id);
      if (!a) throw new WardenError('APPROVAL_NOT_FOUND', `no approval request has id ${id}`);
      const actor = typeof by === 'function' ? by(a) : by;
      // The sweeper may settle as of a given time; everything else happens now.
      const now = at ?? new Date();
      // A vote on a request whose time ran out settles the expiry first, then is refused.
      if (dueAction(a, now) === 'expire' && actor.kind !== 'system') {
        await this.#settleDue(a);
        continue;
      }
      const next = await compute(a, now);
      try {
        await this.#engine.commit(this.#unit(a, next, actor));
        return next;
      } catch (err) {
        if (!isWardenError(err, 'APPROVAL_CONFLICT') || attempt >= MAX_RETRIES) throw err;
      }
    }
  }

  /** The mutation and audit events of one change. */
  #unit(before: ApprovalRecord, after: ApprovalRecord, actor: Actor) {
    const instance = this.#engine.instanceId;
    const ts = after.updatedAt;
    const events: AuditEvent[] = [];
    const newVote = after.votes.length > before.votes.length ? after.votes.at(-1) : undefined;
    if (newVote) {
      events.push(
        approvalEvent('approval.voted', after, actor, instance, ts, {
          vote: newVote.vote,
          role: newVote.role,
          ...(newVote.reason ? { reason: newVote.reason } : {}),
          ...(newVote.via ? { via: newVote.via } : {}),
        }),
      );
    }
    if (after.escalated && !before.escalated) {
      events.push(
        approvalEvent('approval.escalated', after, actor, instance, ts, { expiresAt: after.expiresAt }),
      );
    }
    if (before.status === 'pending' && after.status !== 'pending') {
      events.push(decidedApprovalEvent(after, actor, instance));
    }
    if (after.status === 'voided' && before.status !== 'voided') {
      events.push(
        approvalEvent('approval.voided', after, actor, instance, ts, {
          ...(after.outcomeReason ? { reason: after.outcomeReason } : {}),
        }),
      );
    }
    if (after.status === 'used' && before.status !== 'used') {
      events.push(
        // Used by the agent's call: its actor when the agent itself made the change, else the agent.
        approvalEvent(
          'approval.used',
          after,
          actor.kind === 'agent' ? actor : { kind: 'agent', id: after.agent },
          instance,
          ts,
          {
            usedByCall: after.usedByCall,
          },
        ),
      );
    }
    const mutations: Mutation[] = [{ kind: 'approval.save', approval: after, expectVersion: before.version }];
    for (const e of events) mutations.push(...outboxFor(this.#engine.notificationTargets, e, after.id));
    return { mutations, events };
  }
}
