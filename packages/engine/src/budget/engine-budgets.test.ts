import type { AuditEvent } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { CheckResult, Engine } from '../engine/engine.js';
import { openEngine } from '../engine/open-engine.js';
import { resumeSession } from '../engine/session-control.js';
import { generateKeyRing } from '../keys/key-ring.js';

const POLICY = `
name: budget tests
defaults:
  timeZone: Europe/Berlin
  breakers:
    repeat: { max: 3, within: 10m }
    pingPong: false
    rate: false
    tokenBurn: false
agents:
  worker:
    rules:
      - { id: any, effect: allow, tools: ['*'] }
    budgets:
      - { id: session-calls, metric: calls, limit: 3, scope: session, window: session }
      - { id: llm-usd, metric: usd, limit: 1, scope: agent, window: month, alerts: [50, 80], tools: ['llm:*'] }
      - { id: llm-tokens, metric: tokens, limit: 100000, scope: session, window: session, tools: ['llm:*'] }
  daily:
    rules:
      - { id: daily-any, effect: allow, tools: ['*'] }
    breakers: { repeat: false }
    budgets:
      - { id: daily-calls, metric: calls, limit: 2, scope: agent, window: day }
  burner:
    rules:
      - { id: burner-any, effect: allow, tools: ['*'] }
    breakers:
      tokenBurn: { expectedPerMinute: 100, factor: 1, over: 1m }
  tokener:
    rules:
      - { id: tokener-any, effect: allow, tools: ['*'] }
    breakers: { repeat: false }
    budgets:
      - { id: session-tokens, metric: tokens, limit: 10000, scope: session, window: session }
  expirer:
    rules:
      - { id: expirer-any, effect: allow, tools: ['*'] }
    breakers: { repeat: false }
    budgets:
      - { id: expirer-tokens, metric: tokens, limit: 10000, scope: session, window: session, alerts: [40, 80] }
  looper:
    rules:
      - { id: looper-any, effect: allow, tools: ['*'] }
    breakers:
      pingPong: { cycles: 3, within: 10m }
`;

const ann = { kind: 'human' as const, id: 'ann' };
const tom = { kind: 'human' as const, id: 'tom' };

async function events(engine: Engine, type: AuditEvent['type'], session?: string): Promise<AuditEvent[]> {
  const page = await engine.store.queryAudit({ type, ...(session ? { session } : {}), limit: 1000 });
  return page.records.map((r) => r.event);
}

describe.each(DIALECTS)('budgets in the engine (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  beforeEach(async () => {
    fx = await freshStore(dialect);
    engine = await testEngine(fx, { policy: testPolicy(POLICY) });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await engine.close();
    await fx.dispose();
  });

  const call = (tool: string, session?: string, args: Record<string, unknown> = {}) => ({
    agent: 'worker',
    tool,
    args,
    ...(session ? { session } : {}),
    triggeredBy: 'tom',
  });

  async function spend(n: number, session: string): Promise<CheckResult[]> {
    const out: CheckResult[] = [];
    for (let i = 0; i < n; i++) {
      const r = await engine.check(call('echo', session, { i }));
      out.push(r);
      if (r.effect === 'allow') await engine.complete(r.callId, { status: 'ok' });
    }
    return out;
  }

  it('refuses the call that would go over, pauses the session and blocks what follows', async () => {
    const results = await spend(4, 's-over');
    expect(results.slice(0, 3).map((r) => r.effect)).toEqual(['allow', 'allow', 'allow']);
    expect(results[0]?.reservationId).toMatch(/^res_/);
    const over = results[3] as CheckResult;
    expect(over).toMatchObject({ effect: 'block', code: 'BUDGET_EXCEEDED' });
    expect(over.budget).toMatchObject({
      budgetId: 'session-calls',
      scopeKey: 'session:s-over',
      limit: 3,
      used: 3,
    });
    expect(over.reasons[0]).toContain('session-calls');
    const session = await engine.store.getSession('s-over');
    expect(session?.state).toBe('paused');
    expect((await events(engine, 'budget.exceeded', 's-over')).length).toBe(1);
    expect((await events(engine, 'session.paused', 's-over')).length).toBe(1);
    const after = await engine.check(call('echo', 's-over', { i: 99 }));
    expect(after).toMatchObject({ effect: 'block', code: 'SESSION_PAUSED' });
    expect(after.reasons[0]).toContain('session-calls');
  });

  it("admits a budgeted call in its decision's one commit: no reservation of its own, held beside the event", async () => {
    const writes = { commit: 0, reserve: 0 };
    // The store as the engine sees it, counting its writes.
    const counted = new Proxy(fx.store, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop === 'commit' || prop === 'reserve') {
          return (...args: unknown[]) => {
            writes[prop]++;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const one = await testEngine({ ...fx, store: counted }, { policy: testPolicy(POLICY) });
    try {
      await one.check(call('echo', 's-one', { i: 0 }));
      const before = { ...writes };
      const r = await one.check(call('echo', 's-one', { i: 1 }));
      expect(r).toMatchObject({ effect: 'allow', reservationId: expect.stringMatching(/^res_/) });
      expect(writes).toEqual({ commit: before.commit + 1, reserve: 0 });
      const decided = (await one.store.findCall(r.callId)).decided;
      expect(decided?.event.decision?.reservationId).toBe(r.reservationId);
      expect(await one.store.reservation(r.reservationId as string)).toMatchObject({
        state: 'held',
        callId: r.callId,
      });
      // Refused: the block, the budget.exceeded and the pause are that one commit too.
      await one.check(call('echo', 's-one', { i: 2 }));
      const refusedFrom = { ...writes };
      const over = await one.check(call('echo', 's-one', { i: 3 }));
      expect(over).toMatchObject({ effect: 'block', code: 'BUDGET_EXCEEDED' });
      expect(writes).toEqual({ commit: refusedFrom.commit + 1, reserve: 0 });
      expect((await one.store.getSession('s-one'))?.state).toBe('paused');
      expect(await one.store.reservation(`res_${over.callId}`)).toBeUndefined();
    } finally {
      await one.close();
    }
  });

  it('concurrent calls over a spent budget: exactly the limit allowed, the session paused once', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => engine.check(call('echo', 's-crowd', { i }))),
    );
    expect(results.filter((r) => r.effect === 'allow')).toHaveLength(3);
    for (const r of results.filter((x) => x.effect !== 'allow')) {
      expect(r.effect).toBe('block');
      expect(['BUDGET_EXCEEDED', 'SESSION_PAUSED']).toContain(r.code);
    }
    expect(results.some((r) => r.code === 'BUDGET_EXCEEDED')).toBe(true);
    expect((await engine.store.getSession('s-crowd'))?.state).toBe('paused');
    expect(await events(engine, 'session.paused', 's-crowd')).toHaveLength(1);
    const [counter] = await engine.store.budgetCounters({ scopeKeys: ['session:s-crowd'], limit: 5 });
    expect(counter).toMatchObject({ reserved: 3, used: 0 });
    // Every decision is on the trail, each refusal with its reason.
    expect(await events(engine, 'call.decided', 's-crowd')).toHaveLength(8);
  });

  it('refuses an estimate that does not fit without pausing; spend reaching the limit pauses', async () => {
    let n = 0;
    const tok = (session: string, estimate?: { inputTokens: number }) =>
      engine.check(
        { agent: 'tokener', tool: 'llm:x', session, args: { n: n++ } },
        estimate ? { estimate } : {},
      );
    const state = async (s: string) => (await engine.store.getSession(s))?.state;
    const big = await tok('s-fit', { inputTokens: 6_000 });
    const refused = await tok('s-fit', { inputTokens: 6_000 });
    expect(refused).toMatchObject({ effect: 'block', code: 'BUDGET_EXCEEDED' });
    expect(refused.budget).toMatchObject({ used: 0, reserved: 6_000, requested: 6_000 });
    expect(await state('s-fit')).toBe('active');
    // The refusal is in the call's own decision; a budget.exceeded (and its notifications) means a pause.
    expect(await events(engine, 'budget.exceeded', 's-fit')).toEqual([]);
    const [decided] = await events(engine, 'call.decided', 's-fit').then((d) =>
      d.filter((e) => e.callId === refused.callId),
    );
    expect(decided?.decision).toMatchObject({ effect: 'block', code: 'BUDGET_EXCEEDED' });
    expect(decided?.decision?.reasons[0]).toMatch(/session-tokens .* 0 used, 6000 reserved, 6000 more asked/);
    // A smaller call still fits.
    const small = await tok('s-fit', { inputTokens: 3_000 });
    expect(small.effect).toBe('allow');
    await engine.complete(big.callId, { status: 'ok', usage: { inputTokens: 5_000 } });
    await engine.complete(small.callId, { status: 'ok', usage: { inputTokens: 4_000 } });
    expect(await state('s-fit')).toBe('active');
    // 9,000 spent: a call asking 2,000 does not fit and the session goes on; one of 1,000 does.
    expect(await tok('s-fit', { inputTokens: 2_000 })).toMatchObject({ code: 'BUDGET_EXCEEDED' });
    expect(await state('s-fit')).toBe('active');
    const last = await tok('s-fit', { inputTokens: 1_000 });
    expect(last.effect).toBe('allow');
    await engine.complete(last.callId, { status: 'ok', usage: { inputTokens: 1_000 } });
    // Spend has reached the limit: the next refusal pauses the session.
    expect(await tok('s-fit', { inputTokens: 1 })).toMatchObject({ code: 'BUDGET_EXCEEDED' });
    expect(await state('s-fit')).toBe('paused');
    expect((await events(engine, 'budget.exceeded', 's-fit')).at(-1)?.data).toMatchObject({ paused: true });
  });

  it('calls refused without a pause notify nobody; the refusal that pauses notifies once', async () => {
    const hooked = await openEngine({
      store: fx.store,
      keys: generateKeyRing(),
      policy: testPolicy(POLICY),
      checkpoint: { everyEvents: 10_000, everyMs: 3_600_000 },
      notificationTargets: [{ name: 'ops', events: ['budget.exceeded', 'session.paused'] }],
    });
    try {
      let n = 0;
      const tok = (inputTokens: number) =>
        hooked.check(
          { agent: 'tokener', tool: 'llm:x', session: 's-flood', args: { n: n++ } },
          { estimate: { inputTokens } },
        );
      const sent = async () => {
        const now = new Date().toISOString();
        const claimed = await fx.store.claimNotifications('t', now, now, 1_000, ['ops']);
        return claimed.map((c) => c.eventType).sort();
      };
      const big = await tok(6_000);
      // An agent looping calls that do not fit: twenty refusals, no notification.
      for (let i = 0; i < 20; i++) expect(await tok(6_000)).toMatchObject({ code: 'BUDGET_EXCEEDED' });
      expect(await sent()).toEqual([]);
      await hooked.complete(big.callId, { status: 'ok', usage: { inputTokens: 10_000 } });
      // Spent: the first refusal pauses the session, the rest meet the pause.
      for (let i = 0; i < 20; i++) expect((await tok(1)).effect).toBe('block');
      expect(await sent()).toEqual(['budget.exceeded', 'session.paused']);
      expect(await events(hooked, 'budget.exceeded', 's-flood')).toHaveLength(1);
    } finally {
      await hooked.close();
    }
  });

  it('an expiry charge announces the thresholds it crosses, and a breach pauses the session', async () => {
    const exp = (n: number) =>
      engine.check({ agent: 'expirer', tool: 'llm:x', session: 's-exp', args: { n } });
    // Two calls naming no estimate hold the default 4,096 tokens each of 10,000, and never complete.
    expect((await exp(1)).effect).toBe('allow');
    expect((await exp(2)).effect).toBe('allow');
    // The limit is lowered below what they hold while they are in flight.
    const lowered = await engine.budgets.raise(
      { id: 's-exp', agent: 'expirer' },
      [{ budget: 'expirer-tokens', limit: 8_000 }],
      ann,
    );
    await engine.commit(lowered);
    const later = new Date(Date.now() + 11 * 60_000);
    expect(await engine.budgets.sweep(later)).toEqual({ charged: 2 });
    // 4,096 of 8,000 crosses 40 %; 8,192 crosses 80 % and the limit: the session pauses.
    const alerts = await events(engine, 'budget.alert', 's-exp');
    expect(alerts.map((e) => (e.data as { threshold: number }).threshold)).toEqual([40, 80]);
    expect((await events(engine, 'budget.exceeded', 's-exp'))[0]?.data).toMatchObject({
      budgetId: 'expirer-tokens',
      used: 8_192,
      limit: 8_000,
    });
    expect((await engine.store.getSession('s-exp'))?.state).toBe('paused');
  });

  it('reserves the default token estimate for a call that names none, so concurrent calls cannot all pass', async () => {
    const calls = Array.from({ length: 16 }, (_, i) =>
      engine.check({ agent: 'tokener', tool: 'llm:x', session: 's-none', args: { i } }),
    );
    const results = await Promise.all(calls);
    // 10,000 tokens hold two calls of 4,096: the other 14 are refused, and nothing is spent yet.
    expect(results.filter((r) => r.effect === 'allow')).toHaveLength(2);
    expect(results.filter((r) => r.code === 'BUDGET_EXCEEDED')).toHaveLength(14);
    const [c] = await engine.store.budgetCounters({ scopeKeys: ['session:s-none'], limit: 5 });
    expect(c).toMatchObject({ used: 0, reserved: 8_192 });
    expect((await engine.store.getSession('s-none'))?.state).toBe('active');
  });

  it('reserves the default for an all-zero estimate; only usage already spent reserves nothing', async () => {
    const zero = (estimate: { inputTokens?: number; outputTokens?: number; costUsd?: number }) =>
      engine.check({ agent: 'tokener', tool: 'llm:x', session: 's-zero', args: estimate }, { estimate });
    expect((await zero({ inputTokens: 0 })).effect).toBe('allow');
    expect((await zero({ costUsd: 0 })).effect).toBe('allow');
    // Each holds the default 4,096 tokens: a third does not fit in 10,000.
    expect((await zero({ inputTokens: 0, outputTokens: 0 })).code).toBe('BUDGET_EXCEEDED');
    const [c] = await engine.store.budgetCounters({ scopeKeys: ['session:s-zero'], limit: 5 });
    expect(c).toMatchObject({ used: 0, reserved: 8_192 });
    const spent = await engine.check(
      { agent: 'tokener', tool: 'llm:x', session: 's-spent', args: {} },
      { estimate: { inputTokens: 0, outputTokens: 0, spent: true } },
    );
    expect(spent.effect).toBe('allow');
    const [s] = await engine.store.budgetCounters({ scopeKeys: ['session:s-spent'], limit: 5 });
    expect(s).toMatchObject({ used: 0, reserved: 0 });
  });

  it('refuses an unbounded estimate where a tokens or USD budget applies, not where none does', async () => {
    const why = 'field previous_response_id names stored context';
    const r = await engine.check(call('llm:openai', 's-unb'), {
      estimate: { model: 'gpt-4o', inputTokens: 10, unbounded: why },
    });
    expect(r).toMatchObject({ effect: 'block', code: 'ESTIMATE_UNBOUNDED' });
    expect(r.reasons[0]).toContain(why);
    expect((await engine.store.getSession('s-unb'))?.state).toBe('active');
    const free = await engine.check(
      { agent: 'daily', tool: 'llm:openai', session: 's-unb2', args: {} },
      { estimate: { model: 'gpt-4o', inputTokens: 10, unbounded: why } },
    );
    expect(free.effect).toBe('allow');
  });

  it('settles actual usage: counters equal the ledger and nothing stays reserved', async () => {
    const r = await engine.check(call('llm:openai', 's-llm'), {
      estimate: { model: 'gpt-4o-mini', inputTokens: 1000, outputTokens: 1000 },
    });
    expect(r.effect).toBe('allow');
    const held = await engine.store.reservation(r.reservationId as string);
    expect(held?.state).toBe('held');
    expect(held?.lines.map((l) => l.budgetId).sort()).toEqual(['llm-tokens', 'llm-usd', 'session-calls']);
    await engine.complete(r.callId, {
      status: 'ok',
      usage: { model: 'gpt-4o-mini', inputTokens: 400, outputTokens: 100 },
    });
    const counters = await engine.store.budgetCounters({
      scopeKeys: ['session:s-llm', 'agent:worker'],
      limit: 10,
    });
    const byBudget = Object.fromEntries(counters.map((c) => [c.budgetId, c]));
    expect(byBudget['llm-tokens']).toMatchObject({ used: 500, reserved: 0 });
    expect(byBudget['session-calls']).toMatchObject({ used: 1, reserved: 0 });
    // 400 × 0.15 + 100 × 0.6 per million
    expect(byBudget['llm-usd']?.used).toBeCloseTo(0.00012, 9);
    const totals = await engine.store.ledgerTotals(counters.map((c) => c.key));
    for (const c of counters) expect(totals.get(c.key)).toBeCloseTo(c.used, 9);
    const completed = await events(engine, 'call.completed', 's-llm');
    expect(completed[0]?.outcome?.usage).toMatchObject({
      costUsd: expect.any(Number),
      priceVersion: expect.any(String),
    });
  });

  it('refuses a model it cannot price when a USD budget applies, but not for a token budget alone', async () => {
    const r = await engine.check(call('llm:custom', 's-price'), {
      estimate: { model: 'my-private-model', inputTokens: 10, outputTokens: 10 },
    });
    expect(r).toMatchObject({ effect: 'block', code: 'PRICE_UNKNOWN' });
    expect(r.reasons[0]).toContain('my-private-model');
    expect((await engine.store.getSession('s-price'))?.state).toBe('active');
    const priced = await engine.check(call('llm:custom', 's-price'), {
      estimate: { model: 'my-private-model', costUsd: 0.01 },
    });
    expect(priced.effect).toBe('allow');
  });

  it('announces each soft threshold once per window', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await engine.check(call('llm:openai', `s-alert-${i}`), { estimate: { costUsd: 0.15 } });
      expect(r.effect).toBe('allow');
      await engine.complete(r.callId, { status: 'ok', usage: { costUsd: 0.15 } });
    }
    // 0.15 steps: 0.60 crosses 50 %, 0.90 crosses 80 %; each is announced exactly once.
    const alerts = await events(engine, 'budget.alert');
    expect(alerts.map((e) => (e.data as { threshold: number }).threshold)).toEqual([50, 80]);
    const counters = await engine.store.budgetCounters({ budgetId: 'llm-usd', limit: 5 });
    expect(counters[0]?.alerted).toBe(80);
  });

  it('pauses a session whose actual usage went over the limit after the fact', async () => {
    const r = await engine.check(call('llm:openai', 's-late'), { estimate: { costUsd: 0.1 } });
    await engine.complete(r.callId, { status: 'ok', usage: { costUsd: 1.5 } });
    expect((await engine.store.getSession('s-late'))?.state).toBe('paused');
    const exceeded = await events(engine, 'budget.exceeded', 's-late');
    expect(exceeded[0]?.data).toMatchObject({ budgetId: 'llm-usd', used: 1.5, limit: 1 });
  });

  it('stops a runaway loop at call max + 1; only a person without a stake may resume it', async () => {
    const results: CheckResult[] = [];
    for (let i = 0; i < 4; i++) results.push(await engine.check(call('search', 's-loop', { q: 'same' })));
    expect(results.slice(0, 3).every((r) => r.effect === 'allow')).toBe(true);
    expect(results[3]).toMatchObject({ effect: 'block', code: 'RUNAWAY_DETECTED' });
    expect(results[3]?.reasons[0]).toContain('search called 4 times');
    expect((await engine.store.getSession('s-loop'))?.state).toBe('paused');
    expect((await events(engine, 'breaker.tripped', 's-loop'))[0]?.data).toMatchObject({ breaker: 'repeat' });
    await expect(resumeSession(engine, 's-loop', tom, 'I started it')).rejects.toMatchObject({
      code: 'APPROVAL_SELF_APPROVAL',
    });
    await resumeSession(engine, 's-loop', ann, 'checked, fine', {
      raise: [{ budget: 'session-calls', limit: 10 }],
    });
    // The history restarts at the resume: the same call is allowed again.
    const again = await engine.check(call('search', 's-loop', { q: 'same' }));
    expect(again.effect).toBe('allow');
    const raised = await events(engine, 'budget.raised', 's-loop');
    expect(raised[0]?.data).toMatchObject({ budgetId: 'session-calls', from: 3, to: 10 });
  });

  it('a resume can raise the limit that paused the session', async () => {
    await spend(4, 's-raise');
    expect((await engine.store.getSession('s-raise'))?.state).toBe('paused');
    await expect(
      resumeSession(engine, 's-raise', ann, 'more', { raise: [{ budget: 'no-such', limit: 5 }] }),
    ).rejects.toMatchObject({ code: 'BUDGET_NOT_FOUND' });
    // A shared budget raised through one session would lift it for every other session too.
    await expect(
      resumeSession(engine, 's-raise', ann, 'more', { raise: [{ budget: 'llm-usd', limit: 5 }] }),
    ).rejects.toMatchObject({ code: 'BUDGET_SHARED' });
    await resumeSession(engine, 's-raise', ann, 'one more task', {
      raise: [{ budget: 'session-calls', limit: 5 }],
    });
    const alertsOf = async () =>
      (await events(engine, 'budget.alert', 's-raise'))
        .filter((e) => (e.data as { budgetId: string }).budgetId === 'session-calls')
        .map((e) => (e.data as { threshold: number }).threshold);
    expect(await alertsOf()).toEqual([50, 100]);
    const more = await spend(3, 's-raise');
    expect(more.map((r) => r.effect)).toEqual(['allow', 'allow', 'block']);
    // Judged again under the new limit: 4 of 5 crosses 80 %, 5 of 5 reaches 100 %.
    expect(await alertsOf()).toEqual([50, 100, 80, 100]);
    const status = await engine.budgets.status({ session: 's-raise' });
    expect(status.find((s) => s.budgetId === 'session-calls')).toMatchObject({
      limit: 5,
      used: 5,
      remaining: 0,
    });
  });

  it('detects an A↔B ping-pong', async () => {
    const looper = (tool: string) => ({ agent: 'looper', tool, session: 's-pp', args: { x: 1 } });
    await engine.check({ agent: 'looper', tool: 'start', session: 's-pp' });
    const effects: string[] = [];
    for (let i = 0; i < 6; i++) effects.push((await engine.check(looper(i % 2 ? 'b' : 'a'))).effect);
    expect(effects).toEqual(['allow', 'allow', 'allow', 'allow', 'allow', 'block']);
    expect((await events(engine, 'breaker.tripped', 's-pp'))[0]?.data).toMatchObject({ breaker: 'pingPong' });
  });

  it('pauses a session burning tokens far above its expected rate', async () => {
    const r1 = await engine.check({ agent: 'burner', tool: 'llm:x', session: 's-burn' });
    await engine.complete(r1.callId, { status: 'ok', usage: { inputTokens: 60, outputTokens: 10 } });
    expect((await engine.store.getSession('s-burn'))?.state).toBe('active');
    const r2 = await engine.check({ agent: 'burner', tool: 'llm:x', session: 's-burn' });
    await engine.complete(r2.callId, { status: 'ok', usage: { inputTokens: 60, outputTokens: 10 } });
    expect((await engine.store.getSession('s-burn'))?.state).toBe('paused');
    expect((await events(engine, 'breaker.tripped', 's-burn'))[0]?.data).toMatchObject({
      breaker: 'tokenBurn',
    });
  });

  it('charges a reservation whose lease ran out at its estimate; a late completion adds only what it used beyond', async () => {
    const r = await engine.check(call('echo', 's-lease', { n: 1 }));
    const later = new Date(Date.now() + 11 * 60_000);
    expect(await engine.budgets.sweep(later)).toEqual({ charged: 1 });
    expect(await engine.budgets.sweep(later)).toEqual({ charged: 0 });
    let [counter] = await engine.store.budgetCounters({ scopeKeys: ['session:s-lease'], limit: 5 });
    expect(counter).toMatchObject({ used: 1, reserved: 0 });
    expect((await events(engine, 'budget.expired', 's-lease'))[0]?.data).toMatchObject({
      reason: expect.stringMatching(/charged at its estimate/),
    });
    expect(await events(engine, 'budget.released', 's-lease')).toEqual([]);
    await engine.complete(r.callId, { status: 'ok' });
    [counter] = await engine.store.budgetCounters({ scopeKeys: ['session:s-lease'], limit: 5 });
    expect(counter).toMatchObject({ used: 1, reserved: 0 });

    // Tokens: an expired reservation is charged its estimate, and a late completion its excess over it.
    const llm = { agent: 'worker', tool: 'llm:x', session: 's-lease-t', args: { n: 2 } };
    const estimate = { inputTokens: 300, outputTokens: 200 };
    const t = await engine.check(llm, { estimate });
    const small = await engine.check({ ...llm, args: { n: 3 } }, { estimate });
    await engine.budgets.sweep(later);
    const tokens = async () =>
      (await engine.store.budgetCounters({ scopeKeys: ['session:s-lease-t'], limit: 5 })).find(
        (c) => c.metric === 'tokens',
      );
    expect(await tokens()).toMatchObject({ used: 1_000, reserved: 0 });
    await engine.complete(t.callId, { status: 'ok', usage: { inputTokens: 400, outputTokens: 250 } });
    await engine.complete(small.callId, { status: 'ok', usage: { inputTokens: 10, outputTokens: 5 } });
    expect(await tokens()).toMatchObject({ used: 1_150, reserved: 0 });
  });

  it('a reservation settled by a completion is not read as expired: a second settlement of it is refused', async () => {
    const llm = { agent: 'worker', tool: 'llm:x', session: 's-twice', args: { n: 1 } };
    const r = await engine.check(llm, { estimate: { inputTokens: 300, outputTokens: 200 } });
    const usage = { inputTokens: 500, outputTokens: 100 };
    const { decided } = await engine.store.findCall(r.callId);
    await engine.complete(r.callId, { status: 'ok', usage });
    const tokens = async () =>
      (await engine.store.budgetCounters({ scopeKeys: ['session:s-twice'], limit: 5 })).find(
        (c) => c.metric === 'tokens',
      );
    expect(await tokens()).toMatchObject({ used: 600, reserved: 0 });
    expect((await engine.store.reservation(r.reservationId as string))?.state).toBe('settled');
    // What a concurrent completion of the same call computes after the first one settled it.
    const again = await engine.budgets.settlement(
      decided?.event as AuditEvent,
      usage,
      new Date().toISOString(),
    );
    expect(again?.mutation).toMatchObject({ kind: 'budget.settle', reservationId: r.reservationId });
    await expect(engine.commit({ events: [], mutations: [again?.mutation as never] })).rejects.toMatchObject({
      code: 'BUDGET_CONFLICT',
    });
    expect(await tokens()).toMatchObject({ used: 600, reserved: 0 });
  });

  it('a completion racing the sweep that charges its expired reservation settles on top of the charge', async () => {
    const llm = { agent: 'worker', tool: 'llm:x', session: 's-race', args: { n: 1 } };
    const r = await engine.check(llm, { estimate: { inputTokens: 300, outputTokens: 200 } });
    const later = new Date(Date.now() + 11 * 60_000);
    const settlement = engine.budgets.settlement.bind(engine.budgets);
    // The sweep charges the reservation after the completion read it as held, before it commits.
    vi.spyOn(engine.budgets, 'settlement').mockImplementationOnce(async (...args) => {
      const s = await settlement(...args);
      expect(await engine.budgets.sweep(later)).toEqual({ charged: 1 });
      return s;
    });
    await engine.complete(r.callId, { status: 'ok', usage: { inputTokens: 500, outputTokens: 100 } });
    const [tokens] = (await engine.store.budgetCounters({ scopeKeys: ['session:s-race'], limit: 5 })).filter(
      (c) => c.metric === 'tokens',
    );
    expect(tokens).toMatchObject({ used: 600, reserved: 0 });
    expect((await events(engine, 'call.completed', 's-race')).length).toBe(1);
  });

  it('resets calendar budgets at local midnight across a DST change (Europe/Berlin)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const at = async (iso: string) => {
      vi.setSystemTime(new Date(iso));
      return (await engine.check({ agent: 'daily', tool: 'x', args: { t: iso } })).effect;
    };
    // 2026-03-28 local (CET, UTC+1) ends at 23:00Z; 2026-03-29 (the spring-forward day) has 23 hours.
    expect(await at('2026-03-28T12:00:00Z')).toBe('allow');
    expect(await at('2026-03-28T22:59:00Z')).toBe('allow');
    expect(await at('2026-03-28T22:59:30Z')).toBe('block');
    expect(await at('2026-03-28T23:00:00Z')).toBe('allow');
    expect(await at('2026-03-29T21:59:00Z')).toBe('allow');
    expect(await at('2026-03-29T21:59:30Z')).toBe('block');
    expect(await at('2026-03-29T22:00:00Z')).toBe('allow');
    const windows = (await engine.store.budgetCounters({ budgetId: 'daily-calls', limit: 10 }))
      .map((c) => [c.windowStart, c.windowEnd])
      .sort();
    expect(windows).toEqual([
      ['2026-03-27T23:00:00.000Z', '2026-03-28T23:00:00.000Z'],
      ['2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z'],
      ['2026-03-29T22:00:00.000Z', '2026-03-30T22:00:00.000Z'],
    ]);
  });

  it('a resumed session is not tripped again by what it burnt before the pause', async () => {
    const burn = async () => {
      const r = await engine.check({ agent: 'burner', tool: 'llm:x', session: 's-reburn' });
      expect(r.effect).toBe('allow');
      await engine.complete(r.callId, { status: 'ok', usage: { inputTokens: 60, outputTokens: 10 } });
    };
    await burn();
    await burn();
    expect((await engine.store.getSession('s-reburn'))?.state).toBe('paused');
    await resumeSession(engine, 's-reburn', ann, 'expected: a long document');
    await burn();
    expect((await engine.store.getSession('s-reburn'))?.state).toBe('active');
  });

  it('monitor mode records what a budget would have refused and allows it', async () => {
    engine.adoptPolicy(testPolicy(`mode: monitor\n${POLICY}`));
    const results = await spend(4, 's-monitor');
    expect(results.map((r) => r.effect)).toEqual(['allow', 'allow', 'allow', 'allow']);
    expect(results[3]?.reasons.join(' ')).toContain('would be blocked (BUDGET_EXCEEDED)');
    expect((await engine.store.getSession('s-monitor'))?.state).toBe('active');
  });
});

describe('budgets across two engines on one PostgreSQL', () => {
  it('catches a loop spread across two instances at call max + 1', async () => {
    const fx = await freshStore('postgres');
    const policy = testPolicy(POLICY);
    const keys = generateKeyRing();
    const a = await testEngine(fx, { policy, keys });
    const b = await testEngine({ ...fx, store: await fx.reopen() }, { policy, keys });
    try {
      const call = { agent: 'looper', tool: 'search', session: 's-spread', args: { q: 'same' } };
      // The session's first call seeds both instances' histories, then they take turns.
      await a.check({ agent: 'looper', tool: 'start', session: 's-spread' });
      const effects: string[] = [];
      for (let i = 0; i < 4; i++) effects.push((await (i % 2 ? b : a).check(call)).effect);
      expect(effects).toEqual(['allow', 'allow', 'allow', 'block']);
      const session = await a.store.getSession('s-spread');
      expect(session?.state).toBe('paused');
      expect(session?.stateReason).toContain('search called 4 times');
    } finally {
      await a.close();
      await b.close();
      await b.store.close();
      await fx.dispose();
    }
  });

  it('64 concurrent callers never overshoot a shared budget, and counters equal the ledger', async () => {
    const fx = await freshStore('postgres');
    const policy = testPolicy(`
agents:
  worker:
    rules: [{ id: any, effect: allow, tools: ['*'] }]
    breakers: { repeat: false, rate: false }
    budgets:
      - { id: shared, metric: tokens, limit: 2000, scope: agent, window: day }
`);
    const keys = generateKeyRing();
    const a = await testEngine(fx, { policy, keys });
    const b = await testEngine({ ...fx, store: await fx.reopen() }, { policy, keys });
    try {
      let admitted = 0;
      await Promise.all(
        Array.from({ length: 64 }, async (_, i) => {
          const engine = i % 2 ? a : b;
          for (;;) {
            const r = await engine.check(
              { agent: 'worker', tool: 'llm:x', session: `s-${i}` },
              { estimate: { inputTokens: 30, outputTokens: 20 } },
            );
            if (r.effect !== 'allow') return;
            admitted++;
            await engine.complete(r.callId, {
              status: 'ok',
              usage: { inputTokens: 25, outputTokens: 15 + (i % 5) },
            });
          }
        }),
      );
      const [counter] = await a.store.budgetCounters({ budgetId: 'shared', limit: 5 });
      expect(counter?.reserved).toBe(0);
      expect(counter?.used).toBeLessThanOrEqual(2000);
      // Reservations of 50 admit at least 40 calls; settling less than reserved frees room for more.
      expect(admitted).toBeGreaterThanOrEqual(40);
      const totals = await a.store.ledgerTotals([counter?.key as string]);
      expect(totals.get(counter?.key as string)).toBe(counter?.used);
    } finally {
      await a.close();
      await b.close();
      await b.store.close();
      await fx.dispose();
    }
  });
});
