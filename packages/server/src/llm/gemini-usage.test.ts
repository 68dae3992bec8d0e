import { describe, expect, it } from 'vitest';
import { GeminiStreamMeter, geminiBodyUsage, geminiUsage } from './gemini-usage.js';
import { GEMINI_PATH, geminiEndpoint } from './llm-endpoints.js';
import { SseParser } from './sse-parser.js';
import { upstreamUrl } from './upstream-request.js';

describe('geminiUsage', () => {
  it('counts thoughts as output and tool-use prompt as input; cached tokens are part of the prompt', () => {
    expect(
      geminiUsage({
        promptTokenCount: 100,
        cachedContentTokenCount: 60,
        candidatesTokenCount: 20,
        thoughtsTokenCount: 30,
        toolUsePromptTokenCount: 7,
        totalTokenCount: 157,
      }),
    ).toEqual({ inputTokens: 107, outputTokens: 50, cachedTokens: 60 });
    expect(geminiUsage({ promptTokenCount: 5, totalTokenCount: 5 })).toEqual({ inputTokens: 5 });
    expect(geminiUsage({ totalTokenCount: 5 })).toBeUndefined();
    expect(geminiUsage(undefined)).toBeUndefined();
  });

  it('reads a whole response: usage, model version and what was generated', () => {
    expect(
      geminiBodyUsage({
        candidates: [
          {
            content: {
              role: 'model',
              parts: [{ text: 'abcd' }, { functionCall: { name: 'f', args: { a: 1 } } }],
            },
          },
        ],
        usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2 },
        modelVersion: 'gemini-2.5-flash-001',
      }),
    ).toEqual({
      usage: { inputTokens: 3, outputTokens: 2 },
      generatedChars: 4 + 1 + JSON.stringify({ a: 1 }).length,
      model: 'gemini-2.5-flash-001',
    });
  });
});

describe('geminiBodyUsage of a JSON-array stream (an upstream that ignored alt=sse)', () => {
  it('reads it as the stream: the finished chunk’s usage, what every chunk generated', () => {
    const chunk = (text: string, usage: Record<string, number>, finishReason?: string) => ({
      candidates: [{ content: { parts: [{ text }] }, ...(finishReason ? { finishReason } : {}) }],
      usageMetadata: usage,
      modelVersion: 'gemini-2.5-flash-001',
    });
    const body = [
      chunk('Hello ', { promptTokenCount: 10 }),
      chunk('world', { promptTokenCount: 10, candidatesTokenCount: 3 }, 'STOP'),
    ];
    expect(geminiBodyUsage(body)).toEqual({
      usage: { inputTokens: 10, outputTokens: 3 },
      generatedChars: 11,
      model: 'gemini-2.5-flash-001',
    });
    // Cut before a finished chunk: no usage to trust, only what was generated.
    expect(geminiBodyUsage(body.slice(0, 1))).toMatchObject({ usage: undefined, generatedChars: 6 });
  });
});

describe('upstreamUrl', () => {
  const up = { baseUrl: 'https://up.example', apiKey: 'k' } as never;
  it('passes only the allow-listed query on, never a key, and what the endpoint sets wins', () => {
    expect(upstreamUrl(up, 'gemini', '/v1beta/m:x', '/llm/gemini/v1beta/m:x?key=wk&alt=json&foo=1')).toBe(
      'https://up.example/v1beta/m:x',
    );
    expect(upstreamUrl(up, 'gemini', '/v1beta/m:x', '/v1beta/m:x?alt=json&key=wk', { alt: 'sse' })).toBe(
      'https://up.example/v1beta/m:x?alt=sse',
    );
    expect(upstreamUrl(up, 'anthropic', '/v1/messages', '/llm/anthropic/v1/messages?beta=true&key=x')).toBe(
      'https://up.example/v1/messages?beta=true',
    );
    expect(upstreamUrl(up, 'openai', '/v1/responses', '/llm/openai/v1/responses?x=1')).toBe(
      'https://up.example/v1/responses',
    );
  });
});

describe('GeminiStreamMeter', () => {
  const feed = (text: string) => {
    const meter = new GeminiStreamMeter();
    const relayed = new SseParser().push(text).map((e) => meter.take(e));
    return { meter, relayed };
  };
  const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\r\n\r\n`;

  it('takes the last chunk’s usage as final once a candidate finished, relaying every event unchanged', () => {
    const events = [
      chunk({
        candidates: [{ content: { role: 'model', parts: [{ text: 'Hel' }] } }],
        usageMetadata: { promptTokenCount: 40, totalTokenCount: 40 },
        modelVersion: 'gemini-2.5-flash',
      }),
      chunk({
        candidates: [{ content: { role: 'model', parts: [{ text: 'lo' }] }, finishReason: 'STOP' }],
        usageMetadata: {
          promptTokenCount: 40,
          candidatesTokenCount: 12,
          thoughtsTokenCount: 5,
          totalTokenCount: 57,
        },
      }),
    ];
    const { meter, relayed } = feed(events.join(''));
    expect(relayed).toEqual(events);
    expect(meter).toMatchObject({
      usage: { inputTokens: 40, outputTokens: 17 },
      final: true,
      generatedChars: 5,
      model: 'gemini-2.5-flash',
      failure: undefined,
    });
  });

  it('is not final when the stream stopped before a finished chunk, and reports an error event', () => {
    const cut = feed(
      chunk({
        candidates: [{ content: { parts: [{ text: 'x' }] } }],
        usageMetadata: { promptTokenCount: 9 },
      }),
    );
    expect(cut.meter.final).toBe(false);
    expect(cut.meter.usage).toEqual({ inputTokens: 9 });
    const failed = feed(chunk({ error: { code: 500, message: 'Internal error', status: 'INTERNAL' } }));
    expect(failed.meter.failure).toBe('Internal error');
  });
});

describe('geminiEndpoint', () => {
  it('takes the model and method from the path, and caps an uncapped request', () => {
    const e = geminiEndpoint('/v1beta/models/gemini-2.5-pro:streamGenerateContent');
    expect(e).toMatchObject({
      provider: 'gemini',
      name: 'streamGenerateContent',
      pathModel: 'gemini-2.5-pro',
      streams: true,
    });
    expect(e?.upstreamBody({ contents: [], generationConfig: { temperature: 1 } }, 500)).toEqual({
      contents: [],
      generationConfig: { temperature: 1, maxOutputTokens: 500 },
    });
    expect(e?.maxOutputTokens({ generationConfig: { maxOutputTokens: 64 } })).toBe(64);
    expect(e?.completions({ generationConfig: { candidateCount: 2 } })).toBe(2);
    expect(geminiEndpoint('/v1/models/gemini-2.5-flash:generateContent')?.streams).toBe(false);
  });

  it('asks upstream for SSE on the stream method only, refuses its JSON-array form, and bills no countTokens', () => {
    const stream = geminiEndpoint('/v1beta/models/gemini-2.5-flash:streamGenerateContent');
    expect(stream?.upstreamQuery).toEqual({ alt: 'sse' });
    expect(stream?.refuseQuery?.('/x:streamGenerateContent?alt=sse')).toBeUndefined();
    expect(stream?.refuseQuery?.('/x:streamGenerateContent')).toMatchObject({
      status: 400,
      code: 'LLM_STREAM_FORMAT_UNSUPPORTED',
    });
    const whole = geminiEndpoint('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(whole?.upstreamQuery).toBeUndefined();
    expect(whole?.refuseQuery).toBeUndefined();
    const count = geminiEndpoint('/v1beta/models/gemini-2.5-pro:countTokens');
    expect(count).toMatchObject({
      name: 'countTokens',
      pathModel: 'gemini-2.5-pro',
      unbilled: true,
      streams: false,
    });
    expect(count?.upstreamBody({ contents: [] }, 1000)).toEqual({ contents: [] });
    expect(count?.bodyUsage({ totalTokens: 40 }).usage).toEqual({ inputTokens: 0, outputTokens: 0 });
  });

  it.each([
    '/v1beta/models/gemini-2.5-pro:embedContent',
    '/v1beta/tunedModels/x:generateContent',
    '/v1beta/models/../x:generateContent',
  ])('meters no other path (%s)', (path) => {
    expect(geminiEndpoint(path)).toBeUndefined();
  });

  it('names the model in at most 200 safe characters', () => {
    expect(GEMINI_PATH.test(`/v1beta/models/${'a'.repeat(201)}:generateContent`)).toBe(false);
  });
});
