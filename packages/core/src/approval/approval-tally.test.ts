import { describe, expect, it } from 'vitest';
import { BUILTIN_APPROVAL, resolveApproval } from '../policy/approval-requirement.js';
import type { ApprovalRequirement } from '../policy/compiled-policy.js';
import type { ApprovalRecord, ApprovalVote, Voter } from './approval-record.js';
import {
  describeApprovers,
  effectiveApprovers,
  eligibleFor,
  requirementProgress,
  tally,
} from './approval-tally.js';

type Approvers = ApprovalRequirement['approvers'];

const GROUPS: ApprovalRecord['groups'] = {
  finance: ['Fiona', 'frank'],
  security: ['sec-sue', ' Frank '],
  oncall: ['olga'],
};

function set(over: Partial<Approvers> = {}): Approvers {
  return { roles: [], principals: [], groups: [], agents: [], ...over };
}

function req(over: Partial<ApprovalRequirement> = {}): ApprovalRequirement {
  return { ...BUILTIN_APPROVAL, ...over };
}

const human = (id: string, role = 'approver'): Voter => ({ kind: 'human', id, role });
const agent = (id: string): Voter => ({ kind: 'agent', id, role: 'agent' });
const service = (id: string, role = 'admin'): Voter => ({ kind: 'service', id, role });

function vote(v: Voter, kind: ApprovalVote['vote'] = 'approve'): ApprovalVote {
  return { principal: v.id, kind: v.kind, role: v.role, vote: kind, ts: '2025-01-01T00:00:00.000Z' };
}

const rec = (escalated = false) => ({ groups: GROUPS, escalated });

describe('effectiveApprovers', () => {
  const r = req({
    approvers: set({ roles: ['approver'], principals: ['alice'] }),
    escalate: {
      afterMs: 60_000,
      to: set({ roles: ['admin'], principals: ['alice', 'boss'], groups: ['oncall'] }),
    },
  });

  it('is the listed set before escalation', () => {
    expect(effectiveApprovers(r, false)).toBe(r.approvers);
  });

  it('adds the escalation targets after escalation, without duplicates', () => {
    expect(effectiveApprovers(r, true)).toEqual({
      roles: ['approver', 'admin'],
      principals: ['alice', 'boss'],
      groups: ['oncall'],
      agents: [],
    });
  });

  it('is unchanged by escalation when the requirement has no escalation', () => {
    const plain = req();
    expect(effectiveApprovers(plain, true)).toBe(plain.approvers);
  });
});

describe('eligibleFor', () => {
  it('accepts a human whose voting role is listed', () => {
    expect(eligibleFor(rec(), BUILTIN_APPROVAL, human('alice', 'approver'))).toBe(true);
    const admins = req({ approvers: set({ roles: ['admin'] }) });
    expect(eligibleFor(rec(), admins, human('root', 'admin'))).toBe(true);
    expect(eligibleFor(rec(), admins, human('alice', 'approver'))).toBe(false);
  });

  it('accepts a listed principal (any spelling) only with a voting role', () => {
    const r = req({ approvers: set({ principals: ['Carol'] }) });
    expect(eligibleFor(rec(), r, human(' CAROL ', 'approver'))).toBe(true);
    expect(eligibleFor(rec(), r, human('\uff43arol', 'admin'))).toBe(true);
    expect(eligibleFor(rec(), r, human('carol', 'auditor'))).toBe(false);
    expect(eligibleFor(rec(), r, human('dave', 'approver'))).toBe(false);
  });

  it('accepts members of a listed approver group, from the snapshot in the request', () => {
    const r = req({ approvers: set({ groups: ['finance'] }) });
    expect(eligibleFor(rec(), r, human('fiona'))).toBe(true);
    expect(eligibleFor(rec(), r, human('FRANK', 'admin'))).toBe(true);
    expect(eligibleFor(rec(), r, human('sec-sue'))).toBe(false);
    expect(eligibleFor({ groups: {}, escalated: false }, r, human('fiona'))).toBe(false);
  });

  it("counts an SSO person's IdP approver groups as the policy groups of the same name", () => {
    const r = req({ approvers: set({ groups: ['dba'] }) });
    const sso = (groups: string[], role = 'approver'): Voter => ({
      kind: 'human',
      id: 'dana@example.com',
      role,
      issuer: 'https://idp.example.com',
      subject: '00u1dana',
      groups,
    });
    expect(eligibleFor(rec(), r, sso(['dba']))).toBe(true);
    // Removed from the group in the IdP (the next sign-in says so): no longer eligible.
    expect(eligibleFor(rec(), r, sso([]))).toBe(false);
    expect(eligibleFor(rec(), r, sso(['finance-dba']))).toBe(false);
    // A group still needs a voting role: an auditor in the IdP group cannot vote.
    expect(eligibleFor(rec(), r, sso(['dba'], 'auditor'))).toBe(false);
    // A recount uses the groups the vote recorded, and IdP groups cover a group that must each approve.
    const each = req({ quorum: 1, requireEach: ['dba', 'finance'] });
    const votes = [{ ...vote(sso(['dba'])), groups: ['dba'] }, vote(human('fiona'))];
    expect(requirementProgress(rec(), each, votes)).toMatchObject({ missingGroups: [], met: true });
    expect(requirementProgress(rec(), each, [vote(sso(['dba'])), vote(human('fiona'))])).toMatchObject({
      missingGroups: ['dba'],
      met: false,
    });
  });

  it('accepts members of a group that must each approve, even when not otherwise listed', () => {
    const r = req({ approvers: set({ principals: ['alice'] }), requireEach: ['security'] });
    expect(eligibleFor(rec(), r, human('sec-sue'))).toBe(true);
    expect(eligibleFor(rec(), r, human('fiona'))).toBe(false);
  });

  it('never lets an auditor vote, however listed', () => {
    const r = req({
      approvers: set({ roles: ['auditor', 'approver'], principals: ['audrey'], groups: ['oncall'] }),
    });
    expect(eligibleFor(rec(), r, human('audrey', 'auditor'))).toBe(false);
    expect(eligibleFor(rec(), r, human('olga', 'auditor'))).toBe(false);
  });

  it('never lets a service key vote, even with the admin role or a listed name', () => {
    const r = req({
      approvers: set({
        roles: ['admin', 'approver'],
        principals: ['svc'],
        agents: ['svc'],
        groups: ['oncall'],
      }),
    });
    expect(eligibleFor(rec(), r, service('svc', 'admin'))).toBe(false);
    expect(eligibleFor(rec(), r, service('svc', 'approver'))).toBe(false);
    expect(eligibleFor(rec(), r, service('olga', 'approver'))).toBe(false);
  });

  it('lets an agent vote only when approvers.agents names it', () => {
    const named = req({ approvers: set({ roles: ['approver'], agents: ['Review-Bot'] }) });
    expect(eligibleFor(rec(), named, agent('review-bot'))).toBe(true);
    expect(eligibleFor(rec(), named, agent('other-bot'))).toBe(false);
    // A role, principal or group listing never admits an agent key.
    const notNamed = req({
      approvers: set({ roles: ['agent', 'approver'], principals: ['review-bot'], groups: ['bots'] }),
    });
    const withBots = { groups: { bots: ['review-bot'] }, escalated: false };
    expect(eligibleFor(withBots, notNamed, agent('review-bot'))).toBe(false);
    expect(eligibleFor(withBots, notNamed, { kind: 'agent', id: 'review-bot', role: 'admin' })).toBe(false);
  });

  it('widens to the escalation targets only once escalated', () => {
    const r = req({
      approvers: set({ principals: ['alice'] }),
      escalate: {
        afterMs: 60_000,
        to: set({ principals: ['boss'], groups: ['oncall'], agents: ['esc-bot'] }),
      },
    });
    for (const v of [human('boss'), human('olga'), agent('esc-bot')]) {
      expect(eligibleFor(rec(false), r, v)).toBe(false);
      expect(eligibleFor(rec(true), r, v)).toBe(true);
    }
    expect(eligibleFor(rec(true), r, human('alice'))).toBe(true);
    expect(eligibleFor(rec(true), r, human('boss', 'auditor'))).toBe(false);
  });
});

describe('requirementProgress', () => {
  it('counts distinct eligible approvers: the same person in another spelling counts once', () => {
    const r = req({ quorum: 2 });
    const p = requirementProgress(rec(), r, [vote(human('alice')), vote(human(' ALICE '))]);
    expect(p).toMatchObject({ approvals: 1, quorum: 2, met: false, denials: 0, denyThreshold: 1 });
    const q = requirementProgress(rec(), r, [vote(human('alice')), vote(human('bob'))]);
    expect(q).toMatchObject({ approvals: 2, met: true, missingGroups: [] });
  });

  it('ignores votes of principals who are not eligible for this requirement', () => {
    const r = req({ approvers: set({ principals: ['alice'] }), quorum: 1, denyThreshold: 1 });
    const p = requirementProgress(rec(), r, [
      vote(human('bob')),
      vote(human('carol'), 'deny'),
      vote(human('alice', 'auditor')),
      vote(service('alice')),
      vote(agent('alice')),
    ]);
    expect(p).toMatchObject({ approvals: 0, denials: 0, met: false });
  });

  it('lists the groups that must each approve and have not yet', () => {
    const r = req({ quorum: 1, requireEach: ['finance', 'security'] });
    expect(requirementProgress(rec(), r, []).missingGroups).toEqual(['finance', 'security']);
    const one = requirementProgress(rec(), r, [vote(human('fiona'))]);
    expect(one).toMatchObject({ approvals: 1, missingGroups: ['security'], met: false });
    const both = requirementProgress(rec(), r, [vote(human('fiona')), vote(human('SEC-SUE'))]);
    expect(both).toMatchObject({ approvals: 2, missingGroups: [], met: true });
  });

  it('does not count a denial from a group member as covering the group', () => {
    const r = req({ quorum: 1, requireEach: ['finance'], denyThreshold: 5 });
    const p = requirementProgress(rec(), r, [vote(human('alice')), vote(human('fiona'), 'deny')]);
    expect(p).toMatchObject({ approvals: 1, missingGroups: ['finance'], denials: 1, met: false });
  });

  it('counts distinct denials', () => {
    const r = req({ denyThreshold: 2 });
    const p = requirementProgress(rec(), r, [vote(human('bob'), 'deny'), vote(human('Bob'), 'deny')]);
    expect(p.denials).toBe(1);
  });

  it('counts escalation targets only once escalated', () => {
    const r = req({
      approvers: set({ principals: ['alice'] }),
      escalate: { afterMs: 1, to: set({ principals: ['boss'] }) },
    });
    expect(requirementProgress(rec(false), r, [vote(human('boss'))]).approvals).toBe(0);
    expect(requirementProgress(rec(true), r, [vote(human('boss'))]).approvals).toBe(1);
  });
});

describe('tally', () => {
  const base = { groups: GROUPS, escalated: false };

  it('is undecided without votes, and never approves a request with no requirements', () => {
    expect(tally({ ...base, requirements: [BUILTIN_APPROVAL], votes: [] }).outcome).toBeUndefined();
    expect(tally({ ...base, requirements: [], votes: [vote(human('alice'))] }).outcome).toBeUndefined();
  });

  it('approves once the quorum of eligible approvers is reached', () => {
    const requirements = [req({ quorum: 2 })];
    expect(tally({ ...base, requirements, votes: [vote(human('alice'))] }).outcome).toBeUndefined();
    const t = tally({ ...base, requirements, votes: [vote(human('alice')), vote(human('bob'))] });
    expect(t.outcome).toBe('approved');
    expect(t.progress).toHaveLength(1);
  });

  it('denies once the deny threshold is reached', () => {
    const requirements = [req({ quorum: 3, denyThreshold: 2 })];
    const one = [vote(human('alice'), 'deny')];
    expect(tally({ ...base, requirements, votes: one }).outcome).toBeUndefined();
    const two = [...one, vote(human('bob'), 'deny')];
    expect(tally({ ...base, requirements, votes: two }).outcome).toBe('denied');
  });

  it('needs every requirement met', () => {
    const requirements = [
      req({ approvers: set({ principals: ['alice'] }) }),
      req({ requireEach: ['finance'] }),
    ];
    expect(tally({ ...base, requirements, votes: [vote(human('alice'))] }).outcome).toBeUndefined();
    expect(tally({ ...base, requirements, votes: [vote(human('fiona'))] }).outcome).toBeUndefined();
    const both = [vote(human('alice')), vote(human('fiona'))];
    expect(tally({ ...base, requirements, votes: both }).outcome).toBe('approved');
  });

  it('denies when any requirement reaches its deny threshold, even if another is met', () => {
    const requirements = [
      req({ approvers: set({ principals: ['alice'] }), denyThreshold: 1 }),
      req({ approvers: set({ principals: ['bob'] }), denyThreshold: 1 }),
    ];
    const votes = [vote(human('alice')), vote(human('bob'), 'deny')];
    const t = tally({ ...base, requirements, votes });
    expect(t.outcome).toBe('denied');
    expect(t.progress.map((p) => p.met)).toEqual([true, false]);
  });

  it('lets denial win when both thresholds are reached', () => {
    const requirements = [req({ quorum: 1, denyThreshold: 1 })];
    const votes = [vote(human('alice')), vote(human('bob'), 'deny')];
    expect(tally({ ...base, requirements, votes }).outcome).toBe('denied');
  });
});

describe('describeApprovers', () => {
  it('names roles, principals, groups, agents, the quorum and the groups that must each approve', () => {
    const text = describeApprovers({
      escalated: false,
      requirements: [
        req({
          quorum: 2,
          approvers: set({
            roles: ['admin'],
            principals: ['carol'],
            groups: ['finance'],
            agents: ['rev-bot'],
          }),
          requireEach: ['security'],
        }),
        req({ approvers: set() }),
      ],
    });
    expect(text).toBe(
      '2 of role admin / carol / group finance / agent rev-bot, one from each of security; and 1 of nobody',
    );
  });

  it('includes the escalation targets once escalated', () => {
    const r = req({ escalate: { afterMs: 1, to: set({ principals: ['boss'] }) } });
    expect(describeApprovers({ escalated: false, requirements: [r] })).not.toContain('boss');
    expect(describeApprovers({ escalated: true, requirements: [r] })).toContain('boss');
  });
});

describe('BUILTIN_APPROVAL and resolveApproval', () => {
  it('by default needs one approver-role human within 30 minutes, then blocks', () => {
    expect(BUILTIN_APPROVAL).toEqual({
      approvers: { roles: ['approver'], principals: [], groups: [], agents: [] },
      quorum: 1,
      requireEach: [],
      denyThreshold: 1,
      timeoutMs: 30 * 60_000,
      onTimeout: 'block',
      requireReason: false,
    });
  });

  it('returns the base when the rule says nothing', () => {
    expect(resolveApproval(BUILTIN_APPROVAL, undefined)).toBe(BUILTIN_APPROVAL);
    expect(resolveApproval(BUILTIN_APPROVAL, {})).toEqual(BUILTIN_APPROVAL);
  });

  it('replaces every field the spec sets and keeps the rest', () => {
    const r = resolveApproval(BUILTIN_APPROVAL, {
      approvers: { principals: ['carol'] },
      quorum: 2,
      requireEach: ['finance'],
      denyThreshold: 3,
      timeout: '1h30m',
      onTimeout: 'allow',
      requireReason: true,
      escalate: { after: '10m', to: { groups: ['oncall'] } },
    });
    expect(r).toEqual({
      approvers: { roles: [], principals: ['carol'], groups: [], agents: [] },
      quorum: 2,
      requireEach: ['finance'],
      denyThreshold: 3,
      timeoutMs: 5_400_000,
      onTimeout: 'allow',
      requireReason: true,
      escalate: { afterMs: 600_000, to: { roles: [], principals: [], groups: ['oncall'], agents: [] } },
    });
  });

  it('inherits the base escalation and partial specs', () => {
    const base = resolveApproval(BUILTIN_APPROVAL, { escalate: { after: '5m', to: { roles: ['admin'] } } });
    const r = resolveApproval(base, { quorum: 2 });
    expect(r.quorum).toBe(2);
    expect(r.escalate).toEqual(base.escalate);
    expect(r.approvers).toBe(BUILTIN_APPROVAL.approvers);
    expect(r.timeoutMs).toBe(BUILTIN_APPROVAL.timeoutMs);
  });
});
