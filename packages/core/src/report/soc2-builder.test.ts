import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditRecord } from '../audit/audit-event.js';
import type { VerifyReport } from '../audit/chain-verifier.js';
import { bucketStart, bucketsOf, granularityFor } from './report-period.js';
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

const decided = (
  effect: 'allow' | 'review' | 'block',
  agent: string,
  ts: string,
  ruleId: string | null = null,
) =>
  rec({
    type: 'call.decided',
    ts,
    agent,
    actor: { kind: 'agent', id: agent },
    decision: { effect, policyEffect: effect, mode: 'enforce', ruleId, matchedRuleIds: [], reasons: [] },
  });

describe('the SOC 2 report builder', () => {
  it('lists dashboard sign-ins under CC6 and counts sign-outs', () => {
    const lee = { kind: 'human', id: 'lee@acme.example' } as const;
    const signIn = (session: string) =>
      rec({
        type: 'auth.signed_in',
        actor: lee,
        data: {
          keyId: 'key_1',
          role: 'approver',
          session,
          address: '10.0.0.7',
          expiresAt: '2026-05-02T18:00:00.000Z',
        },
      });
    const r = buildSoc2Report(
      PERIOD,
      {
        context: [],
        events: [
          signIn('s1'),
          signIn('s2'),
          rec({ type: 'auth.signed_out', actor: lee, data: { keyId: 'key_1', session: 's1' } }),
          rec({ type: 'auth.signed_in', actor: lee, ts: '2026-05-09T00:00:00.000Z', data: {} }),
        ].filter((x) => x.event.ts < PERIOD.to),
      },
      FACTS,
    );
    expect(r.access.signIns.total).toBe(2);
    expect(r.access.signIns.items[0]).toMatchObject({
      by: 'human:lee@acme.example',
      keyId: 'key_1',
      role: 'approver',
      address: '10.0.0.7',
    });
    expect(r.access.signOuts).toBe(1);
  });

  it('flags a requester who approved or voted on their own request, in any spelling', () => {
    const r = buildSoc2Report(
      PERIOD,
      {
        context: [],
        events: [
          rec({
            type: 'approval.decided',
            actor: { kind: 'human', id: 'Alice' },
            agent: 'bot',
            triggeredBy: 'alice',
            approvers: ['Al\u200bice '],
            data: { approvalId: 'apr_1', outcome: 'approved' },
          }),
          rec({
            type: 'approval.decided',
            actor: { kind: 'human', id: 'lee' },
            agent: 'bot',
            triggeredBy: 'alice',
            approvers: ['lee'],
            data: { approvalId: 'apr_2', outcome: 'approved' },
          }),
          rec({
            type: 'approval.voted',
            actor: { kind: 'agent', id: 'planner' },
            agent: 'bot',
            delegationChain: ['planner'],
            data: { approvalId: 'apr_3', vote: 'approve' },
          }),
          rec({ type: 'approval.decided', agent: 'bot', data: { approvalId: 'apr_4', outcome: 'expired' } }),
        ],
      },
      FACTS,
    );
    expect(r.separation.decided.items.map((a) => a.sod)).toEqual(['violation', 'ok', 'none']);
    expect(r.separation.checked).toBe(2);
    expect(r.separation.votesChecked).toBe(1);
    expect(
      r.separation.violations.items.map((v) => [v.type, v.approvalId, v.principal, v.requester]),
    ).toEqual([
      ['approval.decided', 'apr_1', 'Al\u200bice ', 'bot, alice'],
      ['approval.voted', 'apr_3', 'planner', 'bot, planner'],
    ]);
    expect(r.operations.approvalsExpired.total).toBe(1);
  });

  it('flags tom deciding a task triggered by a look-alike of tom, and checks service votes', () => {
    const r = buildSoc2Report(
      PERIOD,
      {
        context: [],
        events: [
          rec({
            type: 'approval.decided',
            actor: { kind: 'human', id: 'tom', keyId: 'key_t' },
            agent: 'bot',
            triggeredBy: 't\u043em',
            approvers: ['tom'],
            data: { approvalId: 'apr_1', outcome: 'approved' },
          }),
          rec({
            type: 'approval.voted',
            actor: { kind: 'service', id: 'ci\u0301', keyId: 'key_s' },
            agent: 'ci',
            data: { approvalId: 'apr_2', vote: 'approve' },
          }),
        ],
      },
      FACTS,
    );
    expect(r.separation.violations.items.map((v) => [v.type, v.approvalId, v.principal])).toEqual([
      ['approval.decided', 'apr_1', 'tom'],
      ['approval.voted', 'apr_2', 'ci\u0301'],
    ]);
  });

  it('keeps exact counts but only the first rows of a list, and the top names with the rest summed', () => {
    const events = [
      ...Array.from({ length: 7 }, (_, i) =>
        decided('block', `agent-${i % 3}`, '2026-05-03T01:00:00Z', 'r1'),
      ),
      decided('block', 'agent-0', '2026-05-03T02:00:00Z'),
      ...Array.from({ length: 5 }, () =>
        rec({ type: 'breaker.tripped', agent: 'x', data: { breaker: 'repeat' } }),
      ),
    ];
    const r = buildSoc2Report(PERIOD, { context: [], events }, FACTS, { cap: 2, top: 2 });
    expect(r.operations.breakerTrips.total).toBe(5);
    expect(r.operations.breakerTrips.items).toHaveLength(2);
    expect(r.operations.blockedByAgent).toEqual({
      rows: [
        { key: 'agent-0', count: 4 },
        { key: 'agent-1', count: 2 },
      ],
      otherKeys: 1,
      otherCount: 2,
    });
    expect(r.operations.blockedByRule.rows).toEqual([
      { key: 'rule r1', count: 7 },
      { key: 'default block (no rule matched)', count: 1 },
    ]);
    expect(r.granularity).toBe('day');
    expect(r.decisions.series.find((b) => b.start === '2026-05-03T00:00:00.000Z')?.block).toBe(8);
  });

  it('counts a voided decision as the block its caller was told, not as the allow recorded', () => {
    const allowed = decided('allow', 'agent-9', '2026-05-04T01:00:00Z');
    const kept = decided('allow', 'agent-9', '2026-05-04T01:00:01Z');
    const voided = rec({
      type: 'call.voided',
      ts: '2026-05-04T01:00:02Z',
      agent: 'agent-9',
      callId: 'c1',
      data: {
        voidedSeq: allowed.seq,
        effect: 'allow',
        decidedAt: allowed.event.ts,
        reason: 'STORE_UNAVAILABLE',
      },
    });
    const r = buildSoc2Report(PERIOD, { context: [], events: [allowed, kept, voided] }, FACTS);
    expect(r.decisions).toMatchObject({ allow: 1, block: 1, total: 2 });
    expect(r.decisions.series.find((b) => b.start === '2026-05-04T00:00:00.000Z')).toMatchObject({
      allow: 1,
      block: 1,
    });
    expect(r.operations.blockedByRule.rows).toEqual([{ key: 'code STORE_UNAVAILABLE', count: 1 }]);
  });

  it('uses context from before the period: the policy version, key roles, grants that expire in it', () => {
    const r = buildSoc2Report(
      PERIOD,
      {
        context: [
          rec({ type: 'policy.changed', ts: '2026-04-01T00:00:00Z', data: { newVersion: 'v1' } }),
          rec({ type: 'policy.changed', ts: '2026-05-09T00:00:00Z', data: { newVersion: 'after' } }),
          rec({
            type: 'api_key.created',
            ts: '2026-04-01T00:00:00Z',
            data: { id: 'k1', principal: 'olga', role: 'admin' },
          }),
          rec({
            type: 'grant.added',
            ts: '2026-04-30T00:00:00Z',
            agent: 'a',
            data: { grantId: 'g1', tool: 't', expiresAt: '2026-05-02T00:00:00.000Z' },
          }),
          rec({
            type: 'grant.added',
            ts: '2026-04-30T00:00:00Z',
            agent: 'a',
            data: { grantId: 'g2', tool: 't', expiresAt: '2026-05-03T00:00:00.000Z' },
          }),
          rec({ type: 'grant.revoked', ts: '2026-05-01T00:00:00Z', data: { grantId: 'g2' } }),
          rec({
            type: 'grant.added',
            ts: '2026-04-30T00:00:00Z',
            agent: 'a',
            data: { grantId: 'g3', tool: 't', expiresAt: '2026-06-01T00:00:00.000Z' },
          }),
        ],
        events: [rec({ type: 'api_key.revoked', actor: { kind: 'human', id: 'root' }, data: { id: 'k1' } })],
      },
      FACTS,
    );
    expect(r.access.policyAtEnd.version).toBe('v1');
    expect(r.access.keysRevoked.items).toMatchObject([
      { keyId: 'k1', principal: 'olga', role: 'admin', by: 'human:root' },
    ]);
    expect(r.access.grantsExpired.items.map((g) => g.grantId)).toEqual(['g1']);
  });

  it('buckets by hour up to 3 days, by day up to 400, by week beyond', () => {
    expect(granularityFor({ from: '2026-05-01T00:00:00Z', to: '2026-05-04T00:00:00Z' })).toBe('hour');
    expect(granularityFor(PERIOD)).toBe('day');
    expect(granularityFor({ from: '2025-01-01T00:00:00Z', to: '2026-05-01T00:00:00Z' })).toBe('week');
    expect(bucketStart('2026-05-07T13:45:00Z', 'week')).toBe('2026-05-04T00:00:00.000Z');
    expect(bucketsOf(PERIOD, 'day')).toHaveLength(7);
    expect(bucketsOf({ from: '2026-05-01T10:30:00Z', to: '2026-05-01T12:00:00Z' }, 'hour')).toEqual([
      '2026-05-01T10:00:00.000Z',
      '2026-05-01T11:00:00.000Z',
    ]);
  });
});
