import { eventJson, type SseEvent, SseParser } from './sse-parser.js';

/**
 * A Chat Completions chunk's event as the upstream would have sent it without `stream_options.include_usage`
 * (which Warden adds to meter the stream): the `"usage":null` member that option puts on every chunk is cut
 * out of the event's text, so everything else reaches the client byte for byte. Should the cut not leave
 * exactly the chunk without its usage (an unusual layout), the chunk is written again without it.
 */
export function withoutNullUsage(event: SseEvent, chunk: Readonly<Record<string, unknown>>): string {
  const { usage: _added, ...rest } = chunk;
  const wanted = JSON.stringify(rest);
  for (const member of [/,\s*"usage"\s*:\s*null/g, /"usage"\s*:\s*null\s*,/g]) {
    for (const m of event.raw.matchAll(member)) {
      const raw = event.raw.slice(0, m.index) + event.raw.slice(m.index + m[0].length);
      if (JSON.stringify(dataJson(raw)) === wanted) return raw;
    }
  }
  return `${event.event === undefined ? '' : `event: ${event.event}\n`}data: ${wanted}\n\n`;
}

/** The JSON in the data of the one event `raw` holds. */
function dataJson(raw: string): unknown {
  const parser = new SseParser();
  const [event] = [...parser.push(raw), ...parser.end()];
  return event ? eventJson(event) : undefined;
}
