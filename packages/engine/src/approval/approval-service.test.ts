import type { AuditEvent, Voter } from '@warden/core';
import { approvalLetsRun } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { Engine } from '../engine/engine.js';
import { generateKeyRing, type KeyRing } from '../keys/key-ring.js';
import { parseAuditQuery } from '../store/audit-query.js';
import type { Store } from '../store/store.js';

/** Review rules for each situation the service handles: a group, a quorum, onTimeout allow, escalation. */
const POLICY = `
name: approval service tests
approverGroups:
  leads: [lee, lina]
agents:
  pay-agent:
    rules:
      - id: pay-review
        effect: review
        tools: [pay]
        approval: { approvers: { groups: [leads] }, timeout: 1h }
      - id: wire-quorum
        effect: review
        tools: [wire]
        approval: { approvers: { roles: [approver] }, quorum: 3, timeout: 1h }
      - id: lenient
        effect: review
        tools: [lenient]
        approval: { approvers: { groups: [leads] }, timeout: 10m, onTimeout: allow }
      - id: escalating
        effect: review
        tools: [escalate]
        approval:
          approvers: { principals: [pat] }
          timeout: 2h
          escalate: { after: 30m, to: { principals: [quinn] } }
      - id: combo-leads
        effect: review
        tools: [combo]
        approval: { approvers: { groups: [leads] }, timeout: 2h }
      - id: combo-pat
        effect: review
        tools: [combo]
        approval:
          approvers: { principals: [pat] }
          timeout: 2h
          escalate: { after: 30m, to: { groups: [leads] } }
`;

const human = (id: string, role = 'approver'): Voter => ({ kind: 'human', id, role });
const MINUTE = 60_000;

describe.each(DIALECTS)('approval service (%s)', (dialect) => {
  let fx: StoreFixture;
  let keys: KeyRing;
  let engine: Engine;
  const extra: { engine: Engine; store: Store }[] = [];

  beforeEach(async () => {
    fx = await freshStore(dialect);
    keys = generateKeyRing();
    engine = await testEngine(fx, { keys, policy: testPolicy(POLICY) });
  });
  afterEach(async () => {
    vi.useRealTimers();
    for (const x of extra.splice(0)) {
      await x.engine.close();
      await x.store.close();
    }
    await engine?.close();
    await fx?.dispose();
  });

  /** Another engine ("instance") on a second connection to the same database, with the same keys. */
  const secondEngine = async (): Promise<Engine> => {
    const store = await fx.reopen();
    const other = await testEngine({ ...fx, store }, { keys, policy: testPolicy(POLICY) });
    extra.push({ engine: other, store });
    return other;
  };

  const events = async (input: Record<string, unknown> = {}): Promise<AuditEvent[]> =>
    (await fx.store.queryAudit(parseAuditQuery({ limit: 1000, ...input }))).records.map((r) => r.event);

  /** Approval events about one request, oldest first. */
  const approvalEvents = async (callId: string) =>
    (await events({ callId })).filter((e) => e.type !== 'call.decided');

  /** Opens a request for `tool` and returns its id and the call. */
  const open = async (tool: string, call: Record<string, unknown> = {}) => {
    const r = await engine.check({ agent: 'pay-agent', tool, args: { amount: 500 }, ...call });
    expect(r.effect).toBe('review');
    return { id: r.approval?.id as string, callId: r.callId, session: r.session };
  };

  describe('votes, overrides, cancels and uses', () => {
    it('records a deciding vote as voted + decided (with approvers), then a use; one version each', async () => {
      const { id, callId } = await open('pay');
      const voted = await engine.approvals.vote(id, human('Lee'), 'approve', { reason: 'ok', via: 'api' });
      expect(voted).toMatchObject({ version: 2, status: 'approved', decidedBy: 'Lee' });
      expect(await fx.store.approval(id)).toEqual(voted);
      const used = await engine.approvals.use(id, callId);
      expect(used).toMatchObject({ version: 3, status: 'used', usedByCall: callId });
      expect(await fx.store.approval(id)).toEqual(used);

      const evs = await approvalEvents(callId);
      expect(evs.map((e) => e.type)).toEqual([
        'approval.requested',
        'approval.voted',
        'approval.decided',
        'approval.used',
      ]);
      const [, vote, decision, use] = evs as AuditEvent[];
      expect(vote).toMatchObject({
        actor: { kind: 'human', id: 'Lee' },
        agent: 'pay-agent',
        tool: 'pay',
        data: { approvalId: id, vote: 'approve', role: 'approver', reason: 'ok', via: 'api' },
      });
      expect(decision).toMatchObject({
        actor: { kind: 'human', id: 'Lee' },
        approvers: ['Lee'],
        data: { approvalId: id, outcome: 'approved' },
      });
      expect(decision?.data?.override).toBeUndefined();
      expect(use).toMatchObject({ actor: { kind: 'agent', id: 'pay-agent' }, data: { usedByCall: callId } });
    });

    it('records a denial without approvers, and a vote that does not decide as voted only', async () => {
      const wire = await open('wire');
      const after = await engine.approvals.vote(wire.id, human('v1'), 'approve');
      expect(after).toMatchObject({ version: 2, status: 'pending' });
      expect((await approvalEvents(wire.callId)).map((e) => e.type)).toEqual([
        'approval.requested',
        'approval.voted',
      ]);

      const pay = await open('pay');
      const denied = await engine.approvals.vote(pay.id, human('lina'), 'deny', { reason: 'too much' });
      expect(denied).toMatchObject({ version: 2, status: 'denied', outcomeReason: 'too much' });
      const decided = (await approvalEvents(pay.callId)).filter((e) => e.type === 'approval.decided');
      expect(decided).toHaveLength(1);
      expect(decided[0]).toMatchObject({ data: { outcome: 'denied', reason: 'too much' } });
      expect(decided[0]?.approvers).toBeUndefined();
      await expect(engine.approvals.use(pay.id, pay.callId)).rejects.toMatchObject({
        code: 'APPROVAL_DECIDED',
      });
    });

    it('records an override as decided with override and the admin as approver; only admins may', async () => {
      const a = await open('wire', { triggeredBy: 'alice' });
      await expect(
        engine.approvals.override(a.id, human('root', 'approver'), 'approve', 'urgent'),
      ).rejects.toMatchObject({ code: 'APPROVAL_NOT_ELIGIBLE' });
      await expect(
        engine.approvals.override(a.id, human('ALICE', 'admin'), 'approve', 'mine'),
      ).rejects.toMatchObject({ code: 'APPROVAL_SELF_APPROVAL' });
      await expect(
        engine.approvals.override(a.id, human('root', 'admin'), 'approve', '  '),
      ).rejects.toMatchObject({
        code: 'APPROVAL_REASON_REQUIRED',
      });
      expect(await fx.store.approval(a.id)).toMatchObject({ version: 1, status: 'pending' });

      const done = await engine.approvals.override(a.id, human('root', 'admin'), 'approve', 'outage');
      expect(done).toMatchObject({ version: 2, status: 'approved', override: true, decidedBy: 'root' });
      const evs = await approvalEvents(a.callId);
      expect(evs.map((e) => e.type)).toEqual(['approval.requested', 'approval.refused', 'approval.decided']);
      expect(evs[1]).toMatchObject({
        actor: { kind: 'human', id: 'ALICE' },
        data: { approvalId: a.id, code: 'APPROVAL_SELF_APPROVAL', vote: 'approve', role: 'admin' },
      });
      expect(evs[2]).toMatchObject({
        approvers: ['root'],
        data: { outcome: 'approved', override: true, reason: 'outage' },
      });

      const b = await open('pay');
      await engine.approvals.override(b.id, human('root', 'admin'), 'deny', 'no');
      const [decided] = (await approvalEvents(b.callId)).filter((e) => e.type === 'approval.decided');
      expect(decided).toMatchObject({ data: { outcome: 'denied', override: true } });
      expect(decided?.approvers).toBeUndefined();
    });

    it('records a cancel as decided(cancelled) by whoever cancelled', async () => {
      const a = await open('pay');
      const cancelled = await engine.approvals.cancel(a.id, { kind: 'agent', id: 'pay-agent' }, 'not needed');
      expect(cancelled).toMatchObject({ version: 2, status: 'cancelled', decidedBy: 'pay-agent' });
      const evs = await approvalEvents(a.callId);
      expect(evs.map((e) => e.type)).toEqual(['approval.requested', 'approval.decided']);
      expect(evs[1]).toMatchObject({
        actor: { kind: 'agent', id: 'pay-agent' },
        data: { outcome: 'cancelled', reason: 'not needed' },
      });
      await expect(engine.approvals.cancel(a.id, { kind: 'human', id: 'root' }, null)).rejects.toMatchObject({
        code: 'APPROVAL_DECIDED',
      });
      await expect(engine.approvals.vote(a.id, human('lee'), 'approve')).rejects.toMatchObject({
        code: 'APPROVAL_DECIDED',
      });
      expect(await fx.store.approval(a.id)).toEqual(cancelled);
    });

    it('refuses stakeholders and ineligible voters with approval.refused, leaving the record unchanged', async () => {
      // The session was started by alice; this call in it was triggered by bob: both have a stake.
      await engine.check({ agent: 'pay-agent', tool: 'nothing', session: 's-sod', triggeredBy: 'alice' });
      const a = await open('pay', { session: 's-sod', triggeredBy: 'bob', delegationChain: ['planner'] });
      const before = await fx.store.approval(a.id);
      const refusals: [Voter, string][] = [
        [human('BOB'), 'APPROVAL_SELF_APPROVAL'],
        [human('Alice'), 'APPROVAL_SELF_APPROVAL'],
        [human('planner'), 'APPROVAL_SELF_APPROVAL'],
        [{ kind: 'agent', id: 'pay-agent', role: 'agent' }, 'APPROVAL_SELF_APPROVAL'],
        [human('mallory'), 'APPROVAL_NOT_ELIGIBLE'],
        [human('lee', 'auditor'), 'APPROVAL_NOT_ELIGIBLE'],
        [{ kind: 'service', id: 'ci', role: 'approver' }, 'APPROVAL_NOT_ELIGIBLE'],
        [{ kind: 'agent', id: 'helper-bot', role: 'agent' }, 'APPROVAL_NOT_ELIGIBLE'],
      ];
      for (const [voter, code] of refusals) {
        await expect(engine.approvals.vote(a.id, voter, 'approve')).rejects.toMatchObject({ code });
      }
      expect(await fx.store.approval(a.id)).toEqual(before);
      const refused = (await approvalEvents(a.callId)).filter((e) => e.type === 'approval.refused');
      expect(refused.map((e) => [e.actor.id, e.data?.code])).toEqual(refusals.map(([v, c]) => [v.id, c]));
      expect(refused.every((e) => e.data?.approvalId === a.id)).toBe(true);
      // A service key is recorded as a service, never as a person, and never as Warden itself (system).
      expect(refused[6]?.actor).toEqual({ kind: 'service', id: 'ci' });
    });

    it('checks every other name of the voter (alsoKnownAs) for a stake and for an earlier vote', async () => {
      // lee-sso is Lee's SSO name; the call was triggered by lee@corp, the name of Lee's key.
      const a = await open('pay', { triggeredBy: 'lee@corp' });
      const leeSso: Voter = { ...human('lee-sso'), groups: ['leads'] };
      await expect(
        engine.approvals.vote(a.id, leeSso, 'approve', { alsoKnownAs: ['lee@corp'] }),
      ).rejects.toMatchObject({
        code: 'APPROVAL_SELF_APPROVAL',
        message: expect.stringMatching(/lee@corp triggered/),
      });
      const refused = (await approvalEvents(a.callId)).filter((e) => e.type === 'approval.refused');
      expect(refused.map((e) => [e.actor.id, e.data?.code])).toEqual([['lee-sso', 'APPROVAL_SELF_APPROVAL']]);

      const w = await open('wire');
      await engine.approvals.vote(w.id, human('v1@corp'), 'approve');
      await expect(
        engine.approvals.vote(w.id, human('v1-sso'), 'approve', { alsoKnownAs: ['V1@corp'] }),
      ).rejects.toMatchObject({ code: 'APPROVAL_ALREADY_VOTED' });
      expect(await fx.store.approval(w.id)).toMatchObject({ version: 2, votes: [{ principal: 'v1@corp' }] });
      // Without the other name the same person would count twice.
      expect(await engine.approvals.vote(w.id, human('v1-sso'), 'approve')).toMatchObject({ version: 3 });
    });

    it('refuses a second vote by a verified identity (key id, issuer + subject) recorded on an earlier vote', async () => {
      const w = await open('wire');
      // v2 votes with a key; the same person, by SSO under another name, names that key as theirs.
      await engine.approvals.vote(w.id, { ...human('v2@corp'), keyId: 'key_v2' }, 'approve');
      expect((await fx.store.approval(w.id))?.votes[0]).toMatchObject({ keyId: 'key_v2' });
      const sso: Voter = { ...human('v2'), issuer: 'https://idp', subject: 's-v2' };
      await expect(
        engine.approvals.vote(w.id, sso, 'approve', { alsoVerified: [{ keyId: 'key_v2' }] }),
      ).rejects.toMatchObject({ code: 'APPROVAL_ALREADY_VOTED' });
      // The other way round: an SSO vote, then the person's key naming that issuer + subject.
      const x = await open('wire');
      await engine.approvals.vote(x.id, sso, 'approve');
      await expect(
        engine.approvals.vote(x.id, { ...human('v2@corp'), keyId: 'key_v2' }, 'approve', {
          alsoVerified: [{ issuer: 'https://idp', subject: 's-v2' }],
        }),
      ).rejects.toMatchObject({ code: 'APPROVAL_ALREADY_VOTED' });
      expect(await fx.store.approval(x.id)).toMatchObject({ version: 2 });
    });

    it('refuses a second vote by the same person (any spelling) without recording it', async () => {
      const a = await open('wire');
      await engine.approvals.vote(a.id, human('v1'), 'approve');
      await expect(engine.approvals.vote(a.id, human(' V1 '), 'deny')).rejects.toMatchObject({
        code: 'APPROVAL_ALREADY_VOTED',
      });
      expect(await fx.store.approval(a.id)).toMatchObject({ version: 2, votes: [{ principal: 'v1' }] });
      expect((await approvalEvents(a.callId)).filter((e) => e.type === 'approval.voted')).toHaveLength(1);
      await expect(engine.approvals.get('apr_missing')).rejects.toMatchObject({ code: 'APPROVAL_NOT_FOUND' });
      await expect(engine.approvals.vote('apr_missing', human('v1'), 'approve')).rejects.toMatchObject({
        code: 'APPROVAL_NOT_FOUND',
      });
    });
  });

  describe('concurrency', () => {
    /** Ten eligible people vote at once on a quorum-3 request, spread over the given engines. */
    const tenVoters = async (engines: readonly Engine[]) => {
      const a = await open('wire');
      const voters = Array.from({ length: 10 }, (_, i) => human(`voter-${i}`));
      const results = await Promise.allSettled(
        voters.map((v, i) => (engines[i % engines.length] as Engine).approvals.vote(a.id, v, 'approve')),
      );
      const ok = results.flatMap((r, i) => (r.status === 'fulfilled' ? [voters[i]?.id] : []));
      const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason.code] : []));
      expect(ok).toHaveLength(3);
      expect(failed).toEqual(Array(7).fill('APPROVAL_DECIDED'));
      const stored = await fx.store.approval(a.id);
      expect(stored).toMatchObject({ status: 'approved', version: 4 });
      expect(stored?.votes.map((v) => v.principal).sort()).toEqual([...ok].sort());
      const evs = await approvalEvents(a.callId);
      expect(
        evs
          .filter((e) => e.type === 'approval.voted')
          .map((e) => e.actor.id)
          .sort(),
      ).toEqual([...ok].sort());
      const decided = evs.filter((e) => e.type === 'approval.decided');
      expect(decided).toHaveLength(1);
      expect(decided[0]?.approvers?.slice().sort()).toEqual([...ok].sort());
      expect(decided[0]?.data?.outcome).toBe('approved');
      // The decision is the last event about the request: no vote landed after it.
      expect(evs.at(-1)?.type).toBe('approval.decided');
    };

    it('ten concurrent votes on a quorum-3 request decide it exactly once', async () => {
      await tenVoters([engine]);
    });

    it('ten concurrent votes through two engines on one database decide it exactly once', async () => {
      await tenVoters([engine, await secondEngine()]);
    });

    it('a concurrent approve and deny (on two engines) land exactly one outcome', async () => {
      const other = await secondEngine();
      for (const engines of [
        [engine, engine],
        [engine, other],
      ]) {
        const a = await open('pay');
        const results = await Promise.allSettled([
          (engines[0] as Engine).approvals.vote(a.id, human('lee'), 'approve'),
          (engines[1] as Engine).approvals.vote(a.id, human('lina'), 'deny'),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        expect(lost.reason).toMatchObject({ code: 'APPROVAL_DECIDED' });
        const stored = await fx.store.approval(a.id);
        expect(stored?.status).toBe((won[0] as PromiseFulfilledResult<{ status: string }>).value.status);
        expect(stored?.version).toBe(2);
        const decided = (await approvalEvents(a.callId)).filter((e) => e.type === 'approval.decided');
        expect(decided.map((e) => e.data?.outcome)).toEqual([stored?.status]);
      }
    });

    it('concurrent sweeps from two engines expire a due request exactly once', async () => {
      const other = await secondEngine();
      const a = await open('pay');
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 61 * MINUTE);
      await Promise.all([engine.approvals.sweep(), other.approvals.sweep(), other.approvals.sweep()]);
      const decided = (await approvalEvents(a.callId)).filter((e) => e.type === 'approval.decided');
      expect(decided).toHaveLength(1);
      expect(decided[0]).toMatchObject({
        actor: { kind: 'system', id: 'warden' },
        data: { outcome: 'expired', onTimeout: 'block' },
      });
      expect(await fx.store.approval(a.id)).toMatchObject({ status: 'expired', version: 2 });
      expect(await engine.approvals.sweep()).toBe(0);
    });

    it('concurrent uses of one approval: one succeeds, the other is APPROVAL_DECIDED', async () => {
      const other = await secondEngine();
      for (const engines of [
        [engine, engine],
        [engine, other],
      ]) {
        const a = await open('pay');
        await engine.approvals.vote(a.id, human('lee'), 'approve');
        const results = await Promise.allSettled([
          (engines[0] as Engine).approvals.use(a.id, 'call-one'),
          (engines[1] as Engine).approvals.use(a.id, 'call-two'),
        ]);
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won).toHaveLength(1);
        const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        expect(lost.reason).toMatchObject({ code: 'APPROVAL_DECIDED' });
        expect(await fx.store.approval(a.id)).toMatchObject({
          status: 'used',
          version: 3,
          usedByCall: won[0] === 0 ? 'call-one' : 'call-two',
        });
        expect((await approvalEvents(a.callId)).filter((e) => e.type === 'approval.used')).toHaveLength(1);
      }
    });
  });

  describe('expiry and escalation', () => {
    /** Moves the clock `minutes` ahead of now (Date only; timers and I/O run normally). */
    const advance = (minutes: number) => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + minutes * MINUTE);
    };

    it('expires a request past its timeout; an expired block request never runs', async () => {
      const a = await open('pay');
      advance(59);
      expect(await engine.approvals.sweep()).toBe(0);
      advance(2);
      expect(await engine.approvals.sweep()).toBe(1);
      const stored = await fx.store.approval(a.id);
      expect(stored).toMatchObject({ status: 'expired', version: 2, onTimeout: 'block' });
      expect(approvalLetsRun(stored as NonNullable<typeof stored>)).toBe(false);
      const decided = (await approvalEvents(a.callId)).filter((e) => e.type === 'approval.decided');
      expect(decided).toMatchObject([{ data: { outcome: 'expired', onTimeout: 'block' } }]);
      await expect(engine.approvals.vote(a.id, human('lee'), 'approve')).rejects.toMatchObject({
        code: 'APPROVAL_DECIDED',
      });
      await expect(engine.complete(a.callId, { status: 'ok' })).rejects.toMatchObject({
        code: 'CALL_NOT_RUNNABLE',
      });
    });

    it('a vote after the timeout settles the expiry first (without a sweep) and is refused', async () => {
      const a = await open('pay');
      advance(61);
      await expect(engine.approvals.vote(a.id, human('lee'), 'approve')).rejects.toMatchObject({
        code: 'APPROVAL_DECIDED',
      });
      expect(await fx.store.approval(a.id)).toMatchObject({ status: 'expired', votes: [] });
      expect((await approvalEvents(a.callId)).map((e) => e.type)).toEqual([
        'approval.requested',
        'approval.decided',
      ]);
    });

    it('an expired request whose policy says onTimeout allow lets its call run once', async () => {
      const a = await open('lenient');
      advance(11);
      await engine.approvals.sweep();
      const stored = await fx.store.approval(a.id);
      expect(stored).toMatchObject({ status: 'expired', onTimeout: 'allow' });
      expect(approvalLetsRun(stored as NonNullable<typeof stored>)).toBe(true);
      const [decided] = (await approvalEvents(a.callId)).filter((e) => e.type === 'approval.decided');
      expect(decided?.data).toMatchObject({ outcome: 'expired', onTimeout: 'allow' });
      await engine.complete(a.callId, { status: 'ok' });
      expect(await fx.store.approval(a.id)).toMatchObject({ status: 'used', usedByCall: a.callId });
    });

    it('escalation widens who may vote and is recorded', async () => {
      const a = await open('escalate');
      await expect(engine.approvals.vote(a.id, human('quinn'), 'approve')).rejects.toMatchObject({
        code: 'APPROVAL_NOT_ELIGIBLE',
      });
      advance(31);
      expect(await engine.approvals.sweep()).toBe(1);
      expect(await fx.store.approval(a.id)).toMatchObject({
        status: 'pending',
        escalated: true,
        escalateAt: null,
        version: 2,
      });
      const approved = await engine.approvals.vote(a.id, human('quinn'), 'approve');
      expect(approved).toMatchObject({ status: 'approved', version: 3 });
      const evs = await approvalEvents(a.callId);
      expect(evs.map((e) => e.type)).toEqual([
        'approval.requested',
        'approval.refused',
        'approval.escalated',
        'approval.voted',
        'approval.decided',
      ]);
      expect(evs[2]).toMatchObject({ actor: { kind: 'system', id: 'warden' }, data: { approvalId: a.id } });
      expect(await engine.approvals.sweep()).toBe(0);
    });

    it('votes already cast that meet the widened requirement decide the request at escalation', async () => {
      const a = await open('combo');
      expect((await fx.store.approval(a.id))?.requirements).toHaveLength(2);
      // lee counts for combo-leads now, and for combo-pat only once it escalates to the leads.
      expect(await engine.approvals.vote(a.id, human('lee'), 'approve')).toMatchObject({ status: 'pending' });
      advance(31);
      await engine.approvals.sweep();
      expect(await fx.store.approval(a.id)).toMatchObject({
        status: 'approved',
        version: 3,
        escalated: true,
      });
      const evs = await approvalEvents(a.callId);
      expect(evs.map((e) => e.type)).toEqual([
        'approval.requested',
        'approval.voted',
        'approval.escalated',
        'approval.decided',
      ]);
      expect(evs[3]).toMatchObject({ approvers: ['lee'], data: { outcome: 'approved' } });
    });

    it('sweep(now) with an explicit date expires and escalates as of that date', async () => {
      const expiring = await open('pay');
      const escalating = await open('escalate');
      await engine.approvals.sweep(new Date(Date.now() + 40 * MINUTE));
      expect(await fx.store.approval(escalating.id)).toMatchObject({ escalated: true });
      await engine.approvals.sweep(new Date(Date.now() + 61 * MINUTE));
      expect(await fx.store.approval(expiring.id)).toMatchObject({ status: 'expired' });
    });
  });
});
