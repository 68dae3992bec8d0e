/**
 * Waiting for a decision, on both stores: a call sent with `wait` resumes allowed (and completes once)
 * when approved, blocked when denied or expired, and stays a pending review when the wait runs out; the
 * long-poll answers on the decision; expiry and escalation are done by the sweeper.
 */
import { fileURLToPath } from 'node:url';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

const POLICY = fileURLToPath(new URL('./fixtures/approvals-policy', import.meta.url));
/** Far longer than any decision here takes: a waiter that returns early was woken by the decision. */
const LONG_WAIT = 20_000;

interface Decision {
  callId: string;
  effect: 'allow' | 'review' | 'block';
  reasons: string[];
  approval?: { id: string; status: string };
}

interface Approval {
  id: string;
  status: string;
  escalated: boolean;
  outcomeReason: string | null;
  usedByCall: string | null;
  decidedBy: string | null;
}

interface AuditRecord {
  event: { type: string; data?: Record<string, unknown> };
}

const errorOf = (r: LightMyRequestResponse) => [
  r.statusCode,
  (r.json() as { error: { code: string } }).error.code,
];

describe.each(['sqlite', 'postgres'] as const)('waiting for approval decisions on %s', (dialect) => {
  let t: TestServer;
  let bot: string;
  const people: Record<string, string> = {};

  const call = (body: Record<string, unknown>) => t.request('POST', '/v1/calls', { key: bot, body });
  const json = <T>(r: LightMyRequestResponse): T => {
    expect(r.statusCode, r.body).toBe(200);
    return r.json() as T;
  };
  const vote = (id: string, who: string, action: 'approve' | 'deny', reason?: string) =>
    t.request('POST', `/v1/approvals/${id}/${action}`, {
      key: people[who] as string,
      body: reason ? { reason } : {},
    });

  /** The pending request of a session, once the waiting call has opened it. */
  const pendingIn = (session: string) =>
    eventually(`a pending request in ${session}`, async () => {
      const r = await t.request('GET', `/v1/approvals?status=pending&session=${session}`, { key: t.admin });
      return (r.json() as { approvals: Approval[] }).approvals[0];
    });

  async function eventsFor(type: string, approvalId: string): Promise<AuditRecord[]> {
    const r = await t.request('GET', `/v1/audit/events?type=${type}&limit=1000`, { key: t.admin });
    return (r.json() as { records: AuditRecord[] }).records.filter(
      (x) => x.event.data?.approvalId === approvalId,
    );
  }

  beforeAll(async () => {
    t = await startTestServer(dialect, { policy: POLICY, approvalSweepMs: 50 });
    bot = await t.key('agent', 'ops-bot', 'agent');
    for (const p of ['olga@x', 'oscar@x', 'boss@x']) people[p] = await t.key('human', p, 'approver');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('a waiting call resumes allowed when another person approves, and completes exactly once', async () => {
    const waiting = call({ tool: 'change', args: { n: 1 }, session: `${dialect}-w1`, wait: LONG_WAIT });
    const pending = await pendingIn(`${dialect}-w1`);
    expect(json<Approval>(await vote(pending.id, 'olga@x', 'approve')).status).toBe('approved');
    const d = json<Decision>(await waiting);
    expect(d).toMatchObject({ effect: 'allow', approval: { id: pending.id, status: 'approved' } });
    expect(d.reasons.join(' ')).toContain('olga@x');
    const complete = () =>
      t.request('POST', `/v1/calls/${d.callId}/complete`, { key: bot, body: { status: 'ok' } });
    expect((await complete()).statusCode).toBe(200);
    expect(errorOf(await complete())).toEqual([409, 'CALL_ALREADY_COMPLETED']);
    const a = json<Approval>(await t.request('GET', `/v1/approvals/${pending.id}`, { key: t.admin }));
    expect(a).toMatchObject({ status: 'used', usedByCall: d.callId });
  });

  it('a denial blocks the waiting call with the reason, and the call may not run', async () => {
    const waiting = call({ tool: 'change', args: { n: 2 }, session: `${dialect}-w2`, wait: LONG_WAIT });
    const pending = await pendingIn(`${dialect}-w2`);
    expect((await vote(pending.id, 'oscar@x', 'deny', 'not during the freeze')).statusCode).toBe(200);
    const d = json<Decision>(await waiting);
    expect(d).toMatchObject({ effect: 'block', approval: { id: pending.id, status: 'denied' } });
    expect(d.reasons.join(' ')).toContain('not during the freeze');
    const r = await t.request('POST', `/v1/calls/${d.callId}/complete`, { key: bot, body: { status: 'ok' } });
    expect(errorOf(r)).toEqual([409, 'CALL_NOT_RUNNABLE']);
  });

  it('a wait shorter than the decision returns a pending review', async () => {
    const d = json<Decision>(await call({ tool: 'change', args: { n: 3 }, wait: 100 }));
    expect(d).toMatchObject({ effect: 'review', approval: { status: 'pending' } });
    const poll = await t.request('GET', `/v1/approvals/${d.approval?.id}/wait?timeoutMs=50`, { key: bot });
    expect(json<Approval>(poll).status).toBe('pending');
  });

  it('the long-poll answers on the decision; once decided it answers at once', async () => {
    const d = json<Decision>(await call({ tool: 'change', args: { n: 4 } }));
    const id = d.approval?.id as string;
    const polling = t.request('GET', `/v1/approvals/${id}/wait?timeoutMs=${LONG_WAIT}`, { key: bot });
    // Voting only once the poll is surely listening would need a hook; voting at once also covers the
    // decision landing between the poll's subscription and its read.
    expect((await vote(id, 'olga@x', 'approve')).statusCode).toBe(200);
    expect(json<Approval>(await polling)).toMatchObject({ id, status: 'approved', decidedBy: 'olga@x' });
    // The test's own timeout is far below this wait: it can only pass by answering at once.
    const again = await t.request('GET', `/v1/approvals/${id}/wait?timeoutMs=250000`, {
      key: people['oscar@x'],
    });
    expect(json<Approval>(again).status).toBe('approved');
  }, 15_000);

  it('an unanswered request expires: the waiter is blocked, later votes refused, the history kept', async () => {
    const d = json<Decision>(
      await call({ tool: 'restart', args: { host: 'db-1' }, session: `${dialect}-w5`, wait: LONG_WAIT }),
    );
    expect(d).toMatchObject({ effect: 'block', approval: { status: 'expired' } });
    const id = d.approval?.id as string;
    expect(errorOf(await vote(id, 'olga@x', 'approve'))).toEqual([409, 'APPROVAL_DECIDED']);
    const a = json<Approval>(await t.request('GET', `/v1/approvals/${id}`, { key: t.admin }));
    expect(a.status).toBe('expired');
    expect(a.outcomeReason).toMatch(/no decision/);
    const decided = await eventsFor('approval.decided', id);
    expect(decided.map((e) => e.event.data?.outcome)).toEqual(['expired']);
    expect(await eventsFor('approval.requested', id)).toHaveLength(1);
    const r = await t.request('POST', `/v1/calls/${d.callId}/complete`, { key: bot, body: { status: 'ok' } });
    expect(errorOf(r)).toEqual([409, 'CALL_NOT_RUNNABLE']);
  });

  it('escalation: the boss is not eligible until the request escalates, then decides it', async () => {
    const d = json<Decision>(await call({ tool: 'purge', args: { bucket: 'logs' } }));
    const id = d.approval?.id as string;
    expect(errorOf(await vote(id, 'boss@x', 'approve'))).toEqual([403, 'APPROVAL_NOT_ELIGIBLE']);
    await eventually('the escalation', async () => {
      const a = json<Approval>(await t.request('GET', `/v1/approvals/${id}`, { key: t.admin }));
      return a.escalated ? a : undefined;
    });
    expect(await eventsFor('approval.escalated', id)).toHaveLength(1);
    const r = await vote(id, 'boss@x', 'approve');
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ status: 'approved', decidedBy: 'boss@x' });
  });
});
