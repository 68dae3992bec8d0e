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

/**
 * Messages API usage, normalised. Anthropic's `input_tokens` leaves out the tokens read from and written
 * to the prompt cache; Warden's input count includes them (as OpenAI's does), with the cache reads as
 * `cachedTokens`, so a price table applies the same arithmetic to both providers.
 */
export function messagesUsage(usage: unknown): ReportedUsage | undefined {
  const u = asObject(usage);
  const input = tokenCount(u?.input_tokens);
  const output = tokenCount(u?.output_tokens);
  if (input === undefined && output === undefined) return undefined;
  const cacheRead = tokenCount(u?.cache_read_input_tokens);
  const cacheWrite = tokenCount(u?.cache_creation_input_tokens);
  return definedUsage({
    inputTokens: input === undefined ? undefined : input + (cacheRead ?? 0) + (cacheWrite ?? 0),
    outputTokens: output,
    cachedTokens: cacheRead,
  });
}

/** The usage in a Messages API response body. */
export function messagesBodyUsage(body: unknown): BodyUsage {
  const content = asObject(body)?.content;
  return {
    usage: messagesUsage(objectAt(body, 'usage')),
    generatedChars: generatedChars({ content }),
    model: stringAt(body, 'model'),
  };
}

/**
 * Meters a streamed message. `message_start` carries the input tokens (and a provisional output count),
 * each `message_delta` the cumulative output so far (newer API versions repeat the input counts there);
 * the figures are merged field by field, and the usage is final once a `message_delta` reported it.
 */
export class MessagesStreamMeter implements StreamMeter {
  usage: ReportedUsage | undefined;
  final = false;
  generatedChars = 0;
  model: string | undefined;
  failure: string | undefined;
  #raw: Record<string, unknown> = {};

  take(event: SseEvent): string | undefined {
    const e = eventJson(event);
    switch (stringAt(e, 'type') ?? event.event) {
      case 'message_start': {
        const message = objectAt(e, 'message');
        this.model ??= stringAt(message, 'model');
        this.#merge(objectAt(message, 'usage'));
        break;
      }
      case 'content_block_delta': {
        const delta = objectAt(e, 'delta');
        for (const key of ['text', 'partial_json', 'thinking']) {
          this.generatedChars += stringAt(delta, key)?.length ?? 0;
        }
        break;
      }
      case 'message_delta':
        if (this.#merge(objectAt(e, 'usage'))) this.final = true;
        break;
      case 'error':
        this.failure = stringAt(objectAt(e, 'error'), 'message') ?? 'the upstream reported an error';
        break;
    }
    return event.raw;
  }

  /** Takes the non-null fields of a usage object; true when there were any. */
  #merge(usage: Record<string, unknown> | undefined): boolean {
    if (!usage) return false;
    const fields = Object.entries(usage).filter(([, v]) => v !== null && v !== undefined);
    this.#raw = { ...this.#raw, ...Object.fromEntries(fields) };
    this.usage = messagesUsage(this.#raw);
    return fields.length > 0;
  }
}
