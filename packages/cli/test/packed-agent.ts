/**
 * A support agent on the AI SDK, governed by a Warden server over HTTP: what the packed-install test
 * type-checks (strict) and runs in a project that has only `@warden/sdk` and `ai`. The model is the AI
 * SDK's own mock, so no provider is needed: it asks for a $20 refund (the example policy allows it) and a
 * table drop (default deny), then answers. Prints one JSON line with what ran and what the model was told.
 */
import { createWarden, isWardenError } from '@warden/sdk';
import { wardenTools } from '@warden/sdk/ai';
import { generateText, isStepCount, jsonSchema, tool } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';

const url = process.env.WARDEN_URL;
const key = process.env.WARDEN_KEY;
if (!url || !key) throw new Error('set WARDEN_URL and WARDEN_KEY');

const warden = await createWarden({ url, key });
const ran: string[] = [];
const tools = wardenTools(
  warden,
  {
    refund: tool({
      description: 'Refunds an amount to the customer',
      inputSchema: jsonSchema<{ amount: number }>({
        type: 'object',
        properties: { amount: { type: 'number' } },
        required: ['amount'],
      }),
      execute: async ({ amount }) => {
        ran.push(`refund ${amount}`);
        return { refunded: amount };
      },
    }),
    dropTable: tool({
      description: 'Drops a database table',
      inputSchema: jsonSchema<{ table: string }>({
        type: 'object',
        properties: { table: { type: 'string' } },
        required: ['table'],
      }),
      execute: async ({ table }) => {
        ran.push(`drop ${table}`);
        return { dropped: table };
      },
    }),
  },
  {
    toolName: (k) => (k === 'refund' ? 'billing.refund' : 'db.drop_table'),
    context: { session: 'packed-agent' },
  },
);

type Turn = Awaited<ReturnType<MockLanguageModelV4['doGenerate']>>;
const usage: Turn['usage'] = {
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};
const callTool = (toolName: string, input: unknown, id: string): Turn => ({
  content: [{ type: 'tool-call', toolCallId: id, toolName, input: JSON.stringify(input) }],
  finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
  usage,
  warnings: [],
});
const model = new MockLanguageModelV4({
  doGenerate: [
    callTool('refund', { amount: 20 }, 'tc-1'),
    callTool('dropTable', { table: 'customers' }, 'tc-2'),
    {
      content: [{ type: 'text', text: 'Refunded $20.' }],
      finishReason: { unified: 'stop', raw: 'stop' },
      usage,
      warnings: [],
    },
  ],
});

const result = await generateText({
  model,
  tools,
  stopWhen: isStepCount(5),
  prompt: 'Refund $20 to the customer, then drop the customers table.',
});
type Outcome = { tool: string; output?: unknown; error?: string };
const outcomes: Outcome[] = result.steps.flatMap((s): Outcome[] =>
  s.content.flatMap((p): Outcome[] =>
    p.type === 'tool-result'
      ? [{ tool: p.toolName, output: p.output as unknown }]
      : p.type === 'tool-error'
        ? [{ tool: p.toolName, error: isWardenError(p.error) ? p.error.code : String(p.error) }]
        : [],
  ),
);
await warden.close();

// Embedded mode needs @warden/engine, which this project does not have: a clear error, not a crash.
let embedded: { code: string; message: string } | undefined;
try {
  await createWarden({ embedded: { db: './local.db', policy: './policy', agent: 'support-bot' } });
} catch (e) {
  if (isWardenError(e)) embedded = { code: e.code, message: e.message };
  else throw e;
}
console.log(JSON.stringify({ ran, outcomes, text: result.text, embedded }));
