/** One Server-Sent Event as the upstream sent it. */
export interface SseEvent {
  /** The `event:` name; undefined for unnamed events (OpenAI chat chunks). */
  readonly event: string | undefined;
  /** The `data:` lines joined with newlines; empty for comment-only events. */
  readonly data: string;
  /** The event's exact text, blank line included, so the relay passes it on unchanged. */
  readonly raw: string;
}

const LF = 10;
const CR = 13;

/**
 * Splits a text stream into Server-Sent Events as chunks arrive. A chunk may end anywhere (mid-line,
 * between the CR and LF of a line end); events come out only once their blank line has arrived.
 */
export class SseParser {
  #buffer = '';

  /** Adds a chunk of text; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    this.#buffer += chunk;
    return this.#scan(false);
  }

  /** The end of the stream: the events left, including a last one that never got its blank line. */
  end(): SseEvent[] {
    const events = this.#scan(true);
    const rest = this.#buffer;
    this.#buffer = '';
    if (rest !== '') events.push(eventOf(rest.split(/\r\n|\r|\n/), rest));
    return events;
  }

  #scan(final: boolean): SseEvent[] {
    const b = this.#buffer;
    const events: SseEvent[] = [];
    let eventStart = 0;
    let lineStart = 0;
    let lines: string[] = [];
    let i = 0;
    while (i < b.length) {
      const c = b.charCodeAt(i);
      if (c !== LF && c !== CR) {
        i++;
        continue;
      }
      // A CR at the very end may be the first half of a CRLF still on its way.
      if (c === CR && i + 1 === b.length && !final) break;
      const line = b.slice(lineStart, i);
      i += c === CR && b.charCodeAt(i + 1) === LF ? 2 : 1;
      lineStart = i;
      if (line !== '') {
        lines.push(line);
        continue;
      }
      if (lines.length > 0) events.push(eventOf(lines, b.slice(eventStart, i)));
      lines = [];
      eventStart = i;
    }
    this.#buffer = b.slice(eventStart);
    return events;
  }
}

function eventOf(lines: readonly string[], raw: string): SseEvent {
  let event: string | undefined;
  const data: string[] = [];
  for (const line of lines) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return { event, data: data.join('\n'), raw };
}

/** The JSON in an event's data, or undefined when it is not JSON (`[DONE]`, a comment, a cut-off event). */
export function eventJson(e: SseEvent): unknown {
  if (e.data === '' || e.data === '[DONE]') return undefined;
  try {
    return JSON.parse(e.data);
  } catch {
    return undefined;
  }
}
