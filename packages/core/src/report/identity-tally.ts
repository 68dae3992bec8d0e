import type { AuditRecord } from '../audit/audit-event.js';
import {
  type EventIdentity,
  eventIdentities,
  proofDetail,
  recordsCall,
  unverifiedClaims,
} from '../audit/identity-proofs.js';
import { CappedList, Tally } from './capped-list.js';
import type {
  IdentityRow,
  IdentitySection,
  MethodCounts,
  ProofMethod,
  UnverifiedDecisionRow,
} from './soc2-report.js';
import { refOf, str } from './soc2-rows.js';

/** The methods in the order the report lists them: verified first, claims last. */
export const PROOF_METHODS: readonly ProofMethod[] = ['api_key', 'oidc', 'task_token', 'system', 'claimed'];

/** Identities tracked one by one, and review decisions remembered for their approvals (memory bounded). */
const MAX_IDENTITIES = 10_000;
const MAX_REVIEWS = 100_000;
/** Approvals whose request is looked up before the period (one store query each). */
const MAX_LOOKUPS = 10_000;
/** The limits above, for a reader that must know when counts from rollups would differ from `push`. */
export const IDENTITY_LIMITS = {
  identities: MAX_IDENTITIES,
  reviews: MAX_REVIEWS,
  lookups: MAX_LOOKUPS,
} as const;

/** Events and decisions counted for one proof method. */
export interface MethodSums {
  readonly events: number;
  readonly decisions: number;
}

/** One identity's row as `push` counts it: the name, detail and roles as first seen, in that order. */
export interface IdentityCount {
  /** identityKey of the identity. */
  readonly key: string;
  readonly method: ProofMethod;
  readonly name: string;
  readonly detail: string;
  readonly roles: readonly string[];
  readonly events: number;
  readonly decisions: number;
  readonly firstSeq: number;
}

type MutableRow = { -readonly [K in keyof IdentityRow]: IdentityRow[K] } & { roleSet: Set<string> };

/**
 * Counts the identities of the period's events by how each was verified (see identity-proofs), and
 * collects the decisions that relied on claims. Fed every event of the period in chain order.
 */
export class IdentityTally {
  readonly #cap: number;
  readonly #top: number;
  readonly #methods = new Map<ProofMethod, { identities: number; events: number; decisions: number }>(
    PROOF_METHODS.map((m) => [m, { identities: 0, events: 0, decisions: 0 }]),
  );
  readonly #rows = new Map<string, MutableRow>();
  #untracked = 0;
  /** Per approval a review opened in the period: the names it only claimed (empty: all verified). */
  readonly #reviews = new Map<string, string[]>();
  readonly #unverified: CappedList<UnverifiedDecisionRow>;
  /** Approvals decided in the period whose request was not: their row, waiting for the request. */
  readonly #awaiting = new Map<string, { row: UnverifiedDecisionRow; callId: string }>();
  /** The claims of those requests, as looked up (`request`). */
  readonly #looked = new Map<string, string[]>();
  readonly #refused = new Tally();
  #refusedTotal = 0;
  #rolesChanged = 0;

  constructor(cap: number, top: number) {
    this.#cap = cap;
    this.#top = top;
    this.#unverified = new CappedList(cap);
  }

  push(r: AuditRecord): void {
    const e = r.event;
    const decision = e.type === 'call.decided' || e.type === 'approval.decided';
    // The parties of a call are counted on the call's own events; an approval or a session event names
    // them again without recording how they were verified (their requests did).
    const identities = countedIdentities(e);
    const seen = new Set<string>();
    const methods = new Set<ProofMethod>();
    for (const id of identities) {
      methods.add(id.proof.method);
      const key = identityKey(id);
      if (seen.has(key)) {
        this.#rows.get(key)?.roleSet.add(id.role);
        continue;
      }
      seen.add(key);
      this.#count(key, id, r.seq, decision);
    }
    for (const m of methods) {
      const c = this.#methods.get(m);
      if (!c) continue;
      c.events += 1;
      if (decision) c.decisions += 1;
    }
    this.rare(r);
  }

  /**
   * What an event adds besides the identity counts: the reviews and approvals that relied on claims,
   * identity refusals and role changes. With `counts`, fed instead of `push` the events of those types
   * (and every review decision of the period) in chain order.
   */
  rare(r: AuditRecord): void {
    const e = r.event;
    if (e.type === 'call.decided') this.#review(r);
    else if (e.type === 'approval.decided') this.#approval(r);
    else if (e.type === 'identity.refused') {
      this.#refusedTotal += 1;
      const why = [str(e, 'code') ?? e.decision?.code, str(e, 'reason')].filter((x) => !!x).join(': ');
      this.#refused.add((why || 'unknown').slice(0, 200));
    } else if (e.type === 'identity.roles_changed') this.#rolesChanged += 1;
  }

  /**
   * The identity counts of the whole period at once, as `push` would have counted them (from rollups):
   * per method, events and decisions; per identity, its row, in the order first seen (ties in the
   * report's order keep it). At most MAX_IDENTITIES rows.
   */
  counts(methods: ReadonlyMap<ProofMethod, MethodSums>, rows: readonly IdentityCount[]): void {
    if (rows.length > MAX_IDENTITIES) {
      throw new Error(
        `identity counts hold ${rows.length} identities; at most ${MAX_IDENTITIES} are tracked`,
      );
    }
    for (const [method, sums] of methods) {
      const c = this.#methods.get(method);
      if (!c) continue;
      c.events += sums.events;
      c.decisions += sums.decisions;
    }
    for (const row of rows) {
      // The fields in the order #count creates them: the report is the same value, key for key.
      this.#rows.set(row.key, {
        method: row.method,
        name: row.name,
        detail: row.detail,
        roles: [],
        roleSet: new Set(row.roles),
        events: row.events,
        decisions: row.decisions,
        firstSeq: row.firstSeq,
      });
      const c = this.#methods.get(row.method);
      if (c) c.identities += 1;
    }
  }

  #count(key: string, id: EventIdentity, seq: number, decision: boolean): void {
    let row = this.#rows.get(key);
    if (!row) {
      if (this.#rows.size >= MAX_IDENTITIES) {
        this.#untracked += 1;
        return;
      }
      const method = id.proof.method;
      row = {
        method,
        name: id.name,
        detail: '',
        roles: [],
        roleSet: new Set(),
        events: 0,
        decisions: 0,
        firstSeq: seq,
      };
      if (method === 'api_key' || method === 'oidc') row.detail = proofDetail(id.proof);
      this.#rows.set(key, row);
      const c = this.#methods.get(method);
      if (c) c.identities += 1;
    }
    row.roleSet.add(id.role);
    row.events += 1;
    if (decision) row.decisions += 1;
  }

  /** A review whose initiator or chain was only claimed: flagged, and remembered for its approval. */
  #review(r: AuditRecord): void {
    const e = r.event;
    if (e.decision?.effect !== 'review') return;
    const claimed = unverifiedClaims(e).map(describe);
    const approvalId = e.decision.approvalId;
    if (approvalId && this.#reviews.size < MAX_REVIEWS) this.#reviews.set(approvalId, claimed);
    if (claimed.length === 0) return;
    this.#unverified.push({
      ...refOf(r),
      type: 'call.decided',
      decided: 'review',
      approvalId: approvalId ?? null,
      agent: e.agent ?? null,
      tool: e.tool ?? null,
      claimed,
      from: 'event',
    });
  }

  /**
   * An approval decided by a person on a request whose stake was only claimed: read from the approval's
   * own identity when it records one, else from the request's review in the period, else from the names
   * the approval event holds (which nothing verified).
   */
  #approval(r: AuditRecord): void {
    const e = r.event;
    const outcome = str(e, 'outcome') ?? 'unknown';
    if ((outcome !== 'approved' && outcome !== 'denied') || e.actor.kind === 'system') return;
    const approvalId = str(e, 'approvalId');
    const fromRequest = !e.identity && approvalId !== null ? this.#reviews.get(approvalId) : undefined;
    const row: UnverifiedDecisionRow = {
      ...refOf(r),
      type: 'approval.decided',
      decided: outcome,
      approvalId,
      agent: e.agent ?? null,
      tool: e.tool ?? null,
      claimed: fromRequest ?? unverifiedClaims(e).map(describe),
      from: fromRequest ? 'request' : 'event',
    };
    // Requested before the period: what its request recorded is looked up before the report is done.
    const awaits = !e.identity && !fromRequest && approvalId !== null && e.callId !== undefined;
    if (awaits && this.#awaiting.size < MAX_LOOKUPS) {
      this.#awaiting.set(approvalId, { row, callId: e.callId as string });
      return;
    }
    if (row.claimed.length > 0) this.#unverified.push(row);
  }

  /** The call ids of the requests of approvals decided in the period but requested before it. */
  get requestsToLookUp(): string[] {
    return [...this.#awaiting.values()].map((a) => a.callId);
  }

  /** A request's `call.decided` (of `requestsToLookUp`): its claims decide whether its approval is flagged. */
  request(r: AuditRecord): void {
    const e = r.event;
    const approvalId = e.decision?.approvalId;
    if (e.type !== 'call.decided' || e.decision?.effect !== 'review' || !approvalId) return;
    const waiting = this.#awaiting.get(approvalId);
    if (waiting && waiting.callId === e.callId)
      this.#looked.set(approvalId, unverifiedClaims(e).map(describe));
  }

  done(): IdentitySection {
    // Approvals requested before the period, after the period's own rows: from their request when it
    // was found, else from the names the approval holds.
    for (const [approvalId, { row }] of this.#awaiting) {
      const looked = this.#looked.get(approvalId);
      const flagged = looked ? { ...row, claimed: looked, from: 'request' as const } : row;
      if (flagged.claimed.length > 0) this.#unverified.push(flagged);
    }
    this.#awaiting.clear();
    const order = (m: ProofMethod) => PROOF_METHODS.indexOf(m);
    const rows = [...this.#rows.values()].sort(
      (a, b) =>
        order(a.method) - order(b.method) ||
        b.events - a.events ||
        (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
    const byMethod: MethodCounts[] = PROOF_METHODS.map((method) => ({
      method,
      ...(this.#methods.get(method) ?? { identities: 0, events: 0, decisions: 0 }),
    }));
    return {
      byMethod,
      identities: {
        items: rows.slice(0, this.#cap).map(({ roleSet, ...row }) => ({ ...row, roles: [...roleSet] })),
        total: rows.length,
      },
      untracked: this.#untracked,
      unverifiedDecisions: this.#unverified.done(),
      refused: this.#refused.top(this.#top),
      refusedTotal: this.#refusedTotal,
      rolesChanged: this.#rolesChanged,
    };
  }
}

/**
 * The identities of an event the tally counts: every party of a call's own events, only the actor of
 * others (an approval or a session event names the call's parties again without their proofs).
 */
export function countedIdentities(e: AuditRecord['event']): EventIdentity[] {
  return recordsCall(e) ? eventIdentities(e) : eventIdentities(e).slice(0, 1);
}

/** One identity as verified one way: a key, a person at an issuer, or a name. */
export function identityKey(id: EventIdentity): string {
  const p = id.proof;
  if (p.method === 'api_key') return `api_key\u0000${p.keyId ?? ''}\u0000${id.name}`;
  if (p.method === 'oidc') return `oidc\u0000${p.issuer ?? ''}\u0000${p.subject ?? ''}`;
  return `${p.method}\u0000${id.name}`;
}

const describe = (p: EventIdentity): string => `${p.role} ${p.name}`;
