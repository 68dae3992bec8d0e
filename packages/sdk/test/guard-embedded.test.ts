import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  approveWhenPending,
  callEvents,
  type EmbeddedFixture,
  embeddedWarden,
  lee,
  refusalOf,
} from '../test-support/sdk-fixtures.js';

const refusal = refusalOf;

describe('guard (embedded, real SQLite file)', () => {
  let fx: EmbeddedFixture;
  beforeEach(async () => {
    fx = await embeddedWarden();
  });
  afterEach(async () => {
    await fx?.close();
  });

  it('runs an allowed call and records its result and duration durably', async () => {
    let ran = 0;
    const lookup = fx.warden.guard('lookup_order', async ({ id }: { id: string }) => {
      ran++;
      return { id, status: 'shipped' };
    });
    expect(await lookup({ id: 'o-1' })).toEqual({ id: 'o-1', status: 'shipped' });
    expect(ran).toBe(1);
    const { records } = await fx.engine.store.queryAudit(
      (await import('@warden/engine')).parseAuditQuery({ tool: 'lookup_order', limit: 10 }),
    );
    const types = records.map((r) => r.event.type);
    expect(types).toEqual(['call.decided', 'call.completed']);
    const completed = records[1]?.event;
    expect(completed?.outcome?.status).toBe('ok');
    expect(completed?.outcome?.result).toEqual({ id: 'o-1', status: 'shipped' });
    expect(completed?.outcome?.durationMs).toBeGreaterThanOrEqual(0);
    expect(records[0]?.event.args).toEqual({ id: 'o-1' });
  });

  it('raises CALL_BLOCKED with the reason and never runs a blocked call', async () => {
    let ran = false;
    const del = fx.warden.guard('delete_customer', async (_: { id: string }) => {
      ran = true;
    });
    const err = await refusal(del({ id: 'c-1' }));
    expect(err.code).toBe('CALL_BLOCKED');
    expect(err.message).toContain('customers are never deleted by an agent');
    expect(err.details.ruleId).toBe('never-delete');
    expect(ran).toBe(false);
    const events = await callEvents(fx.engine, err.details.callId as string);
    expect(events.map((e) => e.type)).toEqual(['call.decided']);
  });

  it('a tool the policy does not name is blocked by default', async () => {
    const err = await refusal(fx.warden.guard('drop_tables', async () => 1)());
    expect(err.code).toBe('CALL_BLOCKED');
    expect(err.details.ruleId).toBeNull();
  });

  it('records the error of a failing tool and rethrows it unchanged', async () => {
    const boom = new RangeError('order service down');
    const lookup = fx.warden.guard('lookup_order', async (_: { id: string }) => {
      throw boom;
    });
    await expect(lookup({ id: 'o-2' })).rejects.toBe(boom);
    const { parseAuditQuery } = await import('@warden/engine');
    const { records } = await fx.engine.store.queryAudit(
      parseAuditQuery({ type: 'call.completed', limit: 10 }),
    );
    expect(records[0]?.event.outcome).toMatchObject({
      status: 'error',
      error: 'RangeError: order service down',
    });
  });

  it('holds a reviewed call until a lead approves, then runs it once', async () => {
    let ran = 0;
    const pending: string[] = [];
    const refund = fx.warden.guard(
      'refund',
      async ({ amount }: { amount: number }) => {
        ran++;
        return { refunded: amount };
      },
      { onApprovalPending: (p) => pending.push(p.approvalId) },
    );
    const [result, approvalId] = await Promise.all([refund({ amount: 40 }), approveWhenPending(fx.engine)]);
    expect(result).toEqual({ refunded: 40 });
    expect(ran).toBe(1);
    expect(pending).toEqual([approvalId]);
    const a = await fx.engine.approvals.get(approvalId);
    expect(a.status).toBe('used');
    // The call that ran is the redeemed one, and its result is recorded under it.
    const completed = await callEvents(fx.engine, a.usedByCall as string);
    expect(completed.map((e) => e.type)).toEqual(['call.decided', 'call.completed']);
  });

  it('a denied review raises APPROVAL_DENIED naming who denied it, and nothing runs', async () => {
    let ran = false;
    const refund = fx.warden.guard('refund', async (_: { amount: number }) => {
      ran = true;
    });
    const [err] = await Promise.all([
      refusal(refund({ amount: 90 })),
      approveWhenPending(fx.engine, lee, 'deny'),
    ]);
    expect(err.code).toBe('APPROVAL_DENIED');
    expect(err.message).toContain('denied by lee');
    expect(ran).toBe(false);
  });

  it('times out, withdraws the request and raises APPROVAL_TIMEOUT', async () => {
    const refund = fx.warden.guard('refund', async (_: { amount: number }) => 'ran', {
      approvalTimeoutMs: 150,
    });
    const err = await refusal(refund({ amount: 10 }));
    expect(err.code).toBe('APPROVAL_TIMEOUT');
    const a = await fx.engine.approvals.get(err.details.approvalId as string);
    expect(a.status).toBe('cancelled');
  });

  it('an AbortSignal stops the wait and withdraws the request', async () => {
    const ctl = new AbortController();
    const refund = fx.warden.guard('refund', async (_: { amount: number }) => 'ran', {
      signal: ctl.signal,
      onApprovalPending: () => setTimeout(() => ctl.abort(), 30),
    });
    const err = await refusal(refund({ amount: 10 }));
    expect(err.code).toBe('CALL_ABORTED');
    const a = await fx.engine.approvals.get(err.details.approvalId as string);
    expect(a.status).toBe('cancelled');
  });

  it('carries session, triggering human and delegation chain from the context (explicit and async)', async () => {
    const lookup = fx.warden.guard('lookup_order', async (_: { id: string }) => 'ok');
    await fx.warden.withContext({ session: 'task-42', triggeredBy: 'maria' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      await fx.warden.withContext({ delegationChain: ['planner'] }, () => lookup({ id: 'o-3' }));
    });
    const { parseAuditQuery } = await import('@warden/engine');
    const { records } = await fx.engine.store.queryAudit(parseAuditQuery({ session: 'task-42', limit: 10 }));
    expect(records[0]?.event).toMatchObject({
      session: 'task-42',
      triggeredBy: 'maria',
      delegationChain: ['planner'],
      agent: 'support-bot',
    });
  });

  it('the triggering human cannot approve the task they started', async () => {
    const refund = fx.warden.guard('refund', async (_: { amount: number }) => 'ran', {
      approvalTimeoutMs: 2_000,
    });
    const run = fx.warden.withContext({ session: 'task-lee', triggeredBy: 'lee' }, () =>
      refund({ amount: 5 }),
    );
    const vote = (async () => {
      for (;;) {
        const page = await fx.engine.approvals.list({ status: 'pending', limit: 1 });
        if (page.approvals[0]) return refusal(fx.engine.approvals.vote(page.approvals[0].id, lee, 'approve'));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    expect((await vote).code).toBe('APPROVAL_SELF_APPROVAL');
    expect((await refusal(run)).code).toBe('APPROVAL_TIMEOUT');
  });

  it('recordUsage settles model tokens in the session budget and refuses once it is spent', async () => {
    await fx.warden.withContext({ session: 'spend' }, async () => {
      await fx.warden.recordUsage({
        provider: 'openai',
        model: 'gpt-4o-mini',
        inputTokens: 3000,
        outputTokens: 2500,
      });
      // 5,500 tokens settled over a 5,000 limit: the session is paused and the next report is refused.
      const err = await refusal(
        fx.warden.recordUsage({ provider: 'openai', model: 'gpt-4o-mini', inputTokens: 1 }),
      );
      expect(['BUDGET_EXCEEDED', 'SESSION_PAUSED']).toContain(err.code);
    });
    const status = await fx.engine.budgets.status({ session: 'spend' });
    expect(status.find((b) => b.budgetId === 'session-tokens')?.used).toBe(5500);
  });

  it('a review whose rule says onTimeout: allow runs once nobody decided in time', async () => {
    const ping = fx.warden.guard('ping', async () => 'pong');
    expect(await ping()).toBe('pong');
    const { parseAuditQuery } = await import('@warden/engine');
    const { records } = await fx.engine.store.queryAudit(parseAuditQuery({ tool: 'ping', limit: 10 }));
    // Held, expired with nobody deciding, redeemed under the rule's onTimeout: allow, then run once.
    expect(records.map((r) => r.event.type)).toEqual([
      'call.decided',
      'approval.requested',
      'approval.decided',
      'call.decided',
      'approval.used',
      'call.completed',
    ]);
  });
});
