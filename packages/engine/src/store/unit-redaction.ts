import { type ApprovalRecord, redactEvent, redactStored } from '@warden/core';
import type { CommitUnit, Mutation } from './store.js';

/**
 * The redaction every commit passes before anything is hashed or written: each event whole (see
 * redactEvent), and the human text that state rows carry beside them (reasons, votes, labels, delivery
 * errors). Ids, hashes, times and the policy sources stay exact: they are validated where they enter
 * (a caller's id that looks like a credential is refused, CALL_INVALID) or are Warden's own.
 */
export function redactUnit(unit: CommitUnit, fields: readonly string[]): CommitUnit {
  let events = unit.events;
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as CommitUnit['events'][number];
    const safe = redactEvent(event, fields);
    if (safe === event) continue;
    if (events === unit.events) events = [...unit.events];
    (events as CommitUnit['events'][number][])[i] = safe;
  }
  const mutations = unit.mutations?.map((m) => redactMutation(m, fields));
  const changed = events !== unit.events || mutations?.some((m, i) => m !== unit.mutations?.[i]);
  // The unit committed in place of a refused reservation is built inside the commit: redacted as built.
  const onRefused = unit.onRefused;
  const alternate = onRefused ? { onRefused: redactRefused(onRefused, fields) } : {};
  if (!changed && !onRefused) return unit;
  return { ...unit, events, ...(mutations ? { mutations } : {}), ...alternate };
}

/** `onRefused`, its unit passed through redactUnit before the store sees it. */
function redactRefused(
  onRefused: NonNullable<CommitUnit['onRefused']>,
  fields: readonly string[],
): NonNullable<CommitUnit['onRefused']> {
  return (refused) => redactUnit(onRefused(refused), fields);
}

/** Text redacted as stored; null and undefined stay as they are. */
function text<T extends string | null | undefined>(s: T, fields: readonly string[]): T {
  if (typeof s !== 'string' || s.length < 3) return s;
  const r = redactStored(s, fields);
  return (r.redactions.length === 0 ? s : String(r.value)) as T;
}

/** A mutation with the free text of its row redacted; the same object when nothing changed. */
function redactMutation(m: Mutation, fields: readonly string[]): Mutation {
  switch (m.kind) {
    case 'session.state': {
      const reason = text(m.reason, fields);
      return reason === m.reason ? m : { ...m, reason };
    }
    case 'session.ensure': {
      const stateReason = text(m.session.stateReason, fields);
      return stateReason === m.session.stateReason ? m : { ...m, session: { ...m.session, stateReason } };
    }
    case 'legal_hold.place': {
      const reason = text(m.hold.reason, fields);
      return reason === m.hold.reason ? m : { ...m, hold: { ...m.hold, reason } };
    }
    case 'api_key.create': {
      const label = text(m.key.label, fields);
      return label === m.key.label ? m : { ...m, key: { ...m.key, label } };
    }
    case 'grant.add': {
      // Agent, tool glob and session are matched against calls whose ids cannot look like credentials
      // (refused at check), so redacting them loses nothing. `when` stays: it is a condition to compile.
      const { agent, tool, session, reason } = m.grant;
      const r = redactStored({ agent, tool, session, reason }, fields);
      return r.redactions.length === 0 ? m : { ...m, grant: { ...m.grant, ...(r.value as object) } };
    }
    case 'notification.finish': {
      const lastError = text(m.lastError, fields);
      return lastError === m.lastError ? m : { ...m, lastError };
    }
    case 'approval.save': {
      const approval = redactApproval(m.approval, fields);
      return approval === m.approval ? m : { ...m, approval };
    }
    case 'notification.enqueue': {
      const lastError = text(m.notification.lastError, fields);
      return lastError === m.notification.lastError
        ? m
        : { ...m, notification: { ...m.notification, lastError } };
    }
    // Ids, times, counts and Warden's own records (the policy source and hash, a signing key's PEM).
    case 'legal_hold.release':
    case 'key.register':
    case 'audit.purge':
    case 'state.purge':
    case 'api_key.revoke':
    case 'policy.store':
    case 'grant.revoke':
    case 'budget.release':
    case 'budget.expire':
      return m;
    // The IdP's word on a person (issuer, subject, email, groups): identities, not call content.
    case 'person.upsert':
      return m;
    // Counter keys: budgetLines builds them from labels already redacted (see storedLabel in budget-plan),
    // and reservations are written with the same keys outside this path, so they must stay byte-equal here.
    case 'budget.settle':
    case 'budget.alert':
    case 'budget.limit':
      return m;
    default: {
      // Unreachable while the switch covers Mutation (the assignment fails to type-check otherwise): a new
      // kind must be classified here before it can be committed at all.
      const unclassified: never = m;
      throw new Error(
        `mutation kind "${(unclassified as { kind: string }).kind}" is not classified for redaction`,
      );
    }
  }
}

/** The request's human text: policy reasons (a grant's reason can be among them), votes, the outcome's reason. */
function redactApproval(a: ApprovalRecord, fields: readonly string[]): ApprovalRecord {
  const human = {
    args: a.args,
    target: a.target,
    reasons: a.reasons,
    votes: a.votes,
    outcomeReason: a.outcomeReason,
  };
  const r = redactStored(human, fields);
  if (r.redactions.length === 0) return a;
  return { ...a, ...(r.value as Partial<ApprovalRecord>) };
}
