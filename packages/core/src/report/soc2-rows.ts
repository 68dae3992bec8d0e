import { hasStake, normalName, stakeholders } from '../approval/separation-of-duties.js';
import type { AuditEvent, AuditRecord } from '../audit/audit-event.js';
import type {
  ApprovalRow,
  BreakerRow,
  BudgetRow,
  EventRef,
  GrantRevokedRow,
  GrantRow,
  PolicyChangeRow,
  RaiseRow,
  RefusalRow,
  SigningKeyRow,
} from './soc2-report.js';

/**
 * Event → report row. Event data is loosely typed (`data` is a record), so every field is read
 * defensively: a missing or oddly typed field becomes null rather than a crash.
 */

/** A string field of the event's data, or null. */
export function str(e: AuditEvent, key: string): string | null {
  const v = e.data?.[key];
  return typeof v === 'string' ? v : null;
}

/** A number field of the event's data, or null. */
export function num(e: AuditEvent, key: string): number | null {
  const v = e.data?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Where a row comes from: seq, time and `kind:id` of the actor. */
export function refOf(r: AuditRecord): EventRef {
  return { seq: r.seq, ts: r.event.ts, by: `${r.event.actor.kind}:${r.event.actor.id}` };
}

export function policyChangeRow(r: AuditRecord): PolicyChangeRow {
  const e = r.event;
  return {
    ...refOf(r),
    oldVersion: str(e, 'oldVersion'),
    newVersion: str(e, 'newVersion'),
    name: str(e, 'name'),
    mode: str(e, 'mode'),
  };
}

export function grantRow(r: AuditRecord): GrantRow {
  const e = r.event;
  return {
    ...refOf(r),
    grantId: str(e, 'grantId') ?? '',
    agent: e.agent ?? '',
    tool: str(e, 'tool') ?? '',
    session: e.session ?? null,
    expiresAt: str(e, 'expiresAt') ?? '',
    reason: str(e, 'reason'),
  };
}

export function grantRevokedRow(r: AuditRecord): GrantRevokedRow {
  const e = r.event;
  return { ...refOf(r), grantId: str(e, 'grantId') ?? '', agent: e.agent ?? null, reason: str(e, 'reason') };
}

export function signingKeyRow(r: AuditRecord): SigningKeyRow {
  return { ...refOf(r), type: r.event.type, keyId: str(r.event, 'keyId') ?? '' };
}

export function raiseRow(r: AuditRecord): RaiseRow {
  const e = r.event;
  return {
    ...refOf(r),
    session: e.session ?? null,
    budgetId: str(e, 'budgetId'),
    from: num(e, 'from'),
    to: num(e, 'to'),
  };
}

export function breakerRow(r: AuditRecord): BreakerRow {
  const e = r.event;
  return {
    ...refOf(r),
    agent: e.agent ?? null,
    session: e.session ?? null,
    breaker: str(e, 'breaker') ?? 'unknown',
    reason: str(e, 'reason'),
  };
}

export function budgetRow(r: AuditRecord): BudgetRow {
  const e = r.event;
  return {
    ...refOf(r),
    agent: e.agent ?? null,
    session: e.session ?? null,
    budgetId: str(e, 'budgetId'),
    scopeKey: str(e, 'scopeKey'),
    metric: str(e, 'metric'),
    used: num(e, 'used'),
    limit: num(e, 'limit'),
    threshold: num(e, 'threshold'),
  };
}

export function refusalRow(r: AuditRecord): RefusalRow {
  const e = r.event;
  const vote = str(e, 'vote');
  return {
    ...refOf(r),
    approvalId: str(e, 'approvalId'),
    session: e.session ?? null,
    agent: e.agent ?? null,
    act: str(e, 'act') ?? (vote ? `vote:${vote}` : 'unknown'),
    code: str(e, 'code'),
    reason: str(e, 'reason'),
  };
}

/** Everyone with a stake in the request the event is about: its agent, trigger and delegation chain. */
export function requestStake(e: AuditEvent): string[] {
  return stakeholders({
    agent: e.agent ?? '',
    triggeredBy: e.triggeredBy ?? null,
    delegationChain: e.delegationChain ?? [],
  });
}

/** The first of `people` who is also a requester (compared as separation of duties compares), if any. */
export function firstConflict(people: readonly string[], stake: readonly string[]): string | undefined {
  return people.find((p) => hasStake(stake, p));
}

/**
 * An `approval.decided` event as a row. The deciders are the approvers the event names; a denial by
 * vote or override names the person whose act decided it (its actor). Expiry and cancellation are
 * decided by no approver, so there is nothing to check.
 */
export function approvalRow(r: AuditRecord): ApprovalRow {
  const e = r.event;
  const outcome = str(e, 'outcome') ?? 'unknown';
  const personal = outcome === 'approved' || outcome === 'denied';
  const actor = personal && e.actor.kind !== 'system' ? [e.actor.id] : [];
  const deciders = uniqueNames([...(e.approvers ?? []), ...actor]);
  const conflict = firstConflict(deciders, requestStake(e));
  return {
    ...refOf(r),
    approvalId: str(e, 'approvalId') ?? '',
    agent: e.agent ?? null,
    triggeredBy: e.triggeredBy ?? null,
    delegationChain: e.delegationChain ?? [],
    tool: e.tool ?? null,
    outcome,
    override: e.data?.override === true,
    deciders,
    sod: deciders.length === 0 ? 'none' : conflict === undefined ? 'ok' : 'violation',
    reason: str(e, 'reason'),
  };
}

/** Each person once, as first spelt (the approvers and the actor often name the same person). */
function uniqueNames(names: readonly string[]): string[] {
  const seen = new Set<string>();
  return names.filter((name) => {
    const key = normalName(name);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Why a call was blocked, as one name: the engine code, else the deciding rule, else the default. */
export function blockCause(e: AuditEvent): string {
  const d = e.decision;
  if (d?.code) return `code ${d.code}`;
  if (d?.ruleId) return `rule ${d.ruleId}`;
  return 'default block (no rule matched)';
}
