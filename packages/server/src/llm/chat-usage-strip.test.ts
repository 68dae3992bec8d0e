import { describe, expect, it } from 'vitest';
import { withoutNullUsage } from './chat-usage-strip.js';
import type { SseEvent } from './sse-parser.js';

const event = (raw: string): SseEvent => ({ event: undefined, data: raw.slice(6).trim(), raw });

describe('withoutNullUsage', () => {
  it('cuts the member out of the text, leaving every other byte (spacing, escapes, CRLF) as it was', () => {
    const raw =
      'data: {"id":"c1", "choices":[{"delta":{"content":"caf\\u00e9 1.0"}}], "usage": null}\r\n\r\n';
    const chunk = JSON.parse(raw.slice(6)) as Record<string, unknown>;
    expect(withoutNullUsage(event(raw), chunk)).toBe(
      'data: {"id":"c1", "choices":[{"delta":{"content":"caf\\u00e9 1.0"}}]}\r\n\r\n',
    );
    const first = 'data: {"usage":null,"id":"c2","choices":[]}\n\n';
    expect(withoutNullUsage(event(first), JSON.parse(first.slice(6)))).toBe(
      'data: {"id":"c2","choices":[]}\n\n',
    );
  });

  it('leaves a "usage":null inside generated text alone and cuts the chunk’s own', () => {
    const text = 'data: {"choices":[{"delta":{"content":"x,\\"usage\\":null"}}],"usage":null}\n\n';
    expect(withoutNullUsage(event(text), JSON.parse(text.slice(6)))).toBe(
      'data: {"choices":[{"delta":{"content":"x,\\"usage\\":null"}}]}\n\n',
    );
    const nested = 'data: {"choices":[{"x":{"a":1,"usage":null}}],"usage":null}\n\n';
    expect(withoutNullUsage(event(nested), JSON.parse(nested.slice(6)))).toBe(
      'data: {"choices":[{"x":{"a":1,"usage":null}}]}\n\n',
    );
  });

  it('writes the chunk again without its usage when no cut leaves exactly that (data split over lines)', () => {
    const split: SseEvent = {
      event: undefined,
      data: '{"id":"c3",\n"usage":null}',
      raw: 'data: {"id":"c3",\ndata: "usage":null}\n\n',
    };
    expect(withoutNullUsage(split, { id: 'c3', usage: null })).toBe('data: {"id":"c3"}\n\n');
  });
});
