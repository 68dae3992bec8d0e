import type { BaseMessage } from '@langchain/core/messages';
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { FakeBuiltModel } from '@langchain/core/testing';
import { DynamicTool, type StructuredTool, type StructuredToolInterface, tool } from '@langchain/core/tools';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import { isWardenError } from '@warden/core';
import { createAgent } from 'langchain';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { WardenTool, WardenUsageHandler, wardenTool, wardenTools } from '../src/adapters/langchain.js';
import {
  approveWhenPending,
  callEvents,
  type EmbeddedFixture,
  embeddedWarden,
  lee,
} from '../test-support/sdk-fixtures.js';

/** The fake chat model of @langchain/core, also recording the tools the agent binds to it. */
class RecordingModel extends FakeBuiltModel {
  readonly bound: StructuredToolInterface[][] = [];
  override bindTools(tools: Parameters<FakeBuiltModel['bindTools']>[0]) {
    this.bound.push(tools as StructuredToolInterface[]);
    return super.bindTools(tools);
  }
}

/** A scripted model (`fakeModel()` of @langchain/core/testing) that also records its bound tools. */
function scripted(): RecordingModel {
  return new RecordingModel();
}

/** The messages the model received on its `turn`-th call (0-based). */
function seenOn(model: FakeBuiltModel, turn: number): BaseMessage[] {
  const call = model.calls[turn];
  if (!call) throw new Error(`the model was called ${model.calls.length} times, not ${turn + 1}`);
  return call.messages;
}

function lastToolMessage(messages: readonly BaseMessage[]): ToolMessage {
  const last = messages.at(-1);
  if (!last || !ToolMessage.isInstance(last)) throw new Error('the last message is not a ToolMessage');
  return last;
}

async function auditOf(fx: EmbeddedFixture, toolName: string) {
  const { parseAuditQuery } = await import('@warden/engine');
  return (await fx.engine.store.queryAudit(parseAuditQuery({ tool: toolName, limit: 20 }))).records.map(
    (r) => r.event,
  );
}

function answerOf(result: { messages: BaseMessage[] }): unknown {
  return result.messages.at(-1)?.content;
}

describe('LangChain.js adapter (createAgent, embedded Warden on real SQLite)', () => {
  let fx: EmbeddedFixture;
  /** What each tool's body ran with, by tool name. */
  const ran: Record<string, unknown[]> = {};
  const note = (name: string, value: unknown) => {
    ran[name] = [...(ran[name] ?? []), value];
  };

  const lookupOrder = tool(
    async ({ id }) => {
      note('lookup_order', id);
      return `order ${id} shipped`;
    },
    {
      name: 'lookup_order',
      description: 'Looks an order up by its id.',
      schema: z.object({ id: z.string().describe('the order id') }),
    },
  );
  const deleteCustomer = tool(
    async ({ id }) => {
      note('delete_customer', id);
      return `customer ${id} deleted`;
    },
    {
      name: 'delete_customer',
      description: 'Deletes a customer for good.',
      schema: z.object({ id: z.string() }),
    },
  );
  const refund = tool(
    async ({ order, amount }) => {
      note('refund', { order, amount });
      return { refunded: amount, order };
    },
    {
      name: 'refund',
      description: 'Refunds an order.',
      schema: z.object({ order: z.string(), amount: z.number().positive().default(25) }),
    },
  );

  beforeAll(() => {
    // Never trace to LangSmith from tests.
    vi.stubEnv('LANGSMITH_TRACING', 'false');
    vi.stubEnv('LANGCHAIN_TRACING_V2', 'false');
  });
  beforeEach(async () => {
    fx = await embeddedWarden();
    for (const key of Object.keys(ran)) delete ran[key];
  });
  afterEach(async () => {
    await fx?.close();
  });

  it('runs an allowed tool through Warden inside the loop and records its result', async () => {
    const model = scripted()
      .respondWithTools([{ name: 'lookup_order', args: { id: 'o-1' }, id: 'tc-1' }])
      .respond(new AIMessage('Your order o-1 has shipped.'));
    const agent = createAgent({ model, tools: wardenTools(fx.warden, [lookupOrder, deleteCustomer]) });

    const result = await agent.invoke({ messages: [new HumanMessage('where is o-1?')] });

    expect(answerOf(result)).toBe('Your order o-1 has shipped.');
    expect(ran.lookup_order).toEqual(['o-1']);
    const seen = lastToolMessage(seenOn(model, 1));
    expect(seen).toMatchObject({ content: 'order o-1 shipped', tool_call_id: 'tc-1', status: 'success' });
    const events = await auditOf(fx, 'lookup_order');
    expect(events.map((e) => e.type)).toEqual(['call.decided', 'call.completed']);
    expect(events[0]?.args).toEqual({ id: 'o-1' });
    expect(events[1]?.outcome).toMatchObject({ status: 'ok', result: 'order o-1 shipped' });
  });

  it('never runs a blocked tool; the model reads the refusal as its output and the loop finishes', async () => {
    const model = scripted()
      .respondWithTools([{ name: 'delete_customer', args: { id: 'c-9' }, id: 'tc-del' }])
      .respond(new AIMessage('I am not allowed to delete customers.'));
    const agent = createAgent({ model, tools: wardenTools(fx.warden, [lookupOrder, deleteCustomer]) });

    const result = await agent.invoke({ messages: [new HumanMessage('delete customer c-9')] });

    expect(ran.delete_customer).toBeUndefined();
    expect(model.callCount).toBe(2);
    const refusal = lastToolMessage(seenOn(model, 1));
    expect(refusal.tool_call_id).toBe('tc-del');
    expect(refusal.status).toBe('error');
    expect(refusal.content).toBe('Warden blocked delete_customer: customers are never deleted by an agent');
    expect(refusal.artifact).toMatchObject({ code: 'CALL_BLOCKED', details: { ruleId: 'never-delete' } });
    expect(answerOf(result)).toBe('I am not allowed to delete customers.');
    const events = await auditOf(fx, 'delete_customer');
    expect(events.map((e) => e.type)).toEqual(['call.decided']);
  });

  it('holds a reviewed tool until a lead approves, then runs it once and the loop finishes', async () => {
    const model = scripted()
      .respondWithTools([{ name: 'refund', args: { order: 'o-7', amount: 40 }, id: 'tc-refund' }])
      .respond(new AIMessage('Refunded 40 on o-7.'));
    const pending: string[] = [];
    const agent = createAgent({
      model,
      tools: [wardenTool(fx.warden, refund, { onApprovalPending: (p) => pending.push(p.approvalId) })],
    });

    const [result, approvalId] = await Promise.all([
      agent.invoke({ messages: [new HumanMessage('refund o-7')] }),
      approveWhenPending(fx.engine),
    ]);

    expect(pending).toEqual([approvalId]);
    expect(ran.refund).toEqual([{ order: 'o-7', amount: 40 }]);
    expect(lastToolMessage(seenOn(model, 1)).content).toBe('{"refunded":40,"order":"o-7"}');
    expect(answerOf(result)).toBe('Refunded 40 on o-7.');
    const approval = await fx.engine.approvals.get(approvalId);
    expect(approval.status).toBe('used');
    const events = await callEvents(fx.engine, approval.usedByCall as string);
    expect(events.map((e) => e.type)).toEqual(['call.decided', 'call.completed']);
    expect(events[1]?.outcome?.result).toBe('{"refunded":40,"order":"o-7"}');
  });

  it('a denied review reaches the model as the tool output, and nothing runs', async () => {
    const model = scripted()
      .respondWithTools([{ name: 'refund', args: { order: 'o-8', amount: 900 }, id: 'tc-big' }])
      .respond(new AIMessage('The refund was not approved.'));
    const agent = createAgent({ model, tools: [wardenTool(fx.warden, refund)] });

    const [result] = await Promise.all([
      agent.invoke({ messages: [new HumanMessage('refund o-8')] }),
      approveWhenPending(fx.engine, lee, 'deny'),
    ]);

    expect(ran.refund).toBeUndefined();
    const denial = lastToolMessage(seenOn(model, 1));
    expect(denial.status).toBe('error');
    expect(denial.content).toBe('Warden did not approve refund: it was denied by lee: not today');
    expect(answerOf(result)).toBe('The refund was not approved.');
  });

  it('keeps the name, description and schema: the model is bound the same tool definitions', async () => {
    const model = scripted().respond(new AIMessage('hello'));
    const originals = [lookupOrder, refund] as StructuredTool[];
    const wrapped = wardenTools(fx.warden, originals);
    await createAgent({ model, tools: wrapped }).invoke({ messages: [new HumanMessage('hi')] });

    const bound = model.bound[0] ?? [];
    expect(bound).toHaveLength(2);
    expect(bound.every((t) => t instanceof WardenTool)).toBe(true);
    expect(bound.map((t) => convertToOpenAITool(t))).toEqual(originals.map((t) => convertToOpenAITool(t)));
    expect(bound[1]?.schema).toBe(refund.schema);
    const direct = tool(async () => 'ok', { name: 'weather', description: 'w', returnDirect: true });
    expect(wardenTool(fx.warden, direct).returnDirect).toBe(true);
    expect(convertToOpenAITool(bound[0] as StructuredTool).function).toMatchObject({
      name: 'lookup_order',
      description: 'Looks an order up by its id.',
      parameters: { properties: { id: { type: 'string', description: 'the order id' } } },
    });
  });

  it('decides on the arguments the tool runs with; malformed ones reach neither Warden nor the tool', async () => {
    const model = scripted()
      .respondWithTools([{ name: 'refund', args: { order: 'o-3', amount: -5 }, id: 'tc-bad' }])
      .respondWithTools([{ name: 'refund', args: { order: 'o-3' }, id: 'tc-default' }])
      .respond(new AIMessage('Refunded the default amount.'));
    // A short wait, so a malformed call that wrongly went to review fails fast instead of hanging.
    const agent = createAgent({
      model,
      tools: [wardenTool(fx.warden, refund, { approvalTimeoutMs: 3_000 })],
    });

    const [result] = await Promise.all([
      agent.invoke({ messages: [new HumanMessage('refund o-3')] }),
      approveWhenPending(fx.engine),
    ]);

    const malformed = lastToolMessage(seenOn(model, 1));
    expect(malformed.status).toBe('error');
    expect(malformed.content).toContain('did not match expected schema');
    expect(malformed.content).toContain('amount');
    // One decision only (the default-amount call), on the arguments after the schema's default.
    const decided = (await auditOf(fx, 'refund')).filter((e) => e.type === 'call.decided');
    expect(decided.map((e) => e.args)).toEqual([
      { order: 'o-3', amount: 25 },
      { order: 'o-3', amount: 25 },
    ]);
    expect(ran.refund).toEqual([{ order: 'o-3', amount: 25 }]);
    expect(answerOf(result)).toBe('Refunded the default amount.');
  });

  it('carries the context: the option, and withContext around agent.invoke', async () => {
    const model = scripted()
      .respondWithTools([{ name: 'lookup_order', args: { id: 'o-5' }, id: 'tc-a' }])
      .respondWithTools([{ name: 'weather', args: { city: 'Oslo' }, id: 'tc-b' }])
      .respond(new AIMessage('done'));
    const weather = tool(async ({ city }) => `rain in ${city}`, {
      name: 'weather',
      description: 'Weather of a city.',
      schema: z.object({ city: z.string() }),
    });
    const agent = createAgent({
      model,
      tools: [
        wardenTool(fx.warden, lookupOrder),
        wardenTool(fx.warden, weather, { context: { delegationChain: ['planner'] } }),
      ],
    });

    await fx.warden.withContext({ session: 'lc-task-1', triggeredBy: 'maria' }, () =>
      agent.invoke({ messages: [new HumanMessage('go')] }),
    );

    const [lookup] = await auditOf(fx, 'lookup_order');
    expect(lookup).toMatchObject({ session: 'lc-task-1', triggeredBy: 'maria', agent: 'support-bot' });
    const [weatherCall] = await auditOf(fx, 'weather');
    expect(weatherCall).toMatchObject({
      session: 'lc-task-1',
      triggeredBy: 'maria',
      delegationChain: ['planner'],
    });
  });

  it('the abort signal of the run stops the wait for approval and withdraws the request', async () => {
    const model = scripted().respondWithTools([{ name: 'refund', args: { order: 'o-4', amount: 5 } }]);
    const ctl = new AbortController();
    const agent = createAgent({
      model,
      tools: [wardenTool(fx.warden, refund, { onApprovalPending: () => setTimeout(() => ctl.abort(), 30) })],
    });

    await expect(
      agent.invoke({ messages: [new HumanMessage('refund o-4')] }, { signal: ctl.signal }),
    ).rejects.toThrow();

    const { approvals } = await fx.engine.approvals.list({ limit: 10 });
    expect(approvals).toHaveLength(1);
    const id = approvals[0]?.id as string;
    await vi.waitFor(async () => expect((await fx.engine.approvals.get(id)).status).toBe('cancelled'));
    expect(ran.refund).toBeUndefined();
  });

  it('invoked directly (no tool call), a refusal throws; toolName renames the call for the policy', async () => {
    const erase = tool(async () => 'erased', {
      name: 'erase_account',
      description: 'Erases an account.',
      schema: z.object({ id: z.string() }),
    });
    const governed = wardenTool(fx.warden, erase, { toolName: 'delete_customer' });
    expect(governed.name).toBe('erase_account');

    const err = await governed.invoke({ id: 'c-1' }).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(isWardenError(err, 'CALL_BLOCKED')).toBe(true);
    expect((err as Error).message).toContain('customers are never deleted by an agent');
    expect(await wardenTool(fx.warden, lookupOrder).invoke({ id: 'o-2' })).toBe('order o-2 shipped');
  });

  it('a string tool (DynamicTool) is decided on { input } and runs with the bare string', async () => {
    const weather = new DynamicTool({
      name: 'weather',
      description: 'Weather of a city.',
      func: async (city) => `rain in ${city}`,
    });
    const governed = wardenTool(fx.warden, weather);

    // A bare string, as LangChain's string tools take it (the wrapper's inferred type asks for { input }).
    expect(await governed.invoke('Oslo' as unknown as { input: string })).toBe('rain in Oslo');
    const message = await governed.invoke({
      name: 'weather',
      args: { input: 'Bergen' },
      id: 'tc-w',
      type: 'tool_call',
    });
    expect(message).toMatchObject({ content: 'rain in Bergen', tool_call_id: 'tc-w' });
    const decided = (await auditOf(fx, 'weather')).filter((e) => e.type === 'call.decided');
    expect(decided.map((e) => e.args)).toEqual([{ input: 'Oslo' }, { input: 'Bergen' }]);
  });

  it('WardenUsageHandler settles the model tokens in the session budget and stops the agent once spent', async () => {
    const usage = (input: number, output: number) => ({
      input_tokens: input,
      output_tokens: output,
      total_tokens: input + output,
    });
    const model = scripted()
      .respond(
        new AIMessage({
          content: '',
          tool_calls: [{ name: 'lookup_order', args: { id: 'o-6' }, id: 'tc-u', type: 'tool_call' }],
          usage_metadata: usage(1200, 300),
        }),
      )
      .respond(new AIMessage({ content: 'shipped', usage_metadata: usage(1800, 200) }))
      .respond(new AIMessage({ content: 'big', usage_metadata: usage(2000, 1000) }))
      .respond(new AIMessage({ content: 'never read', usage_metadata: usage(10, 10) }));
    const agent = createAgent({ model, tools: [wardenTool(fx.warden, lookupOrder)] });
    const callbacks = [new WardenUsageHandler(fx.warden, { context: { session: 'lc-spend' } })];

    const first = await agent.invoke({ messages: [new HumanMessage('o-6?')] }, { callbacks });
    expect(answerOf(first)).toBe('shipped');
    const status = async () =>
      (await fx.engine.budgets.status({ session: 'lc-spend' })).find((b) => b.budgetId === 'session-tokens')
        ?.used;
    expect(await status()).toBe(3500);

    // 6,500 settled over the 5,000 limit pauses the session; the next report is refused and ends the run.
    await agent.invoke({ messages: [new HumanMessage('more')] }, { callbacks });
    expect(await status()).toBe(6500);
    // LangChain logs a handler's raised error before rethrowing it.
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const err = await agent.invoke({ messages: [new HumanMessage('again')] }, { callbacks }).then(
      () => undefined,
      (e: unknown) => e,
    );
    logged.mockRestore();
    expect(isWardenError(err)).toBe(true);
    expect(['BUDGET_EXCEEDED', 'SESSION_PAUSED']).toContain((err as { code: string }).code);
  });
});
