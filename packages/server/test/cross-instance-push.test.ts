/**
 * Two in-process servers on one PostgreSQL database, both polling only once a minute: a session paused via
 * B reaches A's live events at once, because B's commit is announced (LISTEN/NOTIFY) and A's hub reads on it.
 */
import type { AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

/** Far beyond the test's deadline: whatever arrives in time was pushed, not polled. */
const POLL_MS = 60_000;

describe('cross-instance push on PostgreSQL', () => {
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    a = await startTestServer('postgres', { pollMs: POLL_MS });
    b = await startTestServer('postgres', { pollMs: POLL_MS, db: a.db });
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('a session paused via B reaches a listener on A long before A would poll', async () => {
    const agent = await a.key('agent', 'support-bot', 'agent');
    const decided = await b.request('POST', '/v1/calls', {
      key: agent,
      body: { tool: 'billing.refund', args: { amount: 20 } },
    });
    expect(decided.statusCode).toBe(200);
    const { session } = decided.json() as { session: string };

    const heard: AuditRecord[] = [];
    const unsubscribe = await a.server.ctx.hub.subscribe({ deliver: (r) => heard.push(r) });
    try {
      const paused = await b.request('POST', `/v1/sessions/${encodeURIComponent(session)}/pause`, {
        key: a.admin,
        body: { reason: 'cross-instance push' },
      });
      expect(paused.statusCode).toBe(200);
      const record = await eventually(
        'the pause on A',
        () => heard.find((r) => r.event.type === 'session.paused' && r.event.session === session),
        POLL_MS / 4,
      );
      expect(record.event.data).toMatchObject({ reason: 'cross-instance push' });
    } finally {
      unsubscribe();
    }
  });
});
