import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WARDEN_ACTOR } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import { verifyStore } from '../audit/verify-store.js';
import { watchPolicy } from '../policy/policy-watcher.js';
import { parseAuditQuery } from '../store/audit-query.js';
import type { Engine } from './engine.js';
import { closeSession, pauseSession, resumeSession } from './session-control.js';

describe.each(DIALECTS)('engine (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  beforeEach(async () => {
    fx = await freshStore(dialect);
    engine = await testEngine(fx);
  });
  afterEach(async () => {
    await engine?.close();
    await fx?.dispose();
  });

  const events = async (input: Record<string, unknown> = {}) =>
    (await fx.store.queryAudit(parseAuditQuery({ limit: 1000, ...input }))).records.map((r) => r.event);

  it('decides each tier and records the decision durably before answering', async () => {
    const allow = await engine.check({
      agent: 'billing-agent',
      tool: 'stripe.refund',
      args: { amount: 50 },
      session: 's1',
    });
    expect(allow).toMatchObject({
      effect: 'allow',
      ruleId: 'refunds-small',
      session: 's1',
      policyVersion: engine.policy.version,
    });
    const review = await engine.check({
      agent: 'billing-agent',
      tool: 'stripe.refund',
      args: { amount: 500 },
      session: 's1',
    });
    expect(review).toMatchObject({ effect: 'review', ruleId: 'refunds-large' });
    const block = await engine.check({ agent: 'billing-agent', tool: 'db.drop', session: 's1' });
    expect(block).toMatchObject({ effect: 'block', ruleId: 'no-drops' });
    const unknown = await engine.check({ agent: 'stranger', tool: 'echo' });
    expect(unknown).toMatchObject({ effect: 'block', ruleId: null });
    expect(unknown.session).toMatch(/^[0-9a-f-]{36}$/);

    const stored = await events({ type: 'call.decided' });
    expect(stored.map((e) => [e.callId, e.decision?.effect, e.policyVersion])).toEqual(
      [allow, review, block, unknown].map((r) => [r.callId, r.effect, engine.policy.version]),
    );
    expect(allow.auditSeq).toBeLessThan(review.auditSeq as number);
    expect(await fx.store.getSession('s1')).toMatchObject({ agent: 'billing-agent', state: 'active' });
  });

  it('blocks an invalid call with CALL_INVALID and still records it', async () => {
    for (const bad of [
      null,
      'drop table',
      { agent: 'a b', tool: 'x' },
      { agent: 'billing-agent' },
      { agent: 'x', tool: 'y', args: [] },
      // Control characters in a stored id: invalid, and still recorded (PostgreSQL cannot store U+0000).
      { agent: 'billing-agent', tool: 'echo', session: 'a\u0000b' },
      { agent: 'billing-agent', tool: 'echo', triggeredBy: 'bob\u0000' },
    ]) {
      const r = await engine.check(bad);
      expect(r).toMatchObject({ effect: 'block', code: 'CALL_INVALID' });
      expect(r.reasons[0]).toMatch(/the call is invalid: /);
      expect(r.auditSeq).toBeGreaterThan(0);
    }
    expect(await events({ type: 'call.decided', decision: 'block' })).toHaveLength(7);
  });

  it('completes an allowed call once, and only an allowed call', async () => {
    const allow = await engine.check({ agent: 'billing-agent', tool: 'echo', args: { text: 'hi' } });
    const done = await engine.complete(allow.callId, {
      status: 'ok',
      result: { echoed: 'hi' },
      durationMs: 12,
      usage: { inputTokens: 10 },
    });
    expect(done.auditSeq).toBeGreaterThan(allow.auditSeq as number);
    await expect(engine.complete(allow.callId, { status: 'ok' })).rejects.toMatchObject({
      code: 'CALL_ALREADY_COMPLETED',
    });
    const block = await engine.check({ agent: 'billing-agent', tool: 'db.drop' });
    await expect(engine.complete(block.callId, { status: 'ok' })).rejects.toMatchObject({
      code: 'CALL_NOT_RUNNABLE',
    });
    await expect(engine.complete('nope', { status: 'ok' })).rejects.toMatchObject({ code: 'CALL_NOT_FOUND' });
    const [completed] = await events({ type: 'call.completed' });
    expect(completed).toMatchObject({
      callId: allow.callId,
      agent: 'billing-agent',
      tool: 'echo',
      outcome: { status: 'ok', result: { echoed: 'hi' }, durationMs: 12, usage: { inputTokens: 10 } },
    });
  });

  it("records no system actor outside Warden's own ids: one would read like Warden in the trail", async () => {
    await engine.check({ agent: 'billing-agent', tool: 'echo', session: 's-sys' });
    await expect(
      pauseSession(engine, 's-sys', { kind: 'system', id: 'budget' }, 'over budget'),
    ).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('not "budget"') });
    expect((await events({ session: 's-sys' })).map((e) => e.type)).not.toContain('session.paused');
    await pauseSession(engine, 's-sys', WARDEN_ACTOR, 'over budget');
    expect(await engine.check({ agent: 'billing-agent', tool: 'echo', session: 's-sys' })).toMatchObject({
      code: 'SESSION_PAUSED',
    });
  });

  it('blocks calls in a paused or closed session; only an uninvolved human resumes it', async () => {
    await engine.check({
      agent: 'billing-agent',
      tool: 'echo',
      session: 's2',
      triggeredBy: 'alice',
      delegationChain: ['planner'],
    });
    await pauseSession(engine, 's2', WARDEN_ACTOR, 'spent $2,000 in 10 minutes');
    const paused = await engine.check({ agent: 'billing-agent', tool: 'echo', session: 's2' });
    expect(paused).toMatchObject({ effect: 'block', code: 'SESSION_PAUSED' });
    expect(paused.reasons[0]).toContain('spent $2,000');
    for (const who of ['alice', 'billing-agent', 'planner']) {
      await expect(resumeSession(engine, 's2', { kind: 'human', id: who }, 'ok')).rejects.toMatchObject({
        code: 'APPROVAL_SELF_APPROVAL',
      });
    }
    await expect(resumeSession(engine, 's2', { kind: 'agent', id: 'helper' }, 'ok')).rejects.toMatchObject({
      code: 'APPROVAL_SELF_APPROVAL',
    });
    await resumeSession(engine, 's2', { kind: 'human', id: 'bob' }, 'checked the spend');
    expect(await engine.check({ agent: 'billing-agent', tool: 'echo', session: 's2' })).toMatchObject({
      effect: 'allow',
    });
    await closeSession(engine, 's2', { kind: 'human', id: 'bob' }, 'done');
    expect(await engine.check({ agent: 'billing-agent', tool: 'echo', session: 's2' })).toMatchObject({
      code: 'SESSION_CLOSED',
    });
    expect((await events({ session: 's2' })).map((e) => e.type)).toEqual([
      'call.decided',
      'session.paused',
      'call.decided',
      // Each refused resume by someone with a stake is recorded.
      'approval.refused',
      'approval.refused',
      'approval.refused',
      'session.resumed',
      'call.decided',
      'session.closed',
      'call.decided',
    ]);
    expect((await events({ type: 'session.resumed' }))[0]?.actor).toEqual({ kind: 'human', id: 'bob' });
  });

  it("blocks an agent in another agent's session, also one that merely claims that agent as its parent", async () => {
    await engine.check({ agent: 'billing-agent', tool: 'echo', session: 's-owned' });
    const intruder = await engine.check({ agent: 'support-bot', tool: 'echo', session: 's-owned' });
    expect(intruder).toMatchObject({ effect: 'block', code: 'SESSION_FOREIGN' });
    expect(intruder.reasons[0]).toContain('belongs to agent billing-agent');
    // A claimed delegationChain proves nothing: joining takes a task token for the session (tasks tests).
    const claimed = await engine.check({
      agent: 'support-bot',
      tool: 'echo',
      session: 's-owned',
      delegationChain: ['billing-agent'],
    });
    expect(claimed).toMatchObject({ effect: 'block', code: 'SESSION_FOREIGN' });
    expect((await events({ session: 's-owned', decision: 'block' })).map((e) => e.decision?.code)).toEqual([
      'SESSION_FOREIGN',
      'SESSION_FOREIGN',
    ]);
  });

  it('never stores a secret, keeps a fingerprint of the real arguments, and flags capped values', async () => {
    const canary = `sk-live-CANARY${Date.now()}abcdefghijklmnop`;
    const args = {
      amount: 5,
      apiKey: canary,
      note: `use Bearer ${canary}`,
      customerSsn: '123-45-6789',
      url: `https://u:${canary}@x.io`,
    };
    const a = await engine.check({
      agent: 'billing-agent',
      tool: 'stripe.refund',
      args,
      target: `postgres://app:${canary}@db/prod`,
    });
    await engine.check({ agent: 'billing-agent', tool: 'stripe.refund', args: { ...args } });
    await engine.complete(a.callId, {
      status: 'error',
      error: new Error(`upstream said ${canary}`),
      result: { token: canary },
    });
    const [ea, eb] = await events({ type: 'call.decided' });
    expect(ea?.argsHmac).toMatch(/^[0-9a-f]{64}$/);
    expect(ea?.argsHmac).toBe(eb?.argsHmac);
    expect(ea?.redactions?.map((r) => r.path)).toEqual(
      expect.arrayContaining(['args.apiKey', 'args.customerSsn']),
    );
    const raw = (await fx.store.readChain(0, 1000)).map((r) => r.body).join('\n');
    expect(raw).not.toContain(canary);
    expect(raw).not.toContain('123-45-6789');

    const huge = await engine.check({
      agent: 'billing-agent',
      tool: 'echo',
      args: { blob: 'x'.repeat(2_000_000), bad: 'a\uD800b' },
    });
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) deep = { d: deep };
    const nested = await engine.check({ agent: 'billing-agent', tool: 'echo', args: { text: 'ok' } });
    await engine.complete(nested.callId, { status: 'ok', result: deep });
    const [stored] = (await fx.store.queryAudit(parseAuditQuery({ callId: huge.callId }))).records;
    expect(stored?.event.flags).toEqual(expect.arrayContaining(['truncated', 'invalid_utf8']));
    expect(JSON.stringify(stored?.event).length).toBeLessThan(80_000);
    const [done] = await events({ type: 'call.completed', callId: nested.callId });
    expect(done?.flags).toContain('too_deep');
    expect((await verifyStore(fx.store)).ok).toBe(true);
  });

  it('records a policy change with both versions and who made it; decisions use the new one', async () => {
    const before = engine.policy.version;
    const next = testPolicy(
      'agents:\n  billing-agent:\n    rules:\n      - { id: all, effect: allow, tools: ["*"] }\n',
    );
    const change = await engine.setPolicy(next, { kind: 'human', id: 'carol' });
    expect(change).toEqual({ oldVersion: before, newVersion: next.version });
    const r = await engine.check({ agent: 'billing-agent', tool: 'db.drop' });
    expect(r).toMatchObject({ effect: 'allow', policyVersion: next.version });
    const [ev] = await events({ type: 'policy.changed' });
    expect(ev).toMatchObject({
      actor: { kind: 'human', id: 'carol' },
      data: { oldVersion: before, newVersion: next.version },
    });
  });

  it('reloads the policy when its file changes, and keeps the old one when the edit is invalid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-watch-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(
      file,
      'agents:\n  billing-agent:\n    rules:\n      - { id: one, effect: allow, tools: [echo] }\n',
    );
    const errors: string[] = [];
    const reloads: string[] = [];
    const watcher = watchPolicy(engine, [file], {
      debounceMs: 20,
      onError: (e) => errors.push(e.code),
      onReload: (r) => reloads.push(r.newVersion),
    });
    try {
      writeFileSync(
        file,
        'agents:\n  billing-agent:\n    rules:\n      - { id: two, effect: block, tools: [echo] }\n',
      );
      await expect.poll(() => reloads.length, { timeout: 5000 }).toBe(1);
      expect(await engine.check({ agent: 'billing-agent', tool: 'echo' })).toMatchObject({
        effect: 'block',
        ruleId: 'two',
      });
      writeFileSync(file, 'agents: [not, valid');
      await expect.poll(() => errors, { timeout: 5000 }).toContain('POLICY_INVALID');
      expect(engine.policy.version).toBe(reloads[0]);
      expect(await events({ type: 'policy.changed' })).toHaveLength(1);
    } finally {
      watcher.close();
    }
  });

  it('signs checkpoints as events accumulate and on close, and the chain verifies', async () => {
    await engine.close();
    engine = await testEngine(fx, { everyEvents: 25 });
    for (let i = 0; i < 60; i++)
      await engine.check({ agent: 'billing-agent', tool: 'echo', session: `s-${i}` });
    await engine.close();
    const cps = await fx.store.checkpoints();
    expect(cps.length).toBeGreaterThanOrEqual(2);
    expect(cps.at(-1)?.seq).toBe((await fx.store.head()).seq);
    const report = await verifyStore(fx.store);
    expect(report).toMatchObject({ ok: true, unsignedTail: 0 });
    engine = await testEngine(fx);
  });
});
