/**
 * POST /v1/calls validates its body once: the route's schema (with the domain's rules) refuses a bad body
 * with 400, and a valid one goes to the engine as a validated call, not parsed a second time.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from '../../test-support/server-fixtures.js';

let t: TestServer;
let key: string;

beforeAll(async () => {
  t = await startTestServer('sqlite');
  key = await t.key('agent', 'support-bot', 'agent');
});

afterAll(async () => {
  vi.restoreAllMocks();
  await t?.close();
});

describe('POST /v1/calls validates once', () => {
  it('hands a valid body to the engine as a validated call; the decision is the same and recorded', async () => {
    const engine = t.server.ctx.engine;
    const validated = vi.spyOn(engine, 'checkValidated');
    const parsed = vi.spyOn(engine, 'check');
    const r = await t.request('POST', '/v1/calls', {
      key,
      body: {
        tool: 'http.get',
        args: { url: 'https://example.com' },
        session: 'once-1',
        labels: { team: 'a' },
      },
    });
    expect(r.statusCode).toBe(200);
    expect(parsed).not.toHaveBeenCalled();
    expect(validated).toHaveBeenCalledTimes(1);
    expect(validated.mock.calls[0]?.[0]).toEqual({
      tool: 'http.get',
      args: { url: 'https://example.com' },
      session: 'once-1',
      labels: { team: 'a' },
      agent: 'support-bot',
    });
    const { records } = await engine.store.queryAudit({ callId: r.json().callId, limit: 5 });
    expect(records.map((x) => x.event.type)).toEqual(['call.decided']);
    expect(records[0]?.event).toMatchObject({ agent: 'support-bot', tool: 'http.get', session: 'once-1' });
    validated.mockRestore();
    parsed.mockRestore();
  });

  it('refuses a body the domain rules refuse with 400, before the engine sees it', async () => {
    const validated = vi.spyOn(t.server.ctx.engine, 'checkValidated');
    const r = await t.request('POST', '/v1/calls', {
      key,
      body: { tool: 'http.get', triggeredBy: 'bad\u0007name' },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'REQUEST_INVALID' });
    expect(validated).not.toHaveBeenCalled();
    validated.mockRestore();
  });
});
