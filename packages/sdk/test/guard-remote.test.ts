import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import { startTestServer, type TestServer } from '../../server/test-support/server-fixtures.js';
import { createWarden } from '../src/create-warden.js';
import type { Warden } from '../src/warden.js';
import { refusalOf, SDK_POLICY } from '../test-support/sdk-fixtures.js';

/** The same guard, remote: a real server on a socket (SQLite and PostgreSQL), the agent's key, HTTP. */
describe.each(['sqlite', 'postgres'] as const)('guard against a Warden server (%s)', (dialect) => {
  let dir: string;
  let srv: TestServer;
  let warden: Warden;
  let lee: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warden-sdk-remote-'));
    writeFileSync(join(dir, 'policy.yaml'), SDK_POLICY);
    srv = await startTestServer(dialect, { policy: join(dir, 'policy.yaml') }, { listen: true });
    const key = await srv.key('agent', 'support-bot', 'agent');
    lee = await srv.key('human', 'lee', 'approver');
    warden = await createWarden({ url: srv.server.url, key, context: { session: `remote-${dialect}` } });
  }, 60_000);
  afterAll(async () => {
    await warden?.close();
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const pending = () =>
    eventually('a pending request', async () => {
      const r = await srv.request('GET', '/v1/approvals?status=pending', { key: lee });
      return (r.json() as { approvals: { id: string }[] }).approvals[0]?.id;
    });

  it('runs an allowed call and records it; refuses a blocked one before it runs', async () => {
    const lookup = warden.guard('lookup_order', async ({ id }: { id: string }) => ({ id, ok: true }));
    expect(await lookup({ id: 'o-9' })).toEqual({ id: 'o-9', ok: true });
    let ran = false;
    const del = warden.guard('delete_customer', async (_: { id: string }) => {
      ran = true;
    });
    const err = await refusalOf(del({ id: 'c-1' }));
    expect(err.code).toBe('CALL_BLOCKED');
    expect(ran).toBe(false);
    const r = await srv.request('GET', `/v1/audit/events?session=remote-${dialect}&limit=20`, {
      key: srv.admin,
    });
    const types = (r.json() as { records: { event: { type: string; tool: string } }[] }).records.map(
      (x) => `${x.event.type}:${x.event.tool}`,
    );
    expect(types).toEqual([
      'call.decided:lookup_order',
      'call.completed:lookup_order',
      'call.decided:delete_customer',
    ]);
  });

  it('waits over HTTP for an approval made through the API, then runs once', async () => {
    let ran = 0;
    const refund = warden.guard('refund', async ({ amount }: { amount: number }) => {
      ran++;
      return amount;
    });
    const call = refund({ amount: 30 });
    const id = await pending();
    expect(
      (await srv.request('POST', `/v1/approvals/${id}/approve`, { key: lee, body: {} })).statusCode,
    ).toBe(200);
    expect(await call).toBe(30);
    expect(ran).toBe(1);
    const a = await srv.request('GET', `/v1/approvals/${id}`, { key: lee });
    expect((a.json() as { status: string }).status).toBe('used');
  });

  it('a timeout withdraws the request on the server', async () => {
    const refund = warden.guard('refund', async (_: { amount: number }) => 'ran', { approvalTimeoutMs: 300 });
    const err = await refusalOf(refund({ amount: 5 }));
    expect(err.code).toBe('APPROVAL_TIMEOUT');
    const a = await srv.request('GET', `/v1/approvals/${err.details.approvalId}`, { key: lee });
    expect((a.json() as { status: string }).status).toBe('cancelled');
  });

  it('an all-zero estimate reserves the default; recordUsage, marked spent, reserves nothing', async () => {
    const key = await srv.key('agent', 'support-bot', 'agent');
    const zero = await srv.request('POST', '/v1/calls', {
      key,
      body: { tool: 'llm:openai', session: `zero-${dialect}`, estimate: { inputTokens: 0, costUsd: 0 } },
    });
    expect(zero.statusCode).toBe(200);
    const held = await srv.request('GET', `/v1/budgets?session=zero-${dialect}`, { key: lee });
    const line = (held.json() as { budgets: { budgetId: string; reserved: number }[] }).budgets.find(
      (b) => b.budgetId === 'session-tokens',
    );
    expect(line?.reserved).toBe(4_096);
    // 2,000 tokens spent leave 3,000 of 5,000: less than the default, yet the next report goes through.
    await warden.withContext({ session: `spent-${dialect}` }, async () => {
      await warden.recordUsage({
        provider: 'openai',
        model: 'gpt-4o-mini',
        inputTokens: 1500,
        outputTokens: 500,
      });
      await warden.recordUsage({
        provider: 'openai',
        model: 'gpt-4o-mini',
        inputTokens: 1500,
        outputTokens: 500,
      });
    });
    const spent = await srv.request('GET', `/v1/budgets?session=spent-${dialect}`, { key: lee });
    expect(
      (spent.json() as { budgets: { budgetId: string; used: number; reserved: number }[] }).budgets.find(
        (b) => b.budgetId === 'session-tokens',
      ),
    ).toMatchObject({ used: 4_000, reserved: 0 });
  });

  it('a bad key or an unreachable server is a clear error, and nothing runs', async () => {
    const stranger = await createWarden({ url: srv.server.url, key: 'wdn_not-a-real-key' });
    let ran = false;
    const err = await refusalOf(
      stranger.guard('lookup_order', async () => {
        ran = true;
      })(),
    );
    expect(err.code).toBe('UNAUTHENTICATED');
    const nowhere = await createWarden({ url: 'http://127.0.0.1:1', key: 'wdn_x' });
    const gone = await refusalOf(nowhere.guard('lookup_order', async () => (ran = true))());
    expect(gone.code).toBe('WARDEN_UNREACHABLE');
    expect(gone.message).toMatch(/^Warden at http:\/\/127\.0\.0\.1:1 is unreachable \(bad port\)/);
    expect(ran).toBe(false);
    await expect(createWarden({ url: 'not a url', key: 'k' })).rejects.toThrow(/is not a URL/);
  });
});
