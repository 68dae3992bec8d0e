/**
 * Approval requests through the HTTP API (SQLite): a review opens a request with redacted arguments,
 * quorum with groups that must each approve, deny thresholds and required reasons, admin overrides,
 * cancelling, and redeeming an approval only for the exact call it was granted for.
 */
import { fileURLToPath } from 'node:url';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

const POLICY = fileURLToPath(new URL('./fixtures/approvals-policy', import.meta.url));

interface Decision {
  callId: string;
  session: string;
  effect: 'allow' | 'review' | 'block';
  ruleId: string | null;
  reasons: string[];
  code?: string;
  approval?: { id: string; status: string; expiresAt: string };
}

interface Approval {
  id: string;
  callId: string;
  status: string;
  agent: string;
  args: Record<string, unknown>;
  argsHmac: string;
  triggeredBy: string | null;
  requirements: unknown[];
  decidedBy: string | null;
  outcomeReason: string | null;
  override: boolean;
  usedByCall: string | null;
  votes: { principal: string; vote: string; reason?: string; via?: string }[];
  progress: { approvals: number; quorum: number; missingGroups: string[]; denials: number; met: boolean }[];
}

interface AuditRecord {
  seq: number;
  event: { type: string; callId?: string; actor: { id: string }; data?: Record<string, unknown> };
}

const codeOf = (r: LightMyRequestResponse) => (r.json() as { error: { code: string } }).error.code;

describe('approval requests through the API', () => {
  let t: TestServer;
  let bot: string;
  let otherBot: string;
  const people: Record<string, string> = {};

  async function decide(body: Record<string, unknown>, key = bot): Promise<Decision> {
    const r = await t.request('POST', '/v1/calls', { key, body });
    expect(r.statusCode, r.body).toBe(200);
    return r.json() as Decision;
  }

  async function review(tool: string, args: Record<string, unknown> = {}, session?: string) {
    const d = await decide({ tool, args, ...(session ? { session } : {}) });
    expect(d.effect, JSON.stringify(d)).toBe('review');
    return { decision: d, id: d.approval?.id as string };
  }

  function vote(id: string, who: string, action: 'approve' | 'deny', reason?: string) {
    return t.request('POST', `/v1/approvals/${id}/${action}`, {
      key: people[who] as string,
      body: reason ? { reason } : {},
    });
  }

  async function approval(id: string, key = t.admin): Promise<Approval> {
    const r = await t.request('GET', `/v1/approvals/${id}`, { key });
    expect(r.statusCode, r.body).toBe(200);
    return r.json() as Approval;
  }

  async function eventsFor(type: string, approvalId: string): Promise<AuditRecord[]> {
    const r = await t.request('GET', `/v1/audit/events?type=${type}&limit=1000`, { key: t.admin });
    expect(r.statusCode).toBe(200);
    return (r.json() as { records: AuditRecord[] }).records.filter(
      (x) => x.event.data?.approvalId === approvalId,
    );
  }

  beforeAll(async () => {
    t = await startTestServer('sqlite', { policy: POLICY, approvalSweepMs: 50 });
    bot = await t.key('agent', 'ops-bot', 'agent');
    otherBot = await t.key('agent', 'reviewer-bot', 'agent');
    for (const p of ['dana@x', 'dave@x', 'sam@x', 'tina@x', 'olga@x', 'oscar@x', 'otto@x']) {
      people[p] = await t.key('human', p, 'approver');
    }
    people['Dana@X'] = await t.key('human', 'Dana@X', 'approver');
    people.auditor = await t.key('human', 'audrey@x', 'auditor');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('a review opens a pending request; approvers list and read it, redacted; agents see only their own', async () => {
    const args = { service: 'billing-7f3a', password: 'hunter2', apiKey: 'sk-live-5ecret5ecret5ecret' };
    const d = await decide({ tool: 'change', args, session: 'open-1', triggeredBy: 'rita@x' });
    expect(d).toMatchObject({ effect: 'review', ruleId: 'change-review', approval: { status: 'pending' } });
    const id = d.approval?.id as string;
    expect(id).toMatch(/^apr_/);

    const list = await t.request('GET', '/v1/approvals?status=pending', { key: people['olga@x'] });
    expect(list.statusCode).toBe(200);
    expect((list.json() as { approvals: Approval[] }).approvals.map((a) => a.id)).toContain(id);

    const got = await t.request('GET', `/v1/approvals/${id}`, { key: people.auditor });
    expect(got.statusCode).toBe(200);
    expect(got.body).not.toContain('hunter2');
    expect(got.body).not.toContain('sk-live-5ecret');
    const a = got.json() as Approval;
    expect(a).toMatchObject({
      id,
      callId: d.callId,
      status: 'pending',
      agent: 'ops-bot',
      triggeredBy: 'rita@x',
    });
    expect(a.args.service).toBe('billing-7f3a');
    expect(a.argsHmac).toMatch(/^[0-9a-f]{16,}$/i);
    expect(a.requirements).toHaveLength(1);
    expect(a.progress).toEqual([
      expect.objectContaining({ approvals: 0, quorum: 1, denials: 0, met: false }),
    ]);

    expect((await t.request('GET', `/v1/approvals/${id}`, { key: bot })).statusCode).toBe(200);
    const foreign = await t.request('GET', `/v1/approvals/${id}`, { key: otherBot });
    expect([foreign.statusCode, codeOf(foreign)]).toEqual([404, 'APPROVAL_NOT_FOUND']);
    const foreignWait = await t.request('GET', `/v1/approvals/${id}/wait?timeoutMs=0`, { key: otherBot });
    expect([foreignWait.statusCode, codeOf(foreignWait)]).toEqual([404, 'APPROVAL_NOT_FOUND']);
    expect((await t.request('GET', '/v1/approvals', { key: bot })).statusCode).toBe(403);

    const exported = await t.request('GET', '/v1/audit/export?format=jsonl', { key: t.admin });
    expect(exported.statusCode).toBe(200);
    expect(exported.body).toContain(id);
    expect(exported.body).not.toContain('hunter2');
    expect(exported.body).not.toContain('sk-live-5ecret');
  });

  it('quorum counts distinct people, and every group that must approve needs its own person', async () => {
    const { id, decision } = await review('db.write', { table: 'orders' });
    let r = await vote(id, 'dana@x', 'approve');
    expect(r.statusCode, r.body).toBe(200);
    expect((r.json() as Approval).progress[0]).toMatchObject({
      approvals: 1,
      quorum: 2,
      missingGroups: ['security'],
    });
    for (const again of ['dana@x', 'Dana@X']) {
      r = await vote(id, again, 'approve');
      expect([r.statusCode, codeOf(r)]).toEqual([409, 'APPROVAL_ALREADY_VOTED']);
    }
    r = await vote(id, 'dave@x', 'approve');
    const two = r.json() as Approval;
    // Two DBAs meet the quorum but not the security group.
    expect(two.status).toBe('pending');
    expect(two.progress[0]).toMatchObject({ approvals: 2, missingGroups: ['security'], met: false });
    r = await vote(id, 'sam@x', 'approve');
    expect(r.json()).toMatchObject({ status: 'approved', decidedBy: 'sam@x' });
    const decided = await eventsFor('approval.decided', id);
    expect(decided).toHaveLength(1);
    expect(decided[0]?.event).toMatchObject({ callId: decision.callId, data: { outcome: 'approved' } });
    expect(await eventsFor('approval.voted', id)).toHaveLength(3);

    // tina is in both groups but is one person: alone she fills one of them.
    const both = await review('db.write', { table: 'users' });
    r = await vote(both.id, 'tina@x', 'approve');
    expect((r.json() as Approval).progress[0]).toMatchObject({ approvals: 1, met: false });
    expect((r.json() as Approval).progress[0]?.missingGroups).toHaveLength(1);
    r = await vote(both.id, 'dana@x', 'approve');
    expect(r.json()).toMatchObject({ status: 'approved' });
  });

  it('denials reach the threshold; a required reason is enforced; a decided request takes no votes', async () => {
    const { id } = await review('deploy', { version: '1.2.3' });
    let r = await vote(id, 'olga@x', 'approve');
    expect([r.statusCode, codeOf(r)]).toEqual([400, 'APPROVAL_REASON_REQUIRED']);
    r = await vote(id, 'olga@x', 'deny', 'not during the freeze');
    expect(r.json()).toMatchObject({ status: 'pending', progress: [{ denials: 1, denyThreshold: 2 }] });
    r = await vote(id, 'oscar@x', 'deny', 'the build is red');
    expect(r.json()).toMatchObject({
      status: 'denied',
      decidedBy: 'oscar@x',
      outcomeReason: 'the build is red',
    });
    r = await vote(id, 'otto@x', 'approve', 'too late');
    expect([r.statusCode, codeOf(r)]).toEqual([409, 'APPROVAL_DECIDED']);
    const decided = await eventsFor('approval.decided', id);
    expect(decided.map((e) => e.event.data?.outcome)).toEqual(['denied']);
  });

  it('an admin override decides alone, with a reason, and is recorded as an override', async () => {
    const { id } = await review('db.write', { table: 'ledger' });
    let r = await t.request('POST', `/v1/approvals/${id}/override`, {
      key: t.admin,
      body: { decision: 'approve' },
    });
    expect(r.statusCode).toBe(400);
    r = await t.request('POST', `/v1/approvals/${id}/override`, {
      key: t.admin,
      body: { decision: 'approve', reason: '   ' },
    });
    expect(r.statusCode).toBe(400);
    r = await t.request('POST', `/v1/approvals/${id}/override`, {
      key: people['dana@x'],
      body: { decision: 'approve', reason: 'I am a DBA' },
    });
    expect([r.statusCode, codeOf(r)]).toEqual([403, 'FORBIDDEN']);
    r = await t.request('POST', `/v1/approvals/${id}/override`, {
      key: t.admin,
      body: { decision: 'approve', reason: 'incident 4711 hotfix' },
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ status: 'approved', override: true, decidedBy: 'admin', votes: [] });
    const decided = await eventsFor('approval.decided', id);
    expect(decided).toHaveLength(1);
    expect(decided[0]?.event).toMatchObject({
      actor: { id: 'admin' },
      data: { outcome: 'approved', override: true, reason: 'incident 4711 hotfix' },
    });
  });

  it('the requesting agent (or an admin) can cancel a pending request; nobody else', async () => {
    const { id } = await review('change', { n: 'cancel' });
    let r = await t.request('POST', `/v1/approvals/${id}/cancel`, { key: otherBot, body: {} });
    expect([r.statusCode, codeOf(r)]).toEqual([404, 'APPROVAL_NOT_FOUND']);
    r = await t.request('POST', `/v1/approvals/${id}/cancel`, { key: bot, body: { reason: 'not needed' } });
    expect(r.json()).toMatchObject({ status: 'cancelled' });
    r = await vote(id, 'olga@x', 'approve');
    expect([r.statusCode, codeOf(r)]).toEqual([409, 'APPROVAL_DECIDED']);
  });

  describe('redeeming an approval', () => {
    const ARGS = { service: 'payments', password: 'hunter2' };

    async function approved(session: string, args = ARGS) {
      const { id, decision } = await review('change', args, session);
      expect((await vote(id, 'olga@x', 'approve')).statusCode).toBe(200);
      return { id, decision };
    }

    it('the same call is allowed once; the approved call itself then may not run', async () => {
      const { id, decision } = await approved('redeem-1');
      const redeem = { tool: 'change', args: ARGS, session: 'redeem-1', approvalId: id };
      const first = await decide(redeem);
      expect(first).toMatchObject({ effect: 'allow', approval: { id, status: 'used' } });
      const done = await t.request('POST', `/v1/calls/${first.callId}/complete`, {
        key: bot,
        body: { status: 'ok' },
      });
      expect(done.statusCode, done.body).toBe(200);
      expect(await approval(id)).toMatchObject({ status: 'used', usedByCall: first.callId });
      expect(await eventsFor('approval.used', id)).toHaveLength(1);

      const second = await decide(redeem);
      expect(second).toMatchObject({ effect: 'block', code: 'APPROVAL_DECIDED' });
      const original = await t.request('POST', `/v1/calls/${decision.callId}/complete`, {
        key: bot,
        body: { status: 'ok' },
      });
      expect([original.statusCode, codeOf(original)]).toEqual([409, 'CALL_NOT_RUNNABLE']);
      // Another agent cannot redeem it either (its policy blocks the tool before the approval is looked at).
      const foreign = await decide({ ...redeem, session: 'redeem-foreign' }, otherBot);
      expect(foreign.effect).toBe('block');
      expect(await approval(id)).toMatchObject({ status: 'used', usedByCall: first.callId });
    });

    it('changed arguments (even a redacted one) void the approval for good', async () => {
      const { id } = await approved('redeem-2');
      const changed = await decide({
        tool: 'change',
        args: { ...ARGS, password: 'hunter3' },
        session: 'redeem-2',
        approvalId: id,
      });
      expect(changed).toMatchObject({ effect: 'block', code: 'APPROVAL_MISMATCH' });
      expect((await approval(id)).status).toBe('voided');
      expect(await eventsFor('approval.voided', id)).toHaveLength(1);
      const right = await decide({ tool: 'change', args: ARGS, session: 'redeem-2', approvalId: id });
      expect(right).toMatchObject({ effect: 'block', code: 'APPROVAL_DECIDED' });
      expect((await approval(id)).status).toBe('voided');
    });

    it('another session or another tool is a mismatch too', async () => {
      const s = await approved('redeem-3');
      const otherSession = await decide({
        tool: 'change',
        args: ARGS,
        session: 'redeem-3b',
        approvalId: s.id,
      });
      expect(otherSession).toMatchObject({ effect: 'block', code: 'APPROVAL_MISMATCH' });
      expect((await approval(s.id)).status).toBe('voided');

      const tool = await approved('redeem-4');
      const otherTool = await decide({
        tool: 'deploy',
        args: ARGS,
        session: 'redeem-4',
        approvalId: tool.id,
      });
      expect(otherTool).toMatchObject({ effect: 'block', code: 'APPROVAL_MISMATCH' });
      expect((await approval(tool.id)).status).toBe('voided');
    });

    it('a pending approval redeems as review again, opening no new request', async () => {
      const { id } = await review('change', ARGS, 'redeem-5');
      const again = await decide({ tool: 'change', args: ARGS, session: 'redeem-5', approvalId: id });
      expect(again).toMatchObject({ effect: 'review', approval: { id, status: 'pending' } });
      const list = await t.request('GET', '/v1/approvals?session=redeem-5', { key: t.admin });
      expect((list.json() as { approvals: Approval[] }).approvals.map((a) => a.id)).toEqual([id]);
    });
  });
});
