import { WardenError } from '../errors/warden-error.js';
import type { ApprovalRecord, ApprovalVote, Voter } from './approval-record.js';
import { approvalLetsRun, usableUntil } from './approval-record.js';
import { describeApprovers, eligibleFor, tally } from './approval-tally.js';
import { normalName, type Stake, selfApproval } from './separation-of-duties.js';

/**
 * Every change an approval request can go through, as pure functions from one version to the next. Each
 * returns the next record (version + 1) or throws a WardenError saying why the change is refused; the
 * engine commits the result only over the version it read, so two decisions racing cannot both land.
 */

/** What opens a request: the decided call and the requirements of the review rules that matched. */
export type ApprovalOpening = Pick<
  ApprovalRecord,
  | 'id'
  | 'callId'
  | 'agent'
  | 'session'
  | 'tool'
  | 'args'
  | 'argsHmac'
  | 'callHmac'
  | 'argsFlags'
  | 'target'
  | 'ruleId'
  | 'policyVersion'
  | 'reasons'
  | 'triggeredBy'
  | 'delegationChain'
  | 'requirements'
> & {
  readonly approverGroups: ReadonlyMap<string, readonly string[]>;
  readonly now: Date;
};

/** A new pending request. Expiry is the shortest timeout of its requirements, escalation the earliest. */
export function openApproval(o: ApprovalOpening): ApprovalRecord {
  if (o.requirements.length === 0)
    throw new WardenError('INTERNAL', 'an approval request needs a requirement');
  const t = o.now.getTime();
  const timeout = Math.min(...o.requirements.map((r) => r.timeoutMs));
  const escalations = o.requirements.flatMap((r) => (r.escalate ? [r.escalate.afterMs] : []));
  const named = new Set(
    o.requirements.flatMap((r) => [
      ...r.approvers.groups,
      ...r.requireEach,
      ...(r.escalate?.to.groups ?? []),
    ]),
  );
  const groups = Object.fromEntries([...named].map((g) => [g, [...(o.approverGroups.get(g) ?? [])]]));
  const ts = o.now.toISOString();
  return {
    id: o.id,
    callId: o.callId,
    version: 1,
    status: 'pending',
    agent: o.agent,
    session: o.session,
    tool: o.tool,
    args: o.args,
    argsHmac: o.argsHmac,
    ...(o.callHmac ? { callHmac: o.callHmac } : {}),
    ...(o.argsFlags?.length ? { argsFlags: [...o.argsFlags] } : {}),
    target: o.target,
    ruleId: o.ruleId,
    policyVersion: o.policyVersion,
    reasons: [...o.reasons],
    triggeredBy: o.triggeredBy,
    delegationChain: [...o.delegationChain],
    requirements: o.requirements,
    groups,
    requireReason: o.requirements.some((r) => r.requireReason),
    onTimeout: o.requirements.every((r) => r.onTimeout === 'allow') ? 'allow' : 'block',
    createdAt: ts,
    expiresAt: new Date(t + timeout).toISOString(),
    escalateAt: escalations.length ? new Date(t + Math.min(...escalations)).toISOString() : null,
    escalated: false,
    escalatedRequirements: [],
    votes: [],
    decidedAt: null,
    decidedBy: null,
    outcomeReason: null,
    override: false,
    usedAt: null,
    usedByCall: null,
    updatedAt: ts,
  };
}

/** The stake of a request: its agent, the human who triggered it and its delegation chain. */
export function stakeOf(a: Pick<ApprovalRecord, 'agent' | 'triggeredBy' | 'delegationChain'>): Stake {
  return { agent: a.agent, triggeredBy: a.triggeredBy, delegationChain: a.delegationChain };
}

/** What is due on a pending request at `now`: expiry first, then escalation. */
export function dueAction(a: ApprovalRecord, now: Date): 'expire' | 'escalate' | undefined {
  if (a.status !== 'pending') return undefined;
  if (now.getTime() >= Date.parse(a.expiresAt)) return 'expire';
  if (a.escalateAt && now.getTime() >= Date.parse(a.escalateAt)) return 'escalate';
  return undefined;
}

function requirePending(a: ApprovalRecord, now: Date): void {
  if (a.status !== 'pending') {
    throw new WardenError(
      'APPROVAL_DECIDED',
      `approval ${a.id} is ${a.status}; it can no longer be decided`,
      {
        status: a.status,
      },
    );
  }
  if (now.getTime() >= Date.parse(a.expiresAt)) {
    throw new WardenError('APPROVAL_DECIDED', `approval ${a.id} expired at ${a.expiresAt}`, {
      status: 'expired',
    });
  }
}

function next(a: ApprovalRecord, now: Date, patch: Partial<ApprovalRecord>): ApprovalRecord {
  return { ...a, ...patch, version: a.version + 1, updatedAt: now.toISOString() };
}

/**
 * Why `voter` may not vote on `a`, or undefined when they may. Separation of duties comes first, so a
 * requester always learns the real reason; `extraStakes` adds the session's.
 */
export function voteRefusal(
  a: ApprovalRecord,
  voter: Voter,
  extraStakes: readonly Stake[] = [],
): WardenError | undefined {
  const sod = selfApproval(voter, `decide approval ${a.id}`, stakeOf(a), ...extraStakes);
  if (sod) return sod;
  if (a.requirements.some((r) => eligibleFor(a, r, voter))) return undefined;
  const requires = describeApprovers(a);
  const why =
    voter.kind === 'agent'
      ? `an agent key cannot vote unless the rule names that agent as an approver`
      : voter.kind === 'service'
        ? 'a service key cannot vote; approvals come from people'
        : `${voter.id} (role ${voter.role}) is not among the approvers this request needs`;
  return new WardenError('APPROVAL_NOT_ELIGIBLE', `${why}: it needs ${requires}`, { requires });
}

/** Records one vote; the request is decided when the votes meet every requirement or reach a denial. */
export function castVote(
  a: ApprovalRecord,
  voter: Voter,
  vote: ApprovalVote['vote'],
  opts: { reason?: string; via?: string; now: Date; extraStakes?: readonly Stake[] },
): ApprovalRecord {
  requirePending(a, opts.now);
  const refusal = voteRefusal(a, voter, opts.extraStakes);
  if (refusal) throw refusal;
  if (a.votes.some((v) => normalName(v.principal) === normalName(voter.id))) {
    throw new WardenError('APPROVAL_ALREADY_VOTED', `${voter.id} has already voted on approval ${a.id}`);
  }
  const reason = opts.reason?.trim();
  if (a.requireReason && !reason) {
    throw new WardenError('APPROVAL_REASON_REQUIRED', `approval ${a.id} requires a reason with every vote`);
  }
  const cast: ApprovalVote = {
    principal: voter.id,
    kind: voter.kind,
    role: voter.role,
    vote,
    ...(reason ? { reason } : {}),
    ts: opts.now.toISOString(),
    ...(opts.via ? { via: opts.via } : {}),
    ...(voter.groups && voter.groups.length > 0 ? { groups: [...voter.groups] } : {}),
    ...(voter.issuer && voter.subject
      ? { issuer: voter.issuer, subject: voter.subject }
      : voter.keyId
        ? { keyId: voter.keyId }
        : {}),
  };
  const voted = { ...a, votes: [...a.votes, cast] };
  const { outcome } = tally(voted);
  return next(a, opts.now, {
    votes: voted.votes,
    ...(outcome ? decided(outcome, voter.id, reason || null, opts.now) : {}),
  });
}

function decided(status: ApprovalRecord['status'], by: string | null, reason: string | null, now: Date) {
  return { status, decidedAt: now.toISOString(), decidedBy: by, outcomeReason: reason };
}

/**
 * An admin decides alone, whatever the quorum: a separate act, always with a reason, and still never
 * by someone with a stake in the request.
 */
export function overrideApproval(
  a: ApprovalRecord,
  admin: Voter,
  decision: 'approve' | 'deny',
  opts: { reason: string; now: Date; extraStakes?: readonly Stake[] },
): ApprovalRecord {
  requirePending(a, opts.now);
  const sod = selfApproval(admin, `override approval ${a.id}`, stakeOf(a), ...(opts.extraStakes ?? []));
  if (sod) throw sod;
  if (admin.kind !== 'human' || admin.role !== 'admin') {
    throw new WardenError('APPROVAL_NOT_ELIGIBLE', 'only a person with the admin role can override');
  }
  const reason = opts.reason.trim();
  if (!reason) throw new WardenError('APPROVAL_REASON_REQUIRED', 'an override needs a reason');
  return next(a, opts.now, {
    override: true,
    ...decided(decision === 'approve' ? 'approved' : 'denied', admin.id, reason, opts.now),
  });
}

/** The timeout passed: expired (blocks unless every requirement says `onTimeout: allow`). */
export function expireApproval(a: ApprovalRecord, now: Date): ApprovalRecord {
  if (a.status !== 'pending') throw new WardenError('APPROVAL_DECIDED', `approval ${a.id} is ${a.status}`);
  if (now.getTime() < Date.parse(a.expiresAt)) {
    throw new WardenError('APPROVAL_DECIDED', `approval ${a.id} does not expire until ${a.expiresAt}`);
  }
  return next(a, now, decided('expired', null, `no decision by ${a.expiresAt}`, now));
}

/**
 * Widens the approver set of every requirement whose escalation time has come. The votes already cast
 * are counted again against the wider sets, so a request they now satisfy is decided at once.
 */
export function escalateApproval(a: ApprovalRecord, now: Date): ApprovalRecord {
  requirePending(a, now);
  if (!a.escalateAt || now.getTime() < Date.parse(a.escalateAt)) {
    throw new WardenError('APPROVAL_DECIDED', `approval ${a.id} has no escalation due`);
  }
  const created = Date.parse(a.createdAt);
  const done = new Set(a.escalatedRequirements ?? []);
  const waiting: number[] = [];
  a.requirements.forEach((r, i) => {
    if (!r.escalate || done.has(i)) return;
    if (created + r.escalate.afterMs <= now.getTime()) done.add(i);
    else waiting.push(created + r.escalate.afterMs);
  });
  const widened = {
    ...a,
    escalatedRequirements: [...done].sort((x, y) => x - y),
    escalateAt: waiting.length ? new Date(Math.min(...waiting)).toISOString() : null,
    escalated: waiting.length === 0,
  };
  const { outcome } = tally(widened);
  const last = a.votes.at(-1);
  return next(a, now, {
    escalatedRequirements: widened.escalatedRequirements,
    escalateAt: widened.escalateAt,
    escalated: widened.escalated,
    ...(outcome ? decided(outcome, last?.principal ?? null, last?.reason ?? null, now) : {}),
  });
}

/** The requester withdrew the request (or an admin did); an approved one not yet used becomes void. */
export function cancelApproval(
  a: ApprovalRecord,
  by: string,
  reason: string | null,
  now: Date,
): ApprovalRecord {
  // An approval not yet used can be withdrawn too: it becomes void, so one granted in error is not used.
  if (approvalLetsRun(a)) {
    const why = `withdrawn by ${by}${reason ? `: ${reason}` : ''}`;
    return next(a, now, { status: 'voided', outcomeReason: why });
  }
  requirePending(a, now);
  return next(a, now, decided('cancelled', by, reason, now));
}

/** The approved call is going ahead: an approval is used once, by the call it was granted for. */
export function useApproval(a: ApprovalRecord, callId: string, now: Date): ApprovalRecord {
  if (a.status === 'used') {
    throw new WardenError('APPROVAL_DECIDED', `approval ${a.id} was already used by call ${a.usedByCall}`, {
      status: a.status,
    });
  }
  if (!approvalLetsRun(a)) {
    throw new WardenError('APPROVAL_DECIDED', `approval ${a.id} is ${a.status}; the call may not run`, {
      status: a.status,
    });
  }
  const until = usableUntil(a) ?? a.expiresAt;
  if (now.getTime() > Date.parse(until)) {
    throw new WardenError('APPROVAL_DECIDED', `approval ${a.id} was not used by ${until}; ask again`, {
      status: 'unused',
    });
  }
  return next(a, now, { status: 'used', usedAt: now.toISOString(), usedByCall: callId });
}

/** The approved call was presented changed: the approval is void and cannot be used. */
export function voidApproval(a: ApprovalRecord, reason: string, now: Date): ApprovalRecord {
  if (a.status !== 'approved') {
    throw new WardenError(
      'APPROVAL_DECIDED',
      `approval ${a.id} is ${a.status}; only an approved one is voided`,
    );
  }
  return next(a, now, { status: 'voided', outcomeReason: reason });
}
