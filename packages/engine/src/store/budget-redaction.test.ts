import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import {
  DIALECTS,
  everyTableText,
  freshStore,
  type StoreFixture,
} from '../../test-support/store-fixtures.js';
import type { Engine } from '../engine/engine.js';

const POLICY = `
name: budget redaction tests
redaction:
  fields: [customerRef]
agents:
  bot:
    rules:
      - { id: any, effect: allow, tools: ['*'] }
    budgets:
      - { id: by-team, metric: calls, limit: 5, scope: tag, tag: team, window: day, alerts: [20] }
      - { id: by-customer, metric: calls, limit: 5, scope: tag, tag: customerRef, window: day }
`;

describe.each(DIALECTS)('a secret in a label under a tag budget is in no table (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  beforeEach(async () => {
    fx = await freshStore(dialect);
    engine = await testEngine(fx, { policy: testPolicy(POLICY) });
  });
  afterEach(async () => {
    await engine?.close();
    await fx?.dispose();
  });

  it('reserve, settle and alert count the call under the redacted label value', async () => {
    const secret = `ghp_${'A1b2C3d4'.repeat(5)}`;
    const other = `ghp_${'Z9y8X7w6'.repeat(5)}`;
    const first = await engine.check({ agent: 'bot', tool: 't', session: 's1', labels: { team: secret } });
    expect(first.effect).toBe('allow');
    await engine.complete(first.callId, { status: 'ok' });
    const second = await engine.check({ agent: 'bot', tool: 't', session: 's1', labels: { team: other } });
    expect(second.effect).toBe('allow');

    const dump = await everyTableText(fx.location);
    expect(dump).toContain('tag:team=[REDACTED:api_key]');
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(other);
    // Distinct secrets share one counter (stricter than one per value, never looser).
    const counters = await fx.store.budgetCounters({ budgetId: 'by-team', limit: 10 });
    expect(counters.map((c) => c.scopeKey)).toEqual(['tag:team=[REDACTED:api_key]']);
  });

  it("a label the policy's redaction.fields names is counted as [REDACTED:field]", async () => {
    const ref = 'C-20261207-private-ref';
    const r = await engine.check({ agent: 'bot', tool: 't', session: 's1', labels: { customerRef: ref } });
    expect(r.effect).toBe('allow');
    await engine.complete(r.callId, { status: 'ok' });
    expect(await everyTableText(fx.location)).not.toContain(ref);
    const counters = await fx.store.budgetCounters({ budgetId: 'by-customer', limit: 10 });
    expect(counters.map((c) => c.scopeKey)).toEqual(['tag:customerRef=[REDACTED:field]']);
  });
});
