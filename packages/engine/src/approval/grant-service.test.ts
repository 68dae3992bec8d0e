import type { Actor, AuditEvent } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { Engine } from '../engine/engine.js';
import { parseAuditQuery } from '../store/audit-query.js';
import type { GrantSpec } from './grant-service.js';

/** One tool per tier; everything else falls to the default block that a grant may lift. */
const POLICY = `
name: grant tests
agents:
  pay-agent:
    rules:
      - id: no-drop
        effect: block
        tools: [db.drop]
      - id: deploy-review
        effect: review
        tools: [deploy]
      - id: echo
        effect: allow
        tools: [echo]
`;

const carol: Actor = { kind: 'human', id: 'carol' };
const HOUR = 3_600_000;

describe.each(DIALECTS)('grants (%s)', (dialect) => {
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

  const events = async (input: Record<string, unknown> = {}): Promise<AuditEvent[]> =>
    (await fx.store.queryAudit(parseAuditQuery({ limit: 1000, ...input }))).records.map((r) => r.event);
  const grant = (over: Partial<GrantSpec> = {}, by: Actor = carol) =>
    engine.grants.add({ agent: 'pay-agent', tool: 'crm.*', ttl: '1h', reason: 'ticket 42', ...over }, by);
  const check = (tool: string, over: Record<string, unknown> = {}) =>
    engine.check({ agent: 'pay-agent', tool, ...over });

  it('refuses an invalid grant with GRANT_INVALID naming every problem, and records nothing', async () => {
    const bad = engine.grants.add(
      { agent: 'pay agent', tool: 'crm read!', when: 'args.amount >', ttl: 'forever', reason: '  ' },
      carol,
    );
    const err = await bad.catch((e) => e);
    expect(err).toMatchObject({ code: 'GRANT_INVALID' });
    const problems = err.details.problems as string[];
    for (const about of [/^agent/, /tool/, /^when:/, /^reason:/, /^ttl "forever"/]) {
      expect(problems.some((p) => about.test(p))).toBe(true);
    }
    for (const [over, problem] of [
      [{ ttl: undefined }, /ttl: give a duration/],
      [{ ttl: '31d' }, /at most 30d/],
      [{ ttl: '0s' }, /more than 0/],
      [{ when: 'nosuchvar == 1' }, /^when:/],
    ] as const) {
      await expect(grant(over)).rejects.toMatchObject({
        code: 'GRANT_INVALID',
        details: { problems: [expect.stringMatching(problem)] },
      });
    }
    expect(await events({ type: 'grant.added' })).toEqual([]);
    expect(await fx.store.listGrants({ all: true, now: new Date().toISOString(), limit: 10 })).toEqual([]);
  });

  it('refuses a grant by an agent, or by someone with a stake in the session it names', async () => {
    await expect(grant({}, { kind: 'agent', id: 'helper-bot' })).rejects.toMatchObject({
      code: 'APPROVAL_SELF_APPROVAL',
    });
    await check('echo', { session: 's-alice', triggeredBy: 'alice', delegationChain: ['planner'] });
    for (const who of ['Alice', 'PLANNER', 'pay-agent']) {
      await expect(grant({ session: 's-alice' }, { kind: 'human', id: who })).rejects.toMatchObject({
        code: 'APPROVAL_SELF_APPROVAL',
      });
    }
    expect(await events({ type: 'grant.added' })).toEqual([]);
    const ok = await grant({ session: 's-alice', ttl: undefined }, { kind: 'human', id: 'bob' });
    // A session grant defaults to 8 hours.
    expect(Date.parse(ok.expiresAt) - Date.parse(ok.createdAt)).toBe(8 * HOUR);
  });

  it('lifts the default block, recorded with the grant id; never a block rule or a review', async () => {
    expect(await check('crm.read')).toMatchObject({ effect: 'block', ruleId: null });
    const g = await grant({ tool: '*' });
    expect(g).toMatchObject({ agent: 'pay-agent', tool: '*', createdBy: 'carol', revokedAt: null });
    expect(g.id).toMatch(/^grt_/);
    const [added] = await events({ type: 'grant.added' });
    expect(added).toMatchObject({
      actor: carol,
      agent: 'pay-agent',
      data: { grantId: g.id, tool: '*', expiresAt: g.expiresAt, reason: 'ticket 42' },
    });

    const allowed = await check('crm.read');
    expect(allowed).toMatchObject({ effect: 'allow', ruleId: null, grantId: g.id });
    expect(allowed.reasons[0]).toContain(`allowed by grant ${g.id} from carol: ticket 42`);
    const [decided] = await events({ type: 'call.decided', callId: allowed.callId });
    expect(decided?.decision).toMatchObject({ effect: 'allow', grantId: g.id });
    await engine.complete(allowed.callId, { status: 'ok' });

    expect(await check('db.drop')).toMatchObject({ effect: 'block', ruleId: 'no-drop' });
    const review = await check('deploy');
    expect(review).toMatchObject({ effect: 'review', ruleId: 'deploy-review' });
    expect(review.grantId).toBeUndefined();
    expect(review.approval?.status).toBe('pending');
    // Another agent is not covered.
    expect(await engine.check({ agent: 'other-agent', tool: 'crm.read' })).toMatchObject({ effect: 'block' });
  });

  it('holds only in its session, and only for the tools its glob names', async () => {
    const g = await grant({ session: 's-a', tool: 'crm.{read,list}' });
    expect(await check('crm.read', { session: 's-a' })).toMatchObject({ effect: 'allow', grantId: g.id });
    expect(await check('crm.list', { session: 's-a' })).toMatchObject({ effect: 'allow' });
    expect(await check('crm.write', { session: 's-a' })).toMatchObject({ effect: 'block' });
    expect(await check('crm.read', { session: 's-b' })).toMatchObject({ effect: 'block' });
    expect(await check('crm.read')).toMatchObject({ effect: 'block' });
  });

  it('applies only when its condition is true; a condition that errs does not grant', async () => {
    await grant({ when: 'args.amount < 50' });
    expect(await check('crm.read', { args: { amount: 10 } })).toMatchObject({ effect: 'allow' });
    expect(await check('crm.read', { args: { amount: 100 } })).toMatchObject({ effect: 'block' });
    // No `amount` argument: the condition errs, and the call stays blocked (not an INTERNAL error).
    const errs = await check('crm.read', { args: { other: 1 } });
    expect(errs).toMatchObject({ effect: 'block', ruleId: null });
    expect(errs.code).toBeUndefined();
    expect(errs.grantId).toBeUndefined();
  });

  it('stops applying when it expires', async () => {
    const g = await grant({ ttl: '1h' });
    expect(Date.parse(g.expiresAt) - Date.parse(g.createdAt)).toBe(HOUR);
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    const active = (now: string) => fx.store.listGrants({ agent: 'pay-agent', now, limit: 10 });
    expect((await active(at(HOUR - 60_000))).map((x) => x.id)).toEqual([g.id]);
    expect(await active(at(HOUR + 60_000))).toEqual([]);
    expect(
      (await fx.store.listGrants({ agent: 'pay-agent', all: true, now: at(2 * HOUR), limit: 10 })).map(
        (x) => x.id,
      ),
    ).toEqual([g.id]);
    expect(await check('crm.read')).toMatchObject({ effect: 'allow' });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse(g.expiresAt) + 1);
    expect(await check('crm.read')).toMatchObject({ effect: 'block', ruleId: null });
  });

  it('stops applying when revoked, and records who revoked it', async () => {
    const g = await grant();
    expect(await check('crm.read')).toMatchObject({ effect: 'allow' });
    const revoked = await engine.grants.revoke(g.id, { kind: 'human', id: 'dave' }, 'done');
    expect(revoked).toMatchObject({ id: g.id, revokedBy: 'dave' });
    expect(revoked.revokedAt).toEqual(expect.any(String));
    expect(await check('crm.read')).toMatchObject({ effect: 'block' });
    const [ev] = await events({ type: 'grant.revoked' });
    expect(ev).toMatchObject({
      actor: { kind: 'human', id: 'dave' },
      data: { grantId: g.id, reason: 'done' },
    });
    // A second revocation changes nothing and records nothing.
    await expect(engine.grants.revoke(g.id, carol, null)).rejects.toMatchObject({ code: 'GRANT_INVALID' });
    expect(await events({ type: 'grant.revoked' })).toHaveLength(1);
    await expect(engine.grants.revoke('grt_nope', carol, null)).rejects.toMatchObject({
      code: 'GRANT_NOT_FOUND',
    });
    expect(
      await fx.store.listGrants({ agent: 'pay-agent', now: new Date().toISOString(), limit: 10 }),
    ).toEqual([]);
  });

  it('never applies to a call its creator has a stake in', async () => {
    const g = await grant({}, { kind: 'human', id: 'alice' });
    expect(await check('crm.read', { triggeredBy: 'ALICE' })).toMatchObject({ effect: 'block' });
    expect(await check('crm.read', { triggeredBy: 'bob' })).toMatchObject({ effect: 'allow', grantId: g.id });
    // alice started this session; bob's later call in it is still her task.
    await check('echo', { session: 's-alice', triggeredBy: 'alice' });
    expect(await check('crm.read', { session: 's-alice', triggeredBy: 'bob' })).toMatchObject({
      effect: 'block',
    });
    // A grant for a session not started yet, by the human who then starts it, never applies in it.
    await engine.grants.revoke(g.id, carol, null);
    await grant({ session: 's-later' }, { kind: 'human', id: 'erin' });
    expect(await check('crm.read', { session: 's-later', triggeredBy: 'Erin' })).toMatchObject({
      effect: 'block',
    });
  });

  it("stops applying once its creator triggers a call in the session, after the session's stake was read", async () => {
    const g = await grant({}, { kind: 'human', id: 'dora' });
    // The stake of s-work is read (and kept) from its second call: dora has none in it yet, so her grant
    // lets the calls through.
    for (let i = 0; i < 2; i++) {
      expect(await check('crm.read', { session: 's-work', triggeredBy: 'bob', args: { i } })).toMatchObject({
        effect: 'allow',
        grantId: g.id,
      });
    }
    // Halfway through, dora triggers a call of the task herself: from then on it is hers too.
    await check('echo', { session: 's-work', triggeredBy: 'dora' });
    expect(await check('crm.read', { session: 's-work', triggeredBy: 'bob' })).toMatchObject({
      effect: 'block',
    });
  });
});
