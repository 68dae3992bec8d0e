/**
 * The LLM metering proxy of a real `warden serve` process under a task token, with the official `openai`
 * client sending `Warden-Task-Token` through `defaultHeaders`: the request is decided in the task's
 * session with its verified initiator; a session header that disagrees with the token, and a forged
 * token, are refused in OpenAI's error shape before anything reaches the upstream. Needs the built CLI.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, AuditRecord } from '@warden/core';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgeTaskToken } from '../../sdk/test-support/forged-task-token.js';
import { eventually } from '../test-support/eventually.js';
import { type FakeLlmUpstream, startFakeLlmUpstream } from '../test-support/fake-llm-upstream.js';
import { api, BIN, killAll, type Served, spawnServe } from '../test-support/serve-process.js';

const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const POLICY = `name: llm
agents:
  coder:
    rules:
      - { id: llm-allowed, effect: allow, tools: "llm:*" }
`;

let dir: string;
let upstream: FakeLlmUpstream;
let server: Served;
let coder: string;
let backend: string;

interface Task {
  token: string;
  tokenId: string;
  taskId: string;
  session: string;
}

async function key(body: Record<string, unknown>): Promise<string> {
  const r = await api<{ secret: string }>(server.url, 'POST', '/v1/keys', { key: ADMIN, body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.secret;
}

async function startTask(subject: string): Promise<Task> {
  const r = await api<Task>(server.url, 'POST', '/v1/tasks', {
    key: backend,
    body: { agent: 'coder', initiator: { subject, name: 'maria' } },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
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

/** The coder's official OpenAI client, pointed at the proxy, sending these headers on every request. */
const client = (headers: Record<string, string>) =>
  new OpenAI({
    apiKey: coder,
    baseURL: `${server.url}/llm/openai/v1`,
    maxRetries: 0,
    defaultHeaders: headers,
  });

const ask = (c: OpenAI) =>
  c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] });

/** The API error the client threw (any other outcome fails the test). */
async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  throw new Error('expected the request to be refused');
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-llm-task-'));
  upstream = await startFakeLlmUpstream();
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  writeFileSync(
    join(dir, 'warden.yaml'),
    `llm:\n  openai:\n    baseUrl: ${upstream.url}\n    apiKey: env:UPSTREAM_OPENAI_KEY\n`,
  );
  server = await spawnServe(
    [
      '--config',
      join(dir, 'warden.yaml'),
      '--db',
      join(dir, 'warden.db'),
      '--policy',
      join(dir, 'policy.yaml'),
      '--port',
      '0',
    ],
    { WARDEN_ADMIN_KEY: ADMIN, UPSTREAM_OPENAI_KEY: 'sk-upstream-0123456789' },
  );
  coder = await key({ principalKind: 'agent', principal: 'coder', role: 'agent' });
  backend = await key({
    principalKind: 'service',
    principal: 'ide-backend',
    role: 'auditor',
    permissions: ['initiator'],
  });
}, 90_000);

afterAll(async () => {
  await server?.stop();
  killAll();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('warden serve: the LLM proxy under a task token (the openai client)', () => {
  it("the request joins the task's session, not the key's session of the day, with the verified initiator", async () => {
    const task = await startTask('u-700');
    const { data, response } = await ask(client({ 'Warden-Task-Token': task.token })).withResponse();
    expect(data.choices[0]?.message.content).toBeTruthy();
    expect(response.headers.get('warden-session')).toBe(task.session);
    // The token goes no further than Warden.
    expect(upstream.requests.at(-1)?.headers['warden-task-token']).toBeUndefined();
    const [decided] = await eventually('the decision', async () => {
      const found = await events(task.session, 'call.decided');
      return found.length > 0 ? found : undefined;
    });
    expect(decided).toMatchObject({
      agent: 'coder',
      tool: 'llm:openai',
      session: task.session,
      triggeredBy: 'maria',
      identity: {
        initiator: { method: 'api_key', subject: 'u-700', name: 'maria' },
        taskToken: { tokenId: task.tokenId, taskId: task.taskId },
      },
    });
  });

  it('a Warden-Session or Warden-Triggered-By header that disagrees with the token: 409 TASK_TOKEN_MISMATCH, nothing forwarded', async () => {
    const task = await startTask('u-701');
    const before = upstream.requests.length;
    const disagreeing: Record<string, string>[] = [
      { 'Warden-Session': 'another-session' },
      { 'Warden-Triggered-By': 'the-ceo' },
    ];
    for (const header of disagreeing) {
      const err = await apiError(ask(client({ 'Warden-Task-Token': task.token, ...header })));
      expect(err.status).toBe(409);
      expect(err.code).toBe('TASK_TOKEN_MISMATCH');
      expect(err.message).toContain('disagrees with its task token');
    }
    // Agreeing with the token is no mismatch.
    await ask(client({ 'Warden-Task-Token': task.token, 'Warden-Session': task.session }));
    expect(upstream.requests.length).toBe(before + 1);
  });

  it('a forged token: 401 TASK_TOKEN_INVALID in the OpenAI error shape, recorded, nothing forwarded', async () => {
    const task = await startTask('u-702');
    const forged = await forgeTaskToken(task.token, {
      initiator: { method: 'api_key', subject: 'u-ceo', name: 'the-ceo' },
    });
    const before = upstream.requests.length;
    const err = await apiError(ask(client({ 'Warden-Task-Token': forged })));
    expect(err.status).toBe(401);
    expect(err.code).toBe('TASK_TOKEN_INVALID');
    expect(err.type).toBe('authentication_error');
    expect(upstream.requests.length).toBe(before);
    // An unverified token names no session the proxy can trust: the refusal is found by its token id.
    const refused = await eventually('the refusal', async () => {
      const r = await api<{ records: AuditRecord[] }>(
        server.url,
        'GET',
        '/v1/audit/events?agent=coder&type=identity.refused&limit=100',
        { key: ADMIN },
      );
      // Its signature does not verify: the jti it carries is only claimed.
      return r.body.records.map((x) => x.event).find((e) => e.data?.claimedTokenId === task.tokenId);
    });
    expect(refused.data).toMatchObject({ code: 'TASK_TOKEN_INVALID', reason: 'signature' });
  });
});
