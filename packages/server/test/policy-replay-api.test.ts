/**
 * POST /v1/policy/replay on both stores: known calls decided through the API, then replayed under a
 * candidate policy; the exact changed calls come back, and nothing is applied or recorded.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplayReportSchema } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

const POLICY = `
name: replay api
agents:
  support-bot:
    rules:
      - { id: refunds-small, effect: allow, tools: [billing.refund], when: 'args.amount <= 100' }
      - { id: refunds-large, effect: review, tools: [billing.refund], when: 'args.amount > 100' }
      - { id: tickets, effect: allow, tools: ["tickets.*"] }
`;

/** Refunds over 50 reviewed; ticket deletion blocked. */
const CANDIDATE = `
name: replay api, stricter
agents:
  support-bot:
    rules:
      - { id: refunds-small, effect: allow, tools: [billing.refund], when: 'args.amount <= 50' }
      - { id: refunds-large, effect: review, tools: [billing.refund], when: 'args.amount > 50' }
      - { id: no-ticket-deletes, effect: block, tools: [tickets.delete] }
      - { id: tickets, effect: allow, tools: ["tickets.*"] }
`;

describe.each(['sqlite', 'postgres'] as const)('POST /v1/policy/replay (%s)', (dialect) => {
  let t: TestServer;
  let dir: string;
  let bot: string;
  let auditor: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warden-replay-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    t = await startTestServer(dialect, { policy: join(dir, 'policy.yaml') });
    bot = await t.key('agent', 'support-bot', 'agent');
    auditor = await t.key('human', 'audrey@acme.example', 'auditor');
    const calls: [string, string, Record<string, unknown>][] = [
      ['small', 'billing.refund', { amount: 20 }],
      ['medium', 'billing.refund', { amount: 80 }],
      ['large', 'billing.refund', { amount: 500 }],
      ['read', 'tickets.read', { id: 7 }],
      ['delete', 'tickets.delete', { id: 7 }],
    ];
    for (const [name, tool, args] of calls) {
      const r = await t.request('POST', '/v1/calls', { key: bot, body: { tool, args } });
      expect(r.statusCode, r.body).toBe(200);
      ids[name] = (r.json() as { callId: string }).callId;
    }
  });

  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const replay = (body: unknown, key = auditor) => t.request('POST', '/v1/policy/replay', { key, body });

  it('answers with the changed calls, grouped and counted, and writes nothing', async () => {
    const engine = t.server.ctx.engine;
    const head = await engine.store.head();
    const version = engine.policy.version;
    const r = await replay({ policy: { text: CANDIDATE }, since: '1h' });
    expect(r.statusCode, r.body).toBe(200);
    const report = ReplayReportSchema.parse(r.json());
    expect(report.totals).toEqual({
      recorded: 5,
      replayed: 5,
      unchanged: 3,
      changed: 2,
      effectChanged: 2,
      uncertain: 0,
      viaGrant: 0,
      notCompared: 0,
    });
    expect(report.changes.map((g) => [g.from, g.to, g.count, g.samples.map((s) => s.callId)])).toEqual([
      [
        { effect: 'allow', ruleId: 'refunds-small' },
        { effect: 'review', ruleId: 'refunds-large' },
        1,
        [ids.medium],
      ],
      [
        { effect: 'allow', ruleId: 'tickets' },
        { effect: 'block', ruleId: 'no-ticket-deletes' },
        1,
        [ids.delete],
      ],
    ]);
    expect(report.policy.name).toBe('replay api, stricter');
    expect(report.window.agent).toBeNull();
    expect(await engine.store.head()).toEqual(head);
    expect(engine.policy.version).toBe(version);
  });

  it('takes a folder policy, an agent and a limit', async () => {
    const r = await replay({
      policy: { sources: [{ path: 'policies/candidate.yaml', text: CANDIDATE }] },
      agent: 'support-bot',
      limit: 2,
    });
    expect(r.statusCode, r.body).toBe(200);
    const report = ReplayReportSchema.parse(r.json());
    expect(report.totals).toMatchObject({ recorded: 2, changed: 1 });
    expect(report.complete).toBe(false);
    expect(report.window.agent).toBe('support-bot');
  });

  it('refuses an invalid policy with POLICY_INVALID and its diagnostics, and a bad time with QUERY_INVALID', async () => {
    const bad = await replay({
      policy: { text: 'name: broken\nagents:\n  bot:\n    rules: [{ id: x, effect: maybe }]\n' },
    });
    expect(bad.statusCode, bad.body).toBe(400);
    const error = (bad.json() as { error: { code: string; details: { diagnostics: unknown[] } } }).error;
    expect(error.code).toBe('POLICY_INVALID');
    expect(error.details.diagnostics.length).toBeGreaterThan(0);

    const when = await replay({ policy: { text: CANDIDATE }, since: 'last week' });
    expect(when.statusCode, when.body).toBe(400);
    expect((when.json() as { error: { code: string } }).error.code).toBe('QUERY_INVALID');
  });

  it('is described in the OpenAPI document with its report schema', async () => {
    const r = await t.request('GET', '/openapi.json');
    const doc = r.json() as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(JSON.stringify(doc.paths['/v1/policy/replay']?.post?.responses['200'])).toMatch(
      /#\/components\/schemas\/PolicyReplayReport/,
    );
    expect(doc.components.schemas.PolicyReplayReport).toBeDefined();
  });
});
