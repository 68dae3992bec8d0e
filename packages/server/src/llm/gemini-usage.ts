import { eventJson, type SseEvent } from './sse-parser.js';
import {
  asObject,
  type BodyUsage,
  definedUsage,
  objectAt,
  type ReportedUsage,
  type StreamMeter,
  stringAt,
  tokenCount,
} from './usage-meter.js';

/**
 * Gemini API usage (`usageMetadata`), normalised. `promptTokenCount` already includes the cached
 * tokens (`cachedContentTokenCount`) and `toolUsePromptTokenCount` is prompt the model read from its own
 * tool use: both are input. Thinking (`thoughtsTokenCount`) is billed as output, beside the candidates.
 */
export function geminiUsage(usageMetadata: unknown): ReportedUsage | undefined {
  const u = asObject(usageMetadata);
  const prompt = tokenCount(u?.promptTokenCount);
  const candidates = tokenCount(u?.candidatesTokenCount);
  const thoughts = tokenCount(u?.thoughtsTokenCount);
  if (prompt === undefined && candidates === undefined && thoughts === undefined) return undefined;
  const toolPrompt = tokenCount(u?.toolUsePromptTokenCount);
  return definedUsage({
    inputTokens: prompt === undefined ? undefined : prompt + (toolPrompt ?? 0),
    outputTokens:
      candidates === undefined && thoughts === undefined ? undefined : (candidates ?? 0) + (thoughts ?? 0),
    cachedTokens: tokenCount(u?.cachedContentTokenCount),
  });
}

/** Characters the model generated in one GenerateContentResponse: text (thoughts too) and call arguments. */
function generated(response: unknown): number {
  const candidates = asObject(response)?.candidates;
  if (!Array.isArray(candidates)) return 0;
  let n = 0;
  for (const c of candidates) {
    const parts = objectAt(c, 'content')?.parts;
    if (!Array.isArray(parts)) continue;
    for (const p of parts) {
      n += stringAt(p, 'text')?.length ?? 0;
      const call = objectAt(p, 'functionCall');
      if (call) n += JSON.stringify(call.args ?? {}).length + (stringAt(call, 'name')?.length ?? 0);
    }
  }
  return n;
}

/** Whether a response chunk ends its candidate (the stream's last chunk carries a finishReason). */
function finished(response: unknown): boolean {
  const candidates = asObject(response)?.candidates;
  return Array.isArray(candidates) && candidates.some((c) => stringAt(c, 'finishReason') !== undefined);
}

/**
 * The usage in a whole generateContent response body. A JSON array of responses (the stream's form
 * without `alt=sse`, which Warden does not ask for; an upstream that ignored it) is read like the stream:
 * the last usage reported, and what every chunk generated.
 */
export function geminiBodyUsage(body: unknown): BodyUsage {
  if (Array.isArray(body)) {
    const meter = new GeminiStreamMeter();
    for (const chunk of body) meter.take({ event: undefined, data: JSON.stringify(chunk), raw: '' });
    return {
      usage: meter.final ? meter.usage : undefined,
      generatedChars: meter.generatedChars,
      model: meter.model,
    };
  }
  return {
    usage: geminiUsage(objectAt(body, 'usageMetadata')),
    generatedChars: generated(body),
    model: stringAt(body, 'modelVersion'),
  };
}

/**
 * Meters a streamGenerateContent stream (`alt=sse`: each `data:` is a GenerateContentResponse). Every
 * chunk repeats `usageMetadata` with the counts so far; the last one, with the finishReason, has the
 * candidates' and thoughts' totals. The usage is final once a chunk that finished reported usage.
 */
export class GeminiStreamMeter implements StreamMeter {
  usage: ReportedUsage | undefined;
  final = false;
  generatedChars = 0;
  model: string | undefined;
  failure: string | undefined;

  take(event: SseEvent): string | undefined {
    const e = eventJson(event);
    const error = objectAt(e, 'error');
    if (error) {
      this.failure = stringAt(error, 'message') ?? 'the upstream reported an error';
      return event.raw;
    }
    this.model ??= stringAt(e, 'modelVersion');
    this.generatedChars += generated(e);
    const usage = geminiUsage(objectAt(e, 'usageMetadata'));
    if (usage) {
      this.usage = { ...this.usage, ...usage };
      if (finished(e)) this.final = true;
    }
    return event.raw;
  }
}
