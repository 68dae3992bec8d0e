import { withoutNullUsage } from './chat-usage-strip.js';
import { eventJson, type SseEvent } from './sse-parser.js';
import {
  asObject,
  type BodyUsage,
  definedUsage,
  generatedChars,
  objectAt,
  type ReportedUsage,
  type StreamMeter,
  stringAt,
  tokenCount,
} from './usage-meter.js';

/** Chat Completions usage: prompt_tokens already count the cached ones. */
export function chatUsage(usage: unknown): ReportedUsage | undefined {
  const u = asObject(usage);
  const input = tokenCount(u?.prompt_tokens);
  const output = tokenCount(u?.completion_tokens);
  if (input === undefined && output === undefined) return undefined;
  return definedUsage({
    inputTokens: input,
    outputTokens: output,
    cachedTokens: tokenCount(objectAt(usage, 'prompt_tokens_details')?.cached_tokens),
  });
}

/** Responses API usage: input_tokens already count the cached ones. */
export function responsesUsage(usage: unknown): ReportedUsage | undefined {
  const u = asObject(usage);
  const input = tokenCount(u?.input_tokens);
  const output = tokenCount(u?.output_tokens);
  if (input === undefined && output === undefined) return undefined;
  return definedUsage({
    inputTokens: input,
    outputTokens: output,
    cachedTokens: tokenCount(objectAt(usage, 'input_tokens_details')?.cached_tokens),
  });
}

/** The usage in a Chat Completions response body. */
export function chatBodyUsage(body: unknown): BodyUsage {
  const choices = (body as { choices?: unknown } | null)?.choices;
  return {
    usage: chatUsage(objectAt(body, 'usage')),
    generatedChars: generatedChars({ choices }),
    model: stringAt(body, 'model'),
  };
}

/** The usage in a Responses API response body. */
export function responsesBodyUsage(body: unknown): BodyUsage {
  const output = (body as { output?: unknown } | null)?.output;
  return {
    usage: responsesUsage(objectAt(body, 'usage')),
    generatedChars: generatedChars({ output }),
    model: stringAt(body, 'model'),
  };
}

/**
 * Meters a streamed Chat Completion. The proxy asks for `stream_options.include_usage`, so the last chunk
 * (empty `choices`) carries the usage; a client that did not ask for it gets neither that chunk nor the
 * `"usage": null` the option adds to every other one, so it sees the stream it would have seen without Warden.
 */
export class ChatStreamMeter implements StreamMeter {
  usage: ReportedUsage | undefined;
  final = false;
  generatedChars = 0;
  model: string | undefined;
  failure: string | undefined;
  readonly #relayUsage: boolean;

  /** `relayUsage`: the client asked for the usage chunk itself. */
  constructor(relayUsage: boolean) {
    this.#relayUsage = relayUsage;
  }

  take(event: SseEvent): string | undefined {
    const chunk = eventJson(event);
    if (typeof chunk !== 'object' || chunk === null) return event.raw;
    this.model ??= stringAt(chunk, 'model');
    const error = objectAt(chunk, 'error');
    if (error) this.failure = stringAt(error, 'message') ?? 'the upstream reported an error';
    const choices = (chunk as { choices?: unknown }).choices;
    if (Array.isArray(choices))
      for (const c of choices) this.generatedChars += deltaChars(objectAt(c, 'delta'));
    const usage = chatUsage(objectAt(chunk, 'usage'));
    if (!usage) {
      // include_usage puts `"usage": null` on every chunk: a client that did not ask gets them without.
      const added = !this.#relayUsage && (chunk as { usage?: unknown }).usage === null;
      return added ? withoutNullUsage(event, chunk as Record<string, unknown>) : event.raw;
    }
    this.usage = usage;
    this.final = true;
    return this.#relayUsage || !Array.isArray(choices) || choices.length > 0 ? event.raw : undefined;
  }
}

/** Characters a chat delta adds: content, refusal, tool-call names and arguments. */
function deltaChars(delta: Record<string, unknown> | undefined): number {
  if (!delta) return 0;
  let n = (stringAt(delta, 'content')?.length ?? 0) + (stringAt(delta, 'refusal')?.length ?? 0);
  const fn = objectAt(delta, 'function_call');
  n += (stringAt(fn, 'name')?.length ?? 0) + (stringAt(fn, 'arguments')?.length ?? 0);
  const calls = delta.tool_calls;
  if (Array.isArray(calls)) {
    for (const call of calls) {
      const f = objectAt(call, 'function');
      n += (stringAt(f, 'name')?.length ?? 0) + (stringAt(f, 'arguments')?.length ?? 0);
    }
  }
  return n;
}

/** Response events that end a streamed response and carry its usage. */
const RESPONSE_ENDS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * Meters a streamed Responses API response: every `*.delta` event adds generated characters (text,
 * refusals, function arguments, reasoning), and the closing event's `response.usage` is the usage.
 */
export class ResponsesStreamMeter implements StreamMeter {
  usage: ReportedUsage | undefined;
  final = false;
  generatedChars = 0;
  model: string | undefined;
  failure: string | undefined;

  take(event: SseEvent): string | undefined {
    const e = eventJson(event);
    const type = stringAt(e, 'type') ?? event.event;
    if (!type) return event.raw;
    const delta = stringAt(e, 'delta');
    if (type.endsWith('.delta') && delta !== undefined) this.generatedChars += delta.length;
    const response = objectAt(e, 'response');
    this.model ??= stringAt(response, 'model');
    if (type === 'error') this.failure = stringAt(e, 'message') ?? 'the upstream reported an error';
    if (type === 'response.failed') {
      this.failure = stringAt(objectAt(response, 'error'), 'message') ?? 'the response failed';
    }
    if (RESPONSE_ENDS.has(type)) {
      const usage = responsesUsage(objectAt(response, 'usage'));
      if (usage) {
        this.usage = usage;
        this.final = true;
      }
    }
    return event.raw;
  }
}
