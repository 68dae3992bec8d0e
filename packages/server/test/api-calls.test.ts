/**
 * The API end to end, in process (inject), on both stores: keys, decisions and their audit trail,
 * completions, sessions, policy changes, the audit endpoints, metrics and the OpenAPI document.
 */
import { createPublicKey } from 'node:crypto';
import { CSV_HEADER, parseExport, type SignedCheckpoint } from '@warden/core';
import { verifyExportRows } from '@warden/engine';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../src/routes/route-table.js';
import { startTestServer, type TestServer } from '../test-support/server-fixtures.js';

interface Decision {
  callId: string;
  session: string;
  effect: 'allow' | 'review' | 'block';
  ruleId: string | null;
  reasons: string[];
  policyVersion: string;
  auditSeq?: number;
  code?: string;
  approval?: { status: string };
}

interface AuditRecord {
  seq: number;
  prev: string;
  hash: string;
  event: Record<string, unknown> & {
    type: string;
    callId?: string;
    agent?: string;
    decision?: { effect: string; ruleId?: string | null };
    data?: Record<string, unknown>;
  };
}

function errorOf(r: LightMyRequestResponse): {
  code: string;
  message: string;
  details: Record<string, unknown>;
} {
  return (r.json() as { error: { code: string; message: string; details: Record<string, unknown> } }).error;
}

/** The value a JSON pointer (`#/a/b`) names in a document. */
function resolvePointer(doc: unknown, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>(
      (v, p) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined),
      doc,
    );
}

/** A schema with its top-level $ref followed. */
function deref(doc: unknown, schema: Record<string, unknown>): Record<string, unknown> {
  return typeof schema.$ref === 'string'
    ? (resolvePointer(doc, schema.$ref) as Record<string, unknown>)
    : schema;
}

const TINY_POLICY = `warden: 1
name: tiny
defaults:
  decision: block
agents:
  support-bot:
    rules:
      - id: tiny-any-refund
        effect: allow
        tools: "billing.refund"
        reason: Every refund is fine under the tiny policy.
`;

describe.each(['sqlite', 'postgres'] as const)('the API on %s', (dialect) => {
  let t: TestServer;
  let agent: string;
  let otherAgent: string;
  let approver: string;
  let auditor: string;

  async function call(body: Record<string, unknown>, key = agent): Promise<Decision> {
    const r = await t.request('POST', '/v1/calls', { key, body });
    expect(r.statusCode, r.body).toBe(200);
    return r.json() as Decision;
  }

  async function audit(query: string, key = auditor): Promise<AuditRecord[]> {
    const r = await t.request('GET', `/v1/audit/events?${query}`, { key });
    expect(r.statusCode, r.body).toBe(200);
    return (r.json() as { records: AuditRecord[] }).records;
  }

  beforeAll(async () => {
    t = await startTestServer(dialect, { maxWaitMs: 10_000 });
    approver = await t.key('human', 'ann@acme.example', 'approver');
    auditor = await t.key('human', 'audrey@acme.example', 'auditor');
    otherAgent = await t.key('agent', 'coding-agent', 'agent');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('lets the admin create an agent key whose secret is shown once', async () => {
    const r = await t.request('POST', '/v1/keys', {
      key: t.admin,
      body: { principalKind: 'agent', principal: 'support-bot', role: 'agent', label: 'support bot' },
    });
    expect(r.statusCode, r.body).toBe(201);
    const out = r.json() as { key: Record<string, unknown>; secret: string };
    expect(out.secret).toMatch(/^wdn_[A-Za-z0-9_-]{43}$/);
    expect(out.key).toMatchObject({ principalKind: 'agent', principal: 'support-bot', role: 'agent' });
    expect(out.key).not.toHaveProperty('hash');
    expect(JSON.stringify(out.key)).not.toContain(out.secret);
    agent = out.secret;
  });

  it('decides allow, review and block with the rule ids, each in the audit trail with its callId', async () => {
    const allow = await call({ tool: 'billing.refund', args: { amount: 20 } });
    const review = await call({ tool: 'billing.refund', args: { amount: 100 } });
    const block = await call({ tool: 'billing.refund', args: { amount: 5000 } });
    expect(allow).toMatchObject({ effect: 'allow', ruleId: 'support-small-refund' });
    expect(review).toMatchObject({ effect: 'review', ruleId: 'support-refund-review' });
    expect(block).toMatchObject({ effect: 'block', ruleId: 'support-large-refund-block' });
    for (const d of [allow, review, block]) {
      expect(d.callId).toEqual(expect.any(String));
      expect(d.policyVersion).toEqual(expect.any(String));
      expect(d.auditSeq).toEqual(expect.any(Number));
    }

    const byAgent = await audit('agent=support-bot&type=call.decided&limit=1000');
    for (const d of [allow, review, block]) {
      const rec = byAgent.find((r) => r.event.callId === d.callId);
      expect(rec, `call ${d.callId} in the trail`).toBeDefined();
      expect(rec?.seq).toBe(d.auditSeq);
      expect(rec?.event.agent).toBe('support-bot');
      expect(rec?.event.decision).toMatchObject({ effect: d.effect, ruleId: d.ruleId });
    }
    expect(byAgent.every((r) => r.event.agent === 'support-bot')).toBe(true);

    const byCall = await audit(`agent=support-bot&callId=${block.callId}`);
    expect(byCall.map((r) => r.event.callId)).toEqual([block.callId]);
    expect(byCall[0]?.event.decision?.effect).toBe('block');
  });

  it('completes an allowed call once, and refuses blocked, completed and other agents’ calls', async () => {
    const allowed = await call({ tool: 'billing.refund', args: { amount: 10 } });
    const blocked = await call({ tool: 'billing.refund', args: { amount: 5000 } });
    const body = { status: 'ok', result: { refunded: 10 }, durationMs: 12 };

    const other = await t.request('POST', `/v1/calls/${allowed.callId}/complete`, { key: otherAgent, body });
    expect(other.statusCode, other.body).toBe(404);
    expect(errorOf(other).code).toBe('CALL_NOT_FOUND');

    const done = await t.request('POST', `/v1/calls/${allowed.callId}/complete`, { key: agent, body });
    expect(done.statusCode, done.body).toBe(200);
    const out = done.json() as { callId: string; auditSeq: number };
    expect(out.callId).toBe(allowed.callId);
    expect(out.auditSeq).toBeGreaterThan(allowed.auditSeq as number);

    const again = await t.request('POST', `/v1/calls/${allowed.callId}/complete`, { key: agent, body });
    expect(again.statusCode, again.body).toBe(409);
    expect(errorOf(again).code).toBe('CALL_ALREADY_COMPLETED');

    const notRunnable = await t.request('POST', `/v1/calls/${blocked.callId}/complete`, { key: agent, body });
    expect(notRunnable.statusCode, notRunnable.body).toBe(409);
    expect(errorOf(notRunnable).code).toBe('CALL_NOT_RUNNABLE');

    const otherBlocked = await t.request('POST', `/v1/calls/${blocked.callId}/complete`, {
      key: otherAgent,
      body,
    });
    expect(otherBlocked.statusCode, otherBlocked.body).toBe(404);
    expect(errorOf(otherBlocked).code).toBe('CALL_NOT_FOUND');

    const unknown = await t.request('POST', '/v1/calls/no-such-call/complete', { key: agent, body });
    expect(unknown.statusCode, unknown.body).toBe(404);
    expect(errorOf(unknown).code).toBe('CALL_NOT_FOUND');

    const completed = await audit(`callId=${allowed.callId}&type=call.completed`);
    expect(completed).toHaveLength(1);
    expect(completed[0]?.event.outcome).toMatchObject({ status: 'ok', durationMs: 12 });
  });

  it('refuses a call naming another agent than the key’s (AGENT_MISMATCH), and records nothing', async () => {
    const before = await audit('agent=coding-agent&type=call.decided&limit=1000');
    const r = await t.request('POST', '/v1/calls', {
      key: agent,
      body: { agent: 'coding-agent', tool: 'docs.read' },
    });
    expect(r.statusCode, r.body).toBe(403);
    expect(errorOf(r)).toMatchObject({
      code: 'AGENT_MISMATCH',
      details: { keyAgent: 'support-bot', bodyAgent: 'coding-agent' },
    });
    const after = await audit('agent=coding-agent&type=call.decided&limit=1000');
    expect(after).toHaveLength(before.length);
    // Naming its own agent is fine.
    expect((await call({ agent: 'support-bot', tool: 'tickets.read' })).effect).toBe('allow');
  });

  it('refuses control characters in ids with 400 on every path, never a 500 with database internals', async () => {
    const probes = [
      await t.request('GET', '/v1/sessions/a%00b', { key: approver }),
      await t.request('POST', '/v1/sessions/a%00b/pause', { key: approver, body: { reason: 'x' } }),
      await t.request('POST', '/v1/keys/a%00b/revoke', { key: t.admin, body: {} }),
      await t.request('POST', '/v1/calls/a%00b/complete', { key: agent, body: { status: 'ok' } }),
      await t.request('POST', '/v1/calls', {
        key: agent,
        body: { tool: 'tickets.read', session: 'a\u0000b' },
      }),
      await t.request('POST', '/v1/calls', {
        key: agent,
        body: { tool: 'tickets.read', triggeredBy: 'bob\u0000' },
      }),
    ];
    for (const r of probes) {
      expect(r.statusCode, r.body).toBe(400);
      expect(errorOf(r)?.code).toBe('REQUEST_INVALID');
      expect(r.body).not.toMatch(/database|UTF8|driver/i);
    }
  });

  it('waits on a review decision up to `wait` and then reports the approval as pending', async () => {
    const start = Date.now();
    const d = await call({ tool: 'billing.refund', args: { amount: 120 }, wait: 400 });
    const elapsed = Date.now() - start;
    expect(d.effect).toBe('review');
    expect(d.approval).toMatchObject({ status: 'pending', id: expect.stringMatching(/^apr_/) });
    expect(elapsed).toBeGreaterThanOrEqual(380);
    expect(elapsed).toBeLessThan(8_000);
    // A decision that is not a review answers at once, without an approval part.
    const allow = await call({ tool: 'billing.refund', args: { amount: 5 }, wait: 5_000 });
    expect(allow.effect).toBe('allow');
    expect(allow.approval).toBeUndefined();
  });

  it('pauses a session, blocks calls in it, and lets only an approver without a stake resume it', async () => {
    const tina = await t.key('human', 'tina@acme.example', 'approver');
    const first = await call({
      tool: 'billing.refund',
      args: { amount: 20 },
      triggeredBy: 'tina@acme.example',
    });
    const session = first.session;
    const review = await call({ session, tool: 'billing.refund', args: { amount: 100 } });
    expect(review.effect).toBe('review');

    const pause = await t.request('POST', `/v1/sessions/${session}/pause`, {
      key: approver,
      body: { reason: 'too many refunds' },
    });
    expect(pause.statusCode, pause.body).toBe(200);
    expect(pause.json()).toMatchObject({
      id: session,
      state: 'paused',
      stateReason: 'too many refunds',
      agent: 'support-bot',
      triggeredBy: 'tina@acme.example',
    });
    const pausedAgain = await t.request('POST', `/v1/sessions/${session}/pause`, {
      key: approver,
      body: { reason: 'again' },
    });
    expect(pausedAgain.statusCode, pausedAgain.body).toBe(409);
    expect(errorOf(pausedAgain).code).toBe('SESSION_STATE');

    const whilePaused = await call({ session, tool: 'billing.refund', args: { amount: 20 } });
    expect(whilePaused).toMatchObject({ effect: 'block', code: 'SESSION_PAUSED' });

    const self = await t.request('POST', `/v1/sessions/${session}/resume`, {
      key: tina,
      body: { reason: 'it is fine' },
    });
    expect(self.statusCode, self.body).toBe(403);
    expect(errorOf(self).code).toBe('APPROVAL_SELF_APPROVAL');

    const resume = await t.request('POST', `/v1/sessions/${session}/resume`, {
      key: approver,
      body: { reason: 'checked with the customer' },
    });
    expect(resume.statusCode, resume.body).toBe(200);
    expect(resume.json()).toMatchObject({ id: session, state: 'active' });

    const afterResume = await call({ session, tool: 'billing.refund', args: { amount: 30 } });
    expect(afterResume.effect).toBe('allow');
    const complete = await t.request('POST', `/v1/calls/${afterResume.callId}/complete`, {
      key: agent,
      body: { status: 'ok', usage: { inputTokens: 100, outputTokens: 40, costUsd: 0.25 } },
    });
    expect(complete.statusCode, complete.body).toBe(200);
    const failed = await call({ session, tool: 'tickets.read' });
    const failedDone = await t.request('POST', `/v1/calls/${failed.callId}/complete`, {
      key: agent,
      body: { status: 'error', error: 'ticket system down', usage: { inputTokens: 5 } },
    });
    expect(failedDone.statusCode, failedDone.body).toBe(200);

    const got = await t.request('GET', `/v1/sessions/${session}`, { key: auditor });
    expect(got.statusCode, got.body).toBe(200);
    expect(got.json()).toEqual({
      session: expect.objectContaining({ id: session, state: 'active', triggeredBy: 'tina@acme.example' }),
      usage: {
        calls: { allow: 3, review: 1, block: 1 },
        completed: 2,
        errors: 1,
        inputTokens: 105,
        outputTokens: 40,
        costUsd: 0.25,
      },
      // The example policy sets no budgets, so the session draws on none.
      budgets: [],
    });

    const listed = await t.request('GET', '/v1/sessions?agent=support-bot&state=active&limit=1000', {
      key: approver,
    });
    expect(listed.statusCode, listed.body).toBe(200);
    expect((listed.json() as { sessions: { id: string }[] }).sessions.map((s) => s.id)).toContain(session);

    const missing = await t.request('GET', '/v1/sessions/no-such-session', { key: auditor });
    expect(missing.statusCode, missing.body).toBe(404);
    expect(errorOf(missing).code).toBe('SESSION_NOT_FOUND');

    const events = await audit(`session=${session}`);
    const types = events.map((r) => r.event.type);
    expect(types).toContain('session.paused');
    expect(types).toContain('session.resumed');
  });

  it('creates keys with a ttl, lists them without secrets, and a revoked key is refused at once', async () => {
    const made = await t.request('POST', '/v1/keys', {
      key: t.admin,
      body: { principalKind: 'human', principal: 'temp@acme.example', role: 'auditor', ttl: '2h' },
    });
    expect(made.statusCode, made.body).toBe(201);
    const { key, secret } = made.json() as { key: { id: string; expiresAt: string }; secret: string };
    const expires = Date.parse(key.expiresAt) - Date.now();
    expect(expires).toBeGreaterThan(2 * 3_600_000 - 60_000);
    expect(expires).toBeLessThanOrEqual(2 * 3_600_000);

    const list = await t.request('GET', '/v1/keys', { key: t.admin });
    expect(list.statusCode, list.body).toBe(200);
    const keys = (list.json() as { keys: Record<string, unknown>[] }).keys;
    expect(keys.map((k) => k.id)).toContain(key.id);
    for (const k of keys) {
      expect(Object.keys(k).sort()).toEqual(
        [
          'createdAt',
          'createdBy',
          'expiresAt',
          'id',
          'label',
          'permissions',
          'prefix',
          'principal',
          'principalKind',
          'revokedAt',
          'revokedBy',
          'role',
        ].sort(),
      );
    }
    for (const s of [secret, agent, approver, auditor, t.admin]) expect(list.body).not.toContain(s);

    // Used once (so the authenticator has it cached), then revoked: the very next request is refused.
    const before = await t.request('GET', '/v1/audit/verify', { key: secret });
    expect(before.statusCode, before.body).toBe(200);
    const revoke = await t.request('POST', `/v1/keys/${key.id}/revoke`, {
      key: t.admin,
      body: { reason: 'left the team' },
    });
    expect(revoke.statusCode, revoke.body).toBe(200);
    expect(revoke.json()).toMatchObject({ id: key.id, revokedBy: 'admin', revokedAt: expect.any(String) });
    const after = await t.request('GET', '/v1/audit/verify', { key: secret });
    expect(after.statusCode, after.body).toBe(401);
    expect(errorOf(after)).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'revoked' } });

    const twice = await t.request('POST', `/v1/keys/${key.id}/revoke`, { key: t.admin, body: {} });
    expect(twice.statusCode, twice.body).toBe(409);
    expect(errorOf(twice).code).toBe('KEY_REVOKED');
    const none = await t.request('POST', '/v1/keys/key_nope/revoke', { key: t.admin });
    expect(none.statusCode, none.body).toBe(404);
    expect(errorOf(none).code).toBe('KEY_NOT_FOUND');
  });

  it('shows, validates and replaces the policy; an invalid one changes nothing', async () => {
    const current = await t.request('GET', '/v1/policy', { key: approver });
    expect(current.statusCode, current.body).toBe(200);
    const policy = current.json() as {
      version: string;
      name: string;
      sources: { path: string; text: string }[];
    };
    expect(policy.name).toBe('acme-agents');
    expect(policy.sources.length).toBeGreaterThan(1);
    const versionsBefore = (
      (await t.request('GET', '/v1/policy/versions', { key: auditor })).json() as { versions: unknown[] }
    ).versions.length;

    const invalidText = 'warden: 1\nname: broken\nagents: [\n';
    const validate = await t.request('POST', '/v1/policy/validate', {
      key: auditor,
      body: { text: invalidText },
    });
    expect(validate.statusCode, validate.body).toBe(200);
    const report = validate.json() as {
      valid: boolean;
      diagnostics: { severity: string; message: string }[];
    };
    expect(report.valid).toBe(false);
    expect(report.diagnostics.some((d) => d.severity === 'error')).toBe(true);

    const good = await t.request('POST', '/v1/policy/validate', {
      key: auditor,
      body: { text: TINY_POLICY },
    });
    expect(good.statusCode, good.body).toBe(200);
    expect(good.json()).toMatchObject({ valid: true, version: expect.any(String) });

    const put = await t.request('PUT', '/v1/policy', { key: t.admin, body: { text: invalidText } });
    expect(put.statusCode, put.body).toBe(400);
    const err = errorOf(put);
    expect(err.code).toBe('POLICY_INVALID');
    expect((err.details.diagnostics as unknown[]).length).toBeGreaterThan(0);
    const unchanged = await t.request('GET', '/v1/policy', { key: approver });
    expect((unchanged.json() as { version: string }).version).toBe(policy.version);
    expect((await call({ tool: 'billing.refund', args: { amount: 5000 } })).effect).toBe('block');

    const replace = await t.request('PUT', '/v1/policy', { key: t.admin, body: { text: TINY_POLICY } });
    expect(replace.statusCode, replace.body).toBe(200);
    const change = replace.json() as { oldVersion: string; newVersion: string; warnings: unknown[] };
    expect(change.oldVersion).toBe(policy.version);
    expect(change.newVersion).not.toBe(policy.version);
    expect(change.newVersion).toBe((good.json() as { version: string }).version);

    const now = await t.request('GET', '/v1/policy', { key: auditor });
    expect(now.json()).toMatchObject({ version: change.newVersion, name: 'tiny', createdBy: 'admin' });
    const decided = await call({ tool: 'billing.refund', args: { amount: 5000 } });
    expect(decided).toMatchObject({
      effect: 'allow',
      ruleId: 'tiny-any-refund',
      policyVersion: change.newVersion,
    });

    const versions = (
      (await t.request('GET', '/v1/policy/versions', { key: auditor })).json() as {
        versions: { version: string }[];
      }
    ).versions;
    expect(versions).toHaveLength(versionsBefore + 1);
    expect(versions[0]?.version).toBe(change.newVersion);

    const changed = await audit('type=policy.changed&limit=1000');
    const last = changed.find((r) => r.event.data?.newVersion === change.newVersion);
    expect(last?.event.data).toMatchObject({ oldVersion: policy.version, newVersion: change.newVersion });
    expect(last?.event.actor).toEqual({ kind: 'human', id: 'admin', keyId: expect.stringMatching(/^key_/) });

    // Back to the example policy, from its stored sources.
    const restore = await t.request('PUT', '/v1/policy', { key: t.admin, body: { sources: policy.sources } });
    expect(restore.statusCode, restore.body).toBe(200);
    expect((restore.json() as { newVersion: string }).newVersion).toBe(policy.version);
    expect((await call({ tool: 'billing.refund', args: { amount: 5000 } })).effect).toBe('block');
  });

  it('reads single events, exports, verifies and checkpoints the audit trail', async () => {
    const d = await call({ tool: 'billing.refund', args: { amount: 15 } });
    const one = await t.request('GET', `/v1/audit/events/${d.auditSeq}`, { key: approver });
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json()).toMatchObject({
      seq: d.auditSeq,
      prev: expect.any(String),
      hash: expect.any(String),
      event: { type: 'call.decided', callId: d.callId, agent: 'support-bot' },
    });
    const missing = await t.request('GET', '/v1/audit/events/99999999', { key: approver });
    expect(missing.statusCode, missing.body).toBe(404);
    expect(errorOf(missing).code).toBe('EVENT_NOT_FOUND');

    const jsonl = await t.request('GET', '/v1/audit/export?format=jsonl', { key: auditor });
    expect(jsonl.statusCode, jsonl.body).toBe(200);
    expect(jsonl.headers['content-type']).toMatch(/^application\/x-ndjson/);
    expect(jsonl.headers['content-disposition']).toMatch(/attachment; filename="warden-audit-.*\.jsonl"/);
    const lines = jsonl.body.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThanOrEqual(d.auditSeq as number);
    const records = lines.map((l) => JSON.parse(l) as AuditRecord);
    for (const r of records) {
      expect(Object.keys(r).sort()).toEqual(['event', 'hash', 'prev', 'seq']);
      expect(r.seq).toEqual(expect.any(Number));
    }
    expect(records.map((r) => r.seq)).toEqual(records.map((_r, i) => i + 1));
    for (let i = 1; i < records.length; i++) expect(records[i]?.prev).toBe(records[i - 1]?.hash);
    expect(records.find((r) => r.seq === d.auditSeq)?.event.callId).toBe(d.callId);
    // The trailer carries the checkpoints and the seal: with the public keys, the export verifies offline.
    const trailer = jsonl.trailers['warden-checkpoints'] as string;
    const checkpoints = JSON.parse(Buffer.from(trailer, 'base64url').toString('utf8')) as SignedCheckpoint[];
    expect(checkpoints.at(-1)).toMatchObject({ kind: 'seal', seq: records.at(-1)?.seq });
    const pems = (await t.request('GET', '/v1/audit/public-keys', { key: auditor })).json() as {
      keys: { pem: string }[];
    };
    const report = verifyExportRows(
      parseExport(jsonl.body),
      checkpoints,
      pems.keys.map((k) => createPublicKey(k.pem)),
    );
    expect(report.ok, JSON.stringify(report.problem)).toBe(true);

    const csv = await t.request('GET', '/v1/audit/export?format=csv', { key: t.admin });
    expect(csv.statusCode, csv.body).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.body.split('\n')[0]).toBe(CSV_HEADER);
    const rows = parseExport(csv.body);
    expect(rows.map((r) => r.seq)).toEqual(records.map((r) => r.seq));
    expect(rows.map((r) => r.hash)).toEqual(records.map((r) => r.hash));

    const verify = await t.request('GET', '/v1/audit/verify', { key: auditor });
    expect(verify.statusCode, verify.body).toBe(200);
    expect(verify.json()).toMatchObject({ ok: true });
    expect((verify.json() as { checked: number }).checked).toBeGreaterThanOrEqual(records.length);

    const cp = await t.request('POST', '/v1/audit/checkpoints', { key: t.admin });
    expect(cp.statusCode, cp.body).toBe(201);
    const checkpoint = cp.json() as { seq: number; hash: string };
    expect(checkpoint.seq).toBeGreaterThanOrEqual(records.length);
    const list = await t.request('GET', '/v1/audit/checkpoints', { key: auditor });
    expect(list.statusCode, list.body).toBe(200);
    const listed = (list.json() as { checkpoints: { seq: number; hash: string }[] }).checkpoints;
    expect(listed).toContainEqual(expect.objectContaining({ seq: checkpoint.seq, hash: checkpoint.hash }));

    const pub = await t.request('GET', '/v1/audit/public-keys', { key: auditor });
    expect(pub.statusCode, pub.body).toBe(200);
    expect((pub.json() as { keys: { pem: string }[] }).keys[0]?.pem).toContain('PUBLIC KEY');
  });

  it('exposes Prometheus metrics with decision counts by effect and check latency', async () => {
    const r = await t.request('GET', '/metrics', { key: auditor });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.body).toContain('# TYPE warden_decisions_total counter');
    for (const effect of ['allow', 'review', 'block']) {
      expect(r.body).toMatch(
        new RegExp(`^warden_decisions_total\\{[^}]*effect="${effect}"[^}]*\\} [1-9]`, 'm'),
      );
    }
    expect(r.body).toContain('# TYPE warden_check_duration_seconds histogram');
    expect(r.body).toMatch(/^warden_check_duration_seconds_count\{effect="allow"\} [1-9]/m);
    expect(r.body).toMatch(/^warden_audit_head_seq [1-9]/m);
    // The review calls above are still waiting for a human: the gauge counts them from the database.
    const pending = await t.request('GET', '/v1/approvals?status=pending&limit=1000', { key: auditor });
    const n = (pending.json() as { approvals: unknown[] }).approvals.length;
    expect(n).toBeGreaterThan(0);
    expect(r.body).toMatch(new RegExp(`^warden_approvals_pending ${n}$`, 'm'));
  });

  it('serves an OpenAPI 3.1 document describing every route with its roles and body schema', async () => {
    const r = await t.request('GET', '/openapi.json');
    expect(r.statusCode, r.body).toBe(200);
    const doc = r.json() as {
      openapi: string;
      info: { title: string; version: string };
      components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.schemas.Error).toBeDefined();

    const operationIds = new Set<string>();
    let described = 0;
    for (const route of ROUTES) {
      const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
      const op = doc.paths[path]?.[route.method.toLowerCase()] as
        | {
            operationId: string;
            responses: Record<string, unknown>;
            requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
            parameters?: { name: string; in: string }[];
            security?: unknown[];
            'x-warden-roles'?: string[];
          }
        | undefined;
      expect(op, `${route.method} ${route.url} in the document`).toBeDefined();
      if (!op) continue;
      described += 1;
      expect(operationIds.has(op.operationId), `unique operationId ${op.operationId}`).toBe(false);
      operationIds.add(op.operationId);
      expect(op.responses[String(route.response.status)]).toBeDefined();
      if (route.roles === 'public') {
        expect(op.security).toEqual([]);
        expect(op['x-warden-roles']).toBeUndefined();
      } else {
        expect(op['x-warden-roles']).toEqual([...route.roles]);
        expect(op.responses['401']).toBeDefined();
        expect(op.responses['403']).toBeDefined();
      }
      if (route.body) {
        const schema = op.requestBody?.content['application/json']?.schema;
        expect(schema, `${route.method} ${route.url} body schema`).toBeDefined();
        expect(Object.keys(schema ?? {}).length).toBeGreaterThan(0);
      } else {
        expect(op.requestBody).toBeUndefined();
      }
      for (const name of route.url.match(/:([A-Za-z]+)/g) ?? []) {
        expect(op.parameters).toContainEqual(expect.objectContaining({ name: name.slice(1), in: 'path' }));
      }
    }
    expect(described).toBe(ROUTES.length);
    const inDoc = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
    expect(inDoc).toBe(ROUTES.length);

    // Every $ref points inside the document (a `#/$defs/…` one would not: the root has no $defs).
    const refs = [...r.body.matchAll(/"\$ref":"([^"]*)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) {
      expect(ref, ref).toMatch(/^#\//);
      expect(resolvePointer(doc, ref), `${ref} resolves`).toEqual(expect.any(Object));
    }

    const checkBody = doc.paths['/v1/calls']?.post?.requestBody as {
      content: { 'application/json': { schema: Record<string, unknown> } };
    };
    const schema = deref(doc, checkBody.content['application/json'].schema) as {
      properties: Record<string, unknown>;
      required?: string[];
      additionalProperties?: boolean;
    };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['tool', 'args', 'session', 'wait', 'agent']),
    );
    expect(schema.properties).not.toHaveProperty('now');
    expect(schema.required).toContain('tool');
    expect(schema.additionalProperties).toBe(false);
  });
});
