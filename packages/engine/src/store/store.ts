import {
  API_ROLES,
  type ApiRole,
  PRINCIPAL_KINDS,
  type PrincipalKind,
  SESSION_STATES,
  type SessionState,
} from '@warden/api';
import type {
  ApprovalRecord,
  ApprovalStatus,
  AuditEvent,
  AuditRecord,
  BudgetCounter,
  BudgetLine,
  ChainedRow,
  ChainHead,
  CheckpointBody,
  ReservationRecord,
  ReserveOutcome,
  SignedCheckpoint,
} from '@warden/core';
import type { AuditQuery } from './audit-query.js';
import type { ColumnValue } from './event-columns.js';
import type { PersonRecord } from './people-rows.js';
import type { RollupCell, RollupQuery } from './rollups/rollup.js';
import type { CommitDoubt } from './store-errors.js';

/**
 * The one storage seam. Both dialects implement it and one contract suite runs against both. Every
 * state change travels with the audit events that record it, in one transaction: there is no way to
 * change state without leaving a trace, and no trace of a change that did not happen.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /** Where the data lives, with any password removed: safe to print. */
  readonly location: string;
  /** The SQLite file, when the store is one: other threads may open it read-only (parallel verify). */
  readonly localFile?: string;
  /**
   * Applies every unit in one transaction, chaining its events under the chain lock so all instances
   * share one total order. All or nothing: on any failure nothing is written and it throws, except that
   * a failure of COMMIT itself leaves the outcome unknown: that error is STORE_UNAVAILABLE and
   * `commitInDoubt(err)` returns what `commitOutcome` needs to learn, later, whether it landed.
   */
  commit(units: readonly CommitUnit[]): Promise<CommitResult[]>;
  /**
   * How a commit whose acknowledgement was lost ended (PostgreSQL, by its transaction id). Absent where a
   * commit cannot be in doubt (SQLite: COMMIT runs in this process and a failed one is rolled back).
   */
  commitOutcome?(doubt: CommitDoubt): Promise<CommitOutcome>;
  head(): Promise<ChainHead>;
  /** Chained rows with seq > afterSeq, in order, at most `limit`. */
  readChain(afterSeq: number, limit: number): Promise<ChainedRow[]>;
  /** Events after `afterSeq` with their query columns as stored (deep verification). */
  readColumns(afterSeq: number, limit: number): Promise<StoredColumnsRow[]>;
  /** The query columns this dialect's INSERT writes for `event`, by the very function it uses. */
  expectedColumns(event: AuditEvent): Readonly<Record<string, ColumnValue>>;
  queryAudit(query: AuditQuery): Promise<AuditPage>;
  /** The `call.decided` event of a call, whether it has been completed, and its `call.voided` event. */
  findCall(callId: string): Promise<FoundCall>;
  checkpoints(range?: { fromSeq?: number; toSeq?: number }): Promise<SignedCheckpoint[]>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  legalHolds(): Promise<LegalHold[]>;
  /** Public keys registered by the engines that wrote this store, for verifying without a key file. */
  publicKeys(): Promise<{ keyId: string; pem: string }[]>;
  /** The API key whose secret hashes to `hash` (revoked and expired keys included: the caller decides). */
  apiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  apiKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** Every API key, oldest first. */
  apiKeys(): Promise<ApiKeyRecord[]>;
  /** A person who signed in through the IdP, by issuer and subject. */
  person(issuer: string, subject: string): Promise<PersonRecord | undefined>;
  /** The person with this email (case-insensitive; the most recent sign-in when several issuers know it). */
  personByEmail(email: string): Promise<PersonRecord | undefined>;
  /** Every person with this email (case-insensitive; up to 10, the most recent sign-in first). */
  peopleByEmail(email: string): Promise<PersonRecord[]>;
  /** The person a principal id names (the most recent sign-in when several issuers know it). */
  personByName(name: string): Promise<PersonRecord | undefined>;
  /** The policy most recently stored, if any. */
  currentPolicy(): Promise<PolicyVersionRecord | undefined>;
  /** Stored policies, newest first, at most `limit`. */
  policyHistory(limit: number): Promise<PolicyVersionRecord[]>;
  /** Sessions, most recently updated first, filtered; pass `nextCursor` back for the next page. */
  listSessions(query: SessionQuery): Promise<SessionPage>;
  /** Call counts by effect and the usage reported with completions, from the session's audit events. */
  sessionUsage(id: string): Promise<SessionUsage>;
  /**
   * Rollup cells: sums of the events' deltas (rollups/derivers.ts) kept in the commit that chains them,
   * exact and never truncated. Derived data: verification recounts from the chain, never from these.
   */
  rollups(query: RollupQuery): Promise<RollupCell[]>;
  /** The oldest event still stored, if any. */
  oldestEvent(): Promise<{ seq: number; ts: string } | undefined>;
  /** The last seq whose event is older than `before`, counting from the start (for retention). */
  lastSeqBefore(before: string): Promise<number>;
  /** Throws STORE_UNAVAILABLE when the database cannot be reached. */
  ping(): Promise<void>;
  approval(id: string): Promise<ApprovalRecord | undefined>;
  approvalByCall(callId: string): Promise<ApprovalRecord | undefined>;
  /** Approval requests, newest first, filtered; pass `nextCursor` back for the next page. */
  listApprovals(query: ApprovalQuery): Promise<ApprovalPage>;
  /** Pending requests whose expiry or escalation time is at or before `now`, oldest first. */
  dueApprovals(now: string, limit: number): Promise<ApprovalRecord[]>;
  /** How many requests are pending (the approvals_pending gauge). */
  pendingApprovals(): Promise<number>;
  /** How many rows a `state.purge` with this `before` would delete if applied now (for the purge's event). */
  finishedState(before: string): Promise<StateCounts>;
  grant(id: string): Promise<GrantRecord | undefined>;
  /** Grants, newest first: only those active at `now` unless `all`; only one agent's with `agent`. */
  listGrants(query: GrantQuery): Promise<GrantRecord[]>;
  /**
   * Claims up to `limit` notifications due at `now` that nobody holds (or whose holder's lease ran out),
   * for `owner` until `leaseUntil`; two instances never claim the same one at once. Only rows whose target
   * is in `targets` (the webhooks `owner` can deliver to) are claimed; an empty list claims nothing.
   */
  claimNotifications(
    owner: string,
    now: string,
    leaseUntil: string,
    limit: number,
    targets: readonly string[],
  ): Promise<NotificationRecord[]>;
  /**
   * Reserves every line of `r` atomically across all instances, or none: for each counter (created on
   * first use with the line's window and limit; the stored policy limit is refreshed from the line) the
   * line is admitted when used + reserved + amount <= the effective limit (the raised one when set) and,
   * for an amount of 0, when used + reserved < that limit. When all are admitted, each counter's
   * `reserved` grows by its amount and the reservation is stored as `held`; otherwise nothing changes
   * and the first line (in key order) that would go over is returned with the counter's figures.
   */
  reserve(r: ReservationRecord): Promise<ReserveOutcome>;
  reservation(id: string): Promise<ReservationRecord | undefined>;
  /** Held reservations whose lease ended at or before `now`, oldest lease first. */
  expiredReservations(now: string, limit: number): Promise<ReservationRecord[]>;
  /** Counters, filtered: by keys, scope keys, budget id, or those whose window contains `activeAt`. */
  budgetCounters(query: BudgetCounterQuery): Promise<BudgetCounter[]>;
  /** The sum of the ledger rows of each counter key (every key with at least one row, or just `keys`). */
  ledgerTotals(keys?: readonly string[]): Promise<Map<string, number>>;
  /**
   * Calls `fn` soon after another process commits something other instances must hear about at once
   * (approvals, session pauses, policy and key changes), so they need not wait for their next poll.
   * Present only where the database can push (PostgreSQL LISTEN/NOTIFY); resolves with an unsubscribe.
   */
  watch?(fn: () => void): Promise<() => void>;
  close(): Promise<void>;
}

/** What the trail holds about one call. */
export interface FoundCall {
  readonly decided: AuditRecord | undefined;
  readonly completed: boolean;
  /** Present when the decision was voided: the caller was never told it (see `call.voided`). */
  readonly voided?: AuditRecord;
}

/**
 * What became of a commit in doubt: `in-progress` means ask again later (it may still land, or has landed
 * but is not visible yet); `committed` means its transaction id names a committed transaction whose rows
 * every later read sees, so a decision missing from the trail never landed (after a crash the id of a
 * transaction that was lost is given to another); `unknown` means the database can no longer tell (the
 * transaction is too old), so only what the trail holds answers it.
 */
export type CommitOutcome = 'committed' | 'aborted' | 'in-progress' | 'unknown';

/** One event's body and its query columns as stored, keyed by column name. */
export interface StoredColumnsRow {
  readonly seq: number;
  readonly body: string;
  readonly columns: Readonly<Record<string, unknown>>;
}

/** What one caller wants written atomically: state changes plus the events recording them. */
export interface CommitUnit {
  readonly mutations?: readonly Mutation[];
  readonly events: readonly AuditEvent[];
  /** Sign a checkpoint at the head once this unit's events are chained. */
  readonly checkpoint?: CheckpointRequest;
  /**
   * Admitted inside this unit's transaction, before its events are chained, with exactly the rules of
   * `Store.reserve` (all lines or none). When admitted, the reservation is stored `held` with the unit's
   * mutations and events; when refused, no counter changes and `onRefused`'s unit is committed in this
   * unit's place. A refusal never fails the commit, nor the other units of its batch.
   */
  readonly reserve?: ReservationRecord;
  /**
   * When `reserve` is refused: the unit committed in its place, built synchronously from the refusal.
   * Required with `reserve`. It carries no budget mutation (its counters could not be locked in key
   * order with the rest: INTERNAL).
   */
  readonly onRefused?: (refused: ReserveRefusal) => RefusedUnit;
}

/** The unit committed in place of one whose reservation was refused. */
export type RefusedUnit = Omit<CommitUnit, 'reserve' | 'onRefused'>;

/** A reservation refused: the first line (in key order) that would go over, with its counter's figures. */
export type ReserveRefusal = Extract<ReserveOutcome, { ok: false }>;

/** Builds and signs a checkpoint body; called inside the transaction, under the chain lock. */
export interface CheckpointRequest {
  /** `purge`: only with an `audit.purge`, over its record (see purgeOf). */
  readonly kind: 'periodic' | 'on-demand' | 'purge';
  /**
   * Sign only when the head is past the last checkpoint, decided under the chain lock (the engine's
   * start: instances starting together sign one checkpoint, not one each).
   */
  readonly ifBehind?: boolean;
  readonly sign: (body: CheckpointBody) => SignedCheckpoint;
  readonly keyId: string;
  readonly ts: string;
}

export interface CommitResult {
  /** seq and hash of each event, in the order given. */
  readonly events: readonly { seq: number; hash: string }[];
  readonly checkpoint?: SignedCheckpoint;
  /** Set when the unit's reservation was refused and `onRefused`'s unit was committed instead. */
  readonly refused?: ReserveRefusal;
}

/** State changes a unit can carry. Each dialect implements every kind. */
export type Mutation =
  /**
   * Creates a session unless it exists. With `onlyIfNew`, refused (SESSION_STATE, `details.exists`) when
   * it exists already or another unit of the commit creates it first: a task's session, or a call's new
   * one, is never someone else's.
   */
  | { readonly kind: 'session.ensure'; readonly session: SessionRecord; readonly onlyIfNew?: boolean }
  | {
      readonly kind: 'session.state';
      readonly id: string;
      readonly state: SessionState;
      /** Refuse (SESSION_STATE) unless the session is currently in one of these states. */
      readonly from: readonly SessionState[];
      readonly reason: string | null;
      readonly ts: string;
    }
  | { readonly kind: 'legal_hold.place'; readonly hold: LegalHold }
  | { readonly kind: 'legal_hold.release'; readonly id: string }
  | { readonly kind: 'key.register'; readonly keyId: string; readonly pem: string; readonly ts: string }
  /**
   * Deletes events 1..throughSeq; refused while a legal hold exists or without a checkpoint at throughSeq.
   * Its unit carries the `retention.purged` record last and a `purge` checkpoint (see purgeOf); the
   * store deletes after writing both.
   */
  | { readonly kind: 'audit.purge'; readonly throughSeq: number }
  /**
   * Deletes approval state that has ended before `before` (a cutoff in the past; retention passes its
   * own), so redacted arguments do not outlive the audit events about them: approval requests no longer
   * pending and last changed before it (an approved one unused that long loses the rest of its window:
   * redeeming it then finds no request, which blocks), grants revoked or expired before it, and delivered
   * or failed notifications last changed before it. Pending requests and notifications, and grants still
   * in force, stay whatever their age. Refused (LEGAL_HOLD_ACTIVE) while a legal hold exists.
   */
  | { readonly kind: 'state.purge'; readonly before: string }
  /** Stores a new key; with `onlyIfNone`, refused (KEYS_EXIST) when any key exists (admin bootstrap). */
  | { readonly kind: 'api_key.create'; readonly key: ApiKeyRecord; readonly onlyIfNone?: boolean }
  /** Records a person's sign-in: inserted, or updated with the IdP's current word (first sign-in kept). */
  | { readonly kind: 'person.upsert'; readonly person: PersonRecord }
  /** Revokes a key: KEY_NOT_FOUND when there is none, KEY_REVOKED when it already is. */
  | { readonly kind: 'api_key.revoke'; readonly id: string; readonly by: string; readonly ts: string }
  /**
   * Records a policy as the one in force (the newest stored wins). With `ifCurrent`, refused with
   * POLICY_CONFLICT unless the newest stored version is `ifCurrent` (null: none is stored yet), so two
   * instances applying the same edit at once record it once.
   */
  | {
      readonly kind: 'policy.store';
      readonly policy: PolicyVersionRecord;
      readonly ifCurrent?: string | null;
    }
  /**
   * Writes an approval request. `expectVersion: null` inserts (the id and the call id are unique);
   * otherwise refused with APPROVAL_CONFLICT unless the stored version is `expectVersion`. The stored
   * version becomes `approval.version`, which must be expectVersion + 1.
   */
  | {
      readonly kind: 'approval.save';
      readonly approval: ApprovalRecord;
      readonly expectVersion: number | null;
    }
  | { readonly kind: 'grant.add'; readonly grant: GrantRecord }
  /** GRANT_NOT_FOUND when there is none; GRANT_INVALID when it was already revoked. */
  | { readonly kind: 'grant.revoke'; readonly id: string; readonly by: string; readonly ts: string }
  | { readonly kind: 'notification.enqueue'; readonly notification: NotificationRecord }
  /**
   * Settles a call's usage: when reservation `reservationId` is held, each of its lines' amounts leaves
   * its counter's `reserved` and it becomes `settled`; when it was released (lease ran out) or is null,
   * nothing is unreserved. Then each line's `amount` (the actual usage) is added to its counter's `used`
   * (the counter is created if missing) and written as one ledger row with `priceVersion`. A reservation
   * already settled is refused with BUDGET_CONFLICT, so usage is never counted twice.
   */
  | {
      readonly kind: 'budget.settle';
      readonly reservationId: string | null;
      readonly callId: string;
      readonly lines: readonly BudgetLine[];
      readonly priceVersion: string | null;
      readonly ts: string;
    }
  /**
   * Releases held reservations whose lease ended at or before `now`: their amounts leave `reserved` and
   * they become `released`. Refused with BUDGET_CONFLICT when any of `ids` is no longer held or its lease
   * has not ended, so the unit's budget.released event is written by one instance only.
   */
  | { readonly kind: 'budget.release'; readonly ids: readonly string[]; readonly now: string }
  /**
   * Charges held reservations whose lease ended at or before `now` at what they hold: each line's amount
   * leaves `reserved`, is added to `used` and written as a ledger row (price version null), and the
   * reservation becomes `settled`. An admitted call that never completed may have spent it all, so its
   * estimate counts (for a calls budget, admission is the spend). Refused with BUDGET_CONFLICT like
   * `budget.release`, so the unit's budget.expired event is written by one instance only.
   */
  | { readonly kind: 'budget.expire'; readonly ids: readonly string[]; readonly now: string }
  /**
   * Records that alert `threshold` (percent) was announced for counter `key` in its window; refused with
   * BUDGET_CONFLICT when that threshold or a higher one already was (so each alert goes out once).
   */
  | { readonly kind: 'budget.alert'; readonly key: string; readonly threshold: number; readonly ts: string }
  /**
   * Raises (or lowers) the limit of counter `line.key` for its window; creates the counter if missing.
   * `alerted` resets the highest alert threshold announced (thresholds are percentages of the limit, so
   * under a new limit they are judged again).
   */
  | {
      readonly kind: 'budget.limit';
      readonly line: BudgetLine;
      readonly limit: number;
      readonly alerted?: number;
      readonly ts: string;
    }
  /**
   * Records a delivery's end; applies only while `owner` holds the claim, otherwise refused with
   * APPROVAL_CONFLICT (the lease was lost), so the unit's events (its approval.notified) are not written.
   */
  | {
      readonly kind: 'notification.finish';
      readonly id: string;
      readonly owner: string;
      readonly state: 'delivered' | 'failed';
      readonly attempts: number;
      readonly lastError: string | null;
      readonly ts: string;
    };

/** Which counters to read; fields combine with AND. */
export interface BudgetCounterQuery {
  readonly keys?: readonly string[];
  readonly scopeKeys?: readonly string[];
  readonly budgetId?: string;
  /** Only counters whose window contains this instant (session windows always do). */
  readonly activeAt?: string;
  readonly limit: number;
}

export { SESSION_STATES, type SessionState };

export interface SessionRecord {
  readonly id: string;
  readonly agent: string;
  readonly state: SessionState;
  readonly stateReason: string | null;
  readonly triggeredBy: string | null;
  readonly delegationChain: readonly string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface LegalHold {
  readonly id: string;
  readonly reason: string;
  readonly placedBy: string;
  readonly placedAt: string;
}

/** One page of query results; pass `nextCursor` back to continue. */
export interface AuditPage {
  readonly records: AuditRecord[];
  readonly nextCursor: string | null;
}

/** Roles and principal kinds are wire words (keys are created and listed over the API): see @warden/api. */
export { API_ROLES, type ApiRole, PRINCIPAL_KINDS, type PrincipalKind };

/** An API key as stored: never the secret, only its SHA-256. */
export interface ApiKeyRecord {
  /** Public id, safe to show and log (`key_` + uuidv7). */
  readonly id: string;
  /** SHA-256 hex of the secret. */
  readonly hash: string;
  /** The first characters of the secret, so a person can recognise a key in a list. */
  readonly prefix: string;
  readonly principalKind: PrincipalKind;
  /** The agent name for agent keys; the person's or service's name otherwise. */
  readonly principal: string;
  readonly role: ApiRole;
  readonly label: string | null;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly revokedBy: string | null;
  /** What the key may do beyond its role (`initiator`: start tasks for a person it vouches for). */
  readonly permissions?: readonly ApiKeyPermission[];
}

/** A permission a key may hold beyond its role. */
export type ApiKeyPermission = 'initiator';

/** One stored policy: the source files as written and the version (hash of the compiled policy). */
export interface PolicyVersionRecord {
  readonly version: string;
  readonly name: string;
  readonly mode: 'enforce' | 'monitor';
  /** The YAML files, as given, in order: one for a single-file policy. */
  readonly sources: readonly { readonly path: string; readonly text: string }[];
  readonly createdAt: string;
  readonly createdBy: string;
}

export interface SessionQuery {
  readonly state?: SessionState;
  readonly agent?: string;
  readonly limit: number;
  readonly cursor?: string;
}

export interface SessionPage {
  readonly sessions: SessionRecord[];
  readonly nextCursor: string | null;
}

/** What a session has done so far, from its audit events. */
export interface SessionUsage {
  readonly calls: { readonly allow: number; readonly review: number; readonly block: number };
  readonly completed: number;
  readonly errors: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
}

export interface ApprovalQuery {
  readonly status?: ApprovalStatus;
  readonly agent?: string;
  readonly session?: string;
  readonly limit: number;
  readonly cursor?: string;
}

export interface ApprovalPage {
  readonly approvals: ApprovalRecord[];
  readonly nextCursor: string | null;
}

/** Rows of each approval-state table: what a `state.purge` deletes. */
export interface StateCounts {
  readonly approvals: number;
  readonly grants: number;
  readonly notifications: number;
  /** Reservations no longer held, last changed before the cutoff. */
  readonly reservations: number;
  /** Counters whose window ended before the cutoff (session counters: unchanged since), with their ledger rows. */
  readonly budgetCounters: number;
}

/** A task-scoped grant: lifts the default block for one agent's matching calls until it expires. */
export interface GrantRecord {
  readonly id: string;
  readonly agent: string;
  /** A tool-name glob. */
  readonly tool: string;
  /** An optional CEL condition over the call. */
  readonly when: string | null;
  /** When set, the grant holds only inside this session. */
  readonly session: string | null;
  readonly expiresAt: string;
  readonly reason: string;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly revokedBy: string | null;
}

export interface GrantQuery {
  readonly agent?: string;
  /** Include expired and revoked grants. */
  readonly all?: boolean;
  readonly now: string;
  readonly limit: number;
}

/** One webhook delivery to make: an approval event for one configured target (an outbox row). */
export interface NotificationRecord {
  readonly id: string;
  /** The webhook's name in the server configuration. */
  readonly target: string;
  readonly eventType: string;
  readonly eventId: string;
  /** The approval the event is about; null for budget alerts and session pauses (see eventType). */
  readonly approvalId: string | null;
  readonly state: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  readonly createdAt: string;
  readonly leaseOwner: string | null;
  readonly leaseUntil: string | null;
  readonly lastError: string | null;
  readonly updatedAt: string;
}
