/**
 * Separation of duties through the HTTP API (SQLite): whoever has a stake in a request — the human who
 * triggered it (however the name is spelled), the requesting agent and every agent up its delegation
 * chain — is refused on every channel (approve, deny, CLI, override, links, session resume, grants), and
 * each refused vote is recorded. Eligibility and roles are checked too.
 */
import { fileURLToPath } from 'node:url';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalLinkToken } from '../src/notify/approval-links.js';
import { linkKey } from '../src/notify/notification-dispatcher.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

const POLICY = fileURLToPath(new URL('./fixtures/approvals-policy', import.meta.url));

interface Decision {
  callId: string;
  session: string;
  effect: string;
  approval?: { id: string; status: string };
}

interface Approval {
  id: string;
  status: string;
  votes: { principal: string; kind: string; vote: string }[];
}

interface AuditRecord {
  event: { type: string; session?: string; actor: { id: string }; data?: Record<string, unknown> };
}

const errorOf = (r: LightMyRequestResponse) => [
  r.statusCode,
  (r.json() as { error: { code: string } }).error.code,
];
const SELF = [403, 'APPROVAL_SELF_APPROVAL'];
const NOT_ELIGIBLE = [403, 'APPROVAL_NOT_ELIGIBLE'];

describe('separation of duties on every channel', () => {
  let t: TestServer;
  const keys: Record<string, string> = {};

  async function review(body: Record<string, unknown>): Promise<Decision & { id: string }> {
    const r = await t.request('POST', '/v1/calls', { key: keys['ops-bot'], body });
    expect(r.statusCode, r.body).toBe(200);
    const d = r.json() as Decision;
    expect(d.effect).toBe('review');
    return { ...d, id: d.approval?.id as string };
  }

  function vote(id: string, key: string, action: 'approve' | 'deny', headers?: Record<string, string>) {
    return t.request('POST', `/v1/approvals/${id}/${action}`, {
      key,
      body: {},
      ...(headers ? { headers } : {}),
    });
  }

  function viaLink(id: string, action: 'approve' | 'deny', key: string) {
    const token = createApprovalLinkToken(linkKey(t.server.ctx.engine), {
      approvalId: id,
      action,
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    return t.request('POST', `/v1/approvals/links/${token}`, { key, body: {} });
  }

  async function approval(id: string): Promise<Approval> {
    return (await t.request('GET', `/v1/approvals/${id}`, { key: t.admin })).json() as Approval;
  }

  async function refusals(match: (r: AuditRecord) => boolean): Promise<AuditRecord[]> {
    const r = await t.request('GET', '/v1/audit/events?type=approval.refused&limit=1000', { key: t.admin });
    expect(r.statusCode).toBe(200);
    return (r.json() as { records: AuditRecord[] }).records.filter(match);
  }

  beforeAll(async () => {
    t = await startTestServer('sqlite', { policy: POLICY, approvalSweepMs: 50 });
    for (const agent of ['ops-bot', 'reviewer-bot', 'helper-bot', 'stray-bot']) {
      keys[agent] = await t.key('agent', agent, 'agent');
    }
    for (const p of ['tina@x', 'olga@x', 'nora@x']) keys[p] = await t.key('human', p, 'approver');
    keys['Tina@X'] = await t.key('human', 'Tina@X', 'approver');
    keys['tina-admin'] = await t.key('human', 'tina@x', 'admin');
    keys.auditor = await t.key('human', 'audrey@x', 'auditor');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('tina may approve a request someone else triggered: she is eligible', async () => {
    const { id } = await review({ tool: 'change', args: { n: 0 }, triggeredBy: 'rita@x' });
    const r = await vote(id, keys['tina@x'] as string, 'approve');
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ status: 'approved' });
  });

  it('the human who triggered the task is refused on every voting channel, and each refusal is recorded', async () => {
    const { id } = await review({
      tool: 'change',
      args: { n: 1 },
      session: 'sod-tina',
      triggeredBy: 'tina@x',
    });
    const tina = keys['tina@x'] as string;
    expect(errorOf(await vote(id, tina, 'approve'))).toEqual(SELF);
    expect(errorOf(await vote(id, tina, 'deny'))).toEqual(SELF);
    expect(errorOf(await vote(id, tina, 'approve', { 'warden-client': 'cli' }))).toEqual(SELF);
    expect(errorOf(await vote(id, tina, 'deny', { 'warden-client': 'dashboard' }))).toEqual(SELF);
    expect(errorOf(await vote(id, keys['Tina@X'] as string, 'approve'))).toEqual(SELF);
    const override = await t.request('POST', `/v1/approvals/${id}/override`, {
      key: keys['tina-admin'],
      body: { decision: 'approve', reason: 'I am an admin' },
    });
    expect(errorOf(override)).toEqual(SELF);
    expect(errorOf(await viaLink(id, 'approve', tina))).toEqual(SELF);
    expect(errorOf(await viaLink(id, 'deny', tina))).toEqual(SELF);

    expect(await approval(id)).toMatchObject({ status: 'pending', votes: [] });
    const recorded = await refusals((r) => r.event.data?.approvalId === id);
    expect(recorded).toHaveLength(8);
    for (const r of recorded) {
      expect(r.event.data?.code).toBe('APPROVAL_SELF_APPROVAL');
      expect(r.event.actor.id.toLowerCase()).toBe('tina@x');
    }
    expect(recorded.map((r) => r.event.data?.vote).sort()).toEqual(
      ['approve', 'approve', 'approve', 'approve', 'approve', 'deny', 'deny', 'deny'].sort(),
    );

    // Someone without a stake decides it.
    expect((await vote(id, keys['olga@x'] as string, 'approve')).statusCode).toBe(200);
  });

  it.each([
    ['upper case', 'TINA@X'],
    ['surrounding spaces', '  tina@x  '],
    ['compatibility forms', 'ｔｉｎａ@x'],
    ['Cyrillic look-alike letters (і, а)', 't\u0456n\u0430@x'],
    ['one Cyrillic і among Latin letters', 't\u0456na@x'],
    ['a combining accent', 'ti\u0301na@x'],
  ])('the triggering human spelled with %s is still refused', async (_what, triggeredBy) => {
    const { id } = await review({ tool: 'change', args: { triggeredBy }, triggeredBy });
    expect(errorOf(await vote(id, keys['tina@x'] as string, 'approve'))).toEqual(SELF);
    expect(errorOf(await viaLink(id, 'approve', keys['Tina@X'] as string))).toEqual(SELF);
  });

  it.each([
    ['a Braille pattern blank', 'tina\u2800@x', 'U+2800'],
    ['a C1 control (NEL)', 'tina@x\u0085', 'U+0085'],
    ['a Hangul filler', '\u3164tina@x', 'U+3164'],
    ['a zero-width space', 'tina\u200b@x', 'U+200B'],
  ])(
    'a trigger holding %s is refused at the door, so no review waits for tina to approve',
    async (_what, triggeredBy, cp) => {
      const r = await t.request('POST', '/v1/calls', {
        key: keys['ops-bot'],
        body: { tool: 'change', args: { triggeredBy }, triggeredBy },
      });
      expect(errorOf(r)).toEqual([400, 'REQUEST_INVALID']);
      expect((r.json() as { error: { message: string } }).error.message).toContain(
        `triggeredBy must contain only visible characters; it contains ${cp}`,
      );
      const pending = await t.request('GET', '/v1/approvals?status=pending', { key: t.admin });
      expect(pending.body).not.toContain(JSON.stringify(triggeredBy).slice(1, -1));
    },
  );

  it("the session's stake counts: its triggering human cannot decide a later call in it", async () => {
    await review({ tool: 'change', args: { n: 2 }, session: 'sod-session', triggeredBy: 'tina@x' });
    const later = await review({
      tool: 'change',
      args: { n: 3 },
      session: 'sod-session',
      triggeredBy: 'rita@x',
    });
    expect(errorOf(await vote(later.id, keys['tina@x'] as string, 'approve'))).toEqual(SELF);
  });

  it('the triggering human cannot resume the paused session, nor grant tools in it', async () => {
    await review({ tool: 'change', args: { n: 4 }, session: 'sod-resume', triggeredBy: 'tina@x' });
    const paused = await t.request('POST', '/v1/sessions/sod-resume/pause', {
      key: keys['olga@x'],
      body: { reason: 'looks odd' },
    });
    expect(paused.statusCode, paused.body).toBe(200);
    for (const who of ['tina@x', 'Tina@X', 'tina-admin']) {
      const r = await t.request('POST', '/v1/sessions/sod-resume/resume', {
        key: keys[who],
        body: { reason: 'it is fine' },
      });
      expect(errorOf(r)).toEqual(SELF);
    }
    const recorded = await refusals((r) => r.event.session === 'sod-resume');
    expect(recorded).toHaveLength(3);
    expect(recorded[0]?.event.data).toMatchObject({ act: 'resume', code: 'APPROVAL_SELF_APPROVAL' });
    const resumed = await t.request('POST', '/v1/sessions/sod-resume/resume', {
      key: keys['olga@x'],
      body: { reason: 'checked' },
    });
    expect(resumed.statusCode, resumed.body).toBe(200);

    const grant = { agent: 'ops-bot', tool: 'ops.*', session: 'sod-resume', ttl: '1h', reason: 'need it' };
    expect(errorOf(await t.request('POST', '/v1/grants', { key: keys['tina@x'], body: grant }))).toEqual(
      SELF,
    );
    expect(errorOf(await t.request('POST', '/v1/grants', { key: keys['tina-admin'], body: grant }))).toEqual(
      SELF,
    );
    const ok = await t.request('POST', '/v1/grants', { key: keys['olga@x'], body: grant });
    expect(ok.statusCode, ok.body).toBe(201);
  });

  it('a look-alike trigger (Cyrillic і) bars tina from overriding, resuming and granting too', async () => {
    const lookalike = 't\u0456na@x';
    const { id } = await review({
      tool: 'change',
      args: { n: 9 },
      session: 'sod-lookalike',
      triggeredBy: lookalike,
    });
    const override = await t.request('POST', `/v1/approvals/${id}/override`, {
      key: keys['tina-admin'],
      body: { decision: 'approve', reason: 'I am an admin' },
    });
    expect(errorOf(override)).toEqual(SELF);
    const paused = await t.request('POST', '/v1/sessions/sod-lookalike/pause', {
      key: keys['olga@x'],
      body: { reason: 'looks odd' },
    });
    expect(paused.statusCode, paused.body).toBe(200);
    const resume = await t.request('POST', '/v1/sessions/sod-lookalike/resume', {
      key: keys['tina@x'],
      body: { reason: 'it is fine' },
    });
    expect(errorOf(resume)).toEqual(SELF);
    const grant = { agent: 'ops-bot', tool: 'ops.*', session: 'sod-lookalike', ttl: '1h', reason: 'need it' };
    expect(errorOf(await t.request('POST', '/v1/grants', { key: keys['tina@x'], body: grant }))).toEqual(
      SELF,
    );
    const recorded = await refusals((r) => r.event.session === 'sod-lookalike');
    expect(recorded.map((r) => r.event.data?.code)).toEqual([
      'APPROVAL_SELF_APPROVAL',
      'APPROVAL_SELF_APPROVAL',
    ]);
  });

  it('agents: the requester and delegating agents are refused; a named agent outside the chain approves', async () => {
    const { id } = await review({ tool: 'notify', args: { to: 'all' }, delegationChain: ['helper-bot'] });
    expect(errorOf(await vote(id, keys['ops-bot'] as string, 'approve'))).toEqual(SELF);
    expect(errorOf(await vote(id, keys['helper-bot'] as string, 'approve'))).toEqual(SELF);
    expect(errorOf(await viaLink(id, 'approve', keys['helper-bot'] as string))).toEqual(SELF);
    // Humans are not named by this rule; an unnamed agent does not even learn that the request exists.
    expect(errorOf(await vote(id, keys['olga@x'] as string, 'approve'))).toEqual(NOT_ELIGIBLE);
    expect(errorOf(await vote(id, keys['stray-bot'] as string, 'approve'))).toEqual([
      404,
      'APPROVAL_NOT_FOUND',
    ]);
    const r = await vote(id, keys['reviewer-bot'] as string, 'approve');
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({
      status: 'approved',
      votes: [{ principal: 'reviewer-bot', kind: 'agent', vote: 'approve' }],
    });
    const codes = (await refusals((x) => x.event.data?.approvalId === id)).map((x) => x.event.data?.code);
    expect(codes.sort()).toEqual([
      'APPROVAL_NOT_ELIGIBLE',
      'APPROVAL_SELF_APPROVAL',
      'APPROVAL_SELF_APPROVAL',
      'APPROVAL_SELF_APPROVAL',
    ]);
  });

  it('an agent cannot vote where the rule names no agents: to it, the request does not exist', async () => {
    const { id } = await review({ tool: 'change', args: { n: 5 } });
    expect(errorOf(await vote(id, keys['reviewer-bot'] as string, 'approve'))).toEqual([
      404,
      'APPROVAL_NOT_FOUND',
    ]);
  });

  it('an approver outside the approver groups is not eligible; an auditor may read but not vote', async () => {
    const { id } = await review({ tool: 'change', args: { n: 6 } });
    expect(errorOf(await vote(id, keys['nora@x'] as string, 'approve'))).toEqual(NOT_ELIGIBLE);
    expect(errorOf(await viaLink(id, 'deny', keys['nora@x'] as string))).toEqual(NOT_ELIGIBLE);
    const refused = await refusals((x) => x.event.data?.approvalId === id);
    expect(refused.map((x) => [x.event.actor.id, x.event.data?.code])).toEqual([
      ['nora@x', 'APPROVAL_NOT_ELIGIBLE'],
      ['nora@x', 'APPROVAL_NOT_ELIGIBLE'],
    ]);
    const auditor = keys.auditor as string;
    expect(errorOf(await vote(id, auditor, 'approve'))).toEqual([403, 'FORBIDDEN']);
    expect(errorOf(await viaLink(id, 'approve', auditor))).toEqual([403, 'FORBIDDEN']);
    expect((await t.request('GET', `/v1/approvals/${id}`, { key: auditor })).statusCode).toBe(200);
    expect(await approval(id)).toMatchObject({ status: 'pending', votes: [] });
  });
});
