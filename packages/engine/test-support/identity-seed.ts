import { type Actor, AuditEventSchema, type CallIdentity, uuidv7 } from '@warden/core';
import type { Engine } from '../src/engine/engine.js';

/** The identity provider the seeded people signed in through. */
export const SEED_ISSUER = 'https://idp.acme.example';

/** The SSO person who decides the verified request (an OIDC actor: issuer and subject, no key). */
export const SSO_LEE: Actor = {
  kind: 'human',
  id: 'lee@acme.example',
  issuer: SEED_ISSUER,
  subject: 'u-lee',
};

/** What a call with a task token records (the shape engineer "tasks" records on `call.decided`). */
export const VERIFIED_IDENTITY: CallIdentity = {
  agent: { method: 'api_key', keyId: 'key_billing' },
  initiator: { method: 'oidc', issuer: SEED_ISSUER, subject: 'u-alice', name: 'alice@acme.example' },
  chain: [{ method: 'task_token', tokenId: 'tok_planner', taskId: 'task_1', agent: 'planner' }],
  taskToken: { tokenId: 'tok_billing', taskId: 'task_1' },
};

export interface IdentitySeed {
  /** The review whose initiator (`alice`) and chain (`planner`) were only claimed, approved by `lee`. */
  readonly claimedApproval: string;
  readonly claimedCallId: string;
  /** The review with a verified initiator and chain, approved by the SSO person. */
  readonly verifiedApproval: string;
  readonly verifiedCallId: string;
}

/**
 * Seeds a database through a real engine (the test policy: billing-agent's `stripe.refund` over 100 is
 * reviewed) with a review whose initiator and chain are only claimed, approved by a person with a key;
 * and, committed through the engine's commit path as a call with a task token records them, a review
 * with a verified initiator and chain (two hours ago) decided now by an SSO person, a task started, identity refusals and a
 * role change. Every event is parsed by the audit event schema first.
 */
export async function seedIdentities(engine: Engine): Promise<IdentitySeed> {
  const claimed = await engine.check(
    {
      agent: 'billing-agent',
      tool: 'stripe.refund',
      args: { amount: 500 },
      session: 's-claimed',
      triggeredBy: 'alice',
      delegationChain: ['planner'],
    },
    { keyId: 'key_billing' },
  );
  const claimedApproval = claimed.approval?.id;
  if (claimed.effect !== 'review' || !claimedApproval) throw new Error('the seed expected a review');
  await engine.approvals.vote(
    claimedApproval,
    { kind: 'human', id: 'lee', role: 'approver', keyId: 'key_lee' },
    'approve',
  );

  const verifiedApproval = `apr_${uuidv7()}`;
  const verifiedCallId = uuidv7();
  const agent: Actor = { kind: 'agent', id: 'billing-agent', keyId: 'key_billing' };
  // The verified task started and its call was reviewed two hours ago; the approval is decided now.
  const earlier = new Date(Date.now() - 2 * 3_600_000).toISOString();
  const call = {
    agent: 'billing-agent',
    tool: 'stripe.refund',
    session: 's-verified',
    callId: verifiedCallId,
    triggeredBy: 'alice@acme.example',
    delegationChain: ['planner'],
  };
  const ev = (type: Parameters<Engine['systemEvent']>[0], actor: Actor, fields: Record<string, unknown>) =>
    AuditEventSchema.parse(engine.systemEvent(type, actor, fields));
  await engine.commit({
    events: [
      ev(
        'task.started',
        { kind: 'service', id: 'frontend', keyId: 'key_frontend' },
        {
          ts: earlier,
          agent: 'planner',
          session: 's-verified',
          identity: {
            agent: { method: 'api_key', keyId: 'key_planner' },
            initiator: VERIFIED_IDENTITY.initiator,
          },
          data: { taskId: 'task_1', tokenId: 'tok_planner' },
        },
      ),
      ev('call.decided', agent, {
        ...call,
        ts: earlier,
        args: { amount: 800 },
        identity: VERIFIED_IDENTITY,
        decision: {
          effect: 'review',
          policyEffect: 'review',
          mode: 'enforce',
          ruleId: 'refunds-large',
          matchedRuleIds: ['refunds-large'],
          reasons: ['refunds over 100 are reviewed'],
          approvalId: verifiedApproval,
        },
      }),
      ev('approval.decided', SSO_LEE, {
        ...call,
        approvers: ['lee@acme.example'],
        data: { approvalId: verifiedApproval, outcome: 'approved' },
      }),
      ev('identity.refused', agent, {
        agent: 'billing-agent',
        identity: { agent: { method: 'api_key', keyId: 'key_billing' } },
        data: { code: 'TASK_TOKEN_INVALID', reason: 'expired' },
      }),
      ev('identity.refused', agent, {
        agent: 'billing-agent',
        data: { code: 'TASK_TOKEN_INVALID', reason: 'expired' },
      }),
      ev('identity.refused', agent, {
        agent: 'billing-agent',
        data: { code: 'TASK_TOKEN_MISMATCH', reason: 'the body names another session' },
      }),
      ev('identity.roles_changed', SSO_LEE, { data: { role: 'approver', groups: ['leads'] } }),
    ],
  });
  return { claimedApproval, claimedCallId: claimed.callId, verifiedApproval, verifiedCallId };
}
