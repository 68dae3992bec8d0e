import { describe, expect, it } from 'vitest';
import {
  ChatStreamMeter,
  chatBodyUsage,
  chatUsage,
  ResponsesStreamMeter,
  responsesBodyUsage,
  responsesUsage,
} from './openai-usage.js';
import type { SseEvent } from './sse-parser.js';

const data = (v: unknown, event?: string): SseEvent => ({
  event,
  data: JSON.stringify(v),
  raw: `data: ${JSON.stringify(v)}\n\n`,
});
const chunk = (choices: unknown[], usage?: unknown) =>
  data({ object: 'chat.completion.chunk', model: 'gpt-4o-2024-08-06', choices, usage });

describe('chatUsage and responsesUsage', () => {
  it('read prompt/completion and input/output tokens with the cached part', () => {
    expect(
      chatUsage({ prompt_tokens: 100, completion_tokens: 20, prompt_tokens_details: { cached_tokens: 64 } }),
    ).toEqual({ inputTokens: 100, outputTokens: 20, cachedTokens: 64 });
    expect(
      responsesUsage({ input_tokens: 50, output_tokens: 5, input_tokens_details: { cached_tokens: 0 } }),
    ).toEqual({ inputTokens: 50, outputTokens: 5, cachedTokens: 0 });
    expect(chatUsage({ prompt_tokens: 3, completion_tokens: 1 })).toEqual({
      inputTokens: 3,
      outputTokens: 1,
    });
  });

  it('ignore missing usage and counts that are not counts', () => {
    expect(chatUsage(null)).toBeUndefined();
    expect(chatUsage({ total_tokens: 9 })).toBeUndefined();
    expect(responsesUsage({ input_tokens: -1, output_tokens: 'x' })).toBeUndefined();
    expect(chatUsage({ prompt_tokens: 2.7, completion_tokens: Number.NaN })).toEqual({ inputTokens: 2 });
  });
});

describe('whole responses', () => {
  it('carry their usage, model and the generated characters', () => {
    const chat = chatBodyUsage({
      model: 'gpt-4o-2024-08-06',
      choices: [
        { message: { role: 'assistant', content: 'Hello' } },
        { message: { tool_calls: [{ function: { name: 'f', arguments: '{"x":1}' } }] } },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 4 },
    });
    expect(chat).toEqual({
      usage: { inputTokens: 10, outputTokens: 4 },
      generatedChars: 5 + 7,
      model: 'gpt-4o-2024-08-06',
    });
    const responses = responsesBodyUsage({
      model: 'gpt-4.1',
      output: [{ type: 'message', content: [{ type: 'output_text', text: 'Hi there' }] }],
    });
    expect(responses).toEqual({ usage: undefined, generatedChars: 8, model: 'gpt-4.1' });
  });
});

describe('ChatStreamMeter', () => {
  it('takes the usage, and holds back from a client that did not ask for it the usage chunk and usage: null', () => {
    const meter = new ChatStreamMeter(false);
    const first = [{ index: 0, delta: { role: 'assistant', content: 'Hel' } }];
    expect(meter.take(chunk(first, null))).toBe(chunk(first).raw);
    expect(meter.take(chunk([{ index: 0, delta: { content: 'lo' } }], null))).toBe(
      chunk([{ index: 0, delta: { content: 'lo' } }]).raw,
    );
    expect(meter.final).toBe(false);
    const usage = { prompt_tokens: 9, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 0 } };
    expect(meter.take(chunk([], usage))).toBeUndefined();
    expect(meter.take({ event: undefined, data: '[DONE]', raw: 'data: [DONE]\n\n' })).toBe(
      'data: [DONE]\n\n',
    );
    expect(meter).toMatchObject({
      final: true,
      usage: { inputTokens: 9, outputTokens: 2, cachedTokens: 0 },
      generatedChars: 5,
      model: 'gpt-4o-2024-08-06',
      failure: undefined,
    });
  });

  it('relays the usage chunk to a client that asked for it', () => {
    const meter = new ChatStreamMeter(true);
    const withNull = chunk([{ index: 0, delta: { content: 'x' } }], null);
    expect(meter.take(withNull)).toBe(withNull.raw);
    const last = chunk([], { prompt_tokens: 1, completion_tokens: 1 });
    expect(meter.take(last)).toBe(last.raw);
    expect(meter.final).toBe(true);
  });

  it('counts tool-call names and arguments, refusals and legacy function calls as generated', () => {
    const meter = new ChatStreamMeter(false);
    meter.take(
      chunk([{ delta: { tool_calls: [{ index: 0, function: { name: 'get', arguments: '{"a"' } }] } }]),
    );
    meter.take(chunk([{ delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] } }]));
    meter.take(chunk([{ delta: { refusal: 'No.' } }, { delta: { function_call: { arguments: 'xy' } } }]));
    expect(meter.generatedChars).toBe(3 + 4 + 3 + 3 + 2);
  });

  it('notes an error chunk', () => {
    const meter = new ChatStreamMeter(false);
    meter.take(data({ error: { message: 'overloaded' } }));
    expect(meter.failure).toBe('overloaded');
  });
});

describe('ResponsesStreamMeter', () => {
  it('counts every delta and takes the usage of response.completed', () => {
    const meter = new ResponsesStreamMeter();
    const ev = (type: string, fields: Record<string, unknown> = {}) =>
      meter.take(data({ type, ...fields }, type));
    ev('response.created', { response: { model: 'gpt-4.1-2025-04-14', usage: null } });
    ev('response.output_text.delta', { delta: 'Hello' });
    ev('response.function_call_arguments.delta', { delta: '{}' });
    ev('response.reasoning_summary_text.delta', { delta: 'hmm' });
    ev('response.output_text.done', { text: 'Hello' });
    expect(meter).toMatchObject({ final: false, generatedChars: 10, model: 'gpt-4.1-2025-04-14' });
    ev('response.completed', { response: { usage: { input_tokens: 7, output_tokens: 3 } } });
    expect(meter).toMatchObject({
      final: true,
      usage: { inputTokens: 7, outputTokens: 3 },
      failure: undefined,
    });
  });

  it('takes the usage of a failed or incomplete response and notes the failure', () => {
    const failed = new ResponsesStreamMeter();
    failed.take(
      data({
        type: 'response.failed',
        response: { error: { message: 'server error' }, usage: { input_tokens: 7, output_tokens: 0 } },
      }),
    );
    expect(failed).toMatchObject({ final: true, failure: 'server error', usage: { inputTokens: 7 } });
    const incomplete = new ResponsesStreamMeter();
    incomplete.take(
      data({ type: 'response.incomplete', response: { usage: { input_tokens: 1, output_tokens: 9 } } }),
    );
    expect(incomplete).toMatchObject({ final: true, failure: undefined, usage: { outputTokens: 9 } });
  });
});
