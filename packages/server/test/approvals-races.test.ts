/**
 * Double decisions: votes racing on one request make exactly one transition (one `approval.decided`
 * event, one outcome), on both stores and across two instances on one PostgreSQL database; and a call
 * waiting on one instance resumes as soon as another instance approves (pushed, not polled).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalLinkToken } from '../src/notify/approval-links.js';
import { linkKey } from '../src/notify/notification-dispatcher.js';
import { eventually } from '../test-support/eventually.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

const POLICY = fileURLToPath(new URL('./fixtures/approvals-policy', import.meta.url));
/** Far beyond the tests' deadlines: whatever an instance learns in time was pushed, not polled. */
const POLL_MS = 60_000;
const ROUNDS = 5;

interface Approval {
  id: string;
  status: string;
  decidedBy: string | null;
  votes: { principal: string; vote: string }[];
}

interface AuditRecord {
  event: { type: string; data?: Record<string, unknown> };
}

type Vote = { server: TestServer; who: string; action: 'approve' | 'deny' };

/** Keys live in the database, so one set serves every instance on it (only the first bootstraps an admin). */
async function keysOn(t: TestServer) {
  const people: Record<string, string> = {};
  for (const p of ['olga@x', 'oscar@x', 'dana@x', 'sam@x']) people[p] = await t.key('human', p, 'approver');
  return { bot: await t.key('agent', 'ops-bot', 'agent'), people, admin: t.admin };
}

/**
 * Opens a quorum-1 request on `origin`, casts `votes` all at once and checks that exactly one landed:
 * one 200, the rest 409 APPROVAL_DECIDED, one decided event, and the outcome of the vote that won.
 */
async function race(origin: TestServer, keys: Awaited<ReturnType<typeof keysOn>>, votes: Vote[], n: number) {
  const r = await origin.request('POST', '/v1/calls', {
    key: keys.bot,
    body: { tool: 'change', args: { round: n } },
  });
  const id = (r.json() as { approval: { id: string } }).approval.id;
  const answers = await Promise.all(
    votes.map((v) =>
      v.server.request('POST', `/v1/approvals/${id}/${v.action}`, {
        key: keys.people[v.who] as string,
        body: { reason: `${v.who} says ${v.action}` },
      }),
    ),
  );
  const won = answers.flatMap((a, i) => (a.statusCode === 200 ? [votes[i] as Vote] : []));
  const lost = answers.filter((a) => a.statusCode !== 200);
  expect(won, answers.map((a) => a.body).join('\n')).toHaveLength(1);
  for (const a of lost) expect(errorOf(a)).toEqual([409, 'APPROVAL_DECIDED']);
  const winner = won[0] as Vote;
  const a = (await origin.request('GET', `/v1/approvals/${id}`, { key: keys.admin })).json() as Approval;
  expect(a).toMatchObject({
    status: winner.action === 'approve' ? 'approved' : 'denied',
    decidedBy: winner.who,
    votes: [{ principal: winner.who, vote: winner.action }],
  });
  const events = await origin.request('GET', '/v1/audit/events?type=approval.decided&limit=1000', {
    key: keys.admin,
  });
  const decided = (events.json() as { records: AuditRecord[] }).records.filter(
    (x) => x.event.data?.approvalId === id,
  );
  expect(decided.map((x) => x.event.data?.outcome)).toEqual([a.status]);
}

const errorOf = (r: LightMyRequestResponse) => [
  r.statusCode,
  (r.json() as { error: { code: string } }).error.code,
];

describe.each(['sqlite', 'postgres'] as const)('decisions racing on one instance (%s)', (dialect) => {
  let t: TestServer;
  let keys: Awaited<ReturnType<typeof keysOn>>;

  beforeAll(async () => {
    t = await startTestServer(dialect, { policy: POLICY, approvalSweepMs: 50 });
    keys = await keysOn(t);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('two approvers approving at once: one decision', async () => {
    for (let n = 0; n < ROUNDS; n++) {
      const votes: Vote[] = [
        { server: t, who: 'olga@x', action: 'approve' },
        { server: t, who: 'oscar@x', action: 'approve' },
      ];
      await race(t, keys, votes, n);
    }
  });

  it('approve and deny at once: one outcome', async () => {
    for (let n = 0; n < ROUNDS; n++) {
      const votes: Vote[] = [
        { server: t, who: 'olga@x', action: 'approve' },
        { server: t, who: 'oscar@x', action: 'deny' },
      ];
      await race(t, keys, votes, 100 + n);
    }
  });
  it('one link used by two approvers at once counts once', async () => {
    for (let n = 0; n < ROUNDS; n++) {
      const r = await t.request('POST', '/v1/calls', {
        key: keys.bot,
        body: { tool: 'db.write', args: { round: n } },
      });
      const id = (r.json() as { approval: { id: string } }).approval.id;
      const token = createApprovalLinkToken(linkKey(t.server.ctx.engine), {
        approvalId: id,
        action: 'approve',
        expiresAt: new Date(Date.now() + 3_600_000),
      });
      const answers = await Promise.all(
        ['dana@x', 'sam@x'].map((who) =>
          t.request('POST', `/v1/approvals/links/${token}`, { key: keys.people[who] as string, body: {} }),
        ),
      );
      expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 400]);
      expect(errorOf(answers.find((a) => a.statusCode === 400) as LightMyRequestResponse)).toEqual([
        400,
        'LINK_INVALID',
      ]);
      const a = (await t.request('GET', `/v1/approvals/${id}`, { key: keys.admin })).json() as Approval;
      // Quorum 2: the one vote the link allowed leaves the request pending.
      expect(a.status).toBe('pending');
      expect(a.votes).toHaveLength(1);
    }
  });

  it('an approval redeemed twice at once is used once', async () => {
    for (let n = 0; n < ROUNDS; n++) {
      const call = { tool: 'change', args: { redeem: n }, session: `${dialect}-redeem-${n}` };
      const r = await t.request('POST', '/v1/calls', { key: keys.bot, body: call });
      const id = (r.json() as { approval: { id: string } }).approval.id;
      const voted = await t.request('POST', `/v1/approvals/${id}/approve`, {
        key: keys.people['olga@x'] as string,
        body: {},
      });
      expect(voted.statusCode).toBe(200);
      const answers = await Promise.all(
        [1, 2].map(() =>
          t.request('POST', '/v1/calls', { key: keys.bot, body: { ...call, approvalId: id } }),
        ),
      );
      const decisions = answers.map((a) => a.json() as { effect: string; code?: string });
      expect(decisions.map((d) => d.effect).sort()).toEqual(['allow', 'block']);
      expect(decisions.find((d) => d.effect === 'block')?.code).toBe('APPROVAL_DECIDED');
    }
  });
});

describe('two instances on one PostgreSQL database', () => {
  let a: TestServer;
  let b: TestServer;
  let keys: Awaited<ReturnType<typeof keysOn>>;

  beforeAll(async () => {
    a = await startTestServer('postgres', { policy: POLICY, approvalSweepMs: 50, pollMs: POLL_MS });
    // The same key file: one HMAC key, so both bind approvals to the same argument fingerprints.
    b = await startTestServer('postgres', {
      policy: POLICY,
      approvalSweepMs: 50,
      pollMs: POLL_MS,
      db: a.db,
      keysFile: join(a.dir, 'keys.json'),
    });
    keys = await keysOn(a);
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('approvals racing on both instances decide once', async () => {
    for (let n = 0; n < ROUNDS; n++) {
      const votes: Vote[] = [
        { server: a, who: 'olga@x', action: 'approve' },
        { server: b, who: 'oscar@x', action: n % 2 ? 'deny' : 'approve' },
      ];
      await race(n % 2 ? a : b, keys, votes, 200 + n);
    }
  });

  it('a call waiting on A resumes allowed as soon as B approves', async () => {
    const started = Date.now();
    const waiting = a.request('POST', '/v1/calls', {
      key: keys.bot,
      body: { tool: 'change', args: { cross: true }, session: 'cross-wait', wait: 20_000 },
    });
    const pending = await eventually('the request, seen from B', async () => {
      const r = await b.request('GET', '/v1/approvals?status=pending&session=cross-wait', {
        key: keys.admin,
      });
      return (r.json() as { approvals: Approval[] }).approvals[0];
    });
    const voted = await b.request('POST', `/v1/approvals/${pending.id}/approve`, {
      key: keys.people['olga@x'] as string,
      body: {},
    });
    expect(voted.statusCode, voted.body).toBe(200);
    const d = (await waiting).json() as { effect: string; callId: string; approval: { id: string } };
    // Not a speed claim: at the wait's end A re-reads the request anyway, so only an answer well before
    // the 20 s wait (and the 60 s poll) shows B's decision was pushed to A.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(d).toMatchObject({ effect: 'allow', approval: { id: pending.id } });
    const done = await b.request('POST', `/v1/calls/${d.callId}/complete`, {
      key: keys.bot,
      body: { status: 'ok' },
    });
    expect(done.statusCode, done.body).toBe(200);
  });
});
