/**
 * What a security review asked of the approval API: an agent cannot probe or vote on requests it has no
 * part in and does not see who the approvers are; a call that waited for its approval goes ahead only if
 * its session is still open; a redeeming call that waited can be completed; one key cannot take every
 * live stream.
 */
import { fileURLToPath } from 'node:url';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

const POLICY = fileURLToPath(new URL('./fixtures/approvals-policy', import.meta.url));

interface Decision {
  callId: string;
  session: string;
  effect: string;
  code?: string;
  reasons: string[];
  approval?: { id: string; status: string };
}

const codeOf = (r: LightMyRequestResponse) => (r.json() as { error: { code: string } }).error.code;

describe('approval API hardening', () => {
  let t: TestServer;
  let bot: string;
  let prober: string;
  let reviewer: string;
  let olga: string;

  beforeAll(async () => {
    t = await startTestServer(
      'sqlite',
      { policy: POLICY, approvalSweepMs: 50, maxSsePerKey: 2 },
      { listen: true },
    );
    bot = await t.key('agent', 'ops-bot', 'agent');
    prober = await t.key('agent', 'prober-bot', 'agent');
    reviewer = await t.key('agent', 'reviewer-bot', 'agent');
    olga = await t.key('human', 'olga@x', 'approver');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function call(body: Record<string, unknown>): Promise<Decision> {
    const r = await t.request('POST', '/v1/calls', { key: bot, body });
    expect(r.statusCode, r.body).toBe(200);
    return r.json() as Decision;
  }

  async function pending(tool: string, session?: string): Promise<string> {
    const d = await call({ tool, args: { n: 1 }, ...(session ? { session } : {}) });
    expect(d.effect).toBe('review');
    return d.approval?.id as string;
  }

  /** Resolves once the hub is tailing, i.e. a waiting call has started listening for its decision. */
  const waiting = () =>
    eventually('a call waiting for its decision', () => t.server.ctx.hub.tailing || undefined);

  it('answers 404 to an agent voting on a request it neither made nor is named for, and records nothing', async () => {
    const id = await pending('change');
    for (const path of ['approve', 'deny']) {
      const r = await t.request('POST', `/v1/approvals/${id}/${path}`, { key: prober, body: {} });
      expect([r.statusCode, codeOf(r)]).toEqual([404, 'APPROVAL_NOT_FOUND']);
    }
    // reviewer-bot is named only by the notify rule: a change request is none of its business either.
    const r = await t.request('POST', `/v1/approvals/${id}/approve`, { key: reviewer, body: {} });
    expect([r.statusCode, codeOf(r)]).toEqual([404, 'APPROVAL_NOT_FOUND']);
    const refused = await t.request('GET', '/v1/audit/events?type=approval.refused&limit=1000', {
      key: t.admin,
    });
    const ids = (refused.json() as { records: { event: { data: { approvalId: string } } }[] }).records.map(
      (x) => x.event.data.approvalId,
    );
    expect(ids).not.toContain(id);
    // Where the rule names it, the agent's vote counts.
    const notify = await pending('notify');
    const ok = await t.request('POST', `/v1/approvals/${notify}/approve`, { key: reviewer, body: {} });
    expect(ok.statusCode, ok.body).toBe(200);
    expect((ok.json() as { status: string }).status).toBe('approved');
  });

  it('does not show an agent who is in the approver groups', async () => {
    const id = await pending('db.write');
    const mine = await t.request('GET', `/v1/approvals/${id}`, { key: bot });
    expect(mine.statusCode, mine.body).toBe(200);
    expect((mine.json() as { groups: object }).groups).toEqual({});
    expect(mine.body).not.toContain('dana@x');
    const theirs = await t.request('GET', `/v1/approvals/${id}`, { key: olga });
    expect((theirs.json() as { groups: Record<string, string[]> }).groups.dba).toContain('dana@x');
  });

  it('blocks a call that waited for its approval when its session was paused meanwhile', async () => {
    const session = `paused-${Date.now()}`;
    await call({ tool: 'ops.list', session });
    const held = call({ tool: 'change', args: { n: 2 }, session, wait: 20_000 });
    const id = await eventually('the held call opening its request', async () => {
      const r = await t.request('GET', `/v1/approvals?status=pending&session=${session}`, { key: olga });
      return (r.json() as { approvals: { id: string }[] }).approvals[0]?.id;
    });
    await waiting();
    const pause = await t.request('POST', `/v1/sessions/${session}/pause`, {
      key: t.admin,
      body: { reason: 'kill switch' },
    });
    expect(pause.statusCode, pause.body).toBe(200);
    const vote = await t.request('POST', `/v1/approvals/${id}/approve`, { key: olga, body: {} });
    expect(vote.statusCode, vote.body).toBe(200);
    const d = await held;
    expect(d).toMatchObject({ effect: 'block', code: 'SESSION_PAUSED' });
    // Not used, and the call cannot be completed either while the session stays paused.
    const after = await t.request('GET', `/v1/approvals/${id}`, { key: olga });
    expect((after.json() as { status: string }).status).toBe('approved');
    const early = await t.request('POST', `/v1/calls/${d.callId}/complete`, {
      key: bot,
      body: { status: 'ok' },
    });
    expect([early.statusCode, codeOf(early)]).toEqual([409, 'CALL_NOT_RUNNABLE']);
    expect(early.body).toContain('paused');
    // Once a human resumes the session, the approved call may go ahead.
    const resume = await t.request('POST', `/v1/sessions/${session}/resume`, {
      key: olga,
      body: { reason: 'checked' },
    });
    expect(resume.statusCode, resume.body).toBe(200);
    const done = await t.request('POST', `/v1/calls/${d.callId}/complete`, {
      key: bot,
      body: { status: 'ok' },
    });
    expect(done.statusCode, done.body).toBe(200);
  });

  it('does not use an approval for a waiting caller who hung up', async () => {
    const session = `hangup-${Date.now()}`;
    const abort = new AbortController();
    const held = fetch(`${t.server.url}/v1/calls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bot}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'change', args: { n: 3 }, session, wait: 20_000 }),
      signal: abort.signal,
    }).catch(() => undefined);
    const id = await eventually('the held call opening its request', async () => {
      const r = await t.request('GET', `/v1/approvals?status=pending&session=${session}`, { key: olga });
      return (r.json() as { approvals: { id: string }[] }).approvals[0]?.id;
    });
    await waiting();
    abort.abort();
    await held;
    // The server notices the hang-up and stops waiting: nobody listens for the decision any more.
    await eventually('the server to stop waiting', () => (t.server.ctx.hub.tailing ? undefined : true));
    const vote = await t.request('POST', `/v1/approvals/${id}/approve`, { key: olga, body: {} });
    expect(vote.statusCode, vote.body).toBe(200);
    const a = await t.request('GET', `/v1/approvals/${id}`, { key: olga });
    expect(a.json()).toMatchObject({ status: 'approved', usedByCall: null });
  });

  it('lets a redeeming call that waited for the decision be completed', async () => {
    const session = `redeem-${Date.now()}`;
    const id = await pending('change', session);
    const redeem = call({ tool: 'change', args: { n: 1 }, session, approvalId: id, wait: 20_000 });
    await waiting();
    const vote = await t.request('POST', `/v1/approvals/${id}/approve`, { key: olga, body: {} });
    expect(vote.statusCode, vote.body).toBe(200);
    const d = await redeem;
    expect(d.effect).toBe('allow');
    const done = await t.request('POST', `/v1/calls/${d.callId}/complete`, {
      key: bot,
      body: { status: 'ok' },
    });
    expect(done.statusCode, done.body).toBe(200);
    const a = await t.request('GET', `/v1/approvals/${id}`, { key: olga });
    expect(a.json()).toMatchObject({ status: 'used', usedByCall: d.callId });
  });

  it('tells the approver when the arguments were too large to store whole', async () => {
    const d = await call({ tool: 'change', args: { blob: 'x'.repeat(70_000) } });
    const r = await t.request('GET', `/v1/approvals/${d.approval?.id}`, { key: olga });
    const view = r.json() as { argsFlags?: string[]; callHmac?: string };
    expect(view.argsFlags?.length).toBeGreaterThan(0);
    // The whole-call fingerprint binds the request; it is not for readers.
    expect(view.callHmac).toBeUndefined();
    const small = await pending('change');
    const plain = await t.request('GET', `/v1/approvals/${small}`, { key: olga });
    expect((plain.json() as { argsFlags?: string[] }).argsFlags).toBeUndefined();
  });

  it('refuses a key more live streams than maxSsePerKey', async () => {
    const aborts: AbortController[] = [];
    const open = async () => {
      const abort = new AbortController();
      aborts.push(abort);
      return fetch(`${t.server.url}/v1/events`, {
        headers: { authorization: `Bearer ${bot}` },
        signal: abort.signal,
      });
    };
    try {
      expect((await open()).status).toBe(200);
      expect((await open()).status).toBe(200);
      const third = await open();
      expect(third.status).toBe(429);
      expect(((await third.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    } finally {
      for (const a of aborts) a.abort();
    }
  });
});
