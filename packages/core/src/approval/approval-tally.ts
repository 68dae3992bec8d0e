import type { ApprovalRequirement } from '../policy/compiled-policy.js';
import type { ApprovalRecord, ApprovalVote, RequirementProgress, Voter } from './approval-record.js';
import { normalName } from './separation-of-duties.js';

/**
 * Who may vote on a request and where the votes stand. Pure: the engine reads the request, these say what
 * a vote means, and the engine commits the result only over the version it read.
 */

/** Key roles whose holders may vote at all; agents only where a rule names them, auditors never. */
const VOTING_ROLES = new Set(['approver', 'admin']);

type Approvers = ApprovalRequirement['approvers'];

/** The approver set of a requirement, widened by its escalation once the request has escalated. */
export function effectiveApprovers(r: ApprovalRequirement, escalated: boolean): Approvers {
  if (!escalated || !r.escalate) return r.approvers;
  const to = r.escalate.to;
  const join = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])];
  return {
    roles: join(r.approvers.roles, to.roles),
    principals: join(r.approvers.principals, to.principals),
    groups: join(r.approvers.groups, to.groups),
    agents: join(r.approvers.agents, to.agents),
  };
}

type Escalation = Pick<ApprovalRecord, 'escalated' | 'escalatedRequirements' | 'requirements'>;

/** Whether requirement `r` of the request has escalated (each requirement escalates on its own clock). */
export function hasEscalated(a: Partial<Escalation>, r: ApprovalRequirement): boolean {
  if (!r.escalate) return false;
  if (!a.escalatedRequirements) return a.escalated === true;
  const i = a.requirements?.indexOf(r) ?? -1;
  return i >= 0 && a.escalatedRequirements.includes(i);
}

function memberOf(
  a: Pick<ApprovalRecord, 'groups'>,
  group: string,
  who: string,
  idpGroups: readonly string[] = [],
): boolean {
  // An IdP approver group counts as the policy group of the same name (read at the person's sign-in).
  return idpGroups.includes(group) || (a.groups[group] ?? []).some((m) => normalName(m) === who);
}

/**
 * Whether `voter` counts for requirement `r`. Humans need a voting role and must match a listed role,
 * principal, approver group (or a group that must each approve); agents must be listed by name.
 * Separation of duties is checked before this, by the caller.
 */
export function eligibleFor(
  a: Pick<ApprovalRecord, 'groups'> & Partial<Escalation>,
  r: ApprovalRequirement,
  voter: Pick<Voter, 'kind' | 'id' | 'role' | 'groups'>,
): boolean {
  const set = effectiveApprovers(r, hasEscalated(a, r));
  const who = normalName(voter.id);
  if (voter.kind === 'agent') return set.agents.some((x) => normalName(x) === who);
  if (voter.kind !== 'human' || !VOTING_ROLES.has(voter.role)) return false;
  if (set.roles.includes(voter.role)) return true;
  if (set.principals.some((p) => normalName(p) === who)) return true;
  return [...set.groups, ...r.requireEach].some((g) => memberOf(a, g, who, voter.groups));
}

/** Progress of one requirement given the votes cast so far. */
export function requirementProgress(
  a: Pick<ApprovalRecord, 'groups'> & Partial<Escalation>,
  r: ApprovalRequirement,
  votes: readonly ApprovalVote[],
): RequirementProgress {
  const counted = (kind: ApprovalVote['vote']) => {
    const names = new Map<string, readonly string[]>();
    for (const v of votes) {
      const voter = {
        kind: v.kind,
        id: v.principal,
        role: v.role,
        ...(v.groups ? { groups: v.groups } : {}),
      };
      if (v.vote === kind && eligibleFor(a, r, voter)) {
        names.set(normalName(v.principal), v.groups ?? []);
      }
    }
    return names;
  };
  const approvers = counted('approve');
  const denials = counted('deny').size;
  const missingGroups = unmatchedGroups(a, r.requireEach, approvers);
  return {
    approvals: approvers.size,
    quorum: r.quorum,
    missingGroups,
    denials,
    denyThreshold: r.denyThreshold,
    met: approvers.size >= r.quorum && missingGroups.length === 0,
  };
}

/** Where a request stands: approved once every requirement is met, denied once any reaches its denials. */
export function tally(
  a: Pick<ApprovalRecord, 'groups' | 'escalated' | 'requirements' | 'votes'> & Partial<Escalation>,
): {
  outcome: 'approved' | 'denied' | undefined;
  progress: RequirementProgress[];
} {
  const progress = a.requirements.map((r) => requirementProgress(a, r, a.votes));
  if (progress.some((p) => p.denials >= p.denyThreshold)) return { outcome: 'denied', progress };
  if (progress.length > 0 && progress.every((p) => p.met)) return { outcome: 'approved', progress };
  return { outcome: undefined, progress };
}

/** Who may vote, in words, for error messages and notifications. */
export function describeApprovers(
  a: Pick<ApprovalRecord, 'requirements' | 'escalated'> & Partial<Escalation>,
): string {
  const parts = a.requirements.map((r) => {
    const s = effectiveApprovers(r, hasEscalated(a, r));
    const who = [
      ...s.roles.map((x) => `role ${x}`),
      ...s.principals,
      ...s.groups.map((g) => `group ${g}`),
      ...s.agents.map((x) => `agent ${x}`),
    ];
    const each = r.requireEach.length ? `, one from each of ${r.requireEach.join(', ')}` : '';
    return `${r.quorum} of ${who.join(' / ') || 'nobody'}${each}`;
  });
  return parts.join('; and ');
}

/**
 * The groups that must each approve and have no approver of their own: every group needs a different
 * person (one DBA and one security reviewer are two people, even if someone belongs to both groups).
 * A small bipartite matching; the group lists are short.
 */
function unmatchedGroups(
  a: Pick<ApprovalRecord, 'groups'>,
  groups: readonly string[],
  people: ReadonlyMap<string, readonly string[]>,
): string[] {
  if (groups.length === 0) return [];
  const owner = new Map<string, string>();
  const assign = (g: string, seen: Set<string>): boolean => {
    for (const [who, idpGroups] of people) {
      if (seen.has(who) || !memberOf(a, g, who, idpGroups)) continue;
      seen.add(who);
      const prev = owner.get(who);
      if (prev === undefined || assign(prev, seen)) {
        owner.set(who, g);
        return true;
      }
    }
    return false;
  };
  return groups.filter((g) => !assign(g, new Set()));
}
