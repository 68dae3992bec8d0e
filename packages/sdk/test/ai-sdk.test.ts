import { parseAuditQuery } from '@warden/engine';
import { generateText, isStepCount, streamText, tool, wrapLanguageModel } from 'ai';
import { convertArrayToReadableStream, MockLanguageModelV4 } from 'ai/test';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { wardenMiddleware, wardenTools } from '../src/adapters/ai-sdk.js';
import {
  approveWhenPending,
  callEvents,
  type EmbeddedFixture,
  embeddedWarden,
  refusalOf,
} from '../test-support/sdk-fixtures.js';

type GenerateResult = Awaited<ReturnType<MockLanguageModelV4['doGenerate']>>;
type StreamPart =
  Awaited<ReturnType<MockLanguageModelV4['doStream']>>['stream'] extends ReadableStream<infer P> ? P : never;

function usage(input: number, output: number, cached?: number): GenerateResult['usage'] {
  return {
    inputTokens: { total: input, noCache: input - (cached ?? 0), cacheRead: cached, cacheWrite: undefined },
    outputTokens: { total: output, text: output, reasoning: undefined },
  };
}

/** A model turn that asks for one tool call. */
function callsTool(toolName: string, input: unknown, tokens = usage(40, 10)): GenerateResult {
  return {
    content: [{ type: 'tool-call', toolCallId: `tc-${toolName}`, toolName, input: JSON.stringify(input) }],
    finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
    usage: tokens,
    warnings: [],
  };
}

/** A model turn that answers in text. */
function answers(text: string, tokens = usage(60, 20)): GenerateResult {
  return {
    content: [{ type: 'text', text }],
    finishReason: { unified: 'stop', raw: 'stop' },
    usage: tokens,
    warnings: [],
  };
}

const refusal = refusalOf;

async function eventsOf(fx: EmbeddedFixture, query: Record<string, unknown>) {
  const { records } = await fx.engine.store.queryAudit(parseAuditQuery({ limit: 100, ...query }));
  return records.map((r) => r.event);
}

/** The tool-result parts the model was sent in its n-th call. */
function toolResultsSent(model: MockLanguageModelV4, n: number) {
  const prompt = model.doGenerateCalls[n]?.prompt ?? [];
  return prompt.flatMap((m) => (m.role === 'tool' ? m.content : [])).filter((p) => p.type === 'tool-result');
}

describe('AI SDK adapter: wardenTools (embedded, real SQLite file)', () => {
  let fx: EmbeddedFixture;
  const ran = { lookup: 0, refund: 0, delete: 0 };
  const tools = {
    lookup_order: tool({
      description: 'Looks an order up',
      inputSchema: z.object({ id: z.string() }),
      execute: async ({ id }) => {
        ran.lookup++;
        return { id, status: 'shipped' };
      },
    }),
    refund: tool({
      description: 'Refunds an order',
      inputSchema: z.object({ orderId: z.string(), amount: z.number() }),
      execute: async ({ amount }) => {
        ran.refund++;
        return { refunded: amount };
      },
    }),
    delete_customer: tool({
      description: 'Deletes a customer',
      inputSchema: z.object({ id: z.string() }),
      execute: async () => {
        ran.delete++;
        return { deleted: true };
      },
    }),
    ask_user: tool({
      description: 'Asks the user (answered by the client, not here)',
      inputSchema: z.object({ question: z.string() }),
      outputSchema: z.string(),
    }),
  };

  beforeEach(async () => {
    fx = await embeddedWarden();
    ran.lookup = ran.refund = ran.delete = 0;
  });
  afterEach(async () => {
    await fx?.close();
  });

  it('keeps the tool record and its types; tools without execute are left as they are', () => {
    const governed = wardenTools(fx.warden, tools);
    expectTypeOf(governed).toEqualTypeOf<typeof tools>();
    expect(Object.keys(governed)).toEqual(Object.keys(tools));
    expect(governed.ask_user).toBe(tools.ask_user);
    expect(governed.lookup_order).not.toBe(tools.lookup_order);
    expect(governed.lookup_order.execute).not.toBe(tools.lookup_order.execute);
    expect(governed.lookup_order.inputSchema).toBe(tools.lookup_order.inputSchema);
    expect(governed.lookup_order.description).toBe('Looks an order up');
  });

  it('runs an allowed tool through Warden inside the real tool loop and records its result', async () => {
    const model = new MockLanguageModelV4({
      doGenerate: [callsTool('lookup_order', { id: 'o-1' }), answers('Order o-1 has shipped.')],
    });
    const result = await generateText({
      model,
      tools: wardenTools(fx.warden, tools),
      prompt: 'Where is order o-1?',
      stopWhen: isStepCount(4),
    });
    expect(result.text).toBe('Order o-1 has shipped.');
    expect(ran.lookup).toBe(1);
    expect(toolResultsSent(model, 1)[0]?.output).toEqual({
      type: 'json',
      value: { id: 'o-1', status: 'shipped' },
    });
    const events = await eventsOf(fx, { tool: 'lookup_order' });
    expect(events.map((e) => e.type)).toEqual(['call.decided', 'call.completed']);
    expect(events[0]?.args).toEqual({ id: 'o-1' });
    expect(events[0]?.decision?.effect).toBe('allow');
    expect(events[1]?.outcome).toMatchObject({ status: 'ok', result: { id: 'o-1', status: 'shipped' } });
  });

  it('a blocked tool never runs and the model reads the refusal as a tool error', async () => {
    const model = new MockLanguageModelV4({
      doGenerate: [callsTool('delete_customer', { id: 'c-9' }), answers('I cannot delete customers.')],
    });
    const result = await generateText({
      model,
      tools: wardenTools(fx.warden, tools),
      prompt: 'Delete customer c-9',
      stopWhen: isStepCount(4),
    });
    expect(ran.delete).toBe(0);
    expect(result.text).toBe('I cannot delete customers.');
    expect(model.doGenerateCalls).toHaveLength(2);
    const [sent] = toolResultsSent(model, 1);
    expect(sent?.toolName).toBe('delete_customer');
    expect(sent?.output).toMatchObject({ type: 'error-text' });
    expect(JSON.stringify(sent?.output)).toContain(
      'Warden blocked delete_customer: customers are never deleted by an agent',
    );
    const events = await eventsOf(fx, { tool: 'delete_customer' });
    expect(events.map((e) => e.type)).toEqual(['call.decided']);
    expect(events[0]?.decision).toMatchObject({ effect: 'block', ruleId: 'never-delete' });
  });

  it('a reviewed tool holds the loop until a lead approves, then runs once', async () => {
    const model = new MockLanguageModelV4({
      doGenerate: [callsTool('refund', { orderId: 'o-1', amount: 40 }), answers('Refunded 40.')],
    });
    const pending: string[] = [];
    const [result, approvalId] = await Promise.all([
      generateText({
        model,
        tools: wardenTools(fx.warden, tools, { onApprovalPending: (p) => pending.push(p.approvalId) }),
        prompt: 'Refund order o-1',
        stopWhen: isStepCount(4),
      }),
      approveWhenPending(fx.engine),
    ]);
    expect(result.text).toBe('Refunded 40.');
    expect(ran.refund).toBe(1);
    expect(pending).toEqual([approvalId]);
    expect(toolResultsSent(model, 1)[0]?.output).toEqual({ type: 'json', value: { refunded: 40 } });
    const approval = await fx.engine.approvals.get(approvalId);
    expect(approval.status).toBe('used');
    const redeemed = await callEvents(fx.engine, approval.usedByCall as string);
    expect(redeemed.map((e) => e.type)).toEqual(['call.decided', 'call.completed']);
    expect(redeemed[1]?.outcome?.result).toEqual({ refunded: 40 });
  });

  it("passes the AI SDK's abort signal on: aborting withdraws the pending approval", async () => {
    const ctl = new AbortController();
    const model = new MockLanguageModelV4({
      doGenerate: [callsTool('refund', { orderId: 'o-2', amount: 5 }), answers('never reached')],
    });
    const run = generateText({
      model,
      tools: wardenTools(fx.warden, tools, { onApprovalPending: () => setTimeout(() => ctl.abort(), 30) }),
      prompt: 'Refund order o-2',
      stopWhen: isStepCount(4),
      abortSignal: ctl.signal,
    });
    await expect(run).rejects.toThrow();
    expect(ran.refund).toBe(0);
    const page = await fx.engine.approvals.list({ status: 'cancelled', limit: 10 });
    expect(page.approvals).toHaveLength(1);
    expect(page.approvals[0]?.tool).toBe('refund');
  });

  it('maps record keys to policy tool names with toolName', async () => {
    const renamed = { orders: tools.lookup_order };
    const model = () =>
      new MockLanguageModelV4({ doGenerate: [callsTool('orders', { id: 'o-5' }), answers('done')] });
    await generateText({
      model: model(),
      tools: wardenTools(fx.warden, renamed, { toolName: () => 'lookup_order' }),
      prompt: 'o-5?',
      stopWhen: isStepCount(4),
    });
    expect(ran.lookup).toBe(1);
    expect((await eventsOf(fx, { tool: 'lookup_order' })).map((e) => e.type)).toEqual([
      'call.decided',
      'call.completed',
    ]);
    // Under its own key the policy names no such tool, so it is blocked by default.
    await generateText({
      model: model(),
      tools: wardenTools(fx.warden, renamed),
      prompt: 'o-5?',
      stopWhen: isStepCount(4),
    });
    expect(ran.lookup).toBe(1);
    expect((await eventsOf(fx, { tool: 'orders' }))[0]?.decision?.effect).toBe('block');
  });

  it('a streaming tool (async generator) still streams, once allowed, and its last output is recorded', async () => {
    const progress = {
      weather: tool({
        inputSchema: z.object({ city: z.string() }),
        async *execute({ city }) {
          yield { city, status: 'loading' as const };
          yield { city, status: 'done' as const, celsius: 21 };
        },
      }),
    };
    const model = new MockLanguageModelV4({
      doGenerate: [callsTool('weather', { city: 'Oslo' }), answers('21 degrees')],
    });
    const result = await generateText({
      model,
      tools: wardenTools(fx.warden, progress),
      prompt: 'Weather in Oslo?',
      stopWhen: isStepCount(4),
    });
    expect(result.text).toBe('21 degrees');
    const final = { city: 'Oslo', status: 'done', celsius: 21 };
    expect(toolResultsSent(model, 1)[0]?.output).toEqual({ type: 'json', value: final });
    const events = await eventsOf(fx, { tool: 'weather' });
    expect(events.map((e) => e.type)).toEqual(['call.decided', 'call.completed']);
    expect(events[1]?.outcome).toMatchObject({ status: 'ok', result: final });
  });
});

describe('AI SDK adapter: wardenMiddleware (embedded, real SQLite file)', () => {
  let fx: EmbeddedFixture;
  beforeEach(async () => {
    fx = await embeddedWarden();
  });
  afterEach(async () => {
    await fx?.close();
  });

  async function sessionTokens(session: string) {
    const status = await fx.engine.budgets.status({ session });
    return status.find((b) => b.budgetId === 'session-tokens');
  }

  it('generateText reserves before the call and settles the reported usage in the session budget', async () => {
    const inner = new MockLanguageModelV4({
      provider: 'openai.chat',
      modelId: 'gpt-test',
      doGenerate: answers('hello', usage(1200, 300, 200)),
    });
    const model = wrapLanguageModel({ model: inner, middleware: wardenMiddleware(fx.warden) });
    const result = await fx.warden.withContext({ session: 'mw-generate' }, () =>
      generateText({ model, prompt: 'a secret prompt about order o-7' }),
    );
    expect(result.text).toBe('hello');
    expect(inner.doGenerateCalls).toHaveLength(1);
    expect(await sessionTokens('mw-generate')).toMatchObject({ used: 1500, reserved: 0 });
    const events = await eventsOf(fx, { tool: 'llm:openai', session: 'mw-generate' });
    expect(events.map((e) => e.type)).toEqual(['call.decided', 'call.completed']);
    expect(events[0]?.args).toMatchObject({ model: 'gpt-test', stream: false, messages: 1 });
    expect((events[0]?.args as { promptHash?: string } | undefined)?.promptHash).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(events[0]?.args)).not.toContain('secret prompt');
    expect(events[1]?.outcome).toMatchObject({
      status: 'ok',
      result: { finishReason: 'stop' },
      usage: { model: 'gpt-test', inputTokens: 1200, outputTokens: 300, cachedTokens: 200 },
    });
  });

  it('settles every model call of a tool loop (with governed tools) under the same session', async () => {
    const inner = new MockLanguageModelV4({
      doGenerate: [
        callsTool('lookup_order', { id: 'o-1' }, usage(100, 20)),
        answers('shipped', usage(150, 30)),
      ],
    });
    const lookup = tool({
      inputSchema: z.object({ id: z.string() }),
      execute: async ({ id }) => ({ id, status: 'shipped' }),
    });
    const context = { session: 'mw-loop' };
    const result = await generateText({
      model: wrapLanguageModel({ model: inner, middleware: wardenMiddleware(fx.warden, { context }) }),
      tools: wardenTools(fx.warden, { lookup_order: lookup }, { context }),
      prompt: 'o-1?',
      stopWhen: isStepCount(4),
    });
    expect(result.text).toBe('shipped');
    expect(await sessionTokens('mw-loop')).toMatchObject({ used: 300, reserved: 0 });
    const tools = (await eventsOf(fx, { session: 'mw-loop', type: 'call.decided' })).map((e) => e.tool);
    expect(tools).toEqual(['llm:mock-provider', 'lookup_order', 'llm:mock-provider']);
  });

  it('streamText settles the usage of the finish part when the stream ends', async () => {
    const chunks: StreamPart[] = [
      { type: 'stream-start', warnings: [] },
      { type: 'response-metadata', id: 'r-1', modelId: 'gpt-stream-2026', timestamp: new Date(0) },
      { type: 'text-start', id: 't-1' },
      { type: 'text-delta', id: 't-1', delta: 'Hello ' },
      { type: 'text-delta', id: 't-1', delta: 'world' },
      { type: 'text-end', id: 't-1' },
      { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(800, 150) },
    ];
    const inner = new MockLanguageModelV4({
      provider: 'anthropic.messages',
      modelId: 'claude-test',
      doStream: { stream: convertArrayToReadableStream(chunks) },
    });
    const model = wrapLanguageModel({
      model: inner,
      middleware: wardenMiddleware(fx.warden, { context: { session: 'mw-stream' } }),
    });
    const result = streamText({ model, prompt: 'Say hello', maxOutputTokens: 500 });
    expect(await result.text).toBe('Hello world');
    expect(await sessionTokens('mw-stream')).toMatchObject({ used: 950, reserved: 0 });
    const events = await eventsOf(fx, { tool: 'llm:anthropic', session: 'mw-stream' });
    expect(events.map((e) => e.type)).toEqual(['call.decided', 'call.completed']);
    expect(events[0]?.args).toMatchObject({ model: 'claude-test', stream: true, maxOutputTokens: 500 });
    expect(events[1]?.outcome).toMatchObject({
      status: 'ok',
      usage: { model: 'gpt-stream-2026', inputTokens: 800, outputTokens: 150 },
    });
  });

  it('a stream that fails is recorded as an error and its reservation released', async () => {
    const parts: StreamPart[] = [
      { type: 'stream-start', warnings: [] },
      { type: 'text-start', id: 't-1' },
      { type: 'text-delta', id: 't-1', delta: 'Hel' },
    ];
    const stream = new ReadableStream<StreamPart>({
      pull(c) {
        const part = parts.shift();
        if (part) c.enqueue(part);
        else c.error(new Error('connection reset'));
      },
    });
    const inner = new MockLanguageModelV4({ doStream: { stream } });
    const model = wrapLanguageModel({
      model: inner,
      middleware: wardenMiddleware(fx.warden, { context: { session: 'mw-broken' } }),
    });
    const errors: unknown[] = [];
    await streamText({ model, prompt: 'Say hello' }).consumeStream({ onError: (e) => void errors.push(e) });
    expect(errors.map((e) => (e as Error).message)).toEqual(['connection reset']);
    const events = await eventsOf(fx, { tool: 'llm:mock-provider', type: 'call.completed' });
    expect(events).toHaveLength(1);
    expect(events[0]?.outcome).toMatchObject({ status: 'error', error: 'Error: connection reset' });
    expect(await sessionTokens('mw-broken')).toMatchObject({ used: 0, reserved: 0 });
  });

  it('a stream the reader cancels is recorded as an error with the usage already reported', async () => {
    let upstreamCancelled: unknown;
    const parts: StreamPart[] = [
      { type: 'stream-start', warnings: [] },
      { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(700, 50) },
    ];
    const stream = new ReadableStream<StreamPart>({
      pull(c) {
        const part = parts.shift();
        if (part) c.enqueue(part); // then never ends: only a cancel stops it
      },
      cancel(reason) {
        upstreamCancelled = reason;
      },
    });
    const model = wrapLanguageModel({
      model: new MockLanguageModelV4({ doStream: { stream } }),
      middleware: wardenMiddleware(fx.warden, { context: { session: 'mw-cancel' } }),
    });
    const out = await model.doStream({ prompt: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] });
    const reader = out.stream.getReader();
    while ((await reader.read()).value?.type !== 'finish') {}
    await reader.cancel('the user left');
    expect(upstreamCancelled).toBe('the user left');
    const events = await eventsOf(fx, { tool: 'llm:mock-provider', type: 'call.completed' });
    expect(events[0]?.outcome).toMatchObject({
      status: 'error',
      error: 'the stream was cancelled: the user left',
      usage: { inputTokens: 700, outputTokens: 50 },
    });
    expect(await sessionTokens('mw-cancel')).toMatchObject({ used: 750, reserved: 0 });
  });

  it('refuses a call whose reservation cannot fit, before the model runs', async () => {
    const inner = new MockLanguageModelV4({ doGenerate: answers('too long') });
    const model = wrapLanguageModel({ model: inner, middleware: wardenMiddleware(fx.warden) });
    const err = await refusal(generateText({ model, prompt: 'Write a novel', maxOutputTokens: 6000 }));
    expect(err.code).toBe('BUDGET_EXCEEDED');
    expect(inner.doGenerateCalls).toHaveLength(0);
  });

  it('reserves the prompt (about a token per 4 characters) plus 4,096 output tokens by default', async () => {
    const inner = new MockLanguageModelV4({ doGenerate: answers('fits', usage(1000, 10)) });
    const prompt = 'x'.repeat(4000); // ~1,000 input tokens: with 4,096 output ones, more than the 5,000 left
    const strict = wrapLanguageModel({ model: inner, middleware: wardenMiddleware(fx.warden) });
    const err = await refusal(generateText({ model: strict, prompt }));
    expect(err.code).toBe('BUDGET_EXCEEDED');
    const requested = (err.details.budget as { requested: number }).requested;
    expect(requested).toBeGreaterThan(1000 + 4096);
    expect(requested).toBeLessThan(1000 + 4096 + 30);
    expect(inner.doGenerateCalls).toHaveLength(0);
    // A refused reservation pauses its session, so the bounded call runs in a fresh one.
    const bounded = wrapLanguageModel({
      model: inner,
      middleware: wardenMiddleware(fx.warden, {
        defaultMaxOutputTokens: 1000,
        context: { session: 'mw-fresh' },
      }),
    });
    expect((await generateText({ model: bounded, prompt })).text).toBe('fits');
  });

  it('once the session budget is spent, the model is not called again and the refusal surfaces', async () => {
    const inner = new MockLanguageModelV4({
      doGenerate: [answers('expensive', usage(4000, 2000)), answers('never sent')],
    });
    const model = wrapLanguageModel({ model: inner, middleware: wardenMiddleware(fx.warden) });
    await fx.warden.withContext({ session: 'mw-spent' }, async () => {
      expect((await generateText({ model, prompt: 'first' })).text).toBe('expensive');
      const err = await refusal(generateText({ model, prompt: 'second' }));
      expect(['BUDGET_EXCEEDED', 'SESSION_PAUSED']).toContain(err.code);
    });
    expect(inner.doGenerateCalls).toHaveLength(1);
    expect((await sessionTokens('mw-spent'))?.used).toBe(6000);
  });
});
