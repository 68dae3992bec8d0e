import { describe, expect, it } from 'vitest';
import { eventJson, type SseEvent, SseParser } from './sse-parser.js';

const STREAM =
  'event: message_start\ndata: {"type":"message_start"}\n\n' +
  ': a comment\n\n' +
  'data: {"a":1}\r\n\r\n' +
  'data: line one\ndata: line two\n\n' +
  'event:ping\rdata:{}\r\r' +
  'data: [DONE]\n\n';

function parseAll(chunks: readonly string[]): SseEvent[] {
  const parser = new SseParser();
  return [...chunks.flatMap((c) => parser.push(c)), ...parser.end()];
}

describe('SseParser', () => {
  it('reads names, data, multi-line data and every line ending', () => {
    const events = parseAll([STREAM]);
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ['message_start', '{"type":"message_start"}'],
      [undefined, ''],
      [undefined, '{"a":1}'],
      [undefined, 'line one\nline two'],
      ['ping', '{}'],
      [undefined, '[DONE]'],
    ]);
  });

  it('keeps each event’s exact text, so relaying the events relays the stream', () => {
    expect(
      parseAll([STREAM])
        .map((e) => e.raw)
        .join(''),
    ).toBe(STREAM);
  });

  it('gives the same events whatever the chunk boundaries, a CRLF split in two included', () => {
    const whole = parseAll([STREAM]);
    expect(parseAll([...STREAM])).toEqual(whole);
    for (let cut = 1; cut < STREAM.length; cut += 7) {
      expect(parseAll([STREAM.slice(0, cut), STREAM.slice(cut)])).toEqual(whole);
    }
    const crlf = 'data: x\r\n\r\n';
    const parser = new SseParser();
    expect(parser.push('data: x\r')).toEqual([]);
    expect(parser.push('\n\r')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: undefined, data: 'x', raw: crlf }]);
  });

  it('emits an event only once its blank line arrives, and the unterminated rest at the end', () => {
    const parser = new SseParser();
    expect(parser.push('data: {"partial": tr')).toEqual([]);
    expect(parser.push('ue}\n')).toEqual([]);
    expect(parser.end()).toEqual([
      { event: undefined, data: '{"partial": true}', raw: 'data: {"partial": true}\n' },
    ]);
    expect(parser.end()).toEqual([]);
  });
});

describe('eventJson', () => {
  const event = (data: string): SseEvent => ({ event: undefined, data, raw: '' });

  it('parses JSON data and ignores [DONE], comments and cut-off JSON', () => {
    expect(eventJson(event('{"a":[1]}'))).toEqual({ a: [1] });
    expect(eventJson(event('[DONE]'))).toBeUndefined();
    expect(eventJson(event(''))).toBeUndefined();
    expect(eventJson(event('{"a":'))).toBeUndefined();
  });
});
