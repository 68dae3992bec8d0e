/**
 * Task tokens through the SDK against a real `warden serve` process (needs the built CLI): a trusted
 * backend (a service key with the initiator permission) starts a task, the agent's SDK carries the token
 * on every check and wait, and `delegate` gives a sub-agent's client whose calls carry the chain.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import { api, BIN, killAll, type Served, spawnServe } from '../../server/test-support/serve-process.js';
import { createWarden } from '../src/create-warden.js';
import type { StartedTask } from '../src/task-token.js';
import type { Warden } from '../src/warden.js';
import { forgeTaskToken } from '../test-support/forged-task-token.js';
import { refusalOf, SDK_POLICY } from '../test-support/sdk-fixtures.js';

const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const POLICY = `${SDK_POLICY}
  researcher:
    rules:
      - { id: research, effect: allow, tools: [search_docs] }
`;

let dir: string;
let server: Served;
let backendKey: string;
let backendKeyId: string;
let agentKey: string;
let researcherKey: string;
let lee: string;

/** Creates a key through the API as the admin: its secret and id. */
async function key(body: Record<string, unknown>): Promise<{ secret: string; id: string }> {
  const r = await api<{ secret: string; key: { id: string } }>(server.url, 'POST', '/v1/keys', {
    key: ADMIN,
    body,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { secret: r.body.secret, id: r.body.key.id };
}

async function events(session: string, type: string): Promise<AuditEvent[]> {
  const r = await api<{ records: AuditRecord[] }>(
    server.url,
    'GET',
    `/v1/audit/events?session=${encodeURIComponent(session)}&type=${type}&limit=100`,
    { key: ADMIN },
  );
  return r.body.records.map((x) => x.event);
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-sdk-task-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  server = await spawnServe(
    ['--db', join(dir, 'warden.db'), '--policy', join(dir, 'policy.yaml'), '--port', '0'],
    { WARDEN_ADMIN_KEY: ADMIN },
  );
  const backend = await key({
    principalKind: 'service',
    principal: 'support-portal',
    // A service key's role is a person's; the initiator permission is what lets it start tasks.
    role: 'auditor',
    permissions: ['initiator'],
  });
  backendKey = backend.secret;
  backendKeyId = backend.id;
  agentKey = (await key({ principalKind: 'agent', principal: 'support-bot', role: 'agent' })).secret;
  researcherKey = (await key({ principalKind: 'agent', principal: 'researcher', role: 'agent' })).secret;
  lee = (await key({ principalKind: 'human', principal: 'lee', role: 'approver' })).secret;
}, 90_000);

afterAll(async () => {
  await server?.stop();
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A backend starts a task for maria; returns it with the agent's client holding its token. */
async function started(subject: string): Promise<StartedTask> {
  const backend = await createWarden({ url: server.url, key: backendKey });
  try {
    return await backend.startTask({ agent: 'support-bot', initiator: { subject, name: 'maria' } });
  } finally {
    await backend.close();
  }
}

describe('the SDK carries task tokens to a real warden serve', () => {
  it('a backend starts a task; the agent’s checks and waits carry the token; the audit records it verified', async () => {
    const task = await started('u-100');
    expect(task).toMatchObject({
      agent: 'support-bot',
      initiator: { method: 'api_key', keyId: backendKeyId, subject: 'u-100', name: 'maria' },
      delegationChain: [],
    });
    const sent: { path: string; token: string | null }[] = [];
    const agent: Warden = await createWarden({
      url: server.url,
      key: agentKey,
      taskToken: task.token,
      fetch: async (url, init) => {
        const headers = new Headers(init?.headers);
        sent.push({ path: new URL(String(url)).pathname, token: headers.get('warden-task-token') });
        return fetch(url, init);
      },
    });
    try {
      expect(agent.context().session).toBe(task.session);
      const lookup = agent.guard('lookup_order', async ({ id }: { id: string }) => id);
      expect(await lookup({ id: 'o-1' })).toBe('o-1');
      // A reviewed call: the check, the waits and the redeeming check all carry the token.
      const refund = agent.guard('refund', async ({ amount }: { amount: number }) => amount);
      const held = refund({ amount: 30 });
      const id = await eventually('the pending request', async () => {
        const r = await api<{ approvals: { id: string }[] }>(
          server.url,
          'GET',
          '/v1/approvals?status=pending',
          {
            key: lee,
          },
        );
        return r.body.approvals[0]?.id;
      });
      expect(
        (await api(server.url, 'POST', `/v1/approvals/${id}/approve`, { key: lee, body: {} })).status,
      ).toBe(200);
      expect(await held).toBe(30);
    } finally {
      await agent.close();
    }
    const deciding = sent.filter((s) => s.path === '/v1/calls' || s.path.endsWith('/wait'));
    expect(deciding.filter((s) => s.path.endsWith('/wait')).length).toBeGreaterThan(0);
    expect(deciding.every((s) => s.token === task.token)).toBe(true);
    const decided = await events(task.session, 'call.decided');
    expect(decided.map((e) => e.tool)).toEqual(['lookup_order', 'refund', 'refund']);
    for (const e of decided) {
      expect(e).toMatchObject({
        agent: 'support-bot',
        session: task.session,
        triggeredBy: 'maria',
        identity: {
          initiator: { method: 'api_key', keyId: backendKeyId, subject: 'u-100', name: 'maria' },
          taskToken: { tokenId: task.tokenId, taskId: task.taskId },
        },
      });
    }
  });

  it("delegate('researcher') gives a client whose calls carry the whole chain, verified", async () => {
    const task = await started('u-200');
    const agent = await createWarden({ url: server.url, key: agentKey, taskToken: task.token });
    const child = await agent.delegate('researcher', { key: researcherKey });
    try {
      const search = child.guard('search_docs', async ({ q }: { q: string }) => `found ${q}`);
      expect(await search({ q: 'refunds' })).toBe('found refunds');
    } finally {
      await child.close();
      await agent.close();
    }
    const [decided] = await events(task.session, 'call.decided');
    expect(decided).toMatchObject({
      agent: 'researcher',
      session: task.session,
      triggeredBy: 'maria',
      delegationChain: ['support-bot'],
      identity: {
        initiator: { subject: 'u-200', name: 'maria' },
        chain: [{ agent: 'support-bot', method: 'task_token', taskId: task.taskId }],
        taskToken: { taskId: task.taskId },
      },
    });
    expect(await events(task.session, 'task.delegated')).toHaveLength(1);
  });

  it('without the child’s own key, delegating over HTTP is refused before any token is made', async () => {
    const task = await started('u-250');
    const agent = await createWarden({ url: server.url, key: agentKey, taskToken: task.token });
    try {
      const err = await refusalOf(agent.delegate('researcher'));
      expect(err.code).toBe('CONFIG_INVALID');
      expect(err.message).toContain("researcher's own key");
    } finally {
      await agent.close();
    }
    expect(await events(task.session, 'task.delegated')).toHaveLength(0);
  });

  it('startTask names what it lacks, before asking the server; a key without the initiator permission is refused', async () => {
    const backend = await createWarden({ url: server.url, key: backendKey });
    const agent = await createWarden({ url: server.url, key: agentKey });
    try {
      await expect(backend.startTask({ initiator: { subject: 'u-1', name: 'maria' } })).rejects.toThrow(
        /startTask needs the agent the task is for/,
      );
      await expect(backend.startTask({ agent: 'support-bot' })).rejects.toThrow(
        /startTask needs who initiates the task/,
      );
      // An agent may not vouch for a person: that takes a backend's key with the initiator permission.
      const err = await refusalOf(
        agent.startTask({ agent: 'support-bot', initiator: { subject: 'u-ceo', name: 'the-ceo' } }),
      );
      expect(err.details.status).toBe(403);
    } finally {
      await backend.close();
      await agent.close();
    }
  });

  it('a forged token is refused (TASK_TOKEN_INVALID) before the tool runs, and recorded as identity.refused', async () => {
    const task = await started('u-300');
    const forged = await forgeTaskToken(task.token, {
      initiator: { method: 'api_key', subject: 'u-ceo', name: 'the-ceo' },
    });
    const agent = await createWarden({ url: server.url, key: agentKey, taskToken: forged });
    let ran = false;
    try {
      const lookup = agent.guard('lookup_order', async (_: { id: string }) => {
        ran = true;
      });
      const err = await refusalOf(lookup({ id: 'o-9' }));
      expect(err.code).toBe('TASK_TOKEN_INVALID');
    } finally {
      await agent.close();
    }
    expect(ran).toBe(false);
    // Nor does a forged parent token buy a child one.
    const forger = await createWarden({ url: server.url, key: agentKey, taskToken: forged });
    try {
      const err = await refusalOf(forger.delegate('researcher', { key: researcherKey }));
      expect(err.code).toBe('TASK_TOKEN_INVALID');
    } finally {
      await forger.close();
    }
    expect(await events(task.session, 'task.delegated')).toHaveLength(0);
    const refused = await events(task.session, 'identity.refused');
    expect(refused[0]?.data).toMatchObject({ code: 'TASK_TOKEN_INVALID', reason: 'signature' });
  });

  it('a session in the context that disagrees with the token is refused (TASK_TOKEN_MISMATCH)', async () => {
    const task = await started('u-400');
    const agent = await createWarden({ url: server.url, key: agentKey, taskToken: task.token });
    try {
      const lookup = agent.guard('lookup_order', async ({ id }: { id: string }) => id);
      const err = await refusalOf(
        agent.withContext({ session: 'somebody-elses' }, () => lookup({ id: 'o-3' })),
      );
      expect(err.code).toBe('TASK_TOKEN_MISMATCH');
    } finally {
      await agent.close();
    }
  });
});
