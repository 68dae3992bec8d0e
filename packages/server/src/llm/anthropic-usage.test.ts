import { describe, expect, it } from 'vitest';
import { MessagesStreamMeter, messagesBodyUsage, messagesUsage } from './anthropic-usage.js';
import type { SseEvent } from './sse-parser.js';

const ev = (type: string, fields: Record<string, unknown> = {}): SseEvent => ({
  event: type,
  data: JSON.stringify({ type, ...fields }),
  raw: '',
});

describe('messagesUsage', () => {
  it('counts cache reads and writes as input, with the reads as cached tokens', () => {
    expect(
      messagesUsage({
        input_tokens: 25,
        cache_creation_input_tokens: 3,
        cache_read_input_tokens: 10,
        output_tokens: 15,
      }),
    ).toEqual({ inputTokens: 38, outputTokens: 15, cachedTokens: 10 });
    expect(messagesUsage({ input_tokens: 5, output_tokens: 1, cache_read_input_tokens: null })).toEqual({
      inputTokens: 5,
      outputTokens: 1,
    });
    expect(messagesUsage({ output_tokens: 4 })).toEqual({ outputTokens: 4 });
    expect(messagesUsage({})).toBeUndefined();
  });

  it('reads a whole message: usage, model, text and tool input as generated', () => {
    expect(
      messagesBodyUsage({
        model: 'claude-haiku-4-5-20251001',
        content: [
          { type: 'text', text: 'Hi' },
          { type: 'tool_use', id: 't', name: 'get', input: { a: 1 } },
        ],
        usage: { input_tokens: 9, output_tokens: 2 },
      }),
    ).toEqual({
      usage: { inputTokens: 9, outputTokens: 2 },
      generatedChars: 2 + '{"a":1}'.length,
      model: 'claude-haiku-4-5-20251001',
    });
  });
});

describe('MessagesStreamMeter', () => {
  it('merges message_start and message_delta usage; final once message_delta reports it', () => {
    const meter = new MessagesStreamMeter();
    meter.take(
      ev('message_start', {
        message: {
          model: 'claude-haiku-4-5-20251001',
          usage: {
            input_tokens: 20,
            cache_read_input_tokens: 5,
            cache_creation_input_tokens: 0,
            output_tokens: 1,
          },
        },
      }),
    );
    expect(meter).toMatchObject({
      final: false,
      usage: { inputTokens: 25, outputTokens: 1, cachedTokens: 5 },
    });
    meter.take(ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
    meter.take(ev('ping'));
    meter.take(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello' } }));
    meter.take(
      ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"q"' } }),
    );
    meter.take(ev('content_block_delta', { index: 2, delta: { type: 'thinking_delta', thinking: 'hm' } }));
    meter.take(ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 12 } }));
    meter.take(ev('message_stop'));
    expect(meter).toMatchObject({
      final: true,
      model: 'claude-haiku-4-5-20251001',
      generatedChars: 5 + 4 + 2,
      usage: { inputTokens: 25, outputTokens: 12, cachedTokens: 5 },
      failure: undefined,
    });
  });

  it('takes input counts repeated in message_delta (newer API versions) over the provisional ones', () => {
    const meter = new MessagesStreamMeter();
    meter.take(ev('message_start', { message: { usage: { input_tokens: 20, output_tokens: 1 } } }));
    meter.take(
      ev('message_delta', { usage: { input_tokens: 22, cache_read_input_tokens: 4, output_tokens: 30 } }),
    );
    expect(meter.usage).toEqual({ inputTokens: 26, outputTokens: 30, cachedTokens: 4 });
  });

  it('notes an error event, and stays provisional without message_delta', () => {
    const meter = new MessagesStreamMeter();
    meter.take(ev('message_start', { message: { usage: { input_tokens: 20, output_tokens: 1 } } }));
    meter.take(ev('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }));
    expect(meter).toMatchObject({
      final: false,
      failure: 'Overloaded',
      usage: { inputTokens: 20, outputTokens: 1 },
    });
  });
});
