/**
 * Two real `warden serve` processes on one PostgreSQL database and one key file behave as one service:
 * one bootstrap, shared keys, one audit chain, and pauses, policies, revocations and live events that
 * cross from one instance to the other. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { eventually } from '../test-support/eventually.js';
import { api, BIN, killAll, type Served, spawnServe } from '../test-support/serve-process.js';
import { SseClient } from '../test-support/sse-client.js';

interface Decision {
  callId: string;
  session: string;
  effect: string;
  ruleId: string | null;
  code?: string;
  policyVersion: string;
  auditSeq: number;
}

/** Every audit record, paging through GET /v1/audit/events. */
async function allRecords(base: string, key: string, filter = ''): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  let cursor: string | null = null;
  do {
    const q: string = `limit=1000${filter}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await api<{ records: AuditRecord[]; nextCursor: string | null }>(
      base,
      'GET',
      `/v1/audit/events?${q}`,
      { key },
    );
    expect(page.status).toBe(200);
    out.push(...page.body.records);
    cursor = page.body.nextCursor;
  } while (cursor);
  return out;
}

describe('two warden serve processes on one PostgreSQL database', () => {
  const adminKey = `wdn_${randomBytes(32).toString('base64url')}`;
  let dir: string;
  let a: Served;
  let b: Served;
  let agentKey: string;

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
    dir = mkdtempSync(join(tmpdir(), 'warden-two-'));
    const db = await createTestDatabase(inject('postgresUrl'), 'twoinst');
    const args = ['--db', db, '--port', '0', '--keys', join(dir, 'keys.json')];
    const env = { WARDEN_ADMIN_KEY: adminKey, WARDEN_LOG_LEVEL: 'warn' };
    // Both at once: the bootstrap and the key file are raced for real.
    [a, b] = await Promise.all([spawnServe(args, env), spawnServe(args, env)]);
  }, 90_000);

  afterAll(() => {
    killAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('bootstraps exactly once: the admin key works on both and both list the same single admin key', async () => {
    expect(a.url).not.toBe(b.url);
    const lists = await Promise.all(
      [a, b].map((s) =>
        api<{ keys: { id: string; role: string }[] }>(s.url, 'GET', '/v1/keys', { key: adminKey }),
      ),
    );
    for (const list of lists) {
      expect(list.status).toBe(200);
      expect(list.body.keys.filter((k) => k.role === 'admin')).toHaveLength(1);
    }
    expect(lists[0]?.body.keys).toEqual(lists[1]?.body.keys);
    const created = await allRecords(a.url, adminKey, '&type=api_key.created');
    expect(created).toHaveLength(1);
    // Each process printed its start-up lines before it answered anything, so they are all in by now.
    const registered = [a, b].filter((s) =>
      s.stdout().includes('the admin key from WARDEN_ADMIN_KEY is registered'),
    );
    expect(registered).toHaveLength(1);
    expect(a.stdout() + b.stdout()).not.toContain(adminKey);
  });

  it('an agent key created via A works on B', async () => {
    const made = await api<{ secret: string }>(a.url, 'POST', '/v1/keys', {
      key: adminKey,
      body: { principalKind: 'agent', principal: 'support-bot', role: 'agent' },
    });
    expect(made.status).toBe(201);
    agentKey = made.body.secret;
    const call = await api<Decision>(b.url, 'POST', '/v1/calls', {
      key: agentKey,
      body: { tool: 'billing.refund', args: { amount: 20 } },
    });
    expect(call.status).toBe(200);
    expect(call.body).toMatchObject({ effect: 'allow', ruleId: 'support-small-refund' });
  });

  it('200 concurrent calls split across A and B: each decided once, in one chain with unique seqs', async () => {
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        api<Decision>(i % 2 === 0 ? a.url : b.url, 'POST', '/v1/calls', {
          key: agentKey,
          body: {
            tool: 'billing.refund',
            args: { amount: i % 4 === 0 ? 5000 : 20 },
            labels: { n: String(i) },
          },
        }),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    const decided = answers.map((r) => r.body);
    for (const [i, d] of decided.entries()) expect(d.effect).toBe(i % 4 === 0 ? 'block' : 'allow');
    expect(new Set(decided.map((d) => d.callId)).size).toBe(200);
    expect(new Set(decided.map((d) => d.auditSeq)).size).toBe(200);

    // The whole chain, read through either instance: seqs 1..head, each once; every call once, at its seq.
    for (const server of [a, b]) {
      const records = await allRecords(server.url, adminKey);
      const seqs = records.map((r) => r.seq).sort((x, y) => x - y);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      const byCall = new Map<string, number[]>();
      for (const r of records) {
        if (r.event.type !== 'call.decided' || !r.event.callId) continue;
        byCall.set(r.event.callId, [...(byCall.get(r.event.callId) ?? []), r.seq]);
      }
      for (const d of decided) expect(byCall.get(d.callId)).toEqual([d.auditSeq]);
      const verify = await api(server.url, 'GET', '/v1/audit/verify', { key: adminKey });
      expect(verify.status).toBe(200);
      expect(verify.body).toMatchObject({ ok: true });
    }
  });

  it('a session paused via A blocks calls on B with SESSION_PAUSED', async () => {
    const first = await api<Decision>(b.url, 'POST', '/v1/calls', {
      key: agentKey,
      body: { tool: 'billing.refund', args: { amount: 20 } },
    });
    expect(first.body.effect).toBe('allow');
    const { session } = first.body;
    const paused = await api(a.url, 'POST', `/v1/sessions/${encodeURIComponent(session)}/pause`, {
      key: adminKey,
      body: { reason: 'two-instance test' },
    });
    expect(paused.status).toBe(200);
    const after = await api<Decision>(b.url, 'POST', '/v1/calls', {
      key: agentKey,
      body: { tool: 'billing.refund', args: { amount: 20 }, session },
    });
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ effect: 'block', code: 'SESSION_PAUSED', session });
  });

  it('a policy PUT via A is in force on B within a couple of seconds', async () => {
    const current = await api<{ version: string; sources: { path: string; text: string }[] }>(
      a.url,
      'GET',
      '/v1/policy',
      { key: adminKey },
    );
    expect(current.status).toBe(200);
    // Refunds over $10 (not $50) now need a support lead: a $20 refund becomes a review.
    const sources = current.body.sources.map((s) => ({
      path: s.path,
      text: s.text
        .replace('"double(args.amount) <= 50.0"', '"double(args.amount) <= 10.0"')
        .replace('"double(args.amount) > 50.0 &&', '"double(args.amount) > 10.0 &&'),
    }));
    expect(sources).not.toEqual(current.body.sources);
    const put = await api<{ newVersion: string }>(a.url, 'PUT', '/v1/policy', {
      key: adminKey,
      body: { sources },
    });
    expect(put.status).toBe(200);
    const { newVersion } = put.body;
    expect(newVersion).not.toBe(current.body.version);

    const onB = await eventually('the new policy deciding on B', async () => {
      const r = await api<Decision>(b.url, 'POST', '/v1/calls', {
        key: agentKey,
        body: { tool: 'billing.refund', args: { amount: 20 } },
      });
      expect(r.status).toBe(200);
      return r.body.policyVersion === newVersion ? r.body : undefined;
    });
    expect(onB).toMatchObject({ effect: 'review', ruleId: 'support-refund-review' });
    const shown = await api<{ version: string }>(b.url, 'GET', '/v1/policy', { key: adminKey });
    expect(shown.body.version).toBe(newVersion);
  });

  it('a key revoked via A is refused on B as soon as B has seen the revocation', async () => {
    const made = await api<{ key: { id: string }; secret: string }>(a.url, 'POST', '/v1/keys', {
      key: adminKey,
      body: { principalKind: 'agent', principal: 'support-bot', role: 'agent', label: 'to revoke' },
    });
    expect(made.status).toBe(201);
    const call = { key: made.body.secret, body: { tool: 'billing.refund', args: { amount: 5 } } };
    // Used on B first, so B holds it in its authentication cache.
    expect((await api(b.url, 'POST', '/v1/calls', call)).status).toBe(200);

    const revocations = await SseClient.open(`${b.url}/v1/events?type=api_key.revoked`, { key: adminKey });
    try {
      expect(revocations.status).toBe(200);
      const revoked = await api(a.url, 'POST', `/v1/keys/${made.body.key.id}/revoke`, { key: adminKey });
      expect(revoked.status).toBe(200);
      await revocations.waitFor(
        (c) =>
          c.records().some((r) => (r.event.data as { id?: string } | undefined)?.id === made.body.key.id),
        'the revocation on B',
      );
      // B applies a revocation before it streams it: the very next request is refused.
      const refused = await api<{ error: { code: string } }>(b.url, 'POST', '/v1/calls', call);
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe('UNAUTHENTICATED');
    } finally {
      revocations.close();
    }
  });

  it('a dashboard sign-in made on A works on B, and signing out on A ends it on B', async () => {
    const signIn = await fetch(`${a.url}/v1/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: adminKey }),
    });
    expect(signIn.status).toBe(200);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const onB = () => fetch(`${b.url}/v1/auth/session`, { headers: { cookie } });
    // Both instances derive the same signing key from the shared key file.
    expect((await onB()).status).toBe(200);
    expect((await fetch(`${a.url}/v1/auth/session`, { method: 'DELETE', headers: { cookie } })).status).toBe(
      204,
    );
    // B learns the sign-out from the audit stream.
    await eventually('B refuses the signed-out cookie', async () =>
      (await onB()).status === 401 ? true : undefined,
    );
  });

  it('an SSE stream opened on A receives call.decided events for calls made on B', async () => {
    const stream = await SseClient.open(`${a.url}/v1/events?type=call.decided`, { key: adminKey });
    try {
      expect(stream.status).toBe(200);
      const onB = await Promise.all(
        Array.from({ length: 5 }, () =>
          api<Decision>(b.url, 'POST', '/v1/calls', { key: agentKey, body: { tool: 'tickets.read' } }),
        ),
      );
      const onA = await api<Decision>(a.url, 'POST', '/v1/calls', {
        key: agentKey,
        body: { tool: 'tickets.read' },
      });
      const ids = [...onB, onA].map((r) => r.body.callId);
      await stream.waitFor(
        (c) => ids.every((id) => c.records().some((r) => r.event.callId === id)),
        'all six',
      );
      const records = stream.records();
      expect(records.every((r) => r.event.type === 'call.decided')).toBe(true);
      const seqs = records.map((r) => r.seq);
      expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y));
      expect(stream.messages.map((m) => Number(m.id))).toEqual(seqs);
      // The events of B's calls were written by B, not relayed by A.
      const instanceOf = (id: string) => records.find((r) => r.event.callId === id)?.event.instance;
      const bInstances = new Set(onB.map((r) => instanceOf(r.body.callId)));
      expect(bInstances.size).toBe(1);
      expect(bInstances.has(instanceOf(onA.body.callId))).toBe(false);
    } finally {
      stream.close();
    }
  });

  it('both stop on SIGTERM with exit code 0', async () => {
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    expect({ a: ea, b: eb, errA: a.stderr(), errB: b.stderr() }).toMatchObject({
      a: { code: 0, signal: null },
      b: { code: 0, signal: null },
    });
    expect(a.stderr() + b.stderr()).not.toMatch(/\n\s+at .*:\d+:\d+/);
  }, 30_000);
});
