import { MessagesStreamMeter, messagesBodyUsage } from './anthropic-usage.js';
import { GeminiStreamMeter, geminiBodyUsage } from './gemini-usage.js';
import { ChatStreamMeter, chatBodyUsage, ResponsesStreamMeter, responsesBodyUsage } from './openai-usage.js';
import { positiveInt } from './request-estimate.js';
import { asObject, type BodyUsage, type StreamMeter } from './usage-meter.js';

/** The providers Warden meters; each has its own upstream, key and error format. */
export const LLM_PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];

/** One metered endpoint: how to read its requests and responses. */
export interface LlmEndpoint {
  readonly provider: LlmProvider;
  /** `args.endpoint` of the call Warden decides: the official SDK's method name. */
  readonly name: 'chat.completions' | 'responses' | 'messages' | 'generateContent' | 'streamGenerateContent';
  /** The path after `/llm/<provider>`, which is also the path at the upstream. */
  readonly path: string;
  /** The model, when the endpoint names it in its path (Gemini's `models/<model>:…`), not the body. */
  readonly pathModel?: string;
  /** Whether the answer streams, when the endpoint says so (Gemini's method) rather than `body.stream`. */
  readonly streams?: boolean;
  /** The request's own cap on output tokens; undefined when it sets none. */
  maxOutputTokens(body: Readonly<Record<string, unknown>>): number | undefined;
  /** How many answers the request asks for. */
  completions(body: Readonly<Record<string, unknown>>): number;
  /**
   * The body sent upstream: the client's, plus what metering needs. `outputCap` is the cap reserved for;
   * a request that sets none gets it, so the provider cannot generate more than was reserved.
   */
  upstreamBody(body: Readonly<Record<string, unknown>>, outputCap: number): Record<string, unknown>;
  /** A meter for one streamed response to `body`. */
  streamMeter(body: Readonly<Record<string, unknown>>): StreamMeter;
  /** The usage in a whole (not streamed) response body. */
  bodyUsage(json: unknown): BodyUsage;
}

const one = () => 1;

/**
 * `body` with `cap` in `field` when `own` (the request's cap) is undefined: a missing, null (no limit)
 * or malformed cap is replaced, and `stale` fields that would also cap (or conflict) are dropped.
 */
function capped(
  body: Readonly<Record<string, unknown>>,
  own: number | undefined,
  field: string,
  cap: number,
  stale: readonly string[] = [],
): Record<string, unknown> {
  if (own !== undefined) return { ...body };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!stale.includes(k)) out[k] = v;
  out[field] = cap;
  return out;
}

const chatCap = (b: Readonly<Record<string, unknown>>) =>
  positiveInt(b.max_completion_tokens) ?? positiveInt(b.max_tokens);

/** OpenAI Chat Completions; a streamed request is made to report its usage in a last chunk. */
const chatCompletions: LlmEndpoint = {
  provider: 'openai',
  name: 'chat.completions',
  path: '/v1/chat/completions',
  maxOutputTokens: chatCap,
  completions: (b) => positiveInt(b.n) ?? 1,
  upstreamBody: (b, cap) => {
    // max_tokens is the deprecated spelling, refused by reasoning models: the cap goes in the new one.
    const own = chatCap(b);
    const out = capped(b, own, 'max_completion_tokens', cap, ['max_tokens']);
    // With both set, only the one reserved for goes upstream: the provider must not go by the other.
    if (own !== undefined)
      delete out[positiveInt(b.max_completion_tokens) ? 'max_tokens' : 'max_completion_tokens'];
    if (b.stream === true) out.stream_options = { ...asObject(b.stream_options), include_usage: true };
    return out;
  },
  streamMeter: (b) => new ChatStreamMeter(asObject(b.stream_options)?.include_usage === true),
  bodyUsage: chatBodyUsage,
};

/** OpenAI Responses: a stream always ends with `response.completed` and its usage. */
const responses: LlmEndpoint = {
  provider: 'openai',
  name: 'responses',
  path: '/v1/responses',
  maxOutputTokens: (b) => positiveInt(b.max_output_tokens),
  completions: one,
  upstreamBody: (b, cap) => capped(b, positiveInt(b.max_output_tokens), 'max_output_tokens', cap),
  streamMeter: () => new ResponsesStreamMeter(),
  bodyUsage: responsesBodyUsage,
};

/** Anthropic Messages: a stream always reports usage in `message_start` and `message_delta`. */
const messages: LlmEndpoint = {
  provider: 'anthropic',
  name: 'messages',
  path: '/v1/messages',
  maxOutputTokens: (b) => positiveInt(b.max_tokens),
  completions: one,
  // Anthropic requires max_tokens: a request without it gets the reserved cap instead of a 400.
  upstreamBody: (b, cap) => capped(b, positiveInt(b.max_tokens), 'max_tokens', cap),
  streamMeter: () => new MessagesStreamMeter(),
  bodyUsage: messagesBodyUsage,
};

/** Every metered endpoint. */
export const LLM_ENDPOINTS: readonly LlmEndpoint[] = [chatCompletions, responses, messages];

/** Gemini's methods Warden meters, by the name after the model in the path. */
const GEMINI_METHODS = ['generateContent', 'streamGenerateContent'] as const;

/** The Gemini API path of a metered method: `/<version>/models/<model>:<method>`. */
export const GEMINI_PATH = /^\/(v1|v1beta|v1alpha)\/models\/([A-Za-z0-9][A-Za-z0-9._-]{0,199}):([A-Za-z]+)$/;

/**
 * The Gemini API endpoint of a request path (without the query), or undefined when the path is not a
 * metered method. The model is in the path, and so is whether it streams (`streamGenerateContent`,
 * asked as `?alt=sse`, which is passed on as the client sent it).
 */
export function geminiEndpoint(path: string): LlmEndpoint | undefined {
  const m = GEMINI_PATH.exec(path);
  const method = GEMINI_METHODS.find((x) => x === m?.[3]);
  if (!m || !method) return undefined;
  const cap = (b: Readonly<Record<string, unknown>>) =>
    positiveInt(asObject(b.generationConfig)?.maxOutputTokens);
  return {
    provider: 'gemini',
    name: method,
    path,
    pathModel: m[2] as string,
    streams: method === 'streamGenerateContent',
    maxOutputTokens: cap,
    completions: (b) => positiveInt(asObject(b.generationConfig)?.candidateCount) ?? 1,
    upstreamBody: (b, outputCap) =>
      cap(b) !== undefined
        ? { ...b }
        : { ...b, generationConfig: { ...asObject(b.generationConfig), maxOutputTokens: outputCap } },
    streamMeter: () => new GeminiStreamMeter(),
    bodyUsage: geminiBodyUsage,
  };
}
