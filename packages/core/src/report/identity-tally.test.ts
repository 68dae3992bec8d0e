import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditRecord, CallIdentity } from '../audit/audit-event.js';
import type { VerifyReport } from '../audit/chain-verifier.js';
import { buildSoc2Report, type Soc2Facts } from './soc2-builder.js';

const PERIOD = { from: '2026-05-01T00:00:00.000Z', to: '2026-05-08T00:00:00.000Z' };
const VERIFY: VerifyReport = {
  ok: true,
  checked: 0,
  firstSeq: null,
  lastSeq: null,
  headHash: null,
  checkpointsChecked: 0,
  lastCheckpointSeq: null,
  unsignedTail: 0,
};
const FACTS: Soc2Facts = {
  generatedAt: '2026-05-09T00:00:00.000Z',
  source: { dialect: 'sqlite', location: 'x.db' },
  verify: VERIFY,
  trustedKeys: 'database',
  covering: null,
  checkpointsInPeriod: 0,
  policyAgents: null,
};
const ISSUER = 'https://idp.acme.example';

let seq = 0;
function rec(over: Partial<AuditEvent> & Pick<AuditEvent, 'type'>): AuditRecord {
  seq += 1;
  const event: AuditEvent = {
    id: `e${seq}`,
    ts: '2026-05-02T10:00:00.000Z',
    actor: { kind: 'system', id: 'warden' },
    ...over,
  };
  return { seq, prev: '', hash: '', event };
}

const bot = { kind: 'agent', id: 'bot', keyId: 'key_bot' } as const;
const review = (approvalId: string, over: Partial<AuditEvent> = {}) =>
  rec({
    type: 'call.decided',
    actor: bot,
    agent: 'bot',
    tool: 'db.drop',
    decision: {
      effect: 'review',
      policyEffect: 'review',
      mode: 'enforce',
      ruleId: 'r1',
      matchedRuleIds: ['r1'],
      reasons: [],
      approvalId,
    },
    ...over,
  });
const verified: CallIdentity = {
  agent: { method: 'api_key', keyId: 'key_bot' },
  initiator: { method: 'oidc', issuer: ISSUER, subject: 'u-alice', name: 'alice@acme.example' },
  chain: [{ method: 'task_token', tokenId: 'tok_1', taskId: 'task_1', agent: 'planner' }],
  taskToken: { tokenId: 'tok_2', taskId: 'task_1' },
};
const sso = { kind: 'human', id: 'lee@acme.example', issuer: ISSUER, subject: 'u-lee' } as const;
const decided = (approvalId: string, outcome: string, over: Partial<AuditEvent> = {}) =>
  rec({
    type: 'approval.decided',
    actor: sso,
    agent: 'bot',
    tool: 'db.drop',
    approvers: outcome === 'approved' ? ['lee@acme.example'] : [],
    data: { approvalId, outcome },
    ...over,
  });

describe('CC6: identities by how they were verified', () => {
  const events = [
    review('apr_claimed', { triggeredBy: 'alice', delegationChain: ['planner'] }),
    review('apr_verified', {
      triggeredBy: 'alice@acme.example',
      delegationChain: ['planner'],
      identity: verified,
    }),
    rec({
      type: 'call.decided',
      actor: bot,
      agent: 'bot',
      triggeredBy: 'mallory',
      decision: {
        effect: 'allow',
        policyEffect: 'allow',
        mode: 'enforce',
        ruleId: null,
        matchedRuleIds: [],
        reasons: [],
      },
    }),
    decided('apr_claimed', 'approved', { triggeredBy: 'alice', delegationChain: ['planner'] }),
    decided('apr_verified', 'denied', { triggeredBy: 'alice@acme.example', delegationChain: ['planner'] }),
    // Requested before the period: only the names the approval holds, which nothing verified.
    decided('apr_old', 'approved', { triggeredBy: 'bob' }),
    decided('apr_gone', 'expired', { actor: { kind: 'system', id: 'warden' }, triggeredBy: 'bob' }),
    rec({
      type: 'identity.refused',
      actor: bot,
      agent: 'bot',
      data: { code: 'TASK_TOKEN_INVALID', reason: 'expired' },
    }),
    rec({
      type: 'identity.refused',
      actor: bot,
      agent: 'bot',
      data: { code: 'TASK_TOKEN_INVALID', reason: 'expired' },
    }),
    rec({ type: 'identity.refused', actor: bot, agent: 'bot', data: { code: 'TASK_TOKEN_MISMATCH' } }),
    rec({ type: 'identity.roles_changed', actor: sso, data: { role: 'approver' } }),
    // An event from before key ids were recorded.
    rec({ type: 'policy.changed', actor: { kind: 'human', id: 'ops' }, data: {} }),
  ];

  it('counts identities, events and decisions per method, verified first and claims last', () => {
    const r = buildSoc2Report(PERIOD, { context: [], events }, FACTS).access.identities;
    const by = Object.fromEntries(r.byMethod.map((m) => [m.method, m]));
    expect(r.byMethod.map((m) => m.method)).toEqual(['api_key', 'oidc', 'task_token', 'system', 'claimed']);
    // bot's key on every call and refusal: 3 calls + 3 refusals.
    expect(by.api_key).toEqual({ method: 'api_key', identities: 1, events: 6, decisions: 3 });
    // alice verified on one call; lee (SSO) decided three approvals and had a role change.
    expect(by.oidc).toEqual({ method: 'oidc', identities: 2, events: 5, decisions: 4 });
    expect(by.task_token).toEqual({ method: 'task_token', identities: 1, events: 1, decisions: 1 });
    expect(by.system).toEqual({ method: 'system', identities: 1, events: 1, decisions: 1 });
    // claimed on the calls and an old event: alice, planner, mallory, ops. Approvals name the parties of
    // their requests again and are not counted for them.
    expect(by.claimed).toEqual({ method: 'claimed', identities: 4, events: 3, decisions: 2 });
    const row = (method: string, name: string) =>
      r.identities.items.find((i) => i.method === method && i.name === name);
    expect(row('oidc', 'alice@acme.example')).toMatchObject({
      detail: `${ISSUER} u-alice`,
      roles: ['initiator'],
      events: 1,
      decisions: 1,
    });
    expect(row('api_key', 'bot')).toMatchObject({ detail: 'key_bot', roles: ['actor', 'agent'] });
    expect(row('claimed', 'alice')).toMatchObject({ roles: ['initiator'], events: 1, decisions: 1 });
    expect(row('claimed', 'bob')).toBeUndefined();
    expect(r.identities.items.map((i) => i.method)).toEqual(
      [...r.identities.items.map((i) => i.method)].sort(
        (a, b) =>
          ['api_key', 'oidc', 'task_token', 'system', 'claimed'].indexOf(a) -
          ['api_key', 'oidc', 'task_token', 'system', 'claimed'].indexOf(b),
      ),
    );
  });

  it('flags reviews and personal approvals that relied on claims, reading an approval from its request', () => {
    const r = buildSoc2Report(PERIOD, { context: [], events }, FACTS).access.identities;
    expect(
      r.unverifiedDecisions.items.map((d) => [d.type, d.decided, d.approvalId, d.claimed.join('; '), d.from]),
    ).toEqual([
      ['call.decided', 'review', 'apr_claimed', 'initiator alice; delegate planner', 'event'],
      ['approval.decided', 'approved', 'apr_claimed', 'initiator alice; delegate planner', 'request'],
      ['approval.decided', 'approved', 'apr_old', 'initiator bob', 'event'],
    ]);
    // apr_verified's request was verified, so its denial is not flagged although the approval event
    // names the initiator and chain without a record of its own; an expiry is decided by no person.
    expect(r.unverifiedDecisions.total).toBe(3);
  });

  it('reads an approval requested before the period from its request, once it is looked up', () => {
    const before = review('apr_before', {
      ts: '2026-04-30T23:00:00.000Z',
      callId: 'call_before',
      triggeredBy: 'alice@acme.example',
      identity: verified,
    });
    const approval = decided('apr_before', 'approved', {
      callId: 'call_before',
      triggeredBy: 'alice@acme.example',
    });
    const alone = buildSoc2Report(PERIOD, { context: [], events: [approval] }, FACTS).access.identities;
    // Not looked up: the names the approval holds, which nothing verified.
    expect(alone.unverifiedDecisions.items.map((d) => [d.approvalId, d.from])).toEqual([
      ['apr_before', 'event'],
    ]);
    const looked = buildSoc2Report(PERIOD, { context: [], events: [approval], requests: [before] }, FACTS);
    expect(looked.access.identities.unverifiedDecisions.total).toBe(0);
    // A claimed request looked up is flagged from it.
    const claimedBefore = review('apr_before', { callId: 'call_before', triggeredBy: 'mallory' });
    const flagged = buildSoc2Report(
      PERIOD,
      { context: [], events: [approval], requests: [claimedBefore] },
      FACTS,
    );
    expect(
      flagged.access.identities.unverifiedDecisions.items.map((d) => [d.claimed.join(), d.from]),
    ).toEqual([['initiator mallory', 'request']]);
  });

  it('counts identity refusals by code and reason, and role changes', () => {
    const r = buildSoc2Report(PERIOD, { context: [], events }, FACTS).access.identities;
    expect(r.refusedTotal).toBe(3);
    expect(r.refused.rows).toEqual([
      { key: 'TASK_TOKEN_INVALID: expired', count: 2 },
      { key: 'TASK_TOKEN_MISMATCH', count: 1 },
    ]);
    expect(r.rolesChanged).toBe(1);
  });

  it('keeps exact counts but only the first rows when capped', () => {
    const many = Array.from({ length: 7 }, (_, i) => review(`apr_${i}`, { triggeredBy: `person-${i}` }));
    const r = buildSoc2Report(PERIOD, { context: [], events: many }, FACTS, { cap: 2 }).access.identities;
    expect(r.unverifiedDecisions.items.length).toBe(2);
    expect(r.unverifiedDecisions.total).toBe(7);
    expect(r.identities.items.length).toBe(2);
    expect(r.identities.total).toBe(8);
    expect(r.byMethod.find((m) => m.method === 'claimed')).toMatchObject({
      identities: 7,
      events: 7,
      decisions: 7,
    });
  });
});
