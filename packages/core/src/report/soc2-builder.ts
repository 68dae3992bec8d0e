import type { AuditEventType, AuditRecord } from '../audit/audit-event.js';
import type { VerifyReport } from '../audit/chain-verifier.js';
import { CappedList, Tally } from './capped-list.js';
import { type IdentityCount, IdentityTally, type MethodSums } from './identity-tally.js';
import {
  bucketStart,
  bucketsOf,
  checkPeriod,
  type Granularity,
  granularityFor,
  type ReportPeriod,
} from './report-period.js';
import type {
  AgentRules,
  ApprovalRow,
  CheckpointRow,
  EffectCounts,
  GrantRevokedRow,
  GrantRow,
  KeyCreatedRow,
  KeyRevokedRow,
  PauseRow,
  PolicyChangeRow,
  ProofMethod,
  RaiseRow,
  SignInRow,
  SigningKeyRow,
  Soc2Report,
  SodViolation,
} from './soc2-report.js';
import {
  approvalRow,
  blockCause,
  breakerRow,
  budgetRow,
  firstConflict,
  grantRevokedRow,
  grantRow,
  policyChangeRow,
  raiseRow,
  refOf,
  refusalRow,
  requestStake,
  signingKeyRow,
  str,
} from './soc2-rows.js';

/** How long lists get and how many names a top list shows. */
export interface Soc2Limits {
  /** Rows kept per list (counts stay exact; the rest is "and N more"). Default 200. */
  readonly cap?: number;
  /** Names in each top list. Default 10. */
  readonly top?: number;
}

/** What the report needs besides the events: the verification, the checkpoints, the policy's text. */
export interface Soc2Facts {
  readonly generatedAt: string;
  readonly source: { readonly dialect: string; readonly location: string };
  readonly verify: VerifyReport;
  readonly trustedKeys: 'database' | 'file';
  readonly covering: CheckpointRow | null;
  readonly checkpointsInPeriod: number;
  /** The rules per agent of the policy version in force at the period's end (see policyVersionAtEnd). */
  readonly policyAgents: readonly AgentRules[] | null;
  readonly policyNote?: string;
}

/** Context types: events from before (or in) the period that explain rows of the period. */
export const SOC2_CONTEXT_TYPES = [
  'policy.changed',
  'api_key.created',
  'grant.added',
  'grant.revoked',
] as const;

/** At most this many keys, grants and open pauses are remembered for lookups (memory stays bounded). */
const MAX_TRACKED = 100_000;

/**
 * What `push` counts over every event of the period, given at once instead (from rollups): with
 * `counts`, the period's events need not be pushed one by one, only those `rare` handles.
 */
export interface Soc2Counts {
  readonly total: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  readonly byType: ReadonlyMap<string, number>;
  /** Decisions per effect and UTC hour (the hour's start, ISO): the series is summed from them. */
  readonly decisions: ReadonlyMap<string, EffectCounts>;
  /** Blocked decisions per agent ('(none)' without one) and per cause (blockCause). */
  readonly blockedByAgent: ReadonlyMap<string, number>;
  readonly blockedByRule: ReadonlyMap<string, number>;
  /** Per proof method, the events naming it and the decisions among them. */
  readonly methods: ReadonlyMap<ProofMethod, MethodSums>;
  /** One row per identity, in the order first seen. */
  readonly identities: readonly IdentityCount[];
}

/** The event types `rare` handles: everything the report lists or tallies except decisions' counts. */
export const SOC2_RARE_TYPES = [
  'call.voided',
  'policy.changed',
  'api_key.created',
  'api_key.revoked',
  'key.added',
  'key.rotated',
  'grant.added',
  'grant.revoked',
  'auth.signed_in',
  'auth.signed_out',
  'breaker.tripped',
  'approval.decided',
  'approval.voted',
  'approval.refused',
  'budget.exceeded',
  'budget.alert',
  'budget.raised',
  'session.paused',
  'identity.refused',
  'identity.roles_changed',
] as const satisfies readonly AuditEventType[];

/** The limits beyond which counts given at once would not equal what `push` keeps (see Soc2Counts). */
export const SOC2_LIMITS = { tracked: MAX_TRACKED, tallyKeys: 10_000 } as const;

type MutablePause = { -readonly [K in keyof PauseRow]: PauseRow[K] };

/**
 * Builds the SOC 2 report from the audit trail, streaming: first `context` with every event of the
 * SOC2_CONTEXT_TYPES up to the period's end (any order), then `push` with every event of the period
 * in chain order, then `request` with the `call.decided` of each of `requestsToLookUp` (approvals
 * decided in the period on requests made before it), then `finish`. Pure: no I/O, memory bounded by
 * the caps whatever the period's size.
 */
export class Soc2ReportBuilder {
  readonly period: ReportPeriod;
  readonly granularity: Granularity;
  readonly #cap: number;
  readonly #top: number;
  readonly #byType = new Map<string, number>();
  #total = 0;
  #firstSeq: number | null = null;
  #lastSeq: number | null = null;
  readonly #effects = { allow: 0, review: 0, block: 0 };
  readonly #series = new Map<string, { allow: number; review: number; block: number }>();
  // context
  #policyAtEnd: PolicyChangeRow | null = null;
  readonly #keys = new Map<string, { principal: string | null; role: string | null }>();
  readonly #grantsExpiring = new Map<string, GrantRow>();
  readonly #grantRevokedAt = new Map<string, string>();
  // CC6
  readonly #policyChanges: CappedList<PolicyChangeRow>;
  readonly #keysCreated: CappedList<KeyCreatedRow>;
  readonly #keysRevoked: CappedList<KeyRevokedRow>;
  readonly #signingKeys: CappedList<SigningKeyRow>;
  readonly #grantsAdded: CappedList<GrantRow>;
  readonly #grantsRevoked: CappedList<GrantRevokedRow>;
  readonly #signIns: CappedList<SignInRow>;
  #signOuts = 0;
  readonly #identities: IdentityTally;
  // CC7
  readonly #blockedByAgent = new Tally();
  readonly #blockedByRule = new Tally();
  readonly #breakers: CappedList<ReturnType<typeof breakerRow>>;
  readonly #denied: CappedList<ApprovalRow>;
  readonly #expired: CappedList<ApprovalRow>;
  // separation of duties
  readonly #decided: CappedList<ApprovalRow>;
  readonly #outcomes = new Map<string, number>();
  #checked = 0;
  #votesChecked = 0;
  readonly #violations: CappedList<SodViolation>;
  readonly #refused: CappedList<ReturnType<typeof refusalRow>>;
  // budgets
  readonly #exceeded: CappedList<ReturnType<typeof budgetRow>>;
  readonly #alerts: CappedList<ReturnType<typeof budgetRow>>;
  readonly #pauses: CappedList<MutablePause>;
  readonly #openPauses = new Map<string, MutablePause | null>();
  readonly #resolution = { resumed: 0, closed: 0 };
  #pausedTotal = 0;
  readonly #raised: CappedList<RaiseRow>;

  constructor(period: ReportPeriod, limits: Soc2Limits = {}) {
    this.period = checkPeriod(period);
    this.granularity = granularityFor(this.period);
    for (const start of bucketsOf(this.period, this.granularity)) {
      this.#series.set(start, { allow: 0, review: 0, block: 0 });
    }
    this.#cap = limits.cap ?? 200;
    this.#top = limits.top ?? 10;
    const list = <T>() => new CappedList<T>(this.#cap);
    this.#policyChanges = list();
    this.#keysCreated = list();
    this.#keysRevoked = list();
    this.#signingKeys = list();
    this.#grantsAdded = list();
    this.#grantsRevoked = list();
    this.#signIns = list();
    this.#breakers = list();
    this.#denied = list();
    this.#expired = list();
    this.#decided = list();
    this.#violations = list();
    this.#refused = list();
    this.#exceeded = list();
    this.#alerts = list();
    this.#pauses = list();
    this.#raised = list();
    this.#identities = new IdentityTally(this.#cap, this.#top);
  }

  /** A context event (one of SOC2_CONTEXT_TYPES, at any time before the period's end). */
  context(r: AuditRecord): void {
    const e = r.event;
    if (e.ts >= this.period.to) return;
    if (e.type === 'policy.changed') {
      if (!this.#policyAtEnd || r.seq > this.#policyAtEnd.seq) this.#policyAtEnd = policyChangeRow(r);
    } else if (e.type === 'api_key.created') {
      const id = str(e, 'id');
      if (id && this.#keys.size < MAX_TRACKED) {
        this.#keys.set(id, { principal: str(e, 'principal'), role: str(e, 'role') });
      }
    } else if (e.type === 'grant.added') {
      const row = grantRow(r);
      const inPeriod = row.expiresAt >= this.period.from && row.expiresAt < this.period.to;
      if (inPeriod && this.#grantsExpiring.size < MAX_TRACKED) this.#grantsExpiring.set(row.grantId, row);
    } else if (e.type === 'grant.revoked') {
      const id = str(e, 'grantId');
      if (id && this.#grantRevokedAt.size < MAX_TRACKED) this.#grantRevokedAt.set(id, e.ts);
    }
  }

  /** The seq of the period's first and last events (null without events). */
  get seqRange(): { firstSeq: number | null; lastSeq: number | null } {
    return { firstSeq: this.#firstSeq, lastSeq: this.#lastSeq };
  }

  /** The policy version in force at the period's end, known once the context is in. */
  get policyVersionAtEnd(): string | null {
    return this.#policyAtEnd?.newVersion ?? null;
  }

  /** The call ids of requests made before the period whose approvals were decided in it (see `request`). */
  get requestsToLookUp(): string[] {
    return this.#identities.requestsToLookUp;
  }

  /** The `call.decided` of a request of `requestsToLookUp`, after the period's events and before `finish`. */
  request(r: AuditRecord): void {
    this.#identities.request(r);
  }

  /** An event of the period, in chain order. */
  push(r: AuditRecord): void {
    const e = r.event;
    this.#total += 1;
    this.#firstSeq ??= r.seq;
    this.#lastSeq = r.seq;
    this.#byType.set(e.type, (this.#byType.get(e.type) ?? 0) + 1);
    this.#handlers[e.type]?.(r);
    this.#identities.push(r);
  }

  /**
   * Everything `push` counts over the period, at once (from rollups), instead of pushing every event.
   * Then feed `rare` the period's events of SOC2_RARE_TYPES, its review decisions, and the
   * `session.resumed`/`session.closed` of its paused sessions, in chain order. Call once, first.
   */
  counts(c: Soc2Counts): void {
    this.#total = c.total;
    this.#firstSeq = c.firstSeq;
    this.#lastSeq = c.lastSeq;
    for (const [type, n] of c.byType) this.#byType.set(type, n);
    for (const [hour, n] of c.decisions) {
      const bucket = this.#series.get(bucketStart(hour, this.granularity));
      for (const effect of ['allow', 'review', 'block'] as const) {
        this.#effects[effect] += n[effect];
        if (bucket) bucket[effect] += n[effect];
      }
    }
    for (const [agent, n] of c.blockedByAgent) this.#blockedByAgent.add(agent, n);
    for (const [cause, n] of c.blockedByRule) this.#blockedByRule.add(cause, n);
    this.#identities.counts(c.methods, c.identities);
  }

  /** An event `counts` does not cover the lists of (see `counts`), in chain order. */
  rare(r: AuditRecord): void {
    if (r.event.type !== 'call.decided') this.#handlers[r.event.type]?.(r);
    this.#identities.rare(r);
  }

  /** What each event type of the period adds to the report; other types are only counted. */
  readonly #handlers: Partial<Record<AuditEventType, (r: AuditRecord) => void>> = {
    'call.decided': (r) => this.#decision(r),
    'call.voided': (r) => this.#voided(r),
    'policy.changed': (r) => this.#policyChanges.push(policyChangeRow(r)),
    'api_key.created': (r) => this.#keysCreated.push(this.#keyCreated(r)),
    'api_key.revoked': (r) => this.#keysRevoked.push(this.#keyRevoked(r)),
    'key.added': (r) => this.#signingKeys.push(signingKeyRow(r)),
    'key.rotated': (r) => this.#signingKeys.push(signingKeyRow(r)),
    'grant.added': (r) => this.#grantsAdded.push(grantRow(r)),
    'grant.revoked': (r) => this.#grantsRevoked.push(grantRevokedRow(r)),
    'auth.signed_in': (r) =>
      this.#signIns.push({
        ...refOf(r),
        keyId: str(r.event, 'keyId'),
        role: str(r.event, 'role'),
        address: str(r.event, 'address'),
        expiresAt: str(r.event, 'expiresAt'),
      }),
    'auth.signed_out': () => {
      this.#signOuts += 1;
    },
    'breaker.tripped': (r) => this.#breakers.push(breakerRow(r)),
    'approval.decided': (r) => this.#approvalDecided(r),
    'approval.voted': (r) => this.#vote(r),
    'approval.refused': (r) => this.#refused.push(refusalRow(r)),
    'budget.exceeded': (r) => this.#exceeded.push(budgetRow(r)),
    'budget.alert': (r) => this.#alerts.push(budgetRow(r)),
    'budget.raised': (r) => this.#raised.push(raiseRow(r)),
    'session.paused': (r) => this.#paused(r),
    'session.resumed': (r) => this.#resolved(r),
    'session.closed': (r) => this.#resolved(r),
  };

  #decision(r: AuditRecord): void {
    const e = r.event;
    const effect = e.decision?.effect;
    if (!effect) return;
    this.#effects[effect] += 1;
    const bucket = this.#series.get(bucketStart(e.ts, this.granularity));
    if (bucket) bucket[effect] += 1;
    if (effect !== 'block') return;
    this.#blockedByAgent.add(e.agent ?? '(none)');
    this.#blockedByRule.add(blockCause(e));
  }

  /**
   * A decision of the period whose caller was answered STORE_UNAVAILABLE: counted as what the caller was
   * told, a block, not as the effect recorded.
   */
  #voided(r: AuditRecord): void {
    const d = r.event.data ?? {};
    const effect = d.effect;
    if (effect !== 'allow' && effect !== 'review' && effect !== 'block') return;
    if (typeof d.voidedSeq !== 'number' || this.#firstSeq === null || d.voidedSeq < this.#firstSeq) return;
    if (effect === 'block') return;
    this.#effects[effect] -= 1;
    this.#effects.block += 1;
    const bucket =
      typeof d.decidedAt === 'string'
        ? this.#series.get(bucketStart(d.decidedAt, this.granularity))
        : undefined;
    if (bucket) {
      bucket[effect] -= 1;
      bucket.block += 1;
    }
    this.#blockedByAgent.add(r.event.agent ?? '(none)');
    this.#blockedByRule.add('code STORE_UNAVAILABLE');
  }

  #keyCreated(r: AuditRecord): KeyCreatedRow {
    const e = r.event;
    return {
      ...refOf(r),
      keyId: str(e, 'id') ?? '',
      principal: str(e, 'principal') ?? '',
      principalKind: str(e, 'principalKind') ?? '',
      role: str(e, 'role') ?? '',
      expiresAt: str(e, 'expiresAt'),
    };
  }

  #keyRevoked(r: AuditRecord): KeyRevokedRow {
    const id = str(r.event, 'id') ?? '';
    const key = this.#keys.get(id);
    return {
      ...refOf(r),
      keyId: id,
      principal: key?.principal ?? null,
      role: key?.role ?? null,
      reason: str(r.event, 'reason'),
    };
  }

  #approvalDecided(r: AuditRecord): void {
    const row = approvalRow(r);
    this.#decided.push(row);
    this.#outcomes.set(row.outcome, (this.#outcomes.get(row.outcome) ?? 0) + 1);
    if (row.outcome === 'denied') this.#denied.push(row);
    if (row.outcome === 'expired') this.#expired.push(row);
    if (row.sod === 'none') return;
    this.#checked += 1;
    const stake = requestStake(r.event);
    for (const who of row.deciders) {
      if (firstConflict([who], stake) !== undefined) this.#violations.push(this.#violation(r, who));
    }
  }

  #vote(r: AuditRecord): void {
    const e = r.event;
    if (e.actor.kind === 'system') return;
    this.#votesChecked += 1;
    if (firstConflict([e.actor.id], requestStake(e)) !== undefined) {
      this.#violations.push(this.#violation(r, e.actor.id));
    }
  }

  /** A decider who is also a requester: `requester` lists the request's agent, trigger and chain. */
  #violation(r: AuditRecord, principal: string): SodViolation {
    const e = r.event;
    const who = [e.agent, e.triggeredBy, ...(e.delegationChain ?? [])].filter((x): x is string => !!x);
    return {
      ...refOf(r),
      type: e.type,
      approvalId: str(e, 'approvalId'),
      principal,
      requester: who.join(', '),
    };
  }

  #paused(r: AuditRecord): void {
    const e = r.event;
    this.#pausedTotal += 1;
    const session = e.session ?? '';
    const row: MutablePause = {
      ...refOf(r),
      session,
      agent: e.agent ?? null,
      code: str(e, 'code'),
      reason: str(e, 'reason'),
      resolution: 'open',
      resolvedBy: null,
      resolvedAt: null,
      resolvedSeq: null,
    };
    const kept = this.#pauses.total < this.#cap;
    this.#pauses.push(row);
    if (this.#openPauses.size < MAX_TRACKED) this.#openPauses.set(session, kept ? row : null);
  }

  #resolved(r: AuditRecord): void {
    const e = r.event;
    const session = e.session ?? '';
    if (!this.#openPauses.has(session)) return;
    const row = this.#openPauses.get(session);
    this.#openPauses.delete(session);
    const how = e.type === 'session.resumed' ? 'resumed' : 'closed';
    this.#resolution[how] += 1;
    if (!row) return;
    row.resolution = how;
    row.resolvedBy = `${e.actor.kind}:${e.actor.id}`;
    row.resolvedAt = e.ts;
    row.resolvedSeq = r.seq;
  }

  /** The report, from everything pushed and the facts. */
  finish(facts: Soc2Facts): Soc2Report {
    const top = this.#top;
    const expired = [...this.#grantsExpiring.values()].filter((g) => {
      const revoked = this.#grantRevokedAt.get(g.grantId);
      return revoked === undefined || revoked >= g.expiresAt;
    });
    expired.sort((a, b) => (a.expiresAt < b.expiresAt ? -1 : a.expiresAt > b.expiresAt ? 1 : 0));
    const counts = (m: Map<string, number>) =>
      Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
    const series = [...this.#series].map(([start, c]) => ({ start, ...c }));
    const effects: EffectCounts = { ...this.#effects };
    const pol = this.#policyAtEnd;
    return {
      generatedAt: facts.generatedAt,
      period: this.period,
      granularity: this.granularity,
      source: facts.source,
      events: {
        total: this.#total,
        firstSeq: this.#firstSeq,
        lastSeq: this.#lastSeq,
        byType: counts(this.#byType),
      },
      decisions: { ...effects, total: effects.allow + effects.review + effects.block, series },
      access: {
        policyAtEnd: {
          version: pol?.newVersion ?? null,
          name: pol?.name ?? null,
          mode: pol?.mode ?? null,
          since: pol ? { seq: pol.seq, ts: pol.ts, by: pol.by } : null,
          agents: facts.policyAgents,
          ...(facts.policyNote ? { note: facts.policyNote } : {}),
        },
        policyChanges: this.#policyChanges.done(),
        keysCreated: this.#keysCreated.done(),
        keysRevoked: this.#keysRevoked.done(),
        signingKeys: this.#signingKeys.done(),
        grantsAdded: this.#grantsAdded.done(),
        grantsRevoked: this.#grantsRevoked.done(),
        grantsExpired: { items: expired.slice(0, this.#cap), total: expired.length },
        signIns: this.#signIns.done(),
        signOuts: this.#signOuts,
        identities: this.#identities.done(),
      },
      operations: {
        blocked: effects.block,
        blockedByAgent: this.#blockedByAgent.top(top),
        blockedByRule: this.#blockedByRule.top(top),
        breakerTrips: this.#breakers.done(),
        budgetExceeded: this.#exceeded.total,
        approvalsDenied: this.#denied.done(),
        approvalsExpired: this.#expired.done(),
      },
      separation: {
        decided: this.#decided.done(),
        outcomes: counts(this.#outcomes),
        checked: this.#checked,
        votesChecked: this.#votesChecked,
        violations: this.#violations.done(),
        refused: this.#refused.done(),
      },
      budgets: {
        exceeded: this.#exceeded.done(),
        alerts: this.#alerts.done(),
        pauses: this.#pauses.done(),
        resolution: {
          ...this.#resolution,
          open: this.#pausedTotal - this.#resolution.resumed - this.#resolution.closed,
        },
        raised: this.#raised.done(),
      },
      integrity: {
        verify: facts.verify,
        trustedKeys: facts.trustedKeys,
        covering: facts.covering,
        checkpointsInPeriod: facts.checkpointsInPeriod,
      },
    };
  }
}

/** The whole report from events already in memory (tests, small periods): context first, then the period. */
export function buildSoc2Report(
  period: ReportPeriod,
  input: {
    context: Iterable<AuditRecord>;
    events: Iterable<AuditRecord>;
    /** `call.decided` events of requests made before the period (see `requestsToLookUp`). */
    requests?: Iterable<AuditRecord>;
  },
  facts: Soc2Facts,
  limits?: Soc2Limits,
): Soc2Report {
  const builder = new Soc2ReportBuilder(period, limits);
  for (const r of input.context) builder.context(r);
  for (const r of input.events) builder.push(r);
  for (const r of input.requests ?? []) builder.request(r);
  return builder.finish(facts);
}
