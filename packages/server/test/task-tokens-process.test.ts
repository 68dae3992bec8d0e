/**
 * Task tokens through real `warden serve` processes on SQLite and PostgreSQL: a service key holding the
 * initiator permission starts a task; the agent calls with its token; token exchange (RFC 8693,
 * form-encoded) gives a sub-agent a child token whose chain the calls carry; and every forged, tampered,
 * expired, replayed, foreign, shortened or reordered token, a body that disagrees with its token, and a
 * session joined by claiming a parent are refused and audited. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEvent, AuditRecord } from '@warden/core';
import { deriveTaskSigningKey, signTaskToken, type TaskSigningKey, verifyTaskToken } from '@warden/engine';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { eventually } from '../test-support/eventually.js';
import { api, BIN, killAll, type Served, spawnServe, warden } from '../test-support/serve-process.js';

const POLICY = fileURLToPath(new URL('./fixtures/task-policy.yaml', import.meta.url));
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AGENT_TYPE = 'urn:warden:params:oauth:token-type:agent';

interface Decision {
  callId: string;
  session: string;
  effect: string;
  code?: string;
  reasons: string[];
  approval?: { id: string };
}

interface Started {
  token: string;
  tokenId: string;
  taskId: string;
  session: string;
  delegationChain: string[];
}

let dir: string;

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-tasks-'));
});

afterAll(() => {
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Replaces a token's payload, keeping its header and signature (what a tamperer can do). */
function tamper(token: string, change: (claims: Record<string, unknown>) => void): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  change(claims);
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
}

describe.each(['sqlite', 'postgres'] as const)('task tokens through warden serve (%s)', (dialect) => {
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  let db: string;
  let keysFile: string;
  let server: Served;
  let taskKey: TaskSigningKey;
  const keys: Record<string, { id: string; secret: string }> = {};

  async function createKey(name: string, ...who: string[]) {
    const r = await warden(['keys', 'create', ...who, '--db', db, '--keys', keysFile, '--json']);
    expect(r.code, r.err).toBe(0);
    const made = JSON.parse(r.out) as { key: { id: string }; secret: string };
    keys[name] = { id: made.key.id, secret: made.secret };
  }
  const secret = (name: string) => keys[name]?.secret as string;

  /** POST /v1/calls as `agent`, with a task token header when given. */
  async function call(agent: string, body: Record<string, unknown>, token?: string) {
    const res = await fetch(`${server.url}/v1/calls`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${secret(agent)}`,
        'content-type': 'application/json',
        ...(token !== undefined ? { 'warden-task-token': token } : {}),
      },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Decision;
  }

  /** RFC 8693 token exchange, form-encoded, as `agent`. */
  async function exchange(agent: string, subjectToken: string, actor: string) {
    const res = await fetch(`${server.url}/v1/tasks/token`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${secret(agent)}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: EXCHANGE,
        subject_token: subjectToken,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        actor_token: actor,
        actor_token_type: AGENT_TYPE,
      }).toString(),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function startTask(agent: string, name: string, by = 'portal') {
    const r = await api<Started>(server.url, 'POST', '/v1/tasks', {
      key: secret(by),
      body: { agent, initiator: { subject: `u-${name}`, name } },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  }

  async function events(type: string): Promise<AuditEvent[]> {
    const r = await api<{ records: AuditRecord[] }>(
      server.url,
      'GET',
      `/v1/audit/events?type=${type}&limit=1000`,
      { key: admin },
    );
    expect(r.status).toBe(200);
    return r.body.records.map((x) => x.event);
  }

  beforeAll(async () => {
    db =
      dialect === 'sqlite' ? join(dir, 'tasks.db') : await createTestDatabase(inject('postgresUrl'), 'tasks');
    keysFile = join(dir, `${dialect}-keys.json`);
    server = await spawnServe(['--db', db, '--port', '0', '--keys', keysFile, '--policy', POLICY], {
      WARDEN_ADMIN_KEY: admin,
      WARDEN_LOG_LEVEL: 'warn',
    });
    await createKey('planner-bot', '--agent', 'planner-bot');
    await createKey('worker-bot', '--agent', 'worker-bot');
    await createKey('other-bot', '--agent', 'other-bot');
    await createKey('portal', '--service', 'portal', '--role', 'auditor', '--permission', 'initiator');
    await createKey('plain-service', '--service', 'reports', '--role', 'auditor');
    await createKey('tom', '--human', 'tom', '--role', 'approver');
    await createKey('tim', '--human', 'tim', '--role', 'approver');
    // What someone holding the key file could derive (the tests forge with it and with other keys).
    const file = JSON.parse(readFileSync(keysFile, 'utf8')) as { hmacKey: string };
    taskKey = deriveTaskSigningKey(Buffer.from(file.hmacKey, 'base64'));
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('a task starts only in a session nobody creates meanwhile: concurrent starts and a tokenless call', async () => {
    for (let round = 0; round < 8; round++) {
      const session = `race-${dialect}-${round}`;
      const start = (agent: string) =>
        api<Started>(server.url, 'POST', '/v1/tasks', {
          key: secret('portal'),
          body: { agent, session, initiator: { subject: 'u-race', name: 'rae' } },
        });
      const [a, b, plain] = await Promise.all([
        start('planner-bot'),
        start('worker-bot'),
        call('other-bot', { tool: 'crm.lookup', args: { round }, session }),
      ]);
      const started = [a, b].filter((r) => r.status === 201);
      expect(started.length, session).toBeLessThanOrEqual(1);
      for (const r of [a, b].filter((x) => x.status !== 201)) {
        expect(r.status, JSON.stringify(r.body)).toBe(409);
      }
      // Never a task's session with another agent's tokenless call allowed in it.
      expect(started.length === 1 && plain.effect === 'allow', session).toBe(false);
    }
  });

  it('starts a task, calls with its token, delegates by token exchange, and the child calls in the session', async () => {
    const refused = await api<{ error: { code: string } }>(server.url, 'POST', '/v1/tasks', {
      key: secret('plain-service'),
      body: { agent: 'planner-bot', initiator: { subject: 'u-1', name: 'ann' } },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');

    const task = await startTask('planner-bot', 'ann');
    expect(task.delegationChain).toEqual([]);
    const jwks = await api<{ keys: { kid: string; crv: string }[] }>(server.url, 'GET', '/v1/tasks/jwks');
    expect(jwks.body.keys).toEqual([expect.objectContaining({ kid: taskKey.kid, crv: 'Ed25519' })]);

    const lookup = await call('planner-bot', { tool: 'crm.lookup', args: { id: 1 } }, task.token);
    expect(lookup).toMatchObject({ effect: 'allow', session: task.session });

    const child = await exchange('planner-bot', task.token, 'worker-bot');
    expect(child.status, JSON.stringify(child.body)).toBe(200);
    expect(child.body).toMatchObject({
      issued_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_type: 'N_A',
      session: task.session,
      agent: 'worker-bot',
      delegationChain: ['planner-bot'],
    });
    expect(child.body.expires_in).toBeGreaterThan(3500);
    const childCall = await call(
      'worker-bot',
      { tool: 'crm.lookup', args: { id: 2 } },
      child.body.access_token as string,
    );
    expect(childCall).toMatchObject({ effect: 'allow', session: task.session });

    const decided = (await events('call.decided')).filter((e) => e.session === task.session);
    expect(decided.map((e) => [e.agent, e.triggeredBy, e.delegationChain ?? []])).toEqual([
      ['planner-bot', 'ann', []],
      ['worker-bot', 'ann', ['planner-bot']],
    ]);
    expect(decided[1]?.identity).toEqual({
      agent: { method: 'api_key', keyId: keys['worker-bot']?.id },
      initiator: { method: 'api_key', keyId: keys.portal?.id, subject: 'u-ann', name: 'ann' },
      chain: [
        {
          agent: 'planner-bot',
          method: 'task_token',
          keyId: keys['planner-bot']?.id,
          tokenId: child.body.tokenId,
          taskId: task.taskId,
        },
      ],
      taskToken: { tokenId: child.body.tokenId, taskId: task.taskId },
    });
    expect((await events('task.started')).map((e) => e.data?.tokenId)).toContain(task.tokenId);
    expect((await events('task.delegated')).map((e) => e.data?.parentTokenId)).toContain(task.tokenId);
  }, 60_000);

  it('refuses and audits forged, tampered, expired, foreign, replayed, shortened and reordered tokens', async () => {
    const task = await startTask('planner-bot', 'bea');
    const child = (await exchange('planner-bot', task.token, 'worker-bot')).body.access_token as string;
    const grandchild = (await exchange('worker-bot', child, 'other-bot')).body.access_token as string;
    const claims = await verifyTaskToken(taskKey, child);
    const other = deriveTaskSigningKey(randomBytes(32));
    const now = Date.now();
    const cases: [string, string, string, string][] = [
      ['forged (another key)', 'worker-bot', await signTaskToken(other, claims), 'key'],
      [
        'forged (another key, our kid)',
        'worker-bot',
        await signTaskToken({ ...other, kid: taskKey.kid }, claims),
        'signature',
      ],
      [
        'tampered session',
        'worker-bot',
        tamper(child, (c) => {
          c.session = 'elsewhere';
        }),
        'signature',
      ],
      [
        'expired',
        'worker-bot',
        await signTaskToken(taskKey, {
          ...claims,
          issuedAt: new Date(now - 7_200_000),
          expiresAt: new Date(now - 3_600_000),
        }),
        'expired',
      ],
      [
        'foreign issuer',
        'worker-bot',
        await new SignJWT(JSON.parse(Buffer.from(child.split('.')[1] as string, 'base64url').toString()))
          .setProtectedHeader({ alg: 'EdDSA', kid: taskKey.kid })
          .setIssuer('https://elsewhere.example')
          .sign(taskKey.privateKey),
        'issuer',
      ],
      ['replayed by another agent', 'other-bot', child, 'agent'],
      [
        'shortened chain',
        'other-bot',
        tamper(grandchild, (c) => {
          (c.act as { act: { act?: unknown } }).act.act = undefined;
        }),
        'signature',
      ],
      [
        'reordered chain',
        'other-bot',
        tamper(grandchild, (c) => {
          c.act = { sub: 'other-bot', act: { sub: 'planner-bot', act: { sub: 'worker-bot' } } };
        }),
        'signature',
      ],
      [
        'alg none',
        'worker-bot',
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${child.split('.')[1]}.`,
        'algorithm',
      ],
    ];
    for (const [what, agent, token] of cases) {
      const r = await call(agent, { tool: 'crm.lookup', args: { what } }, token);
      expect(r, what).toMatchObject({ effect: 'block', code: 'TASK_TOKEN_INVALID' });
    }
    const refusals = (await events('identity.refused')).slice(-cases.length);
    expect(refusals.map((e) => e.data?.reason)).toEqual(cases.map((c) => c[3]));
    expect(
      refusals.filter((e) => (e.data?.tokenId ?? e.data?.claimedTokenId) === claims.tokenId).length,
    ).toBeGreaterThanOrEqual(5);
    // A jti read from a token whose signature did not verify is a claim, never a token id.
    for (const e of refusals.filter((r) => ['signature', 'algorithm'].includes(r.data?.reason as string))) {
      expect(e.data?.tokenId).toBeUndefined();
    }
    const blocked = (await events('call.decided')).filter((e) => e.decision?.code === 'TASK_TOKEN_INVALID');
    expect(blocked.length).toBeGreaterThanOrEqual(cases.length);

    // The exchange is the only way to a longer chain, and only for the parent token's holder.
    const notHolder = await exchange('worker-bot', task.token, 'other-bot');
    expect(notHolder.status).toBe(401);
    expect(notHolder.body).toMatchObject({
      error: { code: 'TASK_TOKEN_INVALID', details: { reason: 'agent' } },
    });
    const loop = await exchange('worker-bot', child, 'planner-bot');
    expect(loop.status).toBe(401);
    expect(loop.body).toMatchObject({ error: { code: 'TASK_TOKEN_INVALID', details: { reason: 'chain' } } });
    const trail = JSON.stringify(await events('identity.refused'));
    for (const [, , token] of cases) expect(trail).not.toContain(token);
  }, 60_000);

  it('blocks a body that disagrees with its token, claims without a token, and joining a session by claiming its owner', async () => {
    const task = await startTask('planner-bot', 'cid');
    const mismatch = await call('planner-bot', { tool: 'crm.lookup', triggeredBy: 'mallory' }, task.token);
    expect(mismatch).toMatchObject({ effect: 'block', code: 'TASK_TOKEN_MISMATCH' });
    expect(mismatch.reasons[0]).toContain('triggeredBy');
    const otherSession = await call(
      'planner-bot',
      { tool: 'crm.lookup', session: 'not-the-task' },
      task.token,
    );
    expect(otherSession).toMatchObject({ effect: 'block', code: 'TASK_TOKEN_MISMATCH' });
    const claimed = await call('planner-bot', { tool: 'crm.lookup', triggeredBy: 'cid' });
    expect(claimed).toMatchObject({ effect: 'block', code: 'IDENTITY_REQUIRED' });
    // other-bot may claim names, but claiming the owner as its parent does not open the task's session.
    const join = await call('other-bot', {
      tool: 'crm.lookup',
      session: task.session,
      delegationChain: ['planner-bot'],
      triggeredBy: 'cid',
    });
    expect(join).toMatchObject({ effect: 'block', code: 'SESSION_FOREIGN' });
    // Nor does the task's own agent get back in without the token.
    const own = await call('planner-bot', { tool: 'crm.lookup', session: task.session });
    expect(own).toMatchObject({ effect: 'block', code: 'IDENTITY_REQUIRED' });
    const codes = (await events('call.decided'))
      .filter((e) => e.session === task.session)
      .map((e) => e.decision?.code);
    expect(codes).toEqual([
      'TASK_TOKEN_MISMATCH',
      'TASK_TOKEN_MISMATCH',
      'SESSION_FOREIGN',
      'IDENTITY_REQUIRED',
    ]);
    expect(
      (await events('identity.refused')).filter((e) => e.session === task.session).map((e) => e.data?.reason),
    ).toEqual(['mismatch', 'mismatch']);
  }, 60_000);

  it('refuses a look-alike of the initiator at approval: Cyrillic and fullwidth names are still tom', async () => {
    for (const name of ['t\u043em', '\uff54\uff4f\uff4d']) {
      const task = await startTask('planner-bot', name);
      const held = await call('planner-bot', { tool: 'billing.refund', args: { amount: 5 } }, task.token);
      expect(held.effect).toBe('review');
      const id = held.approval?.id as string;
      const vote = await api<{ error: { code: string } }>(server.url, 'POST', `/v1/approvals/${id}/approve`, {
        key: secret('tom'),
        body: {},
      });
      expect(vote.status, name).toBe(403);
      expect(vote.body.error.code).toBe('APPROVAL_SELF_APPROVAL');
      const tim = await api<{ status: string }>(server.url, 'POST', `/v1/approvals/${id}/approve`, {
        key: secret('tim'),
        body: {},
      });
      expect(tim.status).toBe(200);
      expect(tim.body.status).toBe('approved');
      // Redeemed with the same token: the initiator it binds is the one the approval was granted for.
      const redeem = { tool: 'billing.refund', args: { amount: 5 }, approvalId: id };
      expect(await call('planner-bot', redeem, task.token)).toMatchObject({ effect: 'allow' });
    }
  }, 60_000);

  it('a call that waits for its approval with the token goes ahead once approved, with the initiator the token names', async () => {
    const task = await startTask('planner-bot', 'dee');
    const waiting = call(
      'planner-bot',
      { tool: 'billing.refund', args: { amount: 7 }, wait: 20_000 },
      task.token,
    );
    const pending = await eventually('the held refund', async () => {
      const r = await api<{ approvals: { id: string; session: string; triggeredBy: string | null }[] }>(
        server.url,
        'GET',
        '/v1/approvals?status=pending',
        { key: secret('tim') },
      );
      return r.body.approvals.find((a) => a.session === task.session);
    });
    expect(pending.triggeredBy).toBe('dee');
    const vote = await api(server.url, 'POST', `/v1/approvals/${pending.id}/approve`, {
      key: secret('tim'),
      body: {},
    });
    expect(vote.status).toBe(200);
    expect(await waiting).toMatchObject({ effect: 'allow', session: task.session });
  }, 60_000);
});
