import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ChatStreamMeter } from './openai-usage.js';
import { relayEvents } from './stream-relay.js';

const encoder = new TextEncoder();

describe('relayEvents', () => {
  it('ends at `[DONE]` (held back for the caller) even when the upstream then keeps its body open', async () => {
    let cancelled = false;
    const chunk = {
      id: 'c1',
      object: 'chat.completion.chunk',
      model: 'gpt-x',
      choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }],
    };
    // An upstream that sends its answer and [DONE], then idles without ending the body.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`));
        controller.enqueue(encoder.encode('data: [DONE]\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    const out = new PassThrough();
    let written = '';
    out.on('data', (d: Buffer) => (written += d.toString('utf8')));
    const outcome = await relayEvents(body, out, new ChatStreamMeter(false));
    expect(outcome).toEqual({ cut: false, clientGone: false, held: 'data: [DONE]\n\n' });
    expect(cancelled).toBe(true);
    expect(written).toContain('"content":"Hi"');
    expect(written).not.toContain('[DONE]');
  }, 10_000);
});
