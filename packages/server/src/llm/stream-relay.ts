import type { Writable } from 'node:stream';
import { type SseEvent, SseParser } from './sse-parser.js';
import type { StreamMeter } from './usage-meter.js';

/** How a relayed stream ended. */
export interface RelayOutcome {
  /** The upstream broke off (connection lost) instead of ending its body. */
  readonly cut: boolean;
  /** The client went away before the end. */
  readonly clientGone: boolean;
  /** The `data: [DONE]` terminator, held back for the caller to send as the stream's end. */
  readonly held: string | undefined;
}

/**
 * Relays an upstream Server-Sent Events body to the client event by event, each one written as soon as
 * it is complete, and feeds every event to the meter. A client that hangs up does not stop the reading:
 * the provider reports the usage at the end, and that is what gets billed. While the client is there,
 * its pace is the upstream's (backpressure); once it is gone, the upstream is read as fast as it comes.
 */
export async function relayEvents(
  body: ReadableStream<Uint8Array> | null,
  out: Writable,
  meter: StreamMeter,
): Promise<RelayOutcome> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  let held: string | undefined;
  const send = async (events: readonly SseEvent[]) => {
    for (const e of events) {
      const text = meter.take(e);
      if (text === undefined || out.destroyed || out.writableEnded) continue;
      // OpenAI's client (v7) stops reading at `[DONE]`, not at the end of the body: it is held back and
      // sent by the caller with the end of the body.
      if (e.data === '[DONE]') {
        held = (held ?? '') + text;
        continue;
      }
      if (!out.write(text)) await drained(out);
    }
  };
  if (!body) return { cut: false, clientGone: out.destroyed, held };
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await send(parser.push(decoder.decode(value, { stream: true })));
      if (held !== undefined) {
        // `[DONE]` ends the stream (usage comes before it): an upstream that then idles must not keep
        // the client waiting for the body to end, or have a complete answer settled as broken off.
        await reader.cancel().catch(() => {});
        return { cut: false, clientGone: out.destroyed, held };
      }
    }
    await send(parser.push(decoder.decode()));
    await send(parser.end());
    return { cut: false, clientGone: out.destroyed, held };
  } catch {
    // The half-received rest goes to the meter (it counts if it parses) but not to the client.
    for (const e of parser.end()) meter.take(e);
    return { cut: true, clientGone: out.destroyed, held: undefined };
  }
}

/** Resolves when `out` can take more, or is gone. */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
  });
}
