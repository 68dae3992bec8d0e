import { MessagesStreamMeter, messagesBodyUsage } from './anthropic-usage.js';
import { ChatStreamMeter, chatBodyUsage, ResponsesStreamMeter, responsesBodyUsage } from './openai-usage.js';
import { positiveInt } from './request-estimate.js';
import { asObject, type BodyUsage, type StreamMeter } from './usage-meter.js';

/** The providers Warden meters; each has its own upstream, key and error format. */
export const LLM_PROVIDERS = ['openai', 'anthropic'] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];

/** One metered endpoint: how to read its requests and responses. */
export interface LlmEndpoint {
  readonly provider: LlmProvider;
  /** `args.endpoint` of the call Warden decides: the official SDK's method name. */
  readonly name: 'chat.completions' | 'responses' | 'messages';
  /** The path after `/llm/<provider>`, which is also the path at the upstream. */
  readonly path: string;
  /** The request's own cap on output tokens; undefined when it sets none. */
  maxOutputTokens(body: Readonly<Record<string, unknown>>): number | undefined;
  /** How many answers the request asks for. */
  completions(body: Readonly<Record<string, unknown>>): number;
  /** The body sent upstream: the client's, plus what metering needs. */
  upstreamBody(body: Readonly<Record<string, unknown>>): Record<string, unknown>;
  /** A meter for one streamed response to `body`. */
  streamMeter(body: Readonly<Record<string, unknown>>): StreamMeter;
  /** The usage in a whole (not streamed) response body. */
  bodyUsage(json: unknown): BodyUsage;
}

const one = () => 1;
const unchanged = (body: Readonly<Record<string, unknown>>) => ({ ...body });

/** OpenAI Chat Completions; a streamed request is made to report its usage in a last chunk. */
const chatCompletions: LlmEndpoint = {
  provider: 'openai',
  name: 'chat.completions',
  path: '/v1/chat/completions',
  maxOutputTokens: (b) => positiveInt(b.max_completion_tokens) ?? positiveInt(b.max_tokens),
  completions: (b) => positiveInt(b.n) ?? 1,
  upstreamBody: (b) =>
    b.stream === true
      ? { ...b, stream_options: { ...asObject(b.stream_options), include_usage: true } }
      : { ...b },
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
  upstreamBody: unchanged,
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
  upstreamBody: unchanged,
  streamMeter: () => new MessagesStreamMeter(),
  bodyUsage: messagesBodyUsage,
};

/** Every metered endpoint. */
export const LLM_ENDPOINTS: readonly LlmEndpoint[] = [chatCompletions, responses, messages];
