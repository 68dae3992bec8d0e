import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WardenError } from '../errors/warden-error.js';
import { BUILTIN_APPROVAL } from '../policy/approval-requirement.js';
import type { ApprovalRequirement } from '../policy/compiled-policy.js';
import { type ApprovalRecord, type ApprovalVote, approvalLetsRun, type Voter } from './approval-record.js';
import { tally } from './approval-tally.js';
import {
  type ApprovalOpening,
  cancelApproval,
  castVote,
  dueAction,
  escalateApproval,
  expireApproval,
  openApproval,
  overrideApproval,
  stakeOf,
  useApproval,
  voidApproval,
  voteRefusal,
} from './approval-transitions.js';
import type { Stake } from './separation-of-duties.js';

type Approvers = ApprovalRequirement['approvers'];

const T0 = new Date('2025-01-01T00:00:00.000Z');
const MIN = 60_000;
const at = (ms: number) => new Date(T0.getTime() + ms);
const SOON = at(MIN);

const GROUPS = new Map<string, readonly string[]>([
  ['finance', ['Fiona', 'frank']],
  ['security', ['sec-sue']],
  ['managers', ['boss']],
  ['unused', ['nobody']],
]);

function set(over: Partial<Approvers> = {}): Approvers {
  return { roles: [], principals: [], groups: [], agents: [], ...over };
}

function req(over: Partial<ApprovalRequirement> = {}): ApprovalRequirement {
  return { ...BUILTIN_APPROVAL, ...over };
}

function opening(over: Partial<ApprovalOpening> = {}): ApprovalOpening {
  return {
    id: 'apr_1',
    callId: 'call_1',
    agent: 'support-bot',
    session: 'ses_1',
    tool: 'billing.refund',
    args: { amount: 5000 },
    argsHmac: 'hmac',
    target: null,
    ruleId: 'refund-review',
    policyVersion: 'v1',
    reasons: ['large refunds need review'],
    triggeredBy: 'Tina',
    delegationChain: ['planner-bot'],
    requirements: [BUILTIN_APPROVAL],
    approverGroups: GROUPS,
    now: T0,
    ...over,
  };
}

/** Freezes a value and everything it holds, so a transition that writes into its input throws. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}

/** A new pending request, deep-frozen. */
function open(over: Partial<ApprovalOpening> = {}): ApprovalRecord {
  return deepFreeze(openApproval(opening(over)));
}

const human = (id: string, role = 'approver'): Voter => ({ kind: 'human', id, role });
const agent = (id: string): Voter => ({ kind: 'agent', id, role: 'agent' });
const service = (id: string, role = 'admin'): Voter => ({ kind: 'service', id, role });

/** The code of the WardenError `fn` throws, or undefined when it does not throw. */
function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof WardenError) return err.code;
    throw err;
  }
  return undefined;
}

function approve(
  a: ApprovalRecord,
  v: Voter,
  opts: { reason?: string; now?: Date; extraStakes?: Stake[] } = {},
) {
  return deepFreeze(castVote(a, v, 'approve', { now: SOON, ...opts }));
}

function deny(a: ApprovalRecord, v: Voter, opts: { reason?: string; now?: Date } = {}) {
  return deepFreeze(castVote(a, v, 'deny', { now: SOON, ...opts }));
}

describe('openApproval', () => {
  it('opens a pending request at version 1 with no votes', () => {
    const a = open();
    expect(a).toMatchObject({
      id: 'apr_1',
      callId: 'call_1',
      version: 1,
      status: 'pending',
      agent: 'support-bot',
      triggeredBy: 'Tina',
      delegationChain: ['planner-bot'],
      votes: [],
      escalated: false,
      escalateAt: null,
      override: false,
      decidedAt: null,
      decidedBy: null,
      outcomeReason: null,
      usedAt: null,
      usedByCall: null,
      requireReason: false,
      onTimeout: 'block',
      createdAt: T0.toISOString(),
      updatedAt: T0.toISOString(),
      expiresAt: at(30 * MIN).toISOString(),
    });
  });

  it('expires at the shortest timeout and escalates at the earliest escalation', () => {
    const a = open({
      requirements: [
        req({ timeoutMs: 60 * MIN, escalate: { afterMs: 20 * MIN, to: set() } }),
        req({ timeoutMs: 45 * MIN, escalate: { afterMs: 5 * MIN, to: set() } }),
        req({ timeoutMs: 90 * MIN }),
      ],
    });
    expect(a.expiresAt).toBe(at(45 * MIN).toISOString());
    expect(a.escalateAt).toBe(at(5 * MIN).toISOString());
  });

  it('snapshots the members of exactly the groups the requirements name', () => {
    const a = open({
      requirements: [
        req({
          approvers: set({ groups: ['finance', 'ghost'] }),
          requireEach: ['security'],
          escalate: { afterMs: MIN, to: set({ groups: ['managers'] }) },
        }),
      ],
    });
    expect(a.groups).toEqual({
      finance: ['Fiona', 'frank'],
      security: ['sec-sue'],
      managers: ['boss'],
      ghost: [],
    });
  });

  it('requires a reason when any requirement does, and allows on timeout only when every one does', () => {
    const mixed = open({ requirements: [req({ requireReason: true, onTimeout: 'allow' }), req()] });
    expect(mixed.requireReason).toBe(true);
    expect(mixed.onTimeout).toBe('block');
    const allow = open({ requirements: [req({ onTimeout: 'allow' }), req({ onTimeout: 'allow' })] });
    expect(allow.onTimeout).toBe('allow');
    expect(allow.requireReason).toBe(false);
  });

  it('does not share arrays or group lists with its opening', () => {
    const reasons = ['r'];
    const chain = ['planner-bot'];
    const members = ['Fiona'];
    const a = openApproval(
      opening({
        reasons,
        delegationChain: chain,
        approverGroups: new Map([['finance', members]]),
        requirements: [req({ approvers: set({ groups: ['finance'] }) })],
      }),
    );
    reasons.push('x');
    chain.push('x');
    members.push('x');
    expect(a.reasons).toEqual(['r']);
    expect(a.delegationChain).toEqual(['planner-bot']);
    expect(a.groups).toEqual({ finance: ['Fiona'] });
  });

  it('does not mutate a frozen opening', () => {
    const o = deepFreeze(opening());
    expect(() => openApproval(o)).not.toThrow();
  });
});

describe('stakeOf', () => {
  it('is the agent, the trigger and the delegation chain', () => {
    expect(stakeOf(open())).toEqual({
      agent: 'support-bot',
      triggeredBy: 'Tina',
      delegationChain: ['planner-bot'],
    });
  });
});

describe('dueAction', () => {
  const a = open({
    requirements: [req({ timeoutMs: 30 * MIN, escalate: { afterMs: 10 * MIN, to: set() } })],
  });

  it('is nothing before escalation is due', () => {
    expect(dueAction(a, at(10 * MIN - 1))).toBeUndefined();
  });

  it('is escalate from escalateAt until expiry, once', () => {
    expect(dueAction(a, at(10 * MIN))).toBe('escalate');
    expect(dueAction(a, at(29 * MIN))).toBe('escalate');
    expect(dueAction(escalateApproval(a, at(10 * MIN)), at(29 * MIN))).toBeUndefined();
  });

  it('is expire from expiresAt, before any escalation', () => {
    expect(dueAction(a, at(30 * MIN))).toBe('expire');
    expect(dueAction(escalateApproval(a, at(10 * MIN)), at(31 * MIN))).toBe('expire');
  });

  it('never escalates a request without an escalation', () => {
    expect(dueAction(open(), at(29 * MIN))).toBeUndefined();
  });

  it('is nothing once the request is decided', () => {
    const done = approve(a, human('alice'));
    expect(dueAction(done, at(10 * MIN))).toBeUndefined();
    expect(dueAction(done, at(60 * MIN))).toBeUndefined();
  });
});

describe('castVote: a single approver', () => {
  it('approves with one eligible vote, recording who, when, how and why', () => {
    const a = open();
    const b = approve(a, human('alice'), { reason: '  looks fine  ' });
    expect(b).toMatchObject({
      version: 2,
      status: 'approved',
      decidedBy: 'alice',
      decidedAt: SOON.toISOString(),
      updatedAt: SOON.toISOString(),
      outcomeReason: 'looks fine',
      override: false,
    });
    expect(b.votes).toEqual([
      {
        principal: 'alice',
        kind: 'human',
        role: 'approver',
        vote: 'approve',
        reason: 'looks fine',
        ts: SOON.toISOString(),
      },
    ]);
    expect(a.votes).toEqual([]);
    expect(a.status).toBe('pending');
  });

  it('denies with one denial and records the channel', () => {
    const b = deepFreeze(castVote(open(), human('bob'), 'deny', { now: SOON, via: 'cli' }));
    expect(b).toMatchObject({ version: 2, status: 'denied', decidedBy: 'bob' });
    expect(b.votes[0]).toMatchObject({ principal: 'bob', vote: 'deny', via: 'cli' });
    expect(b.votes[0]).not.toHaveProperty('reason');
  });
});

describe('castVote: separation of duties', () => {
  const named = open({
    requirements: [
      req({ approvers: set({ roles: ['approver', 'admin'], agents: ['support-bot', 'planner-bot'] }) }),
    ],
  });

  it('refuses the requesting agent, its delegation chain and the human who triggered the task', () => {
    const voters = [agent('support-bot'), agent('planner-bot'), human('tina'), human('Tina', 'admin')];
    for (const v of voters) {
      for (const kind of ['approve', 'deny'] as const) {
        expect(codeOf(() => castVote(named, v, kind, { now: SOON }))).toBe('APPROVAL_SELF_APPROVAL');
      }
    }
  });

  it('sees through case, surrounding spaces and compatibility forms', () => {
    for (const id of ['TINA', ' tina ', '\uff34ina', '\u00a0Tina\u3000']) {
      expect(codeOf(() => approve(named, human(id)))).toBe('APPROVAL_SELF_APPROVAL');
    }
    for (const id of ['Support-Bot', ' PLANNER-BOT ']) {
      expect(codeOf(() => approve(named, agent(id)))).toBe('APPROVAL_SELF_APPROVAL');
    }
  });

  it('counts the session’s stakes too', () => {
    const session: Stake = { agent: 'session-bot', triggeredBy: 'sam', delegationChain: ['outer-bot'] };
    const a = open({
      requirements: [req({ approvers: set({ roles: ['approver'], agents: ['outer-bot'] }) })],
    });
    expect(codeOf(() => approve(a, human('Sam'), { extraStakes: [session] }))).toBe('APPROVAL_SELF_APPROVAL');
    expect(codeOf(() => approve(a, agent('outer-bot'), { extraStakes: [session] }))).toBe(
      'APPROVAL_SELF_APPROVAL',
    );
    expect(approve(a, human('sam')).status).toBe('approved');
    expect(voteRefusal(a, human('sam'), [session])?.code).toBe('APPROVAL_SELF_APPROVAL');
  });

  it('reports self-approval before ineligibility, so the requester learns the real reason', () => {
    expect(voteRefusal(open(), agent('support-bot'))?.code).toBe('APPROVAL_SELF_APPROVAL');
    expect(voteRefusal(open(), human('tina', 'auditor'))?.code).toBe('APPROVAL_SELF_APPROVAL');
  });

  it('records nothing when it refuses', () => {
    expect(() => approve(named, human('tina'))).toThrow(WardenError);
    expect(named.votes).toEqual([]);
    expect(named.version).toBe(1);
  });
});

describe('castVote: eligibility', () => {
  it('lets an agent vote only when a requirement names it', () => {
    expect(codeOf(() => approve(open(), agent('review-bot')))).toBe('APPROVAL_NOT_ELIGIBLE');
    const a = open({ requirements: [req({ approvers: set({ agents: ['Review-Bot'] }) })] });
    expect(approve(a, agent('review-bot')).status).toBe('approved');
    expect(codeOf(() => approve(a, agent('other-bot')))).toBe('APPROVAL_NOT_ELIGIBLE');
  });

  it('never lets a service key or an auditor vote', () => {
    const a = open({
      requirements: [
        req({ approvers: set({ roles: ['approver', 'admin', 'auditor'], principals: ['svc', 'audrey'] }) }),
      ],
    });
    expect(codeOf(() => approve(a, service('svc', 'admin')))).toBe('APPROVAL_NOT_ELIGIBLE');
    expect(codeOf(() => deny(a, service('svc', 'approver')))).toBe('APPROVAL_NOT_ELIGIBLE');
    expect(codeOf(() => approve(a, human('audrey', 'auditor')))).toBe('APPROVAL_NOT_ELIGIBLE');
  });

  it('needs a human to match a role, principal, group or group that must each approve', () => {
    const a = open({
      requirements: [
        req({
          approvers: set({ roles: ['admin'], principals: ['carol'], groups: ['finance'] }),
          requireEach: ['security'],
        }),
      ],
    });
    expect(codeOf(() => approve(a, human('alice', 'approver')))).toBe('APPROVAL_NOT_ELIGIBLE');
    for (const v of [human('root', 'admin'), human('Carol'), human('frank'), human('sec-sue')]) {
      expect(codeOf(() => approve(a, v, { now: SOON }))).toBeUndefined();
    }
  });

  it('explains who may vote', () => {
    const err = voteRefusal(open(), human('alice', 'admin'));
    expect(err?.code).toBe('APPROVAL_NOT_ELIGIBLE');
    expect(err?.message).toContain('role approver');
    expect(voteRefusal(open(), service('svc'))?.message).toContain('service key');
    expect(voteRefusal(open(), agent('x-bot'))?.message).toContain('agent key');
    expect(voteRefusal(open(), human('alice'))).toBeUndefined();
  });
});

describe('castVote: quorum, groups and denials', () => {
  it('needs N distinct people; the same person twice, in any spelling, is APPROVAL_ALREADY_VOTED', () => {
    const a = open({ requirements: [req({ quorum: 2, approvers: set({ roles: ['approver', 'admin'] }) })] });
    const b = approve(a, human('alice'));
    expect(b).toMatchObject({ status: 'pending', version: 2, decidedAt: null });
    for (const id of ['alice', 'ALICE', ' Alice ', '\uff41lice']) {
      expect(codeOf(() => approve(b, human(id)))).toBe('APPROVAL_ALREADY_VOTED');
      expect(codeOf(() => deny(b, human(id)))).toBe('APPROVAL_ALREADY_VOTED');
    }
    // The same person through another key (admin role) is still the same person.
    expect(codeOf(() => approve(b, human('alice', 'admin')))).toBe('APPROVAL_ALREADY_VOTED');
    const c = approve(b, human('bob'));
    expect(c).toMatchObject({ status: 'approved', version: 3, decidedBy: 'bob' });
    expect(c.votes.map((v) => v.principal)).toEqual(['alice', 'bob']);
  });

  it('waits for every group that must each approve', () => {
    const a = open({ requirements: [req({ quorum: 2, requireEach: ['finance', 'security'] })] });
    const b = approve(approve(a, human('alice')), human('bob'));
    expect(b.status).toBe('pending');
    const c = approve(b, human('fiona'));
    expect(c.status).toBe('pending');
    expect(approve(c, human('sec-sue')).status).toBe('approved');
  });

  it('needs a different person for each group that must approve, even one who belongs to both', () => {
    const groups = new Map([
      ['finance', ['fiona', 'dual']],
      ['security', ['sec-sue', 'dual']],
    ]);
    const a = open({
      requirements: [req({ quorum: 1, requireEach: ['finance', 'security'] })],
      approverGroups: groups,
    });
    const b = approve(a, human('dual'));
    expect(b.status).toBe('pending');
    expect(tally(b).progress[0]?.missingGroups).toHaveLength(1);
    expect(approve(b, human('fiona')).status).toBe('approved');
  });

  it('denies at the deny threshold of distinct denials', () => {
    const a = open({ requirements: [req({ quorum: 3, denyThreshold: 2 })] });
    const b = deny(approve(a, human('alice')), human('bob'));
    expect(b.status).toBe('pending');
    const c = deny(b, human('carol'));
    expect(c).toMatchObject({ status: 'denied', decidedBy: 'carol' });
  });

  it('needs every requirement met when several apply', () => {
    const a = open({
      requirements: [
        req({ approvers: set({ principals: ['carol'] }) }),
        req({ approvers: set({ groups: ['finance'] }) }),
      ],
    });
    const b = approve(a, human('carol'));
    expect(b.status).toBe('pending');
    expect(approve(b, human('frank')).status).toBe('approved');
  });

  it('denies when any one of several requirements reaches its deny threshold', () => {
    const a = open({
      requirements: [
        req({ approvers: set({ principals: ['carol'] }), denyThreshold: 1 }),
        req({ approvers: set({ groups: ['finance'] }), denyThreshold: 1 }),
      ],
    });
    expect(deny(approve(a, human('carol')), human('fiona')).status).toBe('denied');
  });

  it('refuses votes on a decided request with APPROVAL_DECIDED', () => {
    const approved = approve(open(), human('alice'));
    const denied = deny(open(), human('alice'));
    for (const a of [approved, denied]) {
      expect(codeOf(() => approve(a, human('bob')))).toBe('APPROVAL_DECIDED');
      expect(codeOf(() => deny(a, human('bob')))).toBe('APPROVAL_DECIDED');
    }
  });

  it('refuses votes from expiry on with APPROVAL_DECIDED, even before the sweeper expires it', () => {
    const a = open();
    expect(codeOf(() => approve(a, human('bob'), { now: at(30 * MIN) }))).toBe('APPROVAL_DECIDED');
    expect(codeOf(() => approve(a, human('bob'), { now: at(31 * MIN) }))).toBe('APPROVAL_DECIDED');
    expect(approve(a, human('bob'), { now: at(30 * MIN - 1) }).status).toBe('approved');
  });
});

describe('castVote: reasons', () => {
  const a = open({ requirements: [req({ quorum: 2, requireReason: true })] });

  it('requires a non-blank reason with every vote when a rule says so', () => {
    for (const reason of [undefined, '', '   ', '\n\t']) {
      expect(codeOf(() => approve(a, human('alice'), reason === undefined ? {} : { reason }))).toBe(
        'APPROVAL_REASON_REQUIRED',
      );
      expect(codeOf(() => deny(a, human('alice'), reason === undefined ? {} : { reason }))).toBe(
        'APPROVAL_REASON_REQUIRED',
      );
    }
  });

  it('records the reason trimmed', () => {
    const b = approve(a, human('alice'), { reason: ' checked the ticket ' });
    expect(b.votes[0]?.reason).toBe('checked the ticket');
  });

  it('does not require a reason otherwise', () => {
    expect(approve(open(), human('alice')).status).toBe('approved');
  });
});

describe('escalation', () => {
  const a = open({
    requirements: [
      req({
        approvers: set({ principals: ['carol'] }),
        escalate: { afterMs: 10 * MIN, to: set({ groups: ['managers'], principals: ['dave'] }) },
      }),
    ],
  });

  it('refuses an escalation target before escalation', () => {
    expect(codeOf(() => approve(a, human('boss'), { now: at(11 * MIN) }))).toBe('APPROVAL_NOT_ELIGIBLE');
    expect(codeOf(() => approve(a, human('dave'), { now: at(11 * MIN) }))).toBe('APPROVAL_NOT_ELIGIBLE');
  });

  it('widens the eligible set: afterwards a member of the escalation group can approve', () => {
    const e = deepFreeze(escalateApproval(a, at(10 * MIN)));
    expect(e).toMatchObject({
      escalated: true,
      version: 2,
      status: 'pending',
      updatedAt: at(10 * MIN).toISOString(),
    });
    expect(approve(e, human('Boss'), { now: at(11 * MIN) })).toMatchObject({
      status: 'approved',
      decidedBy: 'Boss',
    });
    expect(approve(e, human('dave'), { now: at(11 * MIN) }).status).toBe('approved');
    expect(approve(e, human('carol'), { now: at(11 * MIN) }).status).toBe('approved');
    expect(codeOf(() => approve(e, human('eve'), { now: at(11 * MIN) }))).toBe('APPROVAL_NOT_ELIGIBLE');
  });

  it('still applies separation of duties to escalation targets', () => {
    const b = open({
      triggeredBy: 'boss',
      requirements: [
        req({
          approvers: set({ principals: ['carol'] }),
          escalate: { afterMs: 1, to: set({ groups: ['managers'] }) },
        }),
      ],
    });
    const e = deepFreeze(escalateApproval(b, SOON));
    expect(codeOf(() => approve(e, human('boss')))).toBe('APPROVAL_SELF_APPROVAL');
  });

  it('cannot escalate a decided or expired request', () => {
    expect(codeOf(() => escalateApproval(approve(a, human('carol')), at(10 * MIN)))).toBe('APPROVAL_DECIDED');
    expect(codeOf(() => escalateApproval(a, at(30 * MIN)))).toBe('APPROVAL_DECIDED');
  });

  // Bob's approval already counts for requirement 2; once requirement 1 widens to include bob, the votes
  // cast decide it. Escalation must count them again, or with every eligible voter already voted nothing
  // could decide the request before it expires.
  it('never leaves a request pending whose votes already decide it after escalation', () => {
    const b = open({
      requirements: [
        req({
          approvers: set({ principals: ['alice'] }),
          quorum: 2,
          escalate: { afterMs: MIN, to: set({ principals: ['bob'] }) },
        }),
        req({ approvers: set({ principals: ['bob'] }) }),
      ],
    });
    const voted = approve(approve(b, human('bob')), human('alice'));
    expect(voted.status).toBe('pending');
    const e = deepFreeze(escalateApproval(voted, at(2 * MIN)));
    // Either the escalation decides it, or the votes cast before it do not count for the widened set.
    expect(e.status).toBe(tally(e).outcome ?? 'pending');
  });

  // Each requirement escalates on its own clock: requirement 2's `after: 20m` holds even though
  // requirement 1 escalates at 5 minutes.
  it('widens each requirement only after its own escalation delay', () => {
    const b = open({
      requirements: [
        req({
          approvers: set({ principals: ['carol'] }),
          escalate: { afterMs: 5 * MIN, to: set({ principals: ['dave'] }) },
        }),
        req({
          approvers: set({ principals: ['carol'] }),
          escalate: { afterMs: 20 * MIN, to: set({ principals: ['boss'] }) },
        }),
      ],
    });
    expect(dueAction(b, at(6 * MIN))).toBe('escalate');
    const e = deepFreeze(escalateApproval(b, at(6 * MIN)));
    expect(codeOf(() => approve(e, human('boss'), { now: at(6 * MIN) }))).toBe('APPROVAL_NOT_ELIGIBLE');
  });
});

describe('overrideApproval', () => {
  const a = open({
    requirements: [req({ approvers: set({ principals: ['carol'] }), quorum: 3, requireEach: ['finance'] })],
  });
  const root = human('root', 'admin');

  it('lets an admin decide alone, whatever the quorum, with override set', () => {
    const b = deepFreeze(overrideApproval(a, root, 'approve', { reason: '  outage fix ', now: SOON }));
    expect(b).toMatchObject({
      version: 2,
      status: 'approved',
      override: true,
      decidedBy: 'root',
      decidedAt: SOON.toISOString(),
      outcomeReason: 'outage fix',
      votes: [],
    });
    expect(approvalLetsRun(b)).toBe(true);
    const c = deepFreeze(overrideApproval(a, root, 'deny', { reason: 'no', now: SOON }));
    expect(c).toMatchObject({ status: 'denied', override: true, decidedBy: 'root' });
  });

  it('overrides after some votes too', () => {
    const b = approve(a, human('carol'));
    expect(overrideApproval(b, root, 'approve', { reason: 'ok', now: SOON }).votes).toHaveLength(1);
  });

  it('is only for a person with the admin role', () => {
    for (const v of [
      human('carol', 'approver'),
      human('aud', 'auditor'),
      agent('root-bot'),
      service('svc', 'admin'),
    ]) {
      expect(codeOf(() => overrideApproval(a, v, 'approve', { reason: 'x', now: SOON }))).toBe(
        'APPROVAL_NOT_ELIGIBLE',
      );
    }
    expect(
      codeOf(() =>
        overrideApproval(a, { kind: 'agent', id: 'a', role: 'admin' }, 'approve', { reason: 'x', now: SOON }),
      ),
    ).toBe('APPROVAL_NOT_ELIGIBLE');
  });

  it('needs a non-blank reason', () => {
    for (const reason of ['', '  ']) {
      expect(codeOf(() => overrideApproval(a, root, 'approve', { reason, now: SOON }))).toBe(
        'APPROVAL_REASON_REQUIRED',
      );
    }
  });

  it('is never self-approval, including the session’s stakes', () => {
    expect(
      codeOf(() => overrideApproval(a, human(' TINA ', 'admin'), 'approve', { reason: 'x', now: SOON })),
    ).toBe('APPROVAL_SELF_APPROVAL');
    expect(
      codeOf(() => overrideApproval(a, human('Tina', 'admin'), 'deny', { reason: 'x', now: SOON })),
    ).toBe('APPROVAL_SELF_APPROVAL');
    const session: Stake = { agent: 'x-bot', triggeredBy: 'root', delegationChain: [] };
    expect(
      codeOf(() => overrideApproval(a, root, 'approve', { reason: 'x', now: SOON, extraStakes: [session] })),
    ).toBe('APPROVAL_SELF_APPROVAL');
  });

  it('cannot override a decided or expired request', () => {
    const done = approve(open(), human('alice'));
    expect(codeOf(() => overrideApproval(done, root, 'deny', { reason: 'x', now: SOON }))).toBe(
      'APPROVAL_DECIDED',
    );
    expect(codeOf(() => overrideApproval(a, root, 'approve', { reason: 'x', now: at(30 * MIN) }))).toBe(
      'APPROVAL_DECIDED',
    );
  });
});

describe('expireApproval', () => {
  it('expires a pending request; it then blocks by default', () => {
    const a = open();
    const b = deepFreeze(expireApproval(a, at(30 * MIN)));
    expect(b).toMatchObject({
      version: 2,
      status: 'expired',
      decidedBy: null,
      decidedAt: at(30 * MIN).toISOString(),
      outcomeReason: `no decision by ${a.expiresAt}`,
    });
    expect(approvalLetsRun(b)).toBe(false);
    expect(codeOf(() => useApproval(b, 'call_1', at(31 * MIN)))).toBe('APPROVAL_DECIDED');
  });

  it('lets the call run only when every requirement allows on timeout', () => {
    const allow = expireApproval(
      open({ requirements: [req({ onTimeout: 'allow' }), req({ onTimeout: 'allow' })] }),
      at(30 * MIN),
    );
    expect(approvalLetsRun(allow)).toBe(true);
    const mixed = expireApproval(open({ requirements: [req({ onTimeout: 'allow' }), req()] }), at(30 * MIN));
    expect(approvalLetsRun(mixed)).toBe(false);
  });

  it('refuses a request that is no longer pending', () => {
    const done = approve(open(), human('alice'));
    expect(codeOf(() => expireApproval(done, at(30 * MIN)))).toBe('APPROVAL_DECIDED');
    const expired = deepFreeze(expireApproval(open(), at(30 * MIN)));
    expect(codeOf(() => expireApproval(expired, at(31 * MIN)))).toBe('APPROVAL_DECIDED');
  });
});

describe('cancelApproval', () => {
  it('cancels a pending request, recording who and why', () => {
    const b = deepFreeze(cancelApproval(open(), 'support-bot', 'not needed', SOON));
    expect(b).toMatchObject({
      version: 2,
      status: 'cancelled',
      decidedBy: 'support-bot',
      outcomeReason: 'not needed',
    });
    expect(approvalLetsRun(b)).toBe(false);
    expect(codeOf(() => approve(b, human('alice')))).toBe('APPROVAL_DECIDED');
  });

  it('cannot cancel a denied, used or expired request; an approved one not yet used becomes void', () => {
    const denied = deny(open(), human('alice'));
    expect(codeOf(() => cancelApproval(denied, 'support-bot', null, SOON))).toBe('APPROVAL_DECIDED');
    expect(codeOf(() => cancelApproval(open(), 'support-bot', null, at(30 * MIN)))).toBe('APPROVAL_DECIDED');
    const used = useApproval(approve(open(), human('alice')), 'call_1', SOON);
    expect(codeOf(() => cancelApproval(used, 'admin', null, SOON))).toBe('APPROVAL_DECIDED');
    const withdrawn = cancelApproval(approve(open(), human('alice')), 'admin', 'wrong customer', SOON);
    expect(withdrawn).toMatchObject({
      status: 'voided',
      outcomeReason: 'withdrawn by admin: wrong customer',
    });
    expect(codeOf(() => useApproval(withdrawn, 'call_1', SOON))).toBe('APPROVAL_DECIDED');
  });

  it('is stale once unused for as long again as the request had to be decided', () => {
    const approved = approve(open(), human('alice'));
    const window = Date.parse(approved.expiresAt) - Date.parse(approved.createdAt);
    const decidedAt = Date.parse(approved.decidedAt as string);
    expect(useApproval(approved, 'call_1', new Date(decidedAt + window)).status).toBe('used');
    expect(codeOf(() => useApproval(approved, 'call_1', new Date(decidedAt + window + 1)))).toBe(
      'APPROVAL_DECIDED',
    );
  });
});

describe('useApproval and voidApproval', () => {
  const approved = approve(open(), human('alice'));

  it('uses an approved request once, by its call', () => {
    const used = deepFreeze(useApproval(approved, 'call_1', at(2 * MIN)));
    expect(used).toMatchObject({
      version: 3,
      status: 'used',
      usedAt: at(2 * MIN).toISOString(),
      usedByCall: 'call_1',
    });
    expect(approvalLetsRun(used)).toBe(false);
    expect(codeOf(() => useApproval(used, 'call_1', at(3 * MIN)))).toBe('APPROVAL_DECIDED');
  });

  it('uses an expired request only when expiry allows', () => {
    const allow = deepFreeze(
      expireApproval(open({ requirements: [req({ onTimeout: 'allow' })] }), at(30 * MIN)),
    );
    expect(useApproval(allow, 'call_1', at(31 * MIN)).status).toBe('used');
  });

  it('refuses every request that is not approved', () => {
    const pending = open();
    const denied = deny(open(), human('alice'));
    const cancelled = deepFreeze(cancelApproval(open(), 'admin', null, SOON));
    const voided = deepFreeze(voidApproval(approved, 'args changed', SOON));
    for (const a of [pending, denied, cancelled, voided]) {
      expect(codeOf(() => useApproval(a, 'call_1', SOON))).toBe('APPROVAL_DECIDED');
    }
  });

  it('voids an approved request: it can no longer be used', () => {
    const voided = deepFreeze(voidApproval(approved, 'args changed', at(2 * MIN)));
    expect(voided).toMatchObject({ version: 3, status: 'voided', outcomeReason: 'args changed' });
    expect(approvalLetsRun(voided)).toBe(false);
  });

  // The lifecycle is approved → used | voided: a used, denied, cancelled or expired request is never
  // voided (which would also overwrite its recorded outcome reason).
  it('voids only a request that could let its call run', () => {
    const used = deepFreeze(useApproval(approved, 'call_1', SOON));
    const denied = deny(open(), human('bob'), { reason: 'too big' });
    const cancelled = deepFreeze(cancelApproval(open(), 'admin', 'dup', SOON));
    const expired = deepFreeze(expireApproval(open(), at(30 * MIN)));
    for (const a of [used, denied, cancelled, expired]) {
      expect(() => voidApproval(a, 'args changed', at(40 * MIN))).toThrow(WardenError);
    }
  });
});

describe('immutability and versions', () => {
  it('every transition returns version + 1 and leaves its deep-frozen input as it was', () => {
    const pending = open({
      requirements: [req({ quorum: 2, escalate: { afterMs: MIN, to: set({ principals: ['dave'] }) } })],
    });
    const approved = approve(open(), human('alice'));
    const snapshot = (a: ApprovalRecord) => JSON.parse(JSON.stringify(a));
    const cases: [ApprovalRecord, (a: ApprovalRecord) => ApprovalRecord][] = [
      [pending, (a) => castVote(a, human('alice'), 'approve', { now: SOON, reason: 'r', via: 'api' })],
      [pending, (a) => castVote(a, human('alice'), 'deny', { now: SOON })],
      [pending, (a) => overrideApproval(a, human('root', 'admin'), 'approve', { reason: 'r', now: SOON })],
      [pending, (a) => escalateApproval(a, SOON)],
      [pending, (a) => expireApproval(a, at(30 * MIN))],
      [pending, (a) => cancelApproval(a, 'support-bot', null, SOON)],
      [approved, (a) => useApproval(a, 'call_1', SOON)],
      [approved, (a) => voidApproval(a, 'changed', SOON)],
    ];
    for (const [input, step] of cases) {
      const before = snapshot(input);
      const out = step(input);
      expect(out).not.toBe(input);
      expect(out.version).toBe(input.version + 1);
      expect(snapshot(input)).toEqual(before);
    }
  });
});

describe('voting property', () => {
  const HUMANS = ['ann', 'bob', 'cat', 'dan', 'eve'];
  const AGENTS = ['helper-bot', 'support-bot', 'planner-bot'];
  const STAKE_NAMES = new Set(['support-bot', 'planner-bot', 'tina']);
  const GROUP_NAMES = ['g1', 'g2'];

  /** A spelling of the same name: case, surrounding spaces or a full-width first letter. */
  function spell(name: string, how: number): string {
    if (how === 1) return name.toUpperCase();
    if (how === 2) return ` ${name}\u00a0`;
    if (how === 3) return String.fromCodePoint((name.codePointAt(0) as number) + 0xfee0) + name.slice(1);
    return name;
  }

  const norm = (s: string) => s.trim().normalize('NFKC').toLowerCase();

  // Mostly people who may vote, so that runs reach decisions; agents, services and auditors mixed in.
  const voterArb: fc.Arbitrary<Voter> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('human' as const),
        id: fc.constantFrom(...HUMANS, 'tina'),
        role: fc.constantFrom('approver', 'approver', 'admin', 'auditor'),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('agent' as const),
        id: fc.constantFrom(...AGENTS),
        role: fc.constant('agent'),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('service' as const),
        id: fc.constantFrom('svc', 'ann'),
        role: fc.constantFrom('admin', 'approver'),
      }),
    },
  );

  const approversArb: fc.Arbitrary<Approvers> = fc.record({
    roles: fc.subarray(['approver', 'admin']),
    principals: fc.subarray([...HUMANS, 'tina']),
    groups: fc.subarray(GROUP_NAMES),
    agents: fc.subarray(AGENTS),
  });

  const requirementArb: fc.Arbitrary<ApprovalRequirement> = fc.record({
    approvers: approversArb,
    quorum: fc.integer({ min: 1, max: 3 }),
    requireEach: fc.subarray(GROUP_NAMES),
    denyThreshold: fc.integer({ min: 1, max: 3 }),
    timeoutMs: fc.constant(30 * MIN),
    onTimeout: fc.constantFrom('block' as const, 'allow' as const),
    requireReason: fc.constant(false),
  });

  const groupsArb = fc.record({ g1: fc.subarray([...HUMANS, 'tina']), g2: fc.subarray([...HUMANS, 'tina']) });

  const stepArb = fc.record({
    voter: voterArb,
    spelling: fc.integer({ min: 0, max: 3 }),
    vote: fc.constantFrom('approve' as const, 'approve' as const, 'approve' as const, 'deny' as const),
  });

  /** The rules, restated independently of approval-tally.ts. */
  function modelEligible(r: ApprovalRequirement, groups: Record<string, string[]>, v: Voter): boolean {
    const id = norm(v.id);
    if (v.kind === 'agent') return r.approvers.agents.some((x) => norm(x) === id);
    if (v.kind !== 'human' || (v.role !== 'approver' && v.role !== 'admin')) return false;
    const inGroup = (g: string) => (groups[g] ?? []).some((m) => norm(m) === id);
    return (
      r.approvers.roles.includes(v.role) ||
      r.approvers.principals.some((p) => norm(p) === id) ||
      r.approvers.groups.some(inGroup) ||
      r.requireEach.some(inGroup)
    );
  }

  function modelOutcome(
    reqs: readonly ApprovalRequirement[],
    groups: Record<string, string[]>,
    votes: readonly ApprovalVote[],
  ): { met: boolean; denied: boolean } {
    const per = reqs.map((r) => {
      const who = (kind: string) =>
        new Set(
          votes
            .filter(
              (v) =>
                v.vote === kind && modelEligible(r, groups, { kind: v.kind, id: v.principal, role: v.role }),
            )
            .map((v) => norm(v.principal)),
        );
      const yes = who('approve');
      // Each group that must approve needs its own person: brute-force a distinct assignment.
      const member = (g: string, n: string) => (groups[g] ?? []).some((m) => norm(m) === n);
      const assign = (i: number, used: Set<string>): boolean =>
        i === r.requireEach.length ||
        [...yes].some(
          (n) =>
            !used.has(n) && member(r.requireEach[i] as string, n) && assign(i + 1, new Set([...used, n])),
        );
      const covered = assign(0, new Set());
      return { met: yes.size >= r.quorum && covered, denied: who('deny').size >= r.denyThreshold };
    });
    return { met: per.every((p) => p.met), denied: per.some((p) => p.denied) };
  }

  it('approves iff every requirement is met by distinct eligible approvers before any deny threshold; stakeholders never vote', () => {
    fc.assert(
      fc.property(
        fc.array(requirementArb, { minLength: 1, maxLength: 2 }),
        groupsArb,
        fc.array(stepArb, { maxLength: 16 }),
        (requirements, groups, steps) => {
          let a = open({
            requirements,
            approverGroups: new Map(Object.entries(groups)),
            delegationChain: [' Planner-Bot'],
            triggeredBy: 'TINA',
          });
          const recorded: string[] = [];
          steps.forEach((s, i) => {
            const voter = { ...s.voter, id: spell(s.voter.id, s.spelling) };
            const now = at(i * 1000);
            const id = norm(voter.id);
            const wasPending = a.status === 'pending';
            const votedBefore = recorded.includes(id);
            const code = codeOf(() => {
              a = deepFreeze(castVote(a, voter, s.vote, { now }));
            });
            if (code === undefined) recorded.push(id);
            // Each refusal is the right one, checked in the order the rules apply.
            const expected = !wasPending
              ? 'APPROVAL_DECIDED'
              : STAKE_NAMES.has(id)
                ? 'APPROVAL_SELF_APPROVAL'
                : !requirements.some((r) => modelEligible(r, groups, voter))
                  ? 'APPROVAL_NOT_ELIGIBLE'
                  : votedBefore
                    ? 'APPROVAL_ALREADY_VOTED'
                    : undefined;
            expect(code).toBe(expected);
          });

          // No stakeholder's vote is ever recorded, and nobody's twice.
          const names = a.votes.map((v) => norm(v.principal));
          expect(names.filter((n) => STAKE_NAMES.has(n))).toEqual([]);
          expect(new Set(names).size).toBe(names.length);
          expect(names).toEqual(recorded);

          // Deny threshold reached by some prefix (the engine stops at the first decision).
          const deniedEarly = a.votes.some(
            (_, i) => modelOutcome(requirements, groups, a.votes.slice(0, i + 1)).denied,
          );
          const { met } = modelOutcome(requirements, groups, a.votes);
          expect(a.status === 'approved').toBe(met && !deniedEarly);
          expect(a.status === 'denied').toBe(deniedEarly);
          if (a.status === 'pending') expect(tally(a).outcome).toBeUndefined();
          expect(a.version).toBe(1 + a.votes.length);
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
