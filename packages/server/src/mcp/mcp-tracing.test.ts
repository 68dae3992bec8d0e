/**
 * The `/mcp` server span names the client's tool only once the name has a tool name's shape and the
 * domain's rules accept it: a credential-looking or oversized name never reaches the exporter.
 * Real tracer, real OTLP/HTTP export to a local receiver.
 */
import { describe, expect, it } from 'vitest';
import { startOtlpReceiver } from '../../test-support/otlp-receiver.js';
import { createCallTracer } from '../telemetry/call-tracer.js';
import { mcpTracing } from './mcp-tracing.js';

describe('mcpTracing', () => {
  it('names the span after a tool name, and leaves out one a span must not carry', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const tracer = await createCallTracer({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
      if (!tracer) throw new Error('tracing should be on');
      const tracing = mcpTracing(tracer);
      const names = [
        'files__read_text_file',
        'sk_live_4eC39HqLyjWDarjtT1zdp7dc', // a credential-looking name: refused by the domain's rules
        `tool_${'x'.repeat(5_000)}`, // oversized
        'two\nlines',
      ];
      for (const name of names) {
        const call = tracing.toolCall({ name, caller: undefined, session: 's-1' });
        await call.run(async () => undefined);
        call.end();
      }
      await tracer.shutdown();
      expect(receiver.spans.map((s) => s.name)).toEqual([
        'tools/call files__read_text_file',
        'tools/call',
        'tools/call',
        'tools/call',
      ]);
      const exported = JSON.stringify(receiver.spans);
      expect(exported).not.toContain('sk_live_');
      expect(exported).not.toContain('x'.repeat(300));
    } finally {
      await receiver.close();
    }
  });
});
