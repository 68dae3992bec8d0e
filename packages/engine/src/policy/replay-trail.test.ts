import { compilePolicy } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { Engine } from '../engine/engine.js';
import { pauseSession } from '../engine/session-control.js';
import { replayTrail } from './replay-trail.js';

/**
 * The engine tests' policy, changed: refunds over 60 reviewed, drops reviewed, echo open to anyone; one
 * rule reads the customerSsn argument, which the trail stores redacted (so that call is uncertain).
 */
const TIGHTENED = `
name: engine tests, tightened
redaction:
  fields: [customerSsn]
agents:
  "*":
    rules:
      - { id: echo-anyone, effect: allow, tools: [echo] }
  billing-agent:
    rules:
      - { id: refunds-small, effect: allow, tools: [stripe.refund], when: args.amount <= 60 }
      - { id: refunds-large, effect: review, tools: [stripe.refund], when: args.amount > 60 }
      - id: ssn-refunds
        effect: review
        tools: [stripe.refund]
        when: 'args.?customerSsn.orValue("").startsWith("9")'
      - { id: drops-reviewed, effect: review, tools: [db.drop] }
      - { id: echo, effect: allow, tools: [echo] }
`;

const alice = { kind: 'human', id: 'alice' } as const;

describe.each(DIALECTS)('policy replay over a recorded trail (%s)', (dialect) => {
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

  /** Runs known calls through the engine under the test policy; returns their call ids by name. */
  async function seed() {
    const check = async (input: Record<string, unknown>) => (await engine.check(input)).callId;
    const ids = {
      small: await check({
        agent: 'billing-agent',
        tool: 'stripe.refund',
        args: { amount: 50 },
        session: 'a',
      }),
      medium: await check({
        agent: 'billing-agent',
        tool: 'stripe.refund',
        args: { amount: 80 },
        session: 'b',
      }),
      large: await check({
        agent: 'billing-agent',
        tool: 'stripe.refund',
        args: { amount: 500 },
        session: 'c',
      }),
      drop: await check({ agent: 'billing-agent', tool: 'db.drop', session: 'd' }),
      echo: await check({ agent: 'billing-agent', tool: 'echo', session: 'e' }),
      stranger: await check({ agent: 'stranger', tool: 'echo' }),
      redacted: await check({
        agent: 'billing-agent',
        tool: 'stripe.refund',
        args: { amount: 10, customerSsn: '123-45-6789' },
        session: 'f',
      }),
      granted: '',
      beforePause: await check({ agent: 'billing-agent', tool: 'echo', session: 'p' }),
      paused: '',
    };
    await engine.grants.add(
      { agent: 'billing-agent', tool: 'tickets.escalate', ttl: '1h', reason: 'ticket 7' },
      alice,
    );
    const granted = await engine.check({ agent: 'billing-agent', tool: 'tickets.escalate', session: 'g' });
    expect(granted).toMatchObject({ effect: 'allow', ruleId: null });
    expect(granted.grantId).toBeDefined();
    ids.granted = granted.callId;
    await pauseSession(engine, 'p', alice, 'looks odd');
    const paused = await engine.check({ agent: 'billing-agent', tool: 'echo', args: { n: 2 }, session: 'p' });
    expect(paused.code).toBe('SESSION_PAUSED');
    ids.paused = paused.callId;
    return ids;
  }

  const hourAround = () => ({
    from: new Date(Date.now() - 3_600_000).toISOString(),
    to: new Date(Date.now() + 3_600_000).toISOString(),
  });

  it('reports exactly the calls whose decision changes, and writes nothing', async () => {
    const ids = await seed();
    const head = await fx.store.head();
    const progress: number[] = [];
    const report = await replayTrail(fx.store, compilePolicy(TIGHTENED), {
      ...hourAround(),
      pageSize: 3,
      onProgress: (read) => progress.push(read),
    });
    expect(progress).toEqual([3, 6, 9, 10]);

    expect(report.totals).toEqual({
      recorded: 10,
      replayed: 9,
      unchanged: 6,
      changed: 3,
      effectChanged: 3,
      uncertain: 1,
      viaGrant: 1,
      notCompared: 1,
    });
    expect(
      report.changes.map((g) => ({
        from: g.from,
        to: g.to,
        count: g.count,
        calls: g.samples.map((s) => s.callId),
      })),
    ).toEqual([
      {
        from: { effect: 'allow', ruleId: 'refunds-small' },
        to: { effect: 'review', ruleId: 'refunds-large' },
        count: 1,
        calls: [ids.medium],
      },
      {
        from: { effect: 'block', ruleId: null },
        to: { effect: 'allow', ruleId: 'echo-anyone' },
        count: 1,
        calls: [ids.stranger],
      },
      {
        from: { effect: 'block', ruleId: 'no-drops' },
        to: { effect: 'review', ruleId: 'drops-reviewed' },
        count: 1,
        calls: [ids.drop],
      },
    ]);
    expect(report.changes[1]?.samples[0]).toMatchObject({
      agent: 'stranger',
      tool: 'echo',
      uncertain: false,
    });
    expect(report.transitions).toEqual([
      { from: 'allow', to: 'review', count: 1 },
      { from: 'block', to: 'allow', count: 1 },
      { from: 'block', to: 'review', count: 1 },
    ]);
    expect(report.notCompared).toEqual([{ code: 'SESSION_PAUSED', count: 1 }]);
    expect(report.complete).toBe(true);
    expect(report.policy).toMatchObject({ name: 'engine tests, tightened', mode: 'enforce' });

    // Read only: the chain has not moved, and the policy in force is still the engine's own.
    expect(await fx.store.head()).toEqual(head);
    expect(engine.policy.name).toBe('engine tests');
  });

  it('does not compare a voided decision: its caller was answered STORE_UNAVAILABLE', async () => {
    const ids = await seed();
    const warden = { kind: 'system', id: 'warden' } as const;
    await engine.commit({
      events: [
        engine.systemEvent('call.voided', warden, {
          agent: 'billing-agent',
          callId: ids.medium,
          data: { effect: 'allow', reason: 'the caller was answered STORE_UNAVAILABLE' },
        }),
      ],
    });
    const report = await replayTrail(fx.store, compilePolicy(TIGHTENED), hourAround());
    expect(report.totals).toMatchObject({ recorded: 10, replayed: 8, changed: 2, notCompared: 2 });
    expect(report.changes.flatMap((g) => g.samples.map((s) => s.callId))).not.toContain(ids.medium);
    expect(report.notCompared).toEqual([
      { code: 'SESSION_PAUSED', count: 1 },
      { code: 'VOIDED', count: 1 },
    ]);
  });

  it('finds no change when replayed under the policy that decided', async () => {
    await seed();
    const report = await replayTrail(fx.store, engine.policy, hourAround());
    expect(report.totals).toMatchObject({ recorded: 10, replayed: 9, changed: 0, unchanged: 9 });
    expect(report.changes).toEqual([]);
  });

  it('narrows to one agent and a time range, and says when it stopped at the limit', async () => {
    const ids = await seed();
    const policy = compilePolicy(TIGHTENED);
    const stranger = await replayTrail(fx.store, policy, { ...hourAround(), agent: 'stranger' });
    expect(stranger.totals).toMatchObject({ recorded: 1, changed: 1 });
    expect(stranger.window.agent).toBe('stranger');
    expect(stranger.changes[0]?.samples.map((s) => s.callId)).toEqual([ids.stranger]);

    const past = await replayTrail(fx.store, policy, {
      from: new Date(Date.now() - 7_200_000).toISOString(),
      to: new Date(Date.now() - 3_600_000).toISOString(),
    });
    expect(past.totals.recorded).toBe(0);

    const first = await replayTrail(fx.store, policy, { ...hourAround(), limit: 4, pageSize: 3 });
    expect(first.totals).toMatchObject({ recorded: 4, changed: 2 });
    expect(first.complete).toBe(false);
    const all = await replayTrail(fx.store, policy, { ...hourAround(), limit: 10 });
    expect(all.complete).toBe(true);
  });
});
