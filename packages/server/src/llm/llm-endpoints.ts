import { MessagesStreamMeter, messagesBodyUsage } from './anthropic-usage.js';
import { GeminiStreamMeter, geminiBodyUsage } from './gemini-usage.js';
import { ChatStreamMeter, chatBodyUsage, ResponsesStreamMeter, responsesBodyUsage } from './openai-usage.js';
import type { ProxyError } from './provider-errors.js';
import { positiveInt } from './request-estimate.js';
import { queryOf } from './upstream-request.js';
import { asObject, type BodyUsage, type StreamMeter } from './usage-meter.js';

/** The providers Warden meters; each has its own upstream, key and error format. */
export const LLM_PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];

/** One metered endpoint: how to read its requests and responses. */
export interface LlmEndpoint {
  readonly provider: LlmProvider;
  /** `args.endpoint` of the call Warden decides: the official SDK's method name. */
  readonly name:
    | 'chat.completions'
    | 'responses'
    | 'messages'
    | 'generateContent'
    | 'streamGenerateContent'
    | 'countTokens';
  /** The path after `/llm/<provider>`, which is also the path at the upstream. */
  readonly path: string;
  /** The model, when the endpoint names it in its path (Gemini's `models/<model>:…`), not the body. */
  readonly pathModel?: string;
  /** Whether the answer streams, when the endpoint says so (Gemini's method) rather than `body.stream`. */
  readonly streams?: boolean;
  /**
   * Set for a method that generates nothing and is not billed (Gemini's `countTokens`): decided like
   * any call, but nothing is reserved against a budget and it settles with no usage.
   */
  readonly unbilled?: true;
  /** Query parameters the endpoint sets upstream itself (Gemini's stream: `alt=sse`, so it can be metered). */
  readonly upstreamQuery?: Readonly<Record<string, string>>;
  /** Why the request's query cannot be served (before anything is decided), or undefined when it can. */
  refuseQuery?(requestUrl: string): ProxyError | undefined;
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

/** Gemini's methods Warden decides, by the name after the model in the path. */
const GEMINI_METHODS = ['generateContent', 'streamGenerateContent', 'countTokens'] as const;

/** The Gemini API path of a decided method: `/<version>/models/<model>:<method>`. */
export const GEMINI_PATH = /^\/(v1|v1beta|v1alpha)\/models\/([A-Za-z0-9][A-Za-z0-9._-]{0,199}):([A-Za-z]+)$/;

/**
 * A stream asked for without `?alt=sse` is a JSON array (`[{…},{…}]`) streamed as one body: refused,
 * not converted. Every official client (`@google/genai`, which Gemini CLI bundles) asks for SSE, the
 * one form Warden meters chunk by chunk; a converter would be a second framing to get exactly right for
 * clients that do not exist here, and a request forwarded as asked would go unmetered.
 */
function sseRequired(requestUrl: string): ProxyError | undefined {
  const alt = queryOf(requestUrl).get('alt');
  if (alt === 'sse') return undefined;
  return {
    status: 400,
    code: 'LLM_STREAM_FORMAT_UNSUPPORTED',
    message: `Warden meters streamGenerateContent only as Server-Sent Events: add ?alt=sse to the URL (it has ${alt === null ? 'no alt' : `alt=${alt}`}; the JSON-array stream is not served)`,
    retry: false,
  };
}

/** countTokens: nothing generated, nothing billed; its answer (`totalTokens`) is no usage. */
const noUsage = (): BodyUsage => ({
  usage: { inputTokens: 0, outputTokens: 0 },
  generatedChars: 0,
  model: undefined,
});

/**
 * The Gemini API endpoint of a request path (without the query), or undefined when the path is not a
 * method Warden decides. The model is in the path, and so is whether it streams
 * (`streamGenerateContent`, which Warden always asks for as `?alt=sse`). `countTokens` generates
 * nothing and Google does not bill it, but it is a request under the deployment's key: it is decided
 * like any call (a paused session, a kill switch, a rule that blocks the agent or model refuse it) and
 * audited, with nothing reserved.
 */
export function geminiEndpoint(path: string): LlmEndpoint | undefined {
  const m = GEMINI_PATH.exec(path);
  const method = GEMINI_METHODS.find((x) => x === m?.[3]);
  if (!m || !method) return undefined;
  const base = { provider: 'gemini' as const, name: method, path, pathModel: m[2] as string };
  if (method === 'countTokens')
    return {
      ...base,
      streams: false,
      unbilled: true,
      maxOutputTokens: () => undefined,
      completions: one,
      upstreamBody: (b) => ({ ...b }),
      streamMeter: () => new GeminiStreamMeter(),
      bodyUsage: noUsage,
    };
  const cap = (b: Readonly<Record<string, unknown>>) =>
    positiveInt(asObject(b.generationConfig)?.maxOutputTokens);
  const streams = method === 'streamGenerateContent';
  return {
    ...base,
    streams,
    // generateContent gets no `alt`: with `alt=sse` its whole answer would come as an event stream.
    ...(streams ? { upstreamQuery: { alt: 'sse' }, refuseQuery: sseRequired } : {}),
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
