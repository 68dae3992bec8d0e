import { isWardenError, WardenError } from '@warden/core';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import type { ServerContext } from '../server-context.js';
import type { LlmProvider } from './llm-endpoints.js';

/** How each provider's official client sends its API key, for messages that tell a person what to fix. */
const KEY_HEADER: Readonly<Record<LlmProvider, string>> = {
  openai: 'Authorization: Bearer <key>',
  anthropic: 'x-api-key: <key>',
  gemini: 'x-goog-api-key: <key>',
};

/**
 * The agent behind an LLM request, from the Warden key its client sends as the provider API key. Only
 * agent keys may use the proxy: a call is always some agent's. Failed attempts count against the
 * address as they do on the rest of the API, and the per-key rate limit applies.
 */
export async function authenticateAgent(
  ctx: ServerContext,
  request: FastifyRequest,
  provider: LlmProvider,
): Promise<Principal> {
  const limited = !ctx.authFailures.allows(request.ip);
  let principal: Principal;
  try {
    const header = authorizationOf(request, provider);
    if (header === undefined) {
      throw new WardenError(
        'UNAUTHENTICATED',
        `send the agent's Warden key as the API key (${KEY_HEADER[provider]})`,
        { reason: 'missing' },
      );
    }
    principal = await ctx.auth.authenticate(header, { knownOnly: limited });
  } catch (err) {
    if (isWardenError(err, 'UNAUTHENTICATED')) {
      ctx.authFailures.take(request.ip, 'failed authentications from this address');
    }
    throw err;
  }
  if (principal.role !== 'agent') {
    throw new WardenError(
      'FORBIDDEN',
      `the ${principal.role} role may not call a model through Warden; use the agent's own key`,
      { role: principal.role, allowed: ['agent'] },
    );
  }
  ctx.keyLimiter?.take(principal.keyId, 'requests with this key');
  return principal;
}

/** The header each provider's clients send the API key in, when it is not a bearer Authorization. */
const API_KEY_HEADER: Readonly<Partial<Record<LlmProvider, string>>> = {
  anthropic: 'x-api-key',
  gemini: 'x-goog-api-key',
};

/**
 * The key as an Authorization header value: Anthropic's clients send `x-api-key`, Google's Gemini
 * clients `x-goog-api-key`, OpenAI's a bearer (which the others' clients may send instead).
 */
function authorizationOf(request: FastifyRequest, provider: LlmProvider): string | undefined {
  const name = API_KEY_HEADER[provider];
  const apiKey = name === undefined ? undefined : request.headers[name];
  if (typeof apiKey === 'string' && apiKey.trim() !== '') {
    return `Bearer ${apiKey.trim()}`;
  }
  const authorization = request.headers.authorization;
  return authorization === undefined || authorization === '' ? undefined : authorization;
}
