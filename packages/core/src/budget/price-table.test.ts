import { describe, expect, it } from 'vitest';
import {
  BUNDLED_PRICES,
  costOf,
  ModelPriceSchema,
  PriceOverrideSchema,
  priceOf,
  withOverride,
} from './price-table.js';

const GPT_4O = BUNDLED_PRICES.models['gpt-4o'];
const SONNET = BUNDLED_PRICES.models['claude-sonnet-4-5'];

describe('priceOf', () => {
  it('finds a model by its exact name', () => {
    expect(priceOf(BUNDLED_PRICES, 'gpt-4o')).toEqual({ input: 2.5, cachedInput: 1.25, output: 10 });
    expect(priceOf(BUNDLED_PRICES, 'o3')).toBe(BUNDLED_PRICES.models.o3);
  });

  it.each([
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
    ['claude-3-5-haiku-latest', 'claude-3-5-haiku'],
    ['claude-sonnet-4-5@20250929', 'claude-sonnet-4-5'],
    ['o3-mini-2025-01-31', 'o3-mini'],
  ])('drops a dated suffix: %s is priced as %s', (model, base) => {
    expect(priceOf(BUNDLED_PRICES, model)).toBe(BUNDLED_PRICES.models[base]);
  });

  it.each([
    ['openai/gpt-4o', 'gpt-4o'],
    ['anthropic/claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
    ['models/gemini-2.5-pro', 'gemini-2.5-pro'],
    ['openrouter/anthropic/claude-haiku-4-5', 'claude-haiku-4-5'],
  ])('drops provider prefixes: %s is priced as %s', (model, base) => {
    expect(priceOf(BUNDLED_PRICES, model)).toBe(BUNDLED_PRICES.models[base]);
  });

  it.each([
    'llama-3.1-70b',
    'gpt-4o-2024',
    'gpt-4o-extra',
    'GPT-4O',
    '',
    // Names of Object.prototype members must not price as something.
    'constructor',
    '__proto__',
    'toString',
    'openai/hasOwnProperty',
  ])('an unknown model %j has no price', (model) => {
    expect(priceOf(BUNDLED_PRICES, model)).toBeUndefined();
  });

  it('prefers an exact entry over the stripped name', () => {
    const table = withOverride(BUNDLED_PRICES, {
      version: 'v1',
      models: { 'azure/gpt-4o': { input: 5, output: 15 }, 'gpt-4o-2024-05-13': { input: 5, output: 15 } },
    });
    expect(priceOf(table, 'azure/gpt-4o')?.input).toBe(5);
    expect(priceOf(table, 'gpt-4o-2024-05-13')?.input).toBe(5);
    expect(priceOf(table, 'gpt-4o-2024-08-06')?.input).toBe(2.5);
  });

  it('every bundled price is valid', () => {
    for (const price of Object.values(BUNDLED_PRICES.models))
      expect(ModelPriceSchema.parse(price)).toEqual(price);
  });
});

describe('costOf', () => {
  it('prices input, cached input and output per million tokens', () => {
    if (!GPT_4O) throw new Error('gpt-4o missing');
    // 600 × 2.5 + 400 × 1.25 + 500 × 10 = 7000 µ$ per million → $0.007
    expect(costOf(GPT_4O, { inputTokens: 1000, cachedTokens: 400, outputTokens: 500 })).toBe(0.007);
    expect(costOf(GPT_4O, { inputTokens: 1_000_000 })).toBe(2.5);
    expect(costOf(GPT_4O, { outputTokens: 1_000_000 })).toBe(10);
    expect(costOf(GPT_4O, {})).toBe(0);
  });

  it('never counts more cached tokens than input tokens', () => {
    if (!SONNET) throw new Error('claude-sonnet-4-5 missing');
    expect(costOf(SONNET, { inputTokens: 100, cachedTokens: 1000 })).toBe(
      costOf(SONNET, { inputTokens: 100, cachedTokens: 100 }),
    );
    expect(costOf(SONNET, { inputTokens: 1_000_000, cachedTokens: 1_000_000 })).toBe(0.3);
  });

  it('charges cached input at the full rate when a model has no cached price', () => {
    expect(costOf({ input: 4, output: 8 }, { inputTokens: 500_000, cachedTokens: 250_000 })).toBe(2);
  });

  it('rounds to a billionth of a dollar, so sums do not drift', () => {
    const c = costOf({ input: 0.1, output: 0.3 }, { inputTokens: 3, outputTokens: 7 });
    expect(c).toBe(0.0000024);
    expect(Number.isInteger(Math.round(c * 1e9))).toBe(true);
  });
});

describe('withOverride', () => {
  it('names both versions, adds models and replaces prices', () => {
    const t = withOverride(BUNDLED_PRICES, {
      version: 'acme-2025-12',
      models: { 'my-model': { input: 1, output: 2 }, 'gpt-4o': { input: 2, output: 8 } },
    });
    expect(t.version).toBe(`${BUNDLED_PRICES.version}+acme-2025-12`);
    expect(priceOf(t, 'my-model')).toEqual({ input: 1, output: 2 });
    expect(priceOf(t, 'gpt-4o-2024-08-06')).toEqual({ input: 2, output: 8 });
    expect(priceOf(t, 'claude-sonnet-4-5')).toBe(SONNET);
    // The bundled table is left alone.
    expect(priceOf(BUNDLED_PRICES, 'my-model')).toBeUndefined();
    expect(BUNDLED_PRICES.models['gpt-4o']?.input).toBe(2.5);
  });

  it('returns the table itself without an override', () => {
    expect(withOverride(BUNDLED_PRICES, undefined)).toBe(BUNDLED_PRICES);
  });

  it('the override schema rejects a bad version name and a negative price', () => {
    expect(PriceOverrideSchema.safeParse({ version: 'a b', models: {} }).success).toBe(false);
    expect(PriceOverrideSchema.safeParse({ version: 'a+b', models: {} }).success).toBe(false);
    expect(
      PriceOverrideSchema.safeParse({ version: 'v1', models: { m: { input: -1, output: 1 } } }).success,
    ).toBe(false);
    expect(
      PriceOverrideSchema.safeParse({ version: 'v1', models: { m: { input: 1, output: 1, x: 1 } } }).success,
    ).toBe(false);
    expect(PriceOverrideSchema.parse({ version: 'acme_1.2:3-4', models: {} }).version).toBe('acme_1.2:3-4');
  });
});
