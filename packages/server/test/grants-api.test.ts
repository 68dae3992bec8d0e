/**
 * Task-scoped grants through the API (SQLite): a grant lifts only the default block — never a block rule,
 * never a review — for its agent, tool glob, session and condition, until it expires or is revoked; every
 * grant and revocation is audited, and invalid grants are refused naming the problem.
 */
import { fileURLToPath } from 'node:url';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

const POLICY = fileURLToPath(new URL('./fixtures/approvals-policy', import.meta.url));

interface Decision {
  callId: string;
  effect: 'allow' | 'review' | 'block';
  ruleId: string | null;
  reasons: string[];
  grantId?: string;
}

interface Grant {
  id: string;
  agent: string;
  tool: string;
  session: string | null;
  expiresAt: string;
  createdBy: string;
  revokedAt: string | null;
  revokedBy: string | null;
  active: boolean;
}

interface AuditRecord {
  event: { type: string; callId?: string; actor: { id: string }; data?: Record<string, unknown> } & {
    decision?: { effect: string; grantId?: string };
  };
}

const errorOf = (r: LightMyRequestResponse) =>
  (r.json() as { error: { code: string; message: string; details: { problems?: string[] } } }).error;

describe('grants through the API', () => {
  let t: TestServer;
  let bot: string;
  let olga: string;
  let auditor: string;

  async function decide(tool: string, extra: Record<string, unknown> = {}): Promise<Decision> {
    const r = await t.request('POST', '/v1/calls', { key: bot, body: { tool, ...extra } });
    expect(r.statusCode, r.body).toBe(200);
    return r.json() as Decision;
  }

  function post(body: Record<string, unknown>, key = olga) {
    return t.request('POST', '/v1/grants', {
      key,
      body: { agent: 'ops-bot', reason: 'incident 42', ...body },
    });
  }

  async function grant(body: Record<string, unknown>): Promise<Grant> {
    const r = await post(body);
    expect(r.statusCode, r.body).toBe(201);
    return r.json() as Grant;
  }

  async function audit(query: string): Promise<AuditRecord[]> {
    const r = await t.request('GET', `/v1/audit/events?${query}&limit=1000`, { key: t.admin });
    expect(r.statusCode).toBe(200);
    return (r.json() as { records: AuditRecord[] }).records;
  }

  beforeAll(async () => {
    t = await startTestServer('sqlite', { policy: POLICY, approvalSweepMs: 50 });
    bot = await t.key('agent', 'ops-bot', 'agent');
    olga = await t.key('human', 'olga@x', 'approver');
    auditor = await t.key('human', 'audrey@x', 'auditor');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('a grant lifts the default block for its tools, recorded on the decision and in the audit', async () => {
    expect(await decide('ops.read.logs')).toMatchObject({ effect: 'block', ruleId: null });
    const g = await grant({ tool: 'ops.read.*', ttl: '1h' });
    expect(g).toMatchObject({
      agent: 'ops-bot',
      tool: 'ops.read.*',
      session: null,
      createdBy: 'olga@x',
      active: true,
    });
    expect(g.id).toMatch(/^grt_/);
    const d = await decide('ops.read.logs');
    expect(d).toMatchObject({ effect: 'allow', grantId: g.id });
    expect(d.reasons.join(' ')).toContain(g.id);
    const [decided] = await audit(`callId=${d.callId}&type=call.decided`);
    expect(decided?.event.decision).toMatchObject({ effect: 'allow', grantId: g.id });
    const added = (await audit('type=grant.added')).filter((x) => x.event.data?.grantId === g.id);
    expect(added).toHaveLength(1);
    expect(added[0]?.event).toMatchObject({
      actor: { id: 'olga@x' },
      data: { tool: 'ops.read.*', reason: 'incident 42' },
    });
    // Only for its tools and its agent.
    expect((await decide('ops.write')).effect).toBe('block');
    const other = await t.key('agent', 'reviewer-bot', 'agent');
    const r = await t.request('POST', '/v1/calls', { key: other, body: { tool: 'ops.read.logs' } });
    expect((r.json() as Decision).effect).toBe('block');
  });

  it('never over a block rule, never instead of a review', async () => {
    const g = await grant({ tool: 'db.*', ttl: '1h' });
    expect(await decide('db.drop')).toMatchObject({ effect: 'block', ruleId: 'db-drop-block' });
    const review = await decide('db.write', { args: { table: 't' } });
    expect(review).toMatchObject({ effect: 'review', ruleId: 'db-write-review' });
    expect(review.grantId).toBeUndefined();
    expect(await decide('db.other')).toMatchObject({ effect: 'allow', grantId: g.id });
  });

  it('a session grant applies in that session only', async () => {
    const g = await grant({ tool: 'ops.deploy-preview', session: 'grant-s1' });
    // Without a ttl a session grant lasts 8 hours.
    expect(Date.parse(g.expiresAt) - Date.now()).toBeGreaterThan(7 * 3_600_000);
    expect(await decide('ops.deploy-preview', { session: 'grant-s1' })).toMatchObject({
      effect: 'allow',
      grantId: g.id,
    });
    expect((await decide('ops.deploy-preview', { session: 'grant-s2' })).effect).toBe('block');
    expect((await decide('ops.deploy-preview')).effect).toBe('block');
  });

  it('its condition is honoured', async () => {
    const g = await grant({ tool: 'ops.scale', when: 'args.env == "staging"', ttl: '1h' });
    expect(await decide('ops.scale', { args: { env: 'staging' } })).toMatchObject({
      effect: 'allow',
      grantId: g.id,
    });
    expect((await decide('ops.scale', { args: { env: 'production' } })).effect).toBe('block');
    expect((await decide('ops.scale')).effect).toBe('block');
  });

  it('a grant by someone with a stake in the call does not apply to it', async () => {
    const g = await grant({ tool: 'ops.own', ttl: '1h' });
    expect((await decide('ops.own', { triggeredBy: 'rita@x' })).grantId).toBe(g.id);
    expect((await decide('ops.own', { triggeredBy: 'Olga@X' })).effect).toBe('block');
  });

  it('it expires with its ttl; the list shows it only with all=true, inactive', async () => {
    const g = await grant({ tool: 'ops.tick', ttl: '1s' });
    expect((await decide('ops.tick')).effect).toBe('allow');
    await eventually('the grant expired', async () =>
      (await decide('ops.tick')).effect === 'block' ? true : undefined,
    );
    const active = await t.request('GET', '/v1/grants?agent=ops-bot', { key: auditor });
    expect(active.statusCode).toBe(200);
    expect((active.json() as { grants: Grant[] }).grants.map((x) => x.id)).not.toContain(g.id);
    const all = await t.request('GET', '/v1/grants?agent=ops-bot&all=true', { key: auditor });
    expect((all.json() as { grants: Grant[] }).grants.find((x) => x.id === g.id)).toMatchObject({
      active: false,
    });
  });

  it('revoking ends it at once, audited; an unknown grant is 404', async () => {
    const g = await grant({ tool: 'ops.stop', ttl: '1h' });
    const listed = await t.request('GET', '/v1/grants', { key: olga });
    expect((listed.json() as { grants: Grant[] }).grants.find((x) => x.id === g.id)).toMatchObject({
      active: true,
    });
    expect((await decide('ops.stop')).effect).toBe('allow');
    const r = await t.request('POST', `/v1/grants/${g.id}/revoke`, {
      key: t.admin,
      body: { reason: 'done' },
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ id: g.id, active: false, revokedBy: 'admin' });
    expect((r.json() as Grant).revokedAt).not.toBeNull();
    expect((await decide('ops.stop')).effect).toBe('block');
    const revoked = (await audit('type=grant.revoked')).filter((x) => x.event.data?.grantId === g.id);
    expect(revoked).toHaveLength(1);
    expect(revoked[0]?.event).toMatchObject({ actor: { id: 'admin' }, data: { reason: 'done' } });
    const missing = await t.request('POST', '/v1/grants/grt_nope/revoke', { key: olga, body: {} });
    expect([missing.statusCode, errorOf(missing).code]).toEqual([404, 'GRANT_NOT_FOUND']);
  });

  it.each([
    ['a bad tool glob', { tool: 'ops.[x', ttl: '1h' }, /tool/],
    ['a bad CEL condition', { tool: 'ops.x', ttl: '1h', when: 'args.env ==' }, /when/],
    ['a ttl over 30 days', { tool: 'ops.x', ttl: '31d' }, /30d/],
    ['a ttl that is no duration', { tool: 'ops.x', ttl: 'soon' }, /ttl/],
    ['neither ttl nor session', { tool: 'ops.x' }, /ttl/],
  ])('%s is refused with GRANT_INVALID naming the problem', async (_what, body, problem) => {
    const r = await post(body);
    expect(r.statusCode, r.body).toBe(400);
    const e = errorOf(r);
    expect(e.code).toBe('GRANT_INVALID');
    expect(e.message).toMatch(problem);
  });

  // A missing field is caught by the body schema, as on every route: REQUEST_INVALID naming the field.
  it.each([
    ['missing', { agent: 'ops-bot', tool: 'ops.x', ttl: '1h' }],
    ['blank', { agent: 'ops-bot', tool: 'ops.x', ttl: '1h', reason: '  ' }],
  ])('a %s reason is refused with REQUEST_INVALID naming it', async (_what, body) => {
    const r = await t.request('POST', '/v1/grants', { key: olga, body });
    expect(r.statusCode, r.body).toBe(400);
    expect(errorOf(r).code).toBe('REQUEST_INVALID');
    expect(r.body).toMatch(/reason/);
  });

  it('agents and auditors cannot grant', async () => {
    const grantBody = { agent: 'ops-bot', tool: 'ops.x', ttl: '1h', reason: 'please' };
    for (const key of [bot, auditor]) {
      const r = await t.request('POST', '/v1/grants', { key, body: grantBody });
      expect([r.statusCode, errorOf(r).code]).toEqual([403, 'FORBIDDEN']);
    }
    const list = await t.request('GET', '/v1/grants', { key: bot });
    expect(list.statusCode).toBe(403);
  });
});
