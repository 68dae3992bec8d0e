import type { VerifyReport } from '../audit/chain-verifier.js';
import type { Capped, TopList } from './capped-list.js';
import type { Granularity, ReportPeriod } from './report-period.js';

/**
 * The SOC 2 evidence report as data: every figure computed from the audit trail (plus the few store
 * facts named in `Soc2Facts`), so renderers only lay it out and an auditor can recompute each one with
 * `warden audit query`. Rows carry the `seq` of the event they come from.
 */
export interface Soc2Report {
  readonly generatedAt: string;
  readonly period: ReportPeriod;
  readonly granularity: Granularity;
  readonly source: { readonly dialect: string; readonly location: string };
  readonly events: EventSummary;
  readonly decisions: DecisionSummary;
  readonly access: AccessSection;
  readonly operations: OperationsSection;
  readonly separation: SeparationSection;
  readonly budgets: BudgetSection;
  readonly integrity: IntegritySection;
}

/** The events of the period: how many, their seq range, and a count per type. */
export interface EventSummary {
  readonly total: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  readonly byType: Readonly<Record<string, number>>;
}

/** Counts per effect of `call.decided` events. */
export interface EffectCounts {
  readonly allow: number;
  readonly review: number;
  readonly block: number;
}

/** Decisions in the period, in all and per time bucket (every bucket of the period, empty ones too). */
export interface DecisionSummary extends EffectCounts {
  readonly total: number;
  readonly series: readonly ({ readonly start: string } & EffectCounts)[];
}

/** A row's origin in the chain and who did it. */
export interface EventRef {
  readonly seq: number;
  readonly ts: string;
  /** `kind:id` of the event's actor. */
  readonly by: string;
}

/** CC6: the policy in force, its changes, API keys and grants. */
export interface AccessSection {
  readonly policyAtEnd: PolicyAtEnd;
  readonly policyChanges: Capped<PolicyChangeRow>;
  readonly keysCreated: Capped<KeyCreatedRow>;
  readonly keysRevoked: Capped<KeyRevokedRow>;
  readonly signingKeys: Capped<SigningKeyRow>;
  readonly grantsAdded: Capped<GrantRow>;
  readonly grantsRevoked: Capped<GrantRevokedRow>;
  readonly grantsExpired: Capped<GrantRow>;
  /** Dashboard sign-ins (`auth.signed_in`), and how many sign-ins were signed out in the period. */
  readonly signIns: Capped<SignInRow>;
  readonly signOuts: number;
  /** Every identity in the period's events, by how it was verified, and the decisions that relied on claims. */
  readonly identities: IdentitySection;
}

/** How an identity was verified (IdentityProof's method): key, SSO, task token, Warden, or claimed. */
export type ProofMethod = 'api_key' | 'oidc' | 'task_token' | 'system' | 'claimed';

/**
 * CC6: the identities named in the period's events (actors, agents, initiators, delegates), grouped by
 * how each was verified, and the decisions that relied on claims nothing verified.
 */
export interface IdentitySection {
  /** Every method, in a fixed order (verified first, `claimed` last), with its counts. */
  readonly byMethod: readonly MethodCounts[];
  /** One row per identity and method, by method then most events first. */
  readonly identities: Capped<IdentityRow>;
  /** Occurrences not listed per identity: names seen after the tracking limit (still in byMethod). */
  readonly untracked: number;
  /**
   * Review decisions (`call.decided` review) whose initiator or a delegate was only claimed, and approval
   * decisions made by a person on a request whose initiator or a delegate was only claimed.
   */
  readonly unverifiedDecisions: Capped<UnverifiedDecisionRow>;
  /** `identity.refused` events, by code and reason. */
  readonly refused: TopList;
  readonly refusedTotal: number;
  /** `identity.roles_changed` events: a person's role or groups changed at sign-in. */
  readonly rolesChanged: number;
}

/** One method: distinct identities verified so, events naming one, and decisions among them. */
export interface MethodCounts {
  readonly method: ProofMethod;
  readonly identities: number;
  readonly events: number;
  /** `call.decided` and `approval.decided` events naming an identity verified so. */
  readonly decisions: number;
}

/** One identity as verified one way: its name, the evidence (key id, issuer and subject), where it stood. */
export interface IdentityRow {
  readonly method: ProofMethod;
  readonly name: string;
  /** The key id, or the issuer and subject; empty for a task token, Warden and a claim. */
  readonly detail: string;
  /** Where it stood in events: actor, agent, initiator, delegate. */
  readonly roles: readonly string[];
  readonly events: number;
  readonly decisions: number;
  readonly firstSeq: number;
}

/** A decision that relied on a claim: what was decided, and which names were only claimed. */
export interface UnverifiedDecisionRow extends EventRef {
  readonly type: 'call.decided' | 'approval.decided';
  /** `review` for a call, the outcome (`approved`, `denied`) for an approval. */
  readonly decided: string;
  readonly approvalId: string | null;
  readonly agent: string | null;
  readonly tool: string | null;
  /** `initiator alice`, `delegate planner`. */
  readonly claimed: readonly string[];
  /** Where the claims were read: the event's own record, or the request's `call.decided` (approvals). */
  readonly from: 'event' | 'request';
}

/** The policy version in force at the end of the period (the last `policy.changed` up to then). */
export interface PolicyAtEnd {
  /** null when no `policy.changed` event exists up to the end of the period. */
  readonly version: string | null;
  readonly name: string | null;
  readonly mode: string | null;
  readonly since: EventRef | null;
  /** Per agent the policy names (and `*`, every other agent), from the stored policy text of that version. */
  readonly agents: readonly AgentRules[] | null;
  /** Why `agents` is missing, when it is. */
  readonly note?: string;
}

/** The rules one agent is subject to, by effect. */
export interface AgentRules extends EffectCounts {
  readonly agent: string;
  readonly rules: number;
  readonly budgets: number;
}

export interface PolicyChangeRow extends EventRef {
  readonly oldVersion: string | null;
  readonly newVersion: string | null;
  readonly name: string | null;
  readonly mode: string | null;
}

export interface KeyCreatedRow extends EventRef {
  readonly keyId: string;
  readonly principal: string;
  readonly principalKind: string;
  readonly role: string;
  readonly expiresAt: string | null;
}

/** A person signed in to the dashboard with a key. */
export interface SignInRow extends EventRef {
  readonly keyId: string | null;
  readonly role: string | null;
  readonly address: string | null;
  readonly expiresAt: string | null;
}

export interface KeyRevokedRow extends EventRef {
  readonly keyId: string;
  /** From the key's `api_key.created` event; null when it is not in the trail (purged). */
  readonly principal: string | null;
  readonly role: string | null;
  readonly reason: string | null;
}

/** A `key.added` or `key.rotated` event: a checkpoint signing key registered. */
export interface SigningKeyRow extends EventRef {
  readonly type: string;
  readonly keyId: string;
}

export interface GrantRow extends EventRef {
  readonly grantId: string;
  readonly agent: string;
  readonly tool: string;
  readonly session: string | null;
  readonly expiresAt: string;
  readonly reason: string | null;
}

export interface GrantRevokedRow extends EventRef {
  readonly grantId: string;
  readonly agent: string | null;
  readonly reason: string | null;
}

/** CC7: what was refused, what tripped, what went unapproved. */
export interface OperationsSection {
  readonly blocked: number;
  readonly blockedByAgent: TopList;
  /** The deciding rule id, or the engine code (`code:SESSION_PAUSED`), or `(default block)`. */
  readonly blockedByRule: TopList;
  readonly breakerTrips: Capped<BreakerRow>;
  readonly budgetExceeded: number;
  readonly approvalsDenied: Capped<ApprovalRow>;
  readonly approvalsExpired: Capped<ApprovalRow>;
}

export interface BreakerRow extends EventRef {
  readonly agent: string | null;
  readonly session: string | null;
  readonly breaker: string;
  readonly reason: string | null;
}

/** One `approval.decided` event, with the separation-of-duties check. */
export interface ApprovalRow extends EventRef {
  readonly approvalId: string;
  readonly agent: string | null;
  readonly triggeredBy: string | null;
  readonly delegationChain: readonly string[];
  readonly tool: string | null;
  readonly outcome: string;
  readonly override: boolean;
  /** The approvers named in the event, or the person whose vote decided it (denied). */
  readonly deciders: readonly string[];
  /** `ok`: no decider is a requester; `violation`: one is; `none`: no person decided (expired, cancelled). */
  readonly sod: 'ok' | 'violation' | 'none';
  readonly reason: string | null;
}

/** Separation of duties: every approval decided and every vote checked, and the refusals. */
export interface SeparationSection {
  readonly decided: Capped<ApprovalRow>;
  readonly outcomes: Readonly<Record<string, number>>;
  /** Approval decisions made by at least one person (approved, denied, overridden). */
  readonly checked: number;
  readonly votesChecked: number;
  readonly violations: Capped<SodViolation>;
  readonly refused: Capped<RefusalRow>;
}

export interface SodViolation extends EventRef {
  readonly type: string;
  readonly approvalId: string | null;
  readonly principal: string;
  readonly requester: string;
}

export interface RefusalRow extends EventRef {
  readonly approvalId: string | null;
  readonly session: string | null;
  readonly agent: string | null;
  /** `vote:approve`, `vote:deny`, `resume` … */
  readonly act: string;
  readonly code: string | null;
  readonly reason: string | null;
}

/** Budget incidents and the pauses they caused, with how each pause ended. */
export interface BudgetSection {
  readonly exceeded: Capped<BudgetRow>;
  readonly alerts: Capped<BudgetRow>;
  readonly pauses: Capped<PauseRow>;
  readonly resolution: { readonly resumed: number; readonly closed: number; readonly open: number };
  readonly raised: Capped<RaiseRow>;
}

export interface BudgetRow extends EventRef {
  readonly agent: string | null;
  readonly session: string | null;
  readonly budgetId: string | null;
  readonly scopeKey: string | null;
  readonly metric: string | null;
  readonly used: number | null;
  readonly limit: number | null;
  readonly threshold: number | null;
}

export interface PauseRow extends EventRef {
  readonly session: string;
  readonly agent: string | null;
  /** BUDGET_EXCEEDED, RUNAWAY_DETECTED, or null for a pause by a person. */
  readonly code: string | null;
  readonly reason: string | null;
  /** How it ended within the period: resumed or closed (by whom, when), or still paused at its end. */
  readonly resolution: 'resumed' | 'closed' | 'open';
  readonly resolvedBy: string | null;
  readonly resolvedAt: string | null;
  readonly resolvedSeq: number | null;
}

export interface RaiseRow extends EventRef {
  readonly session: string | null;
  readonly budgetId: string | null;
  readonly from: number | null;
  readonly to: number | null;
}

/** The chain verification of the whole store and the checkpoint that vouches for the period. */
export interface IntegritySection {
  readonly verify: VerifyReport;
  /** Whose keys the verification trusted: those registered in the database, or ones given in a file. */
  readonly trustedKeys: 'database' | 'file';
  /** The first signed checkpoint at or after the period's last event; null when none yet (or no events). */
  readonly covering: CheckpointRow | null;
  /** Signed checkpoints whose seq falls inside the period's events. */
  readonly checkpointsInPeriod: number;
}

export interface CheckpointRow {
  readonly seq: number;
  /** The first seq it vouches for (the oldest stored event, or 1). */
  readonly fromSeq: number;
  readonly ts: string;
  readonly kind: string;
  readonly keyId: string;
  readonly hash: string;
}
