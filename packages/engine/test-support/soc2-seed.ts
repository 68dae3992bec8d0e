import type { Actor, Voter } from '@warden/core';
import { createApiKey, revokeApiKey } from '../src/access/api-keys.js';
import type { Engine } from '../src/engine/engine.js';
import { resumeSession } from '../src/engine/session-control.js';
import { testPolicy } from './engine-fixtures.js';

/** The policy in force before the period (stored with its text, so the report can list its rules). */
export const SOC2_POLICY_V1 = `
name: soc2 seed
approverGroups:
  leads: [lee, lina, alice]
defaults:
  breakers: { repeat: { max: 3, within: 10m }, pingPong: false, rate: false, tokenBurn: false }
agents:
  pay-agent:
    rules:
      - { id: pay-small, effect: allow, tools: [pay], when: args.amount <= 100 }
      - id: pay-large
        effect: review
        tools: [pay]
        when: args.amount > 100
        approval: { approvers: { groups: [leads] }, timeout: 1h }
      - { id: no-drops, effect: block, tools: [db.drop] }
    budgets:
      - { id: session-calls, metric: calls, limit: 3, scope: session, window: session }
  looper:
    rules:
      - { id: looper-any, effect: allow, tools: ['*'] }
`;

/** The policy put in force during the period: one more rule. */
export const SOC2_POLICY_V2 = SOC2_POLICY_V1.replace(
  '      - { id: no-drops, effect: block, tools: [db.drop] }\n',
  "      - { id: no-drops, effect: block, tools: [db.drop] }\n      - { id: no-wires, effect: block, tools: ['wire.*'] }\n",
);

/** The seeded period: 3 March 2026, a whole UTC day; events on the 2nd and the 4th lie outside it. */
export const SOC2_PERIOD = { from: '2026-03-03T00:00:00.000Z', to: '2026-03-04T00:00:00.000Z' } as const;

const lee: Voter = { kind: 'human', id: 'lee', role: 'approver' };
const lina: Voter = { kind: 'human', id: 'lina', role: 'approver' };
const alice: Voter = { kind: 'human', id: 'alice', role: 'approver' };
const admin: Actor = { kind: 'human', id: 'admin' };
const ann: Actor = { kind: 'human', id: 'ann' };

/** A `<script>` in a reason: every renderer must escape it. */
export const HOSTILE_REASON = '<script>alert("x")</script> & | pipes';

/**
 * Seeds a database through a real engine with one of everything the SOC 2 report covers, inside
 * SOC2_PERIOD, plus decoys before and after it. `setTime` sets the clock (fake Date); every step moves
 * it on a second so events have distinct times.
 */
export async function seedSoc2(engine: Engine, setTime: (ms: number) => void): Promise<void> {
  let now = Date.parse('2026-03-02T08:00:00Z');
  const at = (iso: string) => {
    now = Date.parse(iso);
    setTime(now);
  };
  const tick = () => {
    now += 1000;
    setTime(now);
  };
  const pay = (amount: number, session: string, triggeredBy = 'tom') => {
    tick();
    return engine.check({ agent: 'pay-agent', tool: 'pay', args: { amount }, session, triggeredBy });
  };
  const call = async (agent: string, tool: string, session: string, args: Record<string, unknown> = {}) => {
    tick();
    const r = await engine.check({ agent, tool, args, session, triggeredBy: 'tom' });
    if (r.effect === 'allow') await engine.complete(r.callId, { status: 'ok' });
    return r;
  };

  // Before the period: the policy, a key, a grant, decisions (none of it counts but as context).
  at('2026-03-02T08:00:00Z');
  await engine.setPolicy(testPolicy(SOC2_POLICY_V1), { kind: 'human', id: 'carol' }, [
    { path: 'policy.yaml', text: SOC2_POLICY_V1 },
  ]);
  tick();
  const olga = await createApiKey(
    engine,
    { principalKind: 'human', principal: 'olga', role: 'approver' },
    admin,
  );
  tick();
  await engine.grants.add({ agent: 'pay-agent', tool: 'crm.export', ttl: '30d', reason: 'before' }, ann);
  await call('pay-agent', 'pay', 'b-1', { amount: 5 });
  await call('pay-agent', 'db.drop', 'b-1');

  // The period.
  at('2026-03-03T09:00:00Z');
  await call('pay-agent', 'pay', 's-allow', { amount: 50 });
  await call('pay-agent', 'db.drop', 's-allow');
  await call('pay-agent', 'unknown.tool', 's-allow');
  const approved = (await pay(500, 's-rev-1', 'alice')).approval?.id as string;
  tick();
  await engine.approvals.vote(approved, alice, 'approve').catch(() => undefined); // refused: she triggered it
  tick();
  await engine.approvals.vote(approved, lee, 'approve', { reason: HOSTILE_REASON });
  const denied = (await pay(600, 's-rev-2', 'alice')).approval?.id as string;
  tick();
  await engine.approvals.vote(denied, lina, 'deny', { reason: 'not this month' });
  await pay(700, 's-rev-3', 'bob'); // left to expire
  tick();
  await engine.grants.add({ agent: 'pay-agent', tool: 'crm.read', ttl: '30m', reason: HOSTILE_REASON }, ann);
  tick();
  const revoked = await engine.grants.add(
    { agent: 'pay-agent', tool: 'crm.write', ttl: '2h', reason: 'x' },
    ann,
  );
  tick();
  await engine.grants.revoke(revoked.id, ann, 'done');
  tick();
  await createApiKey(engine, { principalKind: 'agent', principal: 'pay-agent', role: 'agent' }, admin);
  tick();
  await revokeApiKey(engine, olga.key.id, admin, 'left the team');
  tick();
  await engine.setPolicy(testPolicy(SOC2_POLICY_V2), { kind: 'human', id: 'dave' }, [
    { path: 'policy.yaml', text: SOC2_POLICY_V2 },
  ]);
  for (let i = 0; i < 4; i++) await call('pay-agent', 'pay', 's-budget', { amount: 10 + i });
  tick();
  await resumeSession(engine, 's-budget', { kind: 'human', id: 'tom' }, 'mine').catch(() => undefined);
  tick();
  await resumeSession(engine, 's-budget', ann, 'checked', {
    raise: [{ budget: 'session-calls', limit: 10 }],
  });
  for (let i = 0; i < 4; i++) await call('looper', 'search', 's-loop', { q: 'same' });
  // The expiry: the sweep runs 75 minutes later (the request had 1 h).
  at('2026-03-03T10:30:00Z');
  await engine.approvals.sweep();
  tick();
  await engine.checkpoint();

  // After the period: decoys.
  at('2026-03-04T09:00:00Z');
  await call('pay-agent', 'db.drop', 'a-1');
  await pay(900, 'a-2', 'bob');
  tick();
  await createApiKey(engine, { principalKind: 'human', principal: 'zed', role: 'auditor' }, admin);
  tick();
  await engine.setPolicy(testPolicy(SOC2_POLICY_V1), { kind: 'human', id: 'carol' }, [
    { path: 'policy.yaml', text: SOC2_POLICY_V1 },
  ]);
}
