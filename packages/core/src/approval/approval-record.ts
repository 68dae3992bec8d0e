import { APPROVAL_STATUSES, type ApprovalStatus } from '@warden/api';
import type { ApprovalRequirement } from '../policy/compiled-policy.js';

/**
 * An approval request as stored: bound to one decided call, with everything needed to decide it without
 * consulting the policy again (the requirements and the approver groups as they were when it opened).
 */

/** pending → approved | denied | expired | cancelled; approved → used | voided (a wire word: see @warden/api). */
export { APPROVAL_STATUSES, type ApprovalStatus };

/** Who is voting, from the authenticated key, never from the request body. */
export interface Voter {
  readonly kind: 'agent' | 'human' | 'service';
  readonly id: string;
  /** The key's role (agent, approver, admin, auditor). */
  readonly role: string;
  /** The API key that is voting, recorded in the audit actor (absent only where no key is involved). */
  readonly keyId?: string;
  /** A person signed in through the IdP: its issuer and subject (their verified identity). */
  readonly issuer?: string;
  readonly subject?: string;
  /**
   * The IdP approver groups the person had at their last sign-in: each counts as membership of the
   * policy approver group of the same name.
   */
  readonly groups?: readonly string[];
}

export interface ApprovalVote {
  readonly principal: string;
  readonly kind: Voter['kind'];
  readonly role: string;
  readonly vote: 'approve' | 'deny';
  readonly reason?: string;
  readonly ts: string;
  /** The channel the vote came through (api, cli, link, dashboard). */
  readonly via?: string;
  /** An SSO person's IdP approver groups when they voted (kept, so a recount counts the vote alike). */
  readonly groups?: readonly string[];
  /** An SSO person's issuer and subject. */
  readonly issuer?: string;
  readonly subject?: string;
  /** The API key it was cast with (a person voting with a key), so the same key cannot vote twice under another name. */
  readonly keyId?: string;
}

export interface ApprovalRecord {
  readonly id: string;
  readonly callId: string;
  /** Bumped on every change: a change commits only over the version it was computed from. */
  readonly version: number;
  readonly status: ApprovalStatus;
  readonly agent: string;
  readonly session: string;
  readonly tool: string;
  /** The arguments as the audit stores them: redacted and capped. */
  readonly args: unknown;
  /** HMAC-SHA256 of the unredacted arguments: the approval binds to exactly these. */
  readonly argsHmac: string;
  /**
   * HMAC-SHA256 of the whole call as the policy and separation of duties see it (tool, arguments, target,
   * labels, triggeredBy, delegation chain): a redeemed call must match it, not only its arguments.
   */
  readonly callHmac?: string;
  /** Set when the stored arguments were capped or cut: the approver did not see all of them. */
  readonly argsFlags?: readonly string[];
  readonly target: string | null;
  readonly ruleId: string | null;
  readonly policyVersion: string;
  readonly reasons: readonly string[];
  readonly triggeredBy: string | null;
  readonly delegationChain: readonly string[];
  /** Every requirement of the review rules that matched; all must be met. */
  readonly requirements: readonly ApprovalRequirement[];
  /** Members of the approver groups the requirements name, as they were at request time. */
  readonly groups: Readonly<Record<string, readonly string[]>>;
  readonly requireReason: boolean;
  /** What expiry means: `allow` only when every requirement says so. */
  readonly onTimeout: 'block' | 'allow';
  readonly createdAt: string;
  readonly expiresAt: string;
  /** When the next escalation is due; null once every requirement with an escalation has escalated. */
  readonly escalateAt: string | null;
  /** True once every escalation has happened (the due-escalation lookup skips the request). */
  readonly escalated: boolean;
  /** Indexes into `requirements` of those whose escalation has happened: each escalates on its own clock. */
  readonly escalatedRequirements?: readonly number[];
  readonly votes: readonly ApprovalVote[];
  readonly decidedAt: string | null;
  readonly decidedBy: string | null;
  readonly outcomeReason: string | null;
  /** Decided by an admin override rather than by the votes. */
  readonly override: boolean;
  readonly usedAt: string | null;
  readonly usedByCall: string | null;
  readonly updatedAt: string;
}

/** How far each requirement has got. */
export interface RequirementProgress {
  readonly approvals: number;
  readonly quorum: number;
  /** Groups that must each approve and have not yet. */
  readonly missingGroups: readonly string[];
  readonly denials: number;
  readonly denyThreshold: number;
  readonly met: boolean;
}

/** Whether an approval lets its call run: approved (and not yet used), or expired where expiry allows. */
export function approvalLetsRun(a: Pick<ApprovalRecord, 'status' | 'onTimeout'>): boolean {
  return a.status === 'approved' || (a.status === 'expired' && a.onTimeout === 'allow');
}

/**
 * Until when a decided approval can be used: as long again as the request had to be decided, counted
 * from the decision. An approval nobody uses does not stay a standing permission.
 */
export function usableUntil(a: Pick<ApprovalRecord, 'createdAt' | 'expiresAt' | 'decidedAt'>): string | null {
  if (!a.decidedAt) return null;
  const window = Date.parse(a.expiresAt) - Date.parse(a.createdAt);
  return new Date(Date.parse(a.decidedAt) + window).toISOString();
}
