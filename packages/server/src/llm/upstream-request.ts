import type { IncomingHttpHeaders } from 'node:http';
import type { LlmUpstream } from './llm-config.js';
import type { LlmProvider } from './llm-endpoints.js';

/**
 * Request headers passed on to the provider: API versions and betas the client chose, and what it is.
 * Never the client's credentials (its Warden key) and nothing Warden-specific.
 */
const TO_UPSTREAM: Readonly<Record<LlmProvider, readonly string[]>> = {
  openai: ['accept', 'user-agent', 'openai-beta'],
  anthropic: ['accept', 'user-agent', 'anthropic-version', 'anthropic-beta'],
  gemini: ['accept', 'user-agent', 'x-goog-api-client'],
};

/**
 * Response headers passed back to the client: the body's type, request ids for support, and rate-limit
 * and retry hints the official clients act on. Not the length or encoding (the body is relayed, not
 * copied byte for byte) and not the deployment's organisation or project ids.
 */
const TO_CLIENT =
  /^(content-type|retry-after|retry-after-ms|x-request-id|request-id|openai-processing-ms|openai-version|x-ratelimit-[a-z0-9-]+|anthropic-ratelimit-[a-z0-9-]+)$/;

/** The headers of the upstream request: the deployment's provider key in the provider's own way. */
export function upstreamHeaders(
  provider: LlmProvider,
  upstream: LlmUpstream,
  incoming: IncomingHttpHeaders,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of TO_UPSTREAM[provider]) {
    const value = incoming[name];
    if (typeof value === 'string' && value !== '') headers[name] = value;
  }
  headers['content-type'] = 'application/json';
  // Streams are relayed as they arrive: a compressed body would be held back by the decompressor.
  headers['accept-encoding'] = 'identity';
  if (provider === 'openai') headers.authorization = `Bearer ${upstream.apiKey}`;
  else if (provider === 'gemini') headers['x-goog-api-key'] = upstream.apiKey;
  else headers['x-api-key'] = upstream.apiKey;
  return headers;
}

/** The upstream response headers the client sees. */
export function clientHeaders(upstream: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  upstream.forEach((value, name) => {
    if (TO_CLIENT.test(name)) out[name] = value;
  });
  return out;
}

/**
 * The query parameters of the client's that may go upstream, by provider: only those the official
 * clients send and the provider reads as a format or version choice. Anything else stays here: a `key`
 * (Google's clients may send the API key there: it is the agent's Warden key), and anything that would
 * change what the deployment's key is used for or how the answer is framed (Gemini's `alt`, which the
 * endpoint sets itself so the answer can be metered).
 */
const QUERY_TO_UPSTREAM: Readonly<Record<LlmProvider, readonly string[]>> = {
  openai: ['api-version'],
  anthropic: ['beta'], // Claude Code's `/v1/messages?beta=true`
  gemini: [],
};

/**
 * The upstream URL for a request: the configured root, the endpoint's path, the client's allow-listed
 * query parameters and the ones the endpoint sets (`set`, which win).
 */
export function upstreamUrl(
  upstream: LlmUpstream,
  provider: LlmProvider,
  path: string,
  requestUrl: string,
  set: Readonly<Record<string, string>> = {},
): string {
  const incoming = queryOf(requestUrl);
  const query = new URLSearchParams();
  for (const name of QUERY_TO_UPSTREAM[provider])
    for (const value of incoming.getAll(name)) query.append(name, value);
  for (const [name, value] of Object.entries(set)) query.set(name, value);
  const rest = query.toString();
  return `${upstream.baseUrl}${path}${rest === '' ? '' : `?${rest}`}`;
}

/** The query parameters of a request URL (empty when it has none). */
export function queryOf(requestUrl: string): URLSearchParams {
  const q = requestUrl.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : requestUrl.slice(q + 1));
}

/** Whether a response is a Server-Sent Events stream. */
export function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream');
}

/** Why a fetch failed, in words a person can act on (the network error's code when there is one). */
export function fetchFailure(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
}
