import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AuditEvent, AuditEventSchema, type IdentityProof } from './audit-event.js';
import {
  actorProof,
  callParties,
  eventIdentities,
  proofDetail,
  proofLabel,
  unverifiedClaims,
} from './identity-proofs.js';

const TS = '2026-05-02T10:00:00.000Z';
const ISSUER = 'https://idp.acme.example';

const call = (over: Partial<AuditEvent> = {}): AuditEvent => ({
  id: 'e1',
  ts: TS,
  type: 'call.decided',
  actor: { kind: 'agent', id: 'billing-bot', keyId: 'key_agent' },
  agent: 'billing-bot',
  tool: 'db.query',
  ...over,
});

describe('how each identity in an event was verified', () => {
  it('reads the actor: key id, OIDC issuer and subject, Warden itself, or a bare name (old events)', () => {
    expect(actorProof({ kind: 'human', id: 'lee', keyId: 'key_1' })).toEqual({
      method: 'api_key',
      keyId: 'key_1',
    });
    expect(actorProof({ kind: 'human', id: 'lee@acme.example', issuer: ISSUER, subject: 'u-42' })).toEqual({
      method: 'oidc',
      issuer: ISSUER,
      subject: 'u-42',
    });
    expect(actorProof({ kind: 'system', id: 'warden' })).toEqual({ method: 'system' });
    expect(actorProof({ kind: 'human', id: 'lee' })).toEqual({ method: 'claimed' });
    // An issuer without its subject proves nothing.
    expect(actorProof({ kind: 'human', id: 'lee', issuer: ISSUER })).toEqual({ method: 'claimed' });
  });

  it('reads an old call event: the agent by its key, the initiator and the chain as claimed', () => {
    const e = call({ triggeredBy: 'alice', delegationChain: ['planner', 'router'] });
    expect(eventIdentities(e)).toEqual([
      { role: 'actor', name: 'billing-bot', proof: { method: 'api_key', keyId: 'key_agent' } },
      { role: 'agent', name: 'billing-bot', proof: { method: 'api_key', keyId: 'key_agent' } },
      { role: 'initiator', name: 'alice', proof: { method: 'claimed' } },
      { role: 'delegate', name: 'planner', proof: { method: 'claimed' } },
      { role: 'delegate', name: 'router', proof: { method: 'claimed' } },
    ]);
    expect(unverifiedClaims(e).map((p) => p.name)).toEqual(['alice', 'planner', 'router']);
  });

  it('reads a call with a task token from its recorded identity, names and proofs', () => {
    const e = call({
      triggeredBy: 'alice@acme.example',
      delegationChain: ['planner'],
      identity: {
        agent: { method: 'api_key', keyId: 'key_agent' },
        initiator: { method: 'oidc', issuer: ISSUER, subject: 'u-42', name: 'alice@acme.example' },
        chain: [{ method: 'task_token', tokenId: 'tok_1', taskId: 'task_1', agent: 'planner' }],
        taskToken: { tokenId: 'tok_2', taskId: 'task_1' },
      },
    });
    expect(callParties(e)).toEqual([
      { role: 'agent', name: 'billing-bot', proof: { method: 'api_key', keyId: 'key_agent' } },
      {
        role: 'initiator',
        name: 'alice@acme.example',
        proof: { method: 'oidc', issuer: ISSUER, subject: 'u-42' },
      },
      {
        role: 'delegate',
        name: 'planner',
        proof: { method: 'task_token', tokenId: 'tok_1', taskId: 'task_1' },
      },
    ]);
    expect(unverifiedClaims(e)).toEqual([]);
  });

  it('counts a name the recorded identity does not cover as claimed (fails closed)', () => {
    const e = call({
      triggeredBy: 'alice',
      delegationChain: ['planner', 'intruder'],
      identity: {
        agent: { method: 'api_key', keyId: 'key_agent' },
        chain: [{ method: 'task_token', tokenId: 't', taskId: 'k', agent: 'planner' }],
      },
    });
    expect(unverifiedClaims(e).map((p) => `${p.role}:${p.name}`)).toEqual([
      'initiator:alice',
      'delegate:intruder',
    ]);
  });

  it('does not vouch for the agent of an event another actor recorded (an approval decided by a person)', () => {
    const e = call({
      type: 'approval.decided',
      actor: { kind: 'human', id: 'lee', issuer: ISSUER, subject: 'u-7' },
      triggeredBy: 'alice',
    });
    const [actor, agent, initiator] = eventIdentities(e);
    expect(actor?.proof.method).toBe('oidc');
    expect(agent).toEqual({ role: 'agent', name: 'billing-bot', proof: { method: 'claimed' } });
    expect(initiator?.proof.method).toBe('claimed');
  });

  it('labels and details each method as people read it', () => {
    expect(proofLabel('api_key')).toBe('key');
    expect(proofLabel('oidc')).toBe('SSO');
    expect(proofLabel('task_token')).toBe('task token');
    expect(proofLabel('claimed')).toBe('claimed, unverified');
    expect(proofDetail({ method: 'oidc', issuer: ISSUER, subject: 'u-1' })).toBe(`${ISSUER} u-1`);
    expect(proofDetail({ method: 'task_token', tokenId: 't1', taskId: 'k1' })).toBe('task k1, token t1');
  });
});

// Any event the schema accepts: every actor kind with and without key or OIDC proof, with and without
// an agent, initiator, chain and recorded identity (partial or whole).
const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
const proofArb: fc.Arbitrary<IdentityProof> = fc.oneof(
  name.map((keyId) => ({ method: 'api_key' as const, keyId })),
  fc.record({ method: fc.constant('oidc' as const), issuer: fc.constant(ISSUER), subject: name }),
  fc.record({ method: fc.constant('task_token' as const), tokenId: name, taskId: name }),
  fc.constant({ method: 'claimed' as const }),
);
const actorArb = fc.oneof(
  fc.record({ kind: fc.constant('system' as const), id: fc.constant('warden') }),
  fc.record(
    {
      kind: fc.constantFrom('agent' as const, 'human' as const, 'service' as const),
      id: name,
      keyId: name,
      issuer: fc.constant(ISSUER),
      subject: name,
    },
    { requiredKeys: ['kind', 'id'] },
  ),
);
const eventArb = fc
  .record(
    {
      type: fc.constantFrom('call.decided' as const, 'approval.decided' as const, 'task.started' as const),
      actor: actorArb,
      agent: name,
      triggeredBy: name,
      delegationChain: fc.array(name, { maxLength: 4 }),
      identity: fc.record(
        {
          agent: proofArb,
          initiator: fc.tuple(proofArb, fc.option(name, { nil: undefined })).map(([p, n]) => ({
            ...p,
            ...(n ? { name: n } : {}),
          })),
          chain: fc.array(
            fc.tuple(proofArb, name).map(([p, agent]) => ({ ...p, agent })),
            { maxLength: 4 },
          ),
        },
        { requiredKeys: ['agent'] },
      ),
    },
    { requiredKeys: ['type', 'actor'] },
  )
  .map((over) => AuditEventSchema.parse({ id: 'e', ts: TS, ...over }));

describe('identities of any event shape', () => {
  it('name the actor first, each party once in order, and claim nothing recorded as verified', () => {
    fc.assert(
      fc.property(eventArb, (e) => {
        const all = eventIdentities(e);
        expect(all[0]).toEqual({ role: 'actor', name: e.actor.id, proof: actorProof(e.actor) });
        const roles = all.slice(1).map((p) => p.role);
        // agent, then at most one initiator, then delegates: the order a reader expects.
        expect(roles.join(',')).toMatch(/^(agent)?,?(initiator)?,?(delegate,?)*$/);
        expect(roles.filter((r) => r === 'agent').length).toBe(e.agent ? 1 : 0);
        const hasInitiator = e.triggeredBy !== undefined || e.identity?.initiator !== undefined;
        expect(roles.filter((r) => r === 'initiator').length).toBe(hasInitiator ? 1 : 0);
        const delegates = Math.max(e.identity?.chain?.length ?? 0, e.delegationChain?.length ?? 0);
        expect(roles.filter((r) => r === 'delegate').length).toBe(delegates);
        for (const p of all) {
          // A proof holds only proof fields (never a recorded name), and a method that verifies holds its evidence.
          expect(
            Object.keys(p.proof).every((k) =>
              ['method', 'keyId', 'issuer', 'subject', 'tokenId', 'taskId'].includes(k),
            ),
          ).toBe(true);
        }
        // Without a recorded identity, an initiator and a chain are never verified.
        if (!e.identity) {
          expect(unverifiedClaims(e).length).toBe((e.triggeredBy ? 1 : 0) + (e.delegationChain?.length ?? 0));
        }
        // Each delegate is as recorded at its place in the chain, or claimed past what was recorded.
        const delegatesOf = all.filter((p) => p.role === 'delegate');
        delegatesOf.forEach((d, i) => {
          const link = e.identity?.chain?.[i];
          expect(d.proof.method).toBe(link ? link.method : 'claimed');
          expect(d.name).toBe(link ? link.agent : e.delegationChain?.[i]);
        });
        const initiator = all.find((p) => p.role === 'initiator');
        if (initiator) expect(initiator.proof.method).toBe(e.identity?.initiator?.method ?? 'claimed');
      }),
      { numRuns: 300 },
    );
  });
});
