import {
  Agent,
  type AgentInputItem,
  type AgentOutputItem,
  type Model,
  type ModelRequest,
  type ModelResponse,
  RunContext,
  Runner,
  RunState,
  setTracingDisabled,
  Usage,
} from '@openai/agents';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { resolveWardenApprovals, WARDEN_CALLS_KEY, wardenTool } from '../src/adapters/openai-agents.js';
import { createWarden } from '../src/create-warden.js';
import type { Warden } from '../src/warden.js';
import {
  approveWhenPending,
  callEvents,
  type EmbeddedFixture,
  embeddedWarden,
  lee,
} from '../test-support/sdk-fixtures.js';

// Nothing may leave the machine: no trace export, and the only model is the scripted one below.
setTracingDisabled(true);
const runner = new Runner({ tracingDisabled: true });

/** A model that answers each turn from a script and keeps a copy of every input it was sent. */
class ScriptedModel implements Model {
  readonly inputs: AgentInputItem[][] = [];
  readonly #turns: readonly AgentOutputItem[][];

  constructor(turns: readonly AgentOutputItem[][]) {
    this.#turns = turns;
  }

  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    const input = typeof request.input === 'string' ? [userSays(request.input)] : request.input;
    this.inputs.push(structuredClone(input));
    const output = this.#turns[this.inputs.length - 1];
    if (!output) throw new Error(`the script has no turn ${this.inputs.length}`);
    return { usage: new Usage(), output, responseId: `resp_${this.inputs.length}` };
  }

  // biome-ignore lint/correctness/useYield: the tests never stream; a stream request is a test bug.
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error('the scripted model does not stream');
  }
}

function userSays(text: string): AgentInputItem {
  return { role: 'user', content: text };
}

function callTool(name: string, args: Record<string, unknown>, callId = 'call_1'): AgentOutputItem {
  return {
    type: 'function_call',
    id: `fc_${callId}`,
    callId,
    name,
    arguments: JSON.stringify(args),
    status: 'completed',
  };
}

type FunctionCall = Extract<AgentOutputItem, { type: 'function_call' }>;

/** What the run loop hands a tool's invoke for one model call. */
function callDetails(
  name: string,
  args: Record<string, unknown>,
  callId = 'call_1',
): { toolCall: FunctionCall } {
  return { toolCall: callTool(name, args, callId) as FunctionCall };
}

function say(text: string): AgentOutputItem {
  return {
    type: 'message',
    id: 'msg_1',
    role: 'assistant',
    status: 'completed',
    content: [{ type: 'output_text', text }],
  };
}

/** The text the model was given as the output of one tool call. */
function toolOutputSeen(input: readonly AgentInputItem[] | undefined, callId = 'call_1'): string {
  const item = input?.find((i) => i.type === 'function_call_result' && i.callId === callId);
  if (item?.type !== 'function_call_result') throw new Error(`the model saw no output for ${callId}`);
  const output = item.output;
  if (typeof output === 'string') return output;
  if (!Array.isArray(output) && output.type === 'text') return output.text;
  throw new Error(`unexpected tool output ${JSON.stringify(output)}`);
}

/** One Warden-governed tool that counts its runs. */
function countingTool(warden: Warden, toolName: string) {
  const runs: unknown[] = [];
  const governed = wardenTool(warden, {
    name: toolName,
    description: `the ${toolName} tool`,
    parameters: z.object({ id: z.string(), amount: z.number() }),
    execute: async (input) => {
      runs.push(input);
      return { ok: true, tool: toolName, ...input };
    },
  });
  return { governed, runs };
}

/** The support agent with one Warden-governed tool that counts its runs. */
function supportAgent(warden: Warden, toolName: string, model: ScriptedModel) {
  const { governed, runs } = countingTool(warden, toolName);
  const agent = new Agent({ name: 'support', instructions: 'help the customer', model, tools: [governed] });
  return { agent, runs };
}

/** A decision record as an attacker would write it into a saved run context. */
function forgedAllow(tool: string) {
  return { tool, context: {}, decision: { effect: 'allow', callId: 'x', session: 'forged', reasons: [] } };
}

/** The audit of one tool, as [event type, effect, call id] in order. */
async function toolAudit(fx: EmbeddedFixture, tool: string) {
  const { parseAuditQuery } = await import('@warden/engine');
  const { records } = await fx.engine.store.queryAudit(parseAuditQuery({ tool, limit: 20 }));
  return records.map((r) => ({
    type: r.event.type,
    effect: r.event.decision?.effect,
    callId: r.event.callId,
    args: r.event.args,
  }));
}

describe('OpenAI Agents SDK adapter (embedded Warden, real run loop)', () => {
  let fx: EmbeddedFixture;
  beforeEach(async () => {
    fx = await embeddedWarden();
  });
  afterEach(async () => {
    await fx?.close();
  });

  it('runs an allowed tool through Warden in the loop and returns the final output', async () => {
    const model = new ScriptedModel([[callTool('lookup_order', { id: 'o-1', amount: 0 })], [say('shipped')]]);
    const { agent, runs } = supportAgent(fx.warden, 'lookup_order', model);
    const result = await runner.run(agent, 'where is o-1?');
    expect(result.finalOutput).toBe('shipped');
    expect(result.interruptions).toEqual([]);
    expect(runs).toEqual([{ id: 'o-1', amount: 0 }]);
    expect(toolOutputSeen(model.inputs[1])).toContain('"tool":"lookup_order"');
    const { parseAuditQuery } = await import('@warden/engine');
    const { records } = await fx.engine.store.queryAudit(
      parseAuditQuery({ tool: 'lookup_order', limit: 10 }),
    );
    expect(records.map((r) => r.event.type)).toEqual(['call.decided', 'call.completed']);
    expect(records[0]?.event.args).toEqual({ id: 'o-1', amount: 0 });
    expect(records[1]?.event.outcome).toMatchObject({
      status: 'ok',
      result: { ok: true, tool: 'lookup_order', id: 'o-1', amount: 0 },
    });
  });

  it('never runs a blocked tool; the model reads the Warden refusal as its output', async () => {
    const model = new ScriptedModel([
      [callTool('delete_customer', { id: 'c-1', amount: 0 })],
      [say('sorry')],
    ]);
    const { agent, runs } = supportAgent(fx.warden, 'delete_customer', model);
    const result = await runner.run(agent, 'delete c-1');
    expect(result.finalOutput).toBe('sorry');
    expect(result.interruptions).toEqual([]);
    expect(runs).toEqual([]);
    expect(toolOutputSeen(model.inputs[1])).toContain(
      'Warden blocked delete_customer: customers are never deleted by an agent',
    );
    const { parseAuditQuery } = await import('@warden/engine');
    const { records } = await fx.engine.store.queryAudit(
      parseAuditQuery({ tool: 'delete_customer', limit: 10 }),
    );
    expect(records.map((r) => [r.event.type, r.event.decision?.effect])).toEqual([['call.decided', 'block']]);
  });

  it('interrupts a reviewed call; approved by a lead in Warden, the resumed run runs it once', async () => {
    const model = new ScriptedModel([[callTool('refund', { id: 'o-9', amount: 40 })], [say('refunded')]]);
    const { agent, runs } = supportAgent(fx.warden, 'refund', model);
    const first = await runner.run(agent, 'refund o-9');
    expect(first.interruptions.map((i) => i.name)).toEqual(['refund']);
    expect(runs).toEqual([]);

    const [summary, approvalId] = await Promise.all([
      resolveWardenApprovals(fx.warden, first, { timeoutMs: 5_000 }),
      approveWhenPending(fx.engine),
    ]);
    expect(summary.others).toEqual([]);
    expect(
      summary.resolutions.map((r) => [r.toolCallId, r.approvalId, r.outcome, r.approval.decidedBy]),
    ).toEqual([['call_1', approvalId, 'approved', 'lee']]);

    const resumed = await runner.run(agent, first.state);
    expect(resumed.finalOutput).toBe('refunded');
    expect(runs).toEqual([{ id: 'o-9', amount: 40 }]);
    expect(toolOutputSeen(model.inputs[1])).toContain('"amount":40');
    const approval = await fx.engine.approvals.get(approvalId);
    expect(approval.status).toBe('used');
    // However often the SDK asks needsApproval, one model call opens one request.
    const all = await fx.engine.approvals.list({ limit: 10 });
    expect(all.approvals.map((a) => a.id)).toEqual([approvalId]);
    const used = await callEvents(fx.engine, approval.usedByCall as string);
    expect(used.map((e) => e.type)).toEqual(['call.decided', 'call.completed']);
    expect(used[1]?.outcome?.result).toEqual({ ok: true, tool: 'refund', id: 'o-9', amount: 40 });
  });

  it('resumes from state.toString() in a fresh client, agent and tool, and runs the tool once', async () => {
    const model = new ScriptedModel([[callTool('refund', { id: 'o-5', amount: 15 })]]);
    const before = supportAgent(fx.warden, 'refund', model);
    const first = await runner.run(before.agent, 'refund o-5', { context: { ticket: 't-5' } });
    expect(first.interruptions).toHaveLength(1);
    const saved = first.state.toString();
    const approvalId = await approveWhenPending(fx.engine);

    // Another "process": a new client on the same database (its own default session), new tool objects.
    const later = await createWarden({
      embedded: { db: fx.db, policy: fx.policyFile, agent: 'support-bot' },
    });
    try {
      const model2 = new ScriptedModel([[say('refunded after restart')]]);
      const after = supportAgent(later, 'refund', model2);
      const state = await RunState.fromString(after.agent, saved);
      const summary = await resolveWardenApprovals(later, state, { timeoutMs: 1_000 });
      expect(summary.resolutions.map((r) => r.outcome)).toEqual(['approved']);
      const resumed = await runner.run(after.agent, state);
      expect(resumed.finalOutput).toBe('refunded after restart');
      expect(before.runs).toEqual([]);
      expect(after.runs).toEqual([{ id: 'o-5', amount: 15 }]);
      expect(toolOutputSeen(model2.inputs[0])).toContain('"amount":15');
      const approval = await fx.engine.approvals.get(approvalId);
      expect(approval.status).toBe('used');
      // A restored run asks needsApproval again: the remembered decision answers, no second request.
      const all = await fx.engine.approvals.list({ limit: 10 });
      expect(all.approvals.map((a) => a.id)).toEqual([approvalId]);
      // Redeemed in the session it was requested in, not the new client's default one.
      const used = await callEvents(fx.engine, approval.usedByCall as string);
      expect(used[0]?.session).toBe(approval.session);
      expect(approval.session).not.toBe(later.context().session);
      // The run's own context travelled, and the spent record was dropped from it.
      expect(resumed.state._context.context).toEqual({ ticket: 't-5', [WARDEN_CALLS_KEY]: {} });
    } finally {
      await later.close();
    }
  });

  it('denied in Warden: rejected in the run, the tool never runs and the model is told who denied it', async () => {
    const model = new ScriptedModel([[callTool('refund', { id: 'o-7', amount: 90 })], [say('no refund')]]);
    const { agent, runs } = supportAgent(fx.warden, 'refund', model);
    const first = await runner.run(agent, 'refund o-7');
    const [summary] = await Promise.all([
      resolveWardenApprovals(fx.warden, first.state, { timeoutMs: 5_000 }),
      approveWhenPending(fx.engine, lee, 'deny'),
    ]);
    expect(summary.resolutions.map((r) => [r.outcome, r.approval.status])).toEqual([['rejected', 'denied']]);
    const resumed = await runner.run(agent, first.state);
    expect(resumed.finalOutput).toBe('no refund');
    expect(runs).toEqual([]);
    const seen = toolOutputSeen(model.inputs[1]);
    expect(seen).toContain('Warden did not approve refund: it was denied by lee: not today');
  });

  it('approving only in the Agents SDK does not run the tool: Warden refuses and the request is withdrawn', async () => {
    const model = new ScriptedModel([[callTool('refund', { id: 'o-8', amount: 70 })], [say('could not')]]);
    const { agent, runs } = supportAgent(fx.warden, 'refund', model);
    const first = await runner.run(agent, 'refund o-8');
    const [item] = first.interruptions;
    if (!item) throw new Error('expected an interruption');
    first.state.approve(item);
    const resumed = await runner.run(agent, first.state);
    expect(resumed.finalOutput).toBe('could not');
    expect(runs).toEqual([]);
    expect(toolOutputSeen(model.inputs[1])).toMatch(
      /Warden did not run refund: it needs an approval made in Warden/,
    );
    const { approvals } = await fx.engine.approvals.list({ limit: 10 });
    expect(approvals.map((a) => a.status)).toEqual(['cancelled']);
  });

  it('an approval the SDK applies to every later call (alwaysApprove) still needs Warden for each', async () => {
    const model = new ScriptedModel([
      [callTool('refund', { id: 'o-1', amount: 1 }, 'call_1')],
      [callTool('refund', { id: 'o-2', amount: 2 }, 'call_2')],
      [say('done')],
    ]);
    const { agent, runs } = supportAgent(fx.warden, 'refund', model);
    const first = await runner.run(agent, 'refund both');
    const [item] = first.interruptions;
    if (!item) throw new Error('expected an interruption');
    await approveWhenPending(fx.engine);
    const summary = await resolveWardenApprovals(fx.warden, first, { timeoutMs: 1_000 });
    expect(summary.resolutions.map((r) => r.outcome)).toEqual(['approved']);
    first.state.approve(item, { alwaysApprove: true });
    const resumed = await runner.run(agent, first.state);
    expect(resumed.finalOutput).toBe('done');
    // The first refund was approved in Warden; the second one never was.
    expect(runs).toEqual([{ id: 'o-1', amount: 1 }]);
    expect(toolOutputSeen(model.inputs[2], 'call_2')).toContain('Warden did not run refund');
  });

  it('maps each interrupted call to its own Warden request: one approved, one denied, in one turn', async () => {
    const model = new ScriptedModel([
      [
        callTool('refund', { id: 'o-1', amount: 10 }, 'call_a'),
        callTool('refund', { id: 'o-2', amount: 20 }, 'call_b'),
      ],
      [say('one of two')],
    ]);
    const { agent, runs } = supportAgent(fx.warden, 'refund', model);
    const first = await runner.run(agent, 'refund both');
    expect(first.interruptions).toHaveLength(2);
    // Asked without waiting: both pending, nothing decided in the run yet.
    const asked = await resolveWardenApprovals(fx.warden, first, { timeoutMs: 0 });
    expect(asked.resolutions.map((r) => r.outcome)).toEqual(['pending', 'pending']);
    const idOf = (callId: string) => asked.resolutions.find((r) => r.toolCallId === callId)?.approvalId ?? '';
    const a = await fx.engine.approvals.get(idOf('call_a'));
    expect(a.args).toEqual({ id: 'o-1', amount: 10 });
    await fx.engine.approvals.vote(idOf('call_a'), lee, 'approve');
    await fx.engine.approvals.vote(idOf('call_b'), lee, 'deny', { reason: 'too much' });

    const decided = await resolveWardenApprovals(fx.warden, first, { timeoutMs: 1_000 });
    expect(decided.resolutions.map((r) => [r.toolCallId, r.outcome])).toEqual([
      ['call_a', 'approved'],
      ['call_b', 'rejected'],
    ]);
    const resumed = await runner.run(agent, first.state);
    expect(resumed.finalOutput).toBe('one of two');
    expect(runs).toEqual([{ id: 'o-1', amount: 10 }]);
    expect(toolOutputSeen(model.inputs[1], 'call_b')).toContain('denied by lee: too much');
  });

  it("records a failing tool's error in Warden; the model gets the SDK's generic text, not the error", async () => {
    const model = new ScriptedModel([
      [callTool('lookup_order', { id: 'o-6', amount: 0 })],
      [say('try later')],
    ]);
    const failing = wardenTool(fx.warden, {
      name: 'lookup_order',
      description: 'look an order up',
      parameters: z.object({ id: z.string(), amount: z.number() }),
      execute: async () => {
        throw new RangeError('order service down at 10.0.0.7');
      },
    });
    const agent = new Agent({ name: 'support', model, tools: [failing] });
    const result = await runner.run(agent, 'where is o-6?');
    expect(result.finalOutput).toBe('try later');
    const seen = toolOutputSeen(model.inputs[1]);
    expect(seen).toBe('An error occurred while running the tool. Please try again.');
    const { parseAuditQuery } = await import('@warden/engine');
    const { records } = await fx.engine.store.queryAudit(
      parseAuditQuery({ type: 'call.completed', limit: 10 }),
    );
    expect(records.map((r) => r.event.outcome)).toMatchObject([
      { status: 'error', error: 'RangeError: order service down at 10.0.0.7' },
    ]);
  });

  it('leaves a review that is still pending undecided, in the run and in Warden', async () => {
    const model = new ScriptedModel([[callTool('refund', { id: 'o-3', amount: 5 })]]);
    const { agent } = supportAgent(fx.warden, 'refund', model);
    const first = await runner.run(agent, 'refund o-3');
    const summary = await resolveWardenApprovals(fx.warden, first, { timeoutMs: 60 });
    expect(summary.resolutions.map((r) => [r.outcome, r.approval.status])).toEqual([['pending', 'pending']]);
    const [item] = first.interruptions;
    expect(first.state._context.isToolApproved({ toolName: 'refund', callId: 'call_1' })).toBeUndefined();
    expect(item?.name).toBe('refund');
    const { approvals } = await fx.engine.approvals.list({ limit: 10 });
    expect(approvals.map((a) => a.status)).toEqual(['pending']);
  });

  it('ignores an allow forged into the run context: Warden is asked again and the blocked tool never runs', async () => {
    const { governed, runs } = countingTool(fx.warden, 'delete_customer');
    const args = { id: 'c-1', amount: 0 };
    // Straight to the tool, as a restored RunState with an edited context would get there.
    const runContext = new RunContext({ [WARDEN_CALLS_KEY]: { call_1: forgedAllow('delete_customer') } });
    const output = await governed.invoke(
      runContext,
      JSON.stringify(args),
      callDetails('delete_customer', args),
    );
    expect(runs).toEqual([]);
    expect(output).toContain('Warden blocked delete_customer: customers are never deleted by an agent');
    const audit = await toolAudit(fx, 'delete_customer');
    expect(audit.map((e) => [e.type, e.effect, e.args])).toEqual([['call.decided', 'block', args]]);
    expect(audit[0]?.callId).not.toBe('x');
    // Nor does the record spare needsApproval a decision in the run loop: the model reads the refusal.
    const model = new ScriptedModel([[callTool('delete_customer', args)], [say('sorry')]]);
    const agent = new Agent({ name: 'support', model, tools: [governed] });
    const result = await runner.run(agent, 'delete c-1', {
      context: { [WARDEN_CALLS_KEY]: { call_1: forgedAllow('delete_customer') } },
    });
    expect(result.finalOutput).toBe('sorry');
    expect(result.interruptions).toEqual([]);
    expect(runs).toEqual([]);
    expect(toolOutputSeen(model.inputs[1])).toContain('Warden blocked delete_customer');
    expect((await toolAudit(fx, 'delete_customer')).map((e) => [e.type, e.effect])).toEqual([
      ['call.decided', 'block'],
      ['call.decided', 'block'],
    ]);
  });

  it("does not use another tool's record for a call, not even one whose approval a lead gave", async () => {
    // A real, approved review of a refund.
    const refundModel = new ScriptedModel([
      [callTool('refund', { id: 'o-2', amount: 30 })],
      [say('refunded')],
    ]);
    const refund = supportAgent(fx.warden, 'refund', refundModel);
    const first = await runner.run(refund.agent, 'refund o-2');
    const approvalId = await approveWhenPending(fx.engine);
    const records = first.state._context.context as unknown as Record<string, Record<string, unknown>>;
    const refundRecord = records[WARDEN_CALLS_KEY]?.call_1;
    expect(refundRecord).toMatchObject({ tool: 'refund', decision: { effect: 'review' } });

    const { governed, runs } = countingTool(fx.warden, 'delete_customer');
    const args = { id: 'c-2', amount: 0 };
    // The refund's record, and an allow said to be lookup_order's, each put under a delete_customer call.
    for (const [callId, record] of [
      ['call_1', refundRecord],
      ['call_2', forgedAllow('lookup_order')],
    ] as const) {
      const runContext = new RunContext({ [WARDEN_CALLS_KEY]: { [callId]: record } });
      // needsApproval decides anew (a block): it neither interrupts for the refund's review nor waves it on.
      expect(await governed.needsApproval(runContext, args, callId)).toBe(false);
      const output = await governed.invoke(
        runContext,
        JSON.stringify(args),
        callDetails('delete_customer', args, callId),
      );
      expect(output).toContain('Warden blocked delete_customer');
      // And execute does not redeem the refund's approval either when needsApproval was never asked.
      const direct = new RunContext({ [WARDEN_CALLS_KEY]: { [callId]: record } });
      const again = await governed.invoke(
        direct,
        JSON.stringify(args),
        callDetails('delete_customer', args, callId),
      );
      expect(again).toContain('Warden blocked delete_customer');
    }
    expect(runs).toEqual([]);
    expect((await toolAudit(fx, 'delete_customer')).map((e) => [e.type, e.effect])).toEqual(
      Array.from({ length: 4 }, () => ['call.decided', 'block']),
    );
    // The approval was never presented for the other tool: it is still there for the refund it was given for.
    expect((await fx.engine.approvals.get(approvalId)).status).toBe('approved');
    const summary = await resolveWardenApprovals(fx.warden, first, { timeoutMs: 1_000 });
    expect(summary.resolutions.map((r) => r.outcome)).toEqual(['approved']);
    const resumed = await runner.run(refund.agent, first.state);
    expect(resumed.finalOutput).toBe('refunded');
    expect(refund.runs).toEqual([{ id: 'o-2', amount: 30 }]);
    expect((await fx.engine.approvals.get(approvalId)).status).toBe('used');
  });

  it('runs an allowed call once per decision: executing the same call id again is decided anew', async () => {
    const { governed, runs } = countingTool(fx.warden, 'lookup_order');
    const args = { id: 'o-1', amount: 0 };
    const runContext = new RunContext({});
    expect(await governed.needsApproval(runContext, args, 'call_1')).toBe(false);
    // The allow is held in memory only: nothing that lets a call run is written to the serialised context.
    expect(runContext.context).toEqual({ [WARDEN_CALLS_KEY]: {} });
    const details = callDetails('lookup_order', args);
    await governed.invoke(runContext, JSON.stringify(args), details);
    await governed.invoke(runContext, JSON.stringify(args), details);
    expect(runs).toEqual([args, args]);
    const audit = await toolAudit(fx, 'lookup_order');
    expect(audit.map((e) => [e.type, e.effect ?? null])).toEqual([
      ['call.decided', 'allow'],
      ['call.completed', null],
      ['call.decided', 'allow'],
      ['call.completed', null],
    ]);
    // Two decisions, each completed once.
    const [a, b] = [audit[0]?.callId, audit[2]?.callId];
    expect(a).not.toBe(b);
    expect([audit[1]?.callId, audit[3]?.callId]).toEqual([a, b]);
  });

  it('decides anew when the arguments executed are not the ones Warden allowed', async () => {
    const { governed, runs } = countingTool(fx.warden, 'lookup_order');
    const runContext = new RunContext({});
    expect(await governed.needsApproval(runContext, { id: 'o-1', amount: 0 }, 'call_1')).toBe(false);
    const edited = { id: 'o-2', amount: 0 };
    await governed.invoke(runContext, JSON.stringify(edited), callDetails('lookup_order', edited));
    expect(runs).toEqual([edited]);
    const audit = await toolAudit(fx, 'lookup_order');
    // The abandoned allow is ended as not run before the new decision: its token reservation (the default
    // estimate, under the session's tokens budget) is released, not held until its lease charges it.
    expect(audit.map((e) => [e.type, e.args])).toEqual([
      ['call.decided', { id: 'o-1', amount: 0 }],
      ['call.completed', undefined],
      ['call.decided', edited],
      ['call.completed', undefined],
    ]);
    expect(audit[1]?.callId).toBe(audit[0]?.callId);
    expect(audit[3]?.callId).toBe(audit[2]?.callId);
  });

  it('decides with the context given in the options: session and triggering human in the audit', async () => {
    // The model calls the tool by the name it was given; the policy sees lookup_order.
    const model = new ScriptedModel([[callTool('lookup', { id: 'o-4', amount: 0 })], [say('ok')]]);
    const lookup = wardenTool(fx.warden, {
      name: 'lookup',
      toolName: 'lookup_order',
      description: 'look an order up',
      parameters: z.object({ id: z.string(), amount: z.number() }),
      context: (rc: RunContext<{ ticket: string }>) => ({ session: rc.context.ticket, triggeredBy: 'maria' }),
      execute: async ({ id }) => ({ id, status: 'shipped' }),
    });
    const agent = new Agent<{ ticket: string }>({ name: 'support', model, tools: [lookup] });
    const result = await runner.run(agent, 'where is o-4?', { context: { ticket: 'task-77' } });
    expect(result.finalOutput).toBe('ok');
    const { parseAuditQuery } = await import('@warden/engine');
    const { records } = await fx.engine.store.queryAudit(parseAuditQuery({ session: 'task-77', limit: 10 }));
    expect(records.map((r) => [r.event.type, r.event.tool, r.event.triggeredBy])).toEqual([
      ['call.decided', 'lookup_order', 'maria'],
      ['call.completed', 'lookup_order', 'maria'],
    ]);
  });

  it('under a task token: the saved run state holds no token, and the resumed run redeems under the task', async () => {
    const task = await fx.warden.startTask({ initiator: { subject: 'u-9', name: 'maria' } });
    const agentClient = await createWarden({
      embedded: { db: fx.db, policy: fx.policyFile, agent: 'support-bot' },
      taskToken: task.token,
    });
    const later = await createWarden({
      embedded: { db: fx.db, policy: fx.policyFile, agent: 'support-bot' },
      taskToken: task.token,
    });
    try {
      const model = new ScriptedModel([[callTool('refund', { id: 'o-6', amount: 12 })]]);
      const first = await runner.run(supportAgent(agentClient, 'refund', model).agent, 'refund o-6');
      expect(first.interruptions).toHaveLength(1);
      const saved = first.state.toString();
      // A bearer token does not belong in a file the app saves: only the task's session is kept.
      expect(saved).not.toContain(task.token);
      expect(saved).toContain(task.session);
      const approvalId = await approveWhenPending(fx.engine);
      const after = supportAgent(later, 'refund', new ScriptedModel([[say('refunded under the task')]]));
      const state = await RunState.fromString(after.agent, saved);
      await resolveWardenApprovals(later, state, { timeoutMs: 1_000 });
      expect((await runner.run(after.agent, state)).finalOutput).toBe('refunded under the task');
      expect(after.runs).toEqual([{ id: 'o-6', amount: 12 }]);
      const approval = await fx.engine.approvals.get(approvalId);
      const [redeemed] = await callEvents(fx.engine, approval.usedByCall as string);
      expect(redeemed).toMatchObject({
        session: task.session,
        triggeredBy: 'maria',
        identity: { taskToken: { tokenId: task.tokenId }, initiator: { subject: 'u-9' } },
      });
    } finally {
      await agentClient.close();
      await later.close();
    }
  });
});
