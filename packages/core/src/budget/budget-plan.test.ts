import { describe, expect, it } from 'vitest';
import { isWardenError } from '../errors/warden-error.js';
import { compilePolicy } from '../policy/policy-compiler.js';
import type { BudgetLine } from './budget-line.js';
import { amountOf, budgetLines, reserveAmounts, settleAmounts, usdOf } from './budget-plan.js';
import { BUNDLED_PRICES } from './price-table.js';

const POLICY = `
defaults:
  timeZone: Europe/Berlin
  budgets:
    - { id: agent-day, metric: usd, limit: 50, scope: agent, window: day }
    - { id: all-month, metric: tokens, limit: 1000000, scope: global, window: month }
groups:
  eng:
    budgets:
      - { id: eng-llm, metric: usd, limit: 200, scope: team, window: week, tools: ['llm:*', 'embed'] }
agents:
  '*':
    budgets:
      - { id: per-session, metric: calls, limit: 500, scope: session, window: session }
  bot:
    groups: [eng]
    budgets:
      - { id: by-customer, metric: usd, limit: 5, scope: tag, tag: customer, window: hour }
`;

const policy = compilePolicy(POLICY).budgets;
const NOW = Date.parse('2026-03-29T12:34:56.789Z'); // a Sunday, the 23-hour day in Berlin
const call = { agent: 'bot', session: 's-1', tool: 'llm:gpt-4o' };

describe('budgetLines', () => {
  it('one line per budget with its scope key, window bounds and a zero amount, sorted by key', () => {
    const lines = budgetLines(policy, { ...call, labels: { customer: 'acme' } }, NOW);
    expect(lines).toEqual([
      {
        key: 'agent-day|agent:bot|2026-03-28T23:00:00.000Z',
        budgetId: 'agent-day',
        scopeKey: 'agent:bot',
        metric: 'usd',
        window: 'day',
        windowStart: '2026-03-28T23:00:00.000Z',
        windowEnd: '2026-03-29T22:00:00.000Z',
        limit: 50,
        amount: 0,
      },
      {
        key: 'all-month|global|2026-02-28T23:00:00.000Z',
        budgetId: 'all-month',
        scopeKey: 'global',
        metric: 'tokens',
        window: 'month',
        windowStart: '2026-02-28T23:00:00.000Z',
        windowEnd: '2026-03-31T22:00:00.000Z',
        limit: 1_000_000,
        amount: 0,
      },
      {
        key: 'by-customer|tag:customer=acme|2026-03-29T12:00:00.000Z',
        budgetId: 'by-customer',
        scopeKey: 'tag:customer=acme',
        metric: 'usd',
        window: 'hour',
        windowStart: '2026-03-29T12:00:00.000Z',
        windowEnd: '2026-03-29T13:00:00.000Z',
        limit: 5,
        amount: 0,
      },
      {
        key: 'eng-llm|team:eng|2026-03-22T23:00:00.000Z',
        budgetId: 'eng-llm',
        scopeKey: 'team:eng',
        metric: 'usd',
        window: 'week',
        windowStart: '2026-03-22T23:00:00.000Z',
        windowEnd: '2026-03-29T22:00:00.000Z',
        limit: 200,
        amount: 0,
      },
      {
        key: 'per-session|session:s-1|session',
        budgetId: 'per-session',
        scopeKey: 'session:s-1',
        metric: 'calls',
        window: 'session',
        windowStart: 'session',
        windowEnd: null,
        limit: 500,
        amount: 0,
      },
    ]);
  });

  it('the keys are sorted, so every instance takes counters in the same order', () => {
    const keys = budgetLines(policy, { ...call, labels: { customer: 'zeta' } }, NOW).map((l) => l.key);
    expect(keys).toEqual([...keys].sort());
  });

  it('a tools filter leaves out calls to other tools', () => {
    const ids = (tool: string) => budgetLines(policy, { ...call, tool }, NOW).map((l) => l.budgetId);
    expect(ids('llm:gpt-4o')).toContain('eng-llm');
    expect(ids('embed')).toContain('eng-llm');
    expect(ids('db.query')).not.toContain('eng-llm');
    expect(ids('db.query')).toEqual(['agent-day', 'all-month', 'per-session']);
  });

  it('a tag budget skips a call without the label', () => {
    expect(budgetLines(policy, call, NOW).map((l) => l.budgetId)).not.toContain('by-customer');
    expect(
      budgetLines(policy, { ...call, labels: { region: 'eu' } }, NOW).map((l) => l.budgetId),
    ).not.toContain('by-customer');
    expect(budgetLines(policy, { ...call, labels: { customer: '' } }, NOW).map((l) => l.scopeKey)).toContain(
      'tag:customer=',
    );
  });

  it('a tag named like an Object.prototype member is looked up as an own label only', () => {
    const p = compilePolicy(`
defaults:
  budgets: [{ id: t, metric: calls, limit: 1, scope: tag, tag: constructor, window: day }]
`).budgets;
    expect(budgetLines(p, { ...call, labels: {} }, NOW)).toEqual([]);
    expect(budgetLines(p, { ...call, labels: { constructor: 'x' } }, NOW)[0]?.scopeKey).toBe(
      'tag:constructor=x',
    );
  });

  it('other agents draw on their own agent counter and not on the team or tag budgets of bot', () => {
    const lines = budgetLines(
      policy,
      { agent: 'ann', session: 's-2', tool: 'llm:x', labels: { customer: 'acme' } },
      NOW,
    );
    expect(lines.map((l) => l.key)).toEqual([
      'agent-day|agent:ann|2026-03-28T23:00:00.000Z',
      'all-month|global|2026-02-28T23:00:00.000Z',
      'per-session|session:s-2|session',
    ]);
  });

  it('the window moves with the time: the next day starts a new counter', () => {
    const next = budgetLines(policy, call, Date.parse('2026-03-29T22:00:00Z')).find(
      (l) => l.budgetId === 'agent-day',
    );
    expect(next).toMatchObject({
      key: 'agent-day|agent:bot|2026-03-29T22:00:00.000Z',
      windowEnd: '2026-03-30T22:00:00.000Z',
    });
  });
});

describe('amounts', () => {
  const lines = budgetLines(policy, call, NOW);
  const byId = (ls: readonly BudgetLine[]) => Object.fromEntries(ls.map((l) => [l.budgetId, l.amount]));
  const estimate = { model: 'gpt-4o', inputTokens: 1000, cachedTokens: 400, outputTokens: 500 };

  it('usdOf: a reported cost wins, else the price table; no model costs nothing', () => {
    expect(usdOf(estimate, BUNDLED_PRICES)).toBe(0.007);
    expect(usdOf({ ...estimate, costUsd: 0.5 }, BUNDLED_PRICES)).toBe(0.5);
    expect(usdOf({ model: 'mystery', costUsd: 0.25 }, BUNDLED_PRICES)).toBe(0.25);
    expect(usdOf({ inputTokens: 1000 }, BUNDLED_PRICES)).toBe(0);
    expect(usdOf({ model: 'mystery', inputTokens: 1 }, BUNDLED_PRICES)).toBeUndefined();
  });

  it('amountOf: a call is one call, tokens are input + output', () => {
    expect(amountOf('calls', estimate, BUNDLED_PRICES)).toBe(1);
    expect(amountOf('calls', {}, BUNDLED_PRICES)).toBe(1);
    expect(amountOf('tokens', estimate, BUNDLED_PRICES)).toBe(1500);
    expect(amountOf('tokens', {}, BUNDLED_PRICES)).toBe(0);
    expect(amountOf('usd', estimate, BUNDLED_PRICES)).toBe(0.007);
  });

  it('reserveAmounts fills each line in its metric and leaves the rest of the line alone', () => {
    const reserved = reserveAmounts(lines, estimate, BUNDLED_PRICES);
    expect(byId(reserved)).toEqual({
      'agent-day': 0.007,
      'all-month': 1500,
      'eng-llm': 0.007,
      'per-session': 1,
    });
    expect(reserved.map(({ amount: _, ...l }) => l)).toEqual(lines.map(({ amount: _, ...l }) => l));
    expect(lines.every((l) => l.amount === 0)).toBe(true);
    expect(byId(reserveAmounts(lines, { ...estimate, costUsd: 2 }, BUNDLED_PRICES))['agent-day']).toBe(2);
  });

  it('reserveAmounts refuses a model it cannot price when a USD budget applies', () => {
    try {
      reserveAmounts(lines, { model: 'mystery-1', inputTokens: 10 }, BUNDLED_PRICES);
      expect.unreachable();
    } catch (err) {
      expect(isWardenError(err, 'PRICE_UNKNOWN')).toBe(true);
      expect((err as { details: unknown }).details).toEqual({
        model: 'mystery-1',
        budgetId: 'agent-day',
        priceVersion: BUNDLED_PRICES.version,
      });
      expect((err as Error).message).toContain('mystery-1');
    }
  });

  it('an unknown model is fine when no USD budget applies, or when the cost is reported', () => {
    const tokensOnly = lines.filter((l) => l.metric !== 'usd');
    expect(
      byId(
        reserveAmounts(tokensOnly, { model: 'mystery-1', inputTokens: 10, outputTokens: 5 }, BUNDLED_PRICES),
      ),
    ).toEqual({
      'all-month': 15,
      'per-session': 1,
    });
    expect(
      byId(reserveAmounts(lines, { model: 'mystery-1', costUsd: 0.1 }, BUNDLED_PRICES))['agent-day'],
    ).toBe(0.1);
  });

  it('settleAmounts charges actual usage, and what was reserved for a model it cannot price', () => {
    const reserved = reserveAmounts(lines, estimate, BUNDLED_PRICES);
    const held = new Map(reserved.map((l) => [l.key, l.amount]));
    const actual = { model: 'gpt-4o-2024-08-06', inputTokens: 2000, outputTokens: 100 };
    expect(byId(settleAmounts(lines, actual, BUNDLED_PRICES, held))).toEqual({
      'agent-day': 0.006,
      'all-month': 2100,
      'eng-llm': 0.006,
      'per-session': 1,
    });
    const unknown = { model: 'mystery-1', inputTokens: 2000, outputTokens: 100 };
    expect(byId(settleAmounts(lines, unknown, BUNDLED_PRICES, held))).toEqual({
      'agent-day': 0.007,
      'all-month': 2100,
      'eng-llm': 0.007,
      'per-session': 1,
    });
    // Nothing reserved for the line either: it settles at zero rather than failing after the fact.
    expect(byId(settleAmounts(lines, unknown, BUNDLED_PRICES, new Map()))['agent-day']).toBe(0);
  });
});
