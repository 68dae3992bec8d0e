import { tool as lcTool } from '@langchain/core/tools';
import type { AuditEvent } from '@warden/core';
import { generateText, isStepCount, tool, wrapLanguageModel } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { wardenMiddleware, wardenTools } from '../src/adapters/ai-sdk.js';
import { wardenTool as langchainTool } from '../src/adapters/langchain.js';
import { forgeTaskToken } from '../test-support/forged-task-token.js';
import { type EmbeddedFixture, embeddedWarden, refusalOf, SDK_POLICY } from '../test-support/sdk-fixtures.js';

/** The SDK's policy plus a research sub-agent the support agent delegates to. */
const POLICY = `${SDK_POLICY}
  researcher:
    rules:
      - { id: research, effect: allow, tools: [search_docs] }
`;

/** Embedded mode (a real SQLite file): starting a task and delegating are one SDK call each. */
describe('task tokens in the embedded SDK', () => {
  let fx: EmbeddedFixture;
  beforeEach(async () => {
    fx = await embeddedWarden(POLICY);
  });
  afterEach(async () => {
    await fx?.close();
  });

  const events = async (session: string, type?: string): Promise<AuditEvent[]> => {
    const { parseAuditQuery } = await import('@warden/engine');
    const q = parseAuditQuery({ session, ...(type ? { type } : {}), limit: 100 });
    return (await fx.engine.store.queryAudit(q)).records.map((r) => r.event);
  };

  it('startTask, then calls under withContext({ taskToken }) record the verified initiator and the task session', async () => {
    const task = await fx.warden.startTask({ initiator: { subject: 'u-1', name: 'maria' } });
    expect(task).toMatchObject({ agent: 'support-bot', initiator: { subject: 'u-1', name: 'maria' } });
    const lookup = fx.warden.guard('lookup_order', async ({ id }: { id: string }) => id);
    await fx.warden.withContext({ taskToken: task.token }, async () => {
      expect(fx.warden.context().session).toBe(task.session);
      expect(await lookup({ id: 'o-1' })).toBe('o-1');
    });
    const [decided] = await events(task.session, 'call.decided');
    expect(decided).toMatchObject({
      tool: 'lookup_order',
      session: task.session,
      triggeredBy: 'maria',
      identity: {
        agent: { method: 'task_token', tokenId: task.tokenId, taskId: task.taskId },
        initiator: { method: 'api_key', subject: 'u-1', name: 'maria' },
        taskToken: { tokenId: task.tokenId, taskId: task.taskId },
      },
    });
  });

  it("delegate('researcher') gives a client whose calls carry the chain, verified", async () => {
    const task = await fx.warden.startTask({ initiator: { subject: 'u-2', name: 'omar' } });
    const agent = fx.warden;
    const child = await agent.withContext({ taskToken: task.token }, () => agent.delegate('researcher'));
    try {
      expect(child.agent).toBe('researcher');
      expect(child.taskToken).not.toBe(task.token);
      const search = child.guard('search_docs', async ({ q }: { q: string }) => `found ${q}`);
      expect(await search({ q: 'refund policy' })).toBe('found refund policy');
    } finally {
      await child.close();
    }
    const decided = (await events(task.session, 'call.decided')).find((e) => e.tool === 'search_docs');
    expect(decided).toMatchObject({
      agent: 'researcher',
      session: task.session,
      triggeredBy: 'omar',
      delegationChain: ['support-bot'],
      identity: {
        initiator: { subject: 'u-2', name: 'omar' },
        chain: [{ agent: 'support-bot', method: 'task_token', taskId: task.taskId }],
      },
    });
    expect((await events(task.session, 'task.delegated')).length).toBe(1);
    // The engine closed with the parent only: the child was a view of it.
    expect((await fx.warden.check({ tool: 'lookup_order' })).effect).toBe('allow');
  });

  it('a forged token is refused (TASK_TOKEN_INVALID) before the tool runs, and recorded', async () => {
    const task = await fx.warden.startTask({ initiator: { subject: 'u-3', name: 'maria' } });
    const forged = await forgeTaskToken(task.token, {
      initiator: { method: 'api_key', subject: 'u-ceo', name: 'the-ceo' },
    });
    let ran = false;
    const lookup = fx.warden.guard('lookup_order', async (_: { id: string }) => {
      ran = true;
    });
    const err = await refusalOf(fx.warden.withContext({ taskToken: forged }, () => lookup({ id: 'o-2' })));
    expect(err.code).toBe('TASK_TOKEN_INVALID');
    expect(ran).toBe(false);
    const refused = await events(task.session, 'identity.refused');
    expect(refused[0]?.data).toMatchObject({ code: 'TASK_TOKEN_INVALID', reason: 'signature' });
  });

  it('the AI SDK adapter inherits the token from withContext: its tool and model calls record the task', async () => {
    const task = await fx.warden.startTask({ initiator: { subject: 'u-4', name: 'lina' } });
    const usage = {
      inputTokens: { total: 40, noCache: 40, cacheRead: undefined, cacheWrite: undefined },
      outputTokens: { total: 10, text: 10, reasoning: undefined },
    };
    const inner = new MockLanguageModelV4({
      provider: 'openai.chat',
      modelId: 'gpt-4o-mini',
      doGenerate: [
        {
          content: [
            { type: 'tool-call', toolCallId: 'tc-1', toolName: 'lookup_order', input: '{"id":"o-4"}' },
          ],
          finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
          usage,
          warnings: [],
        },
        {
          content: [{ type: 'text', text: 'o-4 has shipped' }],
          finishReason: { unified: 'stop', raw: 'stop' },
          usage,
          warnings: [],
        },
      ],
    });
    const tools = {
      lookup_order: tool({
        inputSchema: z.object({ id: z.string() }),
        execute: async ({ id }) => ({ id, status: 'shipped' }),
      }),
    };
    const result = await fx.warden.withContext({ taskToken: task.token }, () =>
      generateText({
        model: wrapLanguageModel({ model: inner, middleware: wardenMiddleware(fx.warden) }),
        tools: wardenTools(fx.warden, tools),
        prompt: 'Where is o-4?',
        stopWhen: isStepCount(3),
      }),
    );
    expect(result.text).toBe('o-4 has shipped');
    const decided = await events(task.session, 'call.decided');
    expect(decided.map((e) => e.tool).sort()).toEqual(['llm:openai', 'llm:openai', 'lookup_order']);
    for (const e of decided) {
      expect(e).toMatchObject({
        triggeredBy: 'lina',
        identity: { taskToken: { tokenId: task.tokenId }, initiator: { subject: 'u-4' } },
      });
    }
  });

  it('a LangChain tool inherits the token from withContext as well', async () => {
    const task = await fx.warden.startTask({ initiator: { subject: 'u-5', name: 'lina' } });
    const lookup = langchainTool(
      fx.warden,
      lcTool(async ({ id }: { id: string }) => `order ${id} shipped`, {
        name: 'lookup_order',
        description: 'Looks an order up',
        schema: z.object({ id: z.string() }),
      }),
    );
    const out = await fx.warden.withContext({ taskToken: task.token }, () => lookup.invoke({ id: 'o-5' }));
    expect(out).toBe('order o-5 shipped');
    const [decided] = await events(task.session, 'call.decided');
    expect(decided).toMatchObject({
      tool: 'lookup_order',
      triggeredBy: 'lina',
      identity: { taskToken: { tokenId: task.tokenId } },
    });
  });

  it('a value that cannot be a token is refused at once, naming where it came from', async () => {
    expect(() => fx.warden.withContext({ taskToken: 'not a token' }, () => 1)).toThrow(
      /withContext taskToken is not a task token/,
    );
    await expect(fx.warden.delegate('researcher')).rejects.toThrow(/needs a task token in force/);
  });
});
