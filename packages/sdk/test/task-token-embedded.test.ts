import type { AuditEvent } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

  it('a value that cannot be a token is refused at once, naming where it came from', async () => {
    expect(() => fx.warden.withContext({ taskToken: 'not a token' }, () => 1)).toThrow(
      /withContext taskToken is not a task token/,
    );
    await expect(fx.warden.delegate('researcher')).rejects.toThrow(/needs a task token in force/);
  });
});
