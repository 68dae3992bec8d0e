import { envReference } from '@warden/core';
import { z } from 'zod';

const upstreamSchema = (root: string) =>
  z.strictObject({
    baseUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .refine((u) => !/\/v1\/?$/.test(u), {
        error: 'give the root without /v1: Warden appends each endpoint’s /v1/… path',
      })
      .default(root)
      .meta({ description: `The provider's root URL (default ${root}); requests go to baseUrl + /v1/….` }),
    apiKey: z
      .string()
      .min(1)
      .meta({ description: "The deployment's provider key; `env:NAME` reads it from $NAME." }),
  });

/**
 * The LLM metering proxy's upstreams. A provider left out is not proxied (its endpoints answer 404
 * naming this setting). From the config file only: a nested setting does not fit a variable.
 */
export const LlmConfigSchema = z
  .strictObject({
    openai: upstreamSchema('https://api.openai.com').optional(),
    anthropic: upstreamSchema('https://api.anthropic.com').optional(),
    gemini: upstreamSchema('https://generativelanguage.googleapis.com').optional(),
    /** The output tokens reserved for a request that sets no cap of its own. */
    maxOutputTokensDefault: z.coerce.number().int().min(1).max(10_000_000).default(4_096),
    /** LLM requests carry whole conversations and images: their own body limit. */
    bodyLimitBytes: z.coerce
      .number()
      .int()
      .min(1_024)
      .max(256 * 1024 * 1024)
      .default(32 * 1024 * 1024),
  })
  .prefault({});

export type LlmConfig = z.output<typeof LlmConfigSchema>;
export type LlmUpstream = NonNullable<LlmConfig['openai']>;

/**
 * Replaces each `env:NAME` key with $NAME and drops a trailing slash from each base URL. Problems (an
 * unset variable) are returned, named with where the setting came from, for the caller to report.
 */
export function resolveLlmConfig(
  llm: LlmConfig,
  env: NodeJS.ProcessEnv,
  source: string | undefined,
): { config: LlmConfig; problems: string[] } {
  const problems: string[] = [];
  const resolve = (name: 'openai' | 'anthropic' | 'gemini'): LlmUpstream | undefined => {
    const upstream = llm[name];
    if (!upstream) return undefined;
    const baseUrl = upstream.baseUrl.replace(/\/+$/, '');
    const variable = envReference(upstream.apiKey);
    if (!variable) return { baseUrl, apiKey: upstream.apiKey };
    const value = env[variable];
    if (value === undefined || value === '') {
      problems.push(`llm.${name}.apiKey (${source}): the environment variable ${variable} is not set`);
    }
    return { baseUrl, apiKey: value ?? '' };
  };
  const openai = resolve('openai');
  const anthropic = resolve('anthropic');
  const gemini = resolve('gemini');
  const config: LlmConfig = {
    ...llm,
    ...(openai ? { openai } : {}),
    ...(anthropic ? { anthropic } : {}),
    ...(gemini ? { gemini } : {}),
  };
  return { config, problems };
}
