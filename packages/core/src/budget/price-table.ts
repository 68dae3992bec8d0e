import { z } from 'zod';

/** USD per million tokens. `cachedInput` is what input served from the provider's cache costs. */
export const ModelPriceSchema = z.strictObject({
  input: z.number().nonnegative().max(100_000),
  output: z.number().nonnegative().max(100_000),
  cachedInput: z.number().nonnegative().max(100_000).optional(),
});
export type ModelPrice = z.infer<typeof ModelPriceSchema>;

/** A versioned price list. Every ledger row names the version that priced it: history is never repriced. */
export interface PriceTable {
  readonly version: string;
  readonly models: Readonly<Record<string, ModelPrice>>;
}

/** A deployment's additions and corrections to the bundled table (server configuration `prices`). */
export const PriceOverrideSchema = z.strictObject({
  version: z
    .string()
    .min(1)
    .max(60)
    .regex(/^[A-Za-z0-9_.:-]+$/, 'use letters, digits and _ . : - only'),
  models: z.record(z.string().min(1).max(200), ModelPriceSchema),
});
export type PriceOverride = z.infer<typeof PriceOverrideSchema>;

/**
 * List prices of current OpenAI, Anthropic and Google models (standard tier, text, prompts up to 200k
 * tokens), USD per million tokens. Update by adding a new version; never edit a published one in place.
 */
export const BUNDLED_PRICES: PriceTable = {
  version: 'warden-2025-11-01',
  models: {
    // OpenAI
    'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
    'gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
    'gpt-5-nano': { input: 0.05, cachedInput: 0.005, output: 0.4 },
    'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
    'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
    'gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
    'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
    'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
    o3: { input: 2, cachedInput: 0.5, output: 8 },
    'o3-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
    'o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
    // Anthropic (cachedInput: cache reads)
    'claude-opus-4-1': { input: 15, cachedInput: 1.5, output: 75 },
    'claude-opus-4': { input: 15, cachedInput: 1.5, output: 75 },
    'claude-sonnet-4-5': { input: 3, cachedInput: 0.3, output: 15 },
    'claude-sonnet-4': { input: 3, cachedInput: 0.3, output: 15 },
    'claude-3-7-sonnet': { input: 3, cachedInput: 0.3, output: 15 },
    'claude-haiku-4-5': { input: 1, cachedInput: 0.1, output: 5 },
    'claude-3-5-haiku': { input: 0.8, cachedInput: 0.08, output: 4 },
    // Google
    'gemini-2.5-pro': { input: 1.25, cachedInput: 0.31, output: 10 },
    'gemini-2.5-flash': { input: 0.3, cachedInput: 0.075, output: 2.5 },
    'gemini-2.5-flash-lite': { input: 0.1, cachedInput: 0.025, output: 0.4 },
    'gemini-2.0-flash': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  },
};

/** The bundled table with a deployment's override on top; the version names both. */
export function withOverride(base: PriceTable, override: PriceOverride | undefined): PriceTable {
  if (!override) return base;
  return { version: `${base.version}+${override.version}`, models: { ...base.models, ...override.models } };
}

/**
 * The price of a model as providers name it: exact, or without provider prefixes (`openai/`, `models/`,
 * `openrouter/anthropic/`) and a dated or `-latest` suffix (`gpt-4o-2024-08-06`,
 * `claude-sonnet-4-5-20250929`, Vertex's `claude-sonnet-4-5@20250929`).
 */
export function priceOf(table: PriceTable, model: string): ModelPrice | undefined {
  // Own keys only: a model named `constructor` or `__proto__` must not find Object.prototype members.
  const at = (name: string) => (Object.hasOwn(table.models, name) ? table.models[name] : undefined);
  const exact = at(model);
  if (exact) return exact;
  const bare = model.slice(model.lastIndexOf('/') + 1);
  const undated = bare.replace(/(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8})|-latest)$/, '');
  return at(bare) ?? at(undated);
}

/** Tokens a request consumed, as the price table needs them. */
export interface TokenCounts {
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  /** Part of inputTokens that the provider served from its cache. */
  readonly cachedTokens?: number;
}

/** The cost in USD of `tokens` at `price`. */
export function costOf(price: ModelPrice, tokens: TokenCounts): number {
  const input = tokens.inputTokens ?? 0;
  const cached = Math.min(tokens.cachedTokens ?? 0, input);
  const usd =
    ((input - cached) * price.input +
      cached * (price.cachedInput ?? price.input) +
      (tokens.outputTokens ?? 0) * price.output) /
    1_000_000;
  // Rounded to a billionth of a dollar: sums of many rows stay exact enough to compare with a limit.
  return Math.round(usd * 1e9) / 1e9;
}
