import type { AuditEvent, Voter } from '@warden/core';
import { WARDEN_ACTOR } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import { parseAuditQuery } from '../store/audit-query.js';
import type { CheckResult, Engine } from './engine.js';
import { pauseSession, resumeSession } from './session-control.js';

/** A payment tier per effect, a tool two review rules cover, and another agent with the same tool. */
const POLICY = `
name: engine approvals tests
approverGroups:
  leads: [lee, lina]
  dba: [dora]
  security: [sam]
agents:
  pay-agent:
    rules:
      - id: pay-small
        effect: allow
        tools: [pay]
        when: args.amount <= 100
      - id: pay-large
        effect: review
        tools: [pay]
        when: args.amount > 100 && args.amount <= 10000
        reason: large payments need a lead
        approval: { approvers: { groups: [leads] }, timeout: 1h }
      - id: pay-huge
        effect: block
        tools: [pay]
        when: args.amount > 10000
      - id: refund-review
        effect: review
        tools: [refund]
      - id: deploy-dba
        effect: review
        tools: [deploy]
        approval: { approvers: { groups: [dba] }, timeout: 2h }
      - id: deploy-security
        effect: review
        tools: [deploy]
        approval: { approvers: { groups: [security] }, timeout: 1h, requireReason: true }
  other-agent:
    rules:
      - id: other-pay
        effect: review
        tools: [pay]
`;

const lee: Voter = { kind: 'human', id: 'lee', role: 'approver' };
const lina: Voter = { kind: 'human', id: 'lina', role: 'approver' };

describe.each(DIALECTS)('engine approvals (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  beforeEach(async () => {
    fx = await freshStore(dialect);
    engine = await testEngine(fx, { policy: testPolicy(POLICY) });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await engine?.close();
    await fx?.dispose();
  });

  const records = async (input: Record<string, unknown> = {}) =>
    (await fx.store.queryAudit(parseAuditQuery({ limit: 1000, ...input }))).records;
  const events = async (input: Record<string, unknown> = {}): Promise<AuditEvent[]> =>
    (await records(input)).map((r) => r.event);
  const decidedOf = async (r: CheckResult) => (await events({ type: 'call.decided', callId: r.callId }))[0];

  /** A pay call in session s1 (amount 500 is a review). */
  const pay = (amount = 500, over: Record<string, unknown> = {}) =>
    engine.check({ agent: 'pay-agent', tool: 'pay', args: { amount, memo: 'rent' }, session: 's1', ...over });

  /** The approved call presented again with its approval id, changed by `over`. */
  const redeem = (approvalId: string, over: Record<string, unknown> = {}) =>
    engine.check(
      { agent: 'pay-agent', tool: 'pay', args: { memo: 'rent', amount: 500 }, session: 's1', ...over },
      { approvalId },
    );

  /** A review call and its approval, approved by lee. */
  const approvedPay = async () => {
    const r = await pay();
    const id = r.approval?.id as string;
    await engine.approvals.vote(id, lee, 'approve');
    return { r, id };
  };

  describe('a review opens an approval request', () => {
    it('in the same commit as its decision, bound to the same arguments', async () => {
      const r = await pay();
      expect(r).toMatchObject({ effect: 'review', ruleId: 'pay-large', approval: { status: 'pending' } });
      const id = r.approval?.id as string;
      expect(id).toMatch(/^apr_[0-9a-f-]{36}$/);
      const recs = await records({ callId: r.callId });
      expect(recs.map((x) => x.event.type)).toEqual(['call.decided', 'approval.requested']);
      const [decided, requested] = recs;
      // Consecutive seqs written by one commit: nothing can come between a review and its request.
      expect(decided?.seq).toBe(r.auditSeq);
      expect(requested?.seq).toBe((r.auditSeq as number) + 1);
      expect(decided?.event.decision).toMatchObject({
        effect: 'review',
        ruleId: 'pay-large',
        approvalId: id,
      });
      expect(requested?.event.argsHmac).toMatch(/^[0-9a-f]{64}$/);
      expect(requested?.event.argsHmac).toBe(decided?.event.argsHmac);
      expect(requested?.event).toMatchObject({
        agent: 'pay-agent',
        session: 's1',
        tool: 'pay',
        data: {
          approvalId: id,
          ruleId: 'pay-large',
          reasons: ['large payments need a lead'],
          expiresAt: r.approval?.expiresAt,
          requirements: [{ approvers: { groups: ['leads'] }, quorum: 1, timeoutMs: 3_600_000 }],
        },
      });
      const stored = await fx.store.approval(id);
      expect(stored).toMatchObject({
        id,
        callId: r.callId,
        version: 1,
        status: 'pending',
        argsHmac: decided?.event.argsHmac,
        groups: { leads: ['lee', 'lina'] },
        expiresAt: r.approval?.expiresAt,
      });
      expect(Date.parse(stored?.expiresAt as string) - Date.parse(stored?.createdAt as string)).toBe(
        3_600_000,
      );
      expect(await fx.store.approvalByCall(r.callId)).toEqual(stored);
      expect(await fx.store.pendingApprovals()).toBe(1);
    });

    it('stores every requirement of every matched review rule; the shortest timeout wins', async () => {
      const r = await engine.check({ agent: 'pay-agent', tool: 'deploy', args: { app: 'web' } });
      const stored = await fx.store.approval(r.approval?.id as string);
      expect(stored?.requirements.map((q) => q.approvers.groups)).toEqual(
        expect.arrayContaining([['dba'], ['security']]),
      );
      expect(stored?.requirements).toHaveLength(2);
      expect(stored).toMatchObject({ requireReason: true, groups: { dba: ['dora'], security: ['sam'] } });
      expect(Date.parse(stored?.expiresAt as string) - Date.parse(stored?.createdAt as string)).toBe(
        3_600_000,
      );
      const [requested] = await events({ type: 'approval.requested', callId: r.callId });
      expect(requested?.data?.requirements).toHaveLength(2);
      // Both requirements must be met: dora alone does not approve it.
      await engine.approvals.vote(
        stored?.id as string,
        { kind: 'human', id: 'dora', role: 'approver' },
        'approve',
        {
          reason: 'schema ok',
        },
      );
      expect(await fx.store.approval(stored?.id as string)).toMatchObject({ status: 'pending' });
    });

    it('a review rule without approval settings uses the default requirement', async () => {
      const r = await engine.check({ agent: 'pay-agent', tool: 'refund' });
      const stored = await fx.store.approval(r.approval?.id as string);
      expect(stored?.requirements).toEqual([engine.policy.defaultApproval]);
    });

    it('in monitor mode, no request is opened', async () => {
      await engine.setPolicy(testPolicy(`mode: monitor\n${POLICY}`), { kind: 'human', id: 'carol' });
      const r = await pay();
      expect(r).toMatchObject({ effect: 'allow', policyEffect: 'review' });
      expect(r.approval).toBeUndefined();
      expect((await decidedOf(r))?.decision?.approvalId).toBeUndefined();
      expect(await events({ type: 'approval.requested' })).toEqual([]);
      expect((await fx.store.listApprovals({ limit: 10 })).approvals).toEqual([]);
      expect(await fx.store.approvalByCall(r.callId)).toBeUndefined();
    });
  });

  describe('redeeming an approval with check(call, {approvalId})', () => {
    it('allows the approved call once and marks the approval used by it', async () => {
      const { r, id } = await approvedPay();
      // The same arguments in another key order are the same call.
      const redeemed = await redeem(id);
      expect(redeemed).toMatchObject({
        effect: 'allow',
        ruleId: 'pay-large',
        approval: { id, status: 'used' },
      });
      expect(redeemed.reasons[0]).toContain('approved by lee');
      const recs = await records({ callId: redeemed.callId });
      expect(recs.map((x) => x.event.type)).toEqual(['call.decided']);
      expect(recs[0]?.event.decision).toMatchObject({ effect: 'allow', approvalId: id });
      const [used] = await events({ type: 'approval.used' });
      expect(used).toMatchObject({ callId: r.callId, data: { approvalId: id, usedByCall: redeemed.callId } });
      expect(await fx.store.approval(id)).toMatchObject({
        status: 'used',
        version: 3,
        usedByCall: redeemed.callId,
      });
      await engine.complete(redeemed.callId, { status: 'ok' });

      const twice = await redeem(id);
      expect(twice).toMatchObject({ effect: 'block', code: 'APPROVAL_DECIDED' });
      expect((await decidedOf(twice))?.decision).toMatchObject({ code: 'APPROVAL_DECIDED', approvalId: id });
    });

    it('blocks a changed call with APPROVAL_MISMATCH and voids the approval', async () => {
      const changes: [Record<string, unknown>, string][] = [
        [{ args: { amount: 501, memo: 'rent' } }, 'arguments'],
        [{ tool: 'refund' }, 'tool'],
        [{ session: 's2' }, 'session'],
      ];
      for (const [over, what] of changes) {
        const { id } = await approvedPay();
        const r = await redeem(id, over);
        expect(r).toMatchObject({ effect: 'block', code: 'APPROVAL_MISMATCH' });
        expect(r.reasons[0]).toContain(what);
        expect((await decidedOf(r))?.decision).toMatchObject({ code: 'APPROVAL_MISMATCH', approvalId: id });
        expect(await fx.store.approval(id)).toMatchObject({ status: 'voided', version: 3 });
        const voided = (await events({ type: 'approval.voided' })).filter((e) => e.data?.approvalId === id);
        expect(voided).toHaveLength(1);
        // Voided for good: the exact call no longer runs either.
        expect(await redeem(id)).toMatchObject({ effect: 'block', code: 'APPROVAL_DECIDED' });
      }
    });

    it('a pending approval keeps the call in review without opening another request', async () => {
      const r = await pay();
      const id = r.approval?.id as string;
      const again = await redeem(id);
      expect(again).toMatchObject({ effect: 'review', approval: { id, status: 'pending' } });
      expect((await decidedOf(again))?.decision).toMatchObject({ effect: 'review', approvalId: id });
      expect(await events({ type: 'approval.requested' })).toHaveLength(1);
      expect(await fx.store.approvalByCall(again.callId)).toBeUndefined();
      expect(await fx.store.approval(id)).toMatchObject({ version: 1, status: 'pending' });
      // A changed call against a pending request is a mismatch, and the request stays pending.
      const changed = await redeem(id, { args: { amount: 900 } });
      expect(changed).toMatchObject({ effect: 'block', code: 'APPROVAL_MISMATCH' });
      expect(await fx.store.approval(id)).toMatchObject({ version: 1, status: 'pending' });
    });

    it('blocks with APPROVAL_DECIDED when the approval was denied, cancelled or expired', async () => {
      const denied = (await pay()).approval?.id as string;
      await engine.approvals.vote(denied, lina, 'deny');
      const cancelled = (await pay()).approval?.id as string;
      await engine.approvals.cancel(cancelled, { kind: 'agent', id: 'pay-agent' }, null);
      const expired = (await pay()).approval?.id as string;
      for (const id of [denied, cancelled]) {
        const r = await redeem(id);
        expect(r).toMatchObject({ effect: 'block', code: 'APPROVAL_DECIDED' });
        expect((await decidedOf(r))?.decision).toMatchObject({ code: 'APPROVAL_DECIDED', approvalId: id });
      }
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 61 * 60_000);
      await engine.approvals.sweep();
      expect(await redeem(expired)).toMatchObject({ effect: 'block', code: 'APPROVAL_DECIDED' });
    });

    it('blocks with APPROVAL_DECIDED when the approval is past its expiry but not yet swept', async () => {
      const id = (await pay()).approval?.id as string;
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 61 * 60_000);
      expect(await redeem(id)).toMatchObject({ effect: 'block', code: 'APPROVAL_DECIDED' });
    });

    it("blocks another agent's approval, or an unknown one, with APPROVAL_NOT_FOUND", async () => {
      const { id } = await approvedPay();
      for (const approvalId of [id, 'apr_nope']) {
        const r = await engine.check(
          { agent: 'other-agent', tool: 'pay', args: { amount: 500, memo: 'rent' } },
          { approvalId },
        );
        expect(r).toMatchObject({ effect: 'block', code: 'APPROVAL_NOT_FOUND' });
        expect((await decidedOf(r))?.decision).toMatchObject({ code: 'APPROVAL_NOT_FOUND', approvalId });
      }
      expect(await fx.store.approval(id)).toMatchObject({ status: 'approved', version: 2 });
    });

    it('blocks when the policy now blocks the call, leaving the approval unused', async () => {
      const { id } = await approvedPay();
      await engine.setPolicy(testPolicy(POLICY.replace('args.amount > 10000', 'args.amount > 100')), {
        kind: 'human',
        id: 'carol',
      });
      const r = await redeem(id);
      expect(r).toMatchObject({ effect: 'block', ruleId: 'pay-huge' });
      expect((await decidedOf(r))?.decision?.effect).toBe('block');
      expect(await fx.store.approval(id)).toMatchObject({ status: 'approved', version: 2 });
    });
  });

  describe('completing a call decided review', () => {
    it('is refused while the approval is pending, and uses it once approved', async () => {
      const r = await pay();
      const id = r.approval?.id as string;
      await expect(engine.complete(r.callId, { status: 'ok' })).rejects.toMatchObject({
        code: 'CALL_NOT_RUNNABLE',
        details: { approvalId: id, status: 'pending' },
      });
      await engine.approvals.vote(id, lee, 'approve');
      await engine.complete(r.callId, { status: 'ok', result: { paid: true } });
      expect(await fx.store.approval(id)).toMatchObject({ status: 'used', usedByCall: r.callId, version: 3 });
      expect((await events({ callId: r.callId })).map((e) => e.type)).toEqual([
        'call.decided',
        'approval.requested',
        'approval.voted',
        'approval.decided',
        'approval.used',
        'call.completed',
      ]);
      await expect(engine.complete(r.callId, { status: 'ok' })).rejects.toMatchObject({
        code: 'CALL_ALREADY_COMPLETED',
      });
    });

    it('completes a call whose approval it already used, without using it twice', async () => {
      const { r, id } = await approvedPay();
      await engine.approvals.use(id, r.callId);
      await engine.complete(r.callId, { status: 'ok' });
      expect(await fx.store.approval(id)).toMatchObject({ status: 'used', version: 3 });
      expect(await events({ type: 'approval.used' })).toHaveLength(1);
    });

    it('is refused when another call redeemed the approval, or it was denied', async () => {
      const { r, id } = await approvedPay();
      expect((await redeem(id)).effect).toBe('allow');
      await expect(engine.complete(r.callId, { status: 'ok' })).rejects.toMatchObject({
        code: 'CALL_NOT_RUNNABLE',
        details: { approvalId: id, status: 'used' },
      });
      const denied = await pay();
      await engine.approvals.vote(denied.approval?.id as string, lina, 'deny');
      await expect(engine.complete(denied.callId, { status: 'ok' })).rejects.toMatchObject({
        code: 'CALL_NOT_RUNNABLE',
      });
      expect(await events({ type: 'call.completed' })).toEqual([]);
    });
  });

  describe('resuming a session', () => {
    it('is refused, and recorded, for everyone with a stake in any spelling; another human resumes', async () => {
      await engine.check({
        agent: 'pay-agent',
        tool: 'pay',
        args: { amount: 5 },
        session: 'sr',
        triggeredBy: 'Alice',
        delegationChain: ['planner-bot'],
      });
      await pauseSession(engine, 'sr', WARDEN_ACTOR, 'over budget');
      const stakeholders = ['alice', 'ALICE', ' Alice ', 'al\u200bice', 'Pay-Agent', 'PLANNER-BOT'];
      for (const who of stakeholders) {
        await expect(resumeSession(engine, 'sr', { kind: 'human', id: who }, 'fine')).rejects.toMatchObject({
          code: 'APPROVAL_SELF_APPROVAL',
        });
      }
      const refused = await events({ type: 'approval.refused', session: 'sr' });
      expect(refused.map((e) => e.actor.id)).toEqual(stakeholders);
      expect(
        refused.every((e) => e.data?.act === 'resume' && e.data?.code === 'APPROVAL_SELF_APPROVAL'),
      ).toBe(true);
      expect(await fx.store.getSession('sr')).toMatchObject({ state: 'paused' });
      const resumed = await resumeSession(engine, 'sr', { kind: 'human', id: 'bob' }, 'checked');
      expect(resumed.state).toBe('active');
      expect(await events({ type: 'session.resumed', session: 'sr' })).toMatchObject([
        { actor: { kind: 'human', id: 'bob' }, data: { reason: 'checked' } },
      ]);
    });

    it('counts everyone who triggered or delegated any call of the session, not only the first', async () => {
      const base = { agent: 'pay-agent', tool: 'pay', session: 'sm' };
      await engine.check({ ...base, args: { amount: 5 }, triggeredBy: 'alice' });
      await engine.check({
        ...base,
        args: { amount: 6 },
        triggeredBy: 'carol',
        delegationChain: ['router-bot'],
      });
      const held = await engine.check({ ...base, args: { amount: 500 }, triggeredBy: 'alice' });
      // lina triggered a call of this session too: she may not approve its requests.
      await engine.check({ ...base, args: { amount: 7 }, triggeredBy: 'lina' });
      await expect(engine.approvals.vote(held.approval?.id as string, lina, 'approve')).rejects.toMatchObject(
        { code: 'APPROVAL_SELF_APPROVAL' },
      );
      await pauseSession(engine, 'sm', WARDEN_ACTOR, 'over budget');
      for (const who of ['carol', 'router-bot', 'lina']) {
        await expect(resumeSession(engine, 'sm', { kind: 'human', id: who }, 'fine')).rejects.toMatchObject({
          code: 'APPROVAL_SELF_APPROVAL',
        });
      }
      expect((await resumeSession(engine, 'sm', { kind: 'human', id: 'bob' }, 'checked')).state).toBe(
        'active',
      );
      expect((await engine.approvals.vote(held.approval?.id as string, lee, 'approve')).status).toBe(
        'approved',
      );
    });

    it("does not let another agent write names into a session's stake", async () => {
      const held = await engine.check({
        agent: 'pay-agent',
        tool: 'pay',
        args: { amount: 500 },
        session: 'sf',
      });
      // other-agent's call aimed at this session is refused, though recorded under its id.
      const foreign = await engine.check({
        agent: 'other-agent',
        tool: 'pay',
        session: 'sf',
        triggeredBy: 'lee',
      });
      expect(foreign).toMatchObject({ effect: 'block', code: 'SESSION_FOREIGN' });
      expect((await engine.approvals.vote(held.approval?.id as string, lee, 'approve')).status).toBe(
        'approved',
      );
    });
  });

  describe('an approval binds to the whole call, for a while', () => {
    it('is void when presented with another target, labels, trigger or delegation chain', async () => {
      for (const over of [
        { target: 'prod-db' },
        { labels: { env: 'prod' } },
        { triggeredBy: 'mallory' },
        { delegationChain: ['planner'] },
      ]) {
        const { id } = await approvedPay();
        const r = await redeem(id, over);
        expect(r, JSON.stringify(over)).toMatchObject({ effect: 'block', code: 'APPROVAL_MISMATCH' });
        expect(r.reasons[0]).toContain('target, labels, triggeredBy or delegation chain');
        expect((await engine.approvals.get(id)).status).toBe('voided');
      }
    });

    it('can be used only as long again as it took to decide, then it is stale', async () => {
      const { id } = await approvedPay();
      vi.useFakeTimers({ toFake: ['Date'] });
      // pay-large's timeout is 1h: the approval is good for an hour after the decision.
      vi.setSystemTime(Date.now() + 61 * 60_000);
      const r = await redeem(id);
      expect(r).toMatchObject({ effect: 'block', code: 'APPROVAL_DECIDED' });
      expect(r.reasons[0]).toMatch(/approved; the call may not run|not used by/);
    });

    it('can be withdrawn before it is used: the approval becomes void', async () => {
      const { id } = await approvedPay();
      const voided = await engine.approvals.cancel(id, { kind: 'human', id: 'admin' }, 'wrong customer');
      expect(voided.status).toBe('voided');
      expect(await events({ type: 'approval.voided', session: 's1' })).toMatchObject([
        { actor: { id: 'admin' }, data: { approvalId: id, reason: 'withdrawn by admin: wrong customer' } },
      ]);
      expect(await redeem(id)).toMatchObject({ effect: 'block', code: 'APPROVAL_DECIDED' });
    });

    it('does not let a waiting call go ahead in a session paused meanwhile', async () => {
      const { r, id } = await approvedPay();
      await pauseSession(engine, 's1', { kind: 'human', id: 'admin' }, 'kill switch');
      const go = await engine.proceedApproved(
        { agent: 'pay-agent', tool: 'pay', args: { amount: 500, memo: 'rent' }, session: 's1' },
        id,
        r.callId,
      );
      expect(go).toMatchObject({ allowed: false, code: 'SESSION_PAUSED' });
      expect((await engine.approvals.get(id)).status).toBe('approved');
    });

    it('needs a new approval when the policy now asks for a different review', async () => {
      const { id } = await approvedPay();
      engine.adoptPolicy(
        testPolicy(
          POLICY.replace('groups: [leads] }, timeout: 1h', 'groups: [leads] }, quorum: 2, timeout: 1h'),
        ),
      );
      const r = await redeem(id);
      expect(r).toMatchObject({ effect: 'block', code: 'APPROVAL_MISMATCH' });
      expect(r.reasons[0]).toContain('review requirements');
    });
  });
});
