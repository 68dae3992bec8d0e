/**
 * Task tokens through the MCP gateway, per connection: `warden mcp --task-token` (and WARDEN_TASK_TOKEN)
 * as a desktop client runs it, and `/mcp` of a real `warden serve`, whose session is bound to the token
 * of its initialize request. The official MCP SDK client in front of the real filesystem server from npm.
 * Needs the built CLI.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CallToolResult, Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import type { AuditEvent, AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgeTaskToken } from '../../sdk/test-support/forged-task-token.js';
import { eventually } from '../../server/test-support/eventually.js';
import {
  api,
  BIN,
  childEnv,
  killAll,
  type Served,
  spawnServe,
  warden,
} from '../../server/test-support/serve-process.js';
import { FS_SERVER, mcpWorkspace, ROOT } from '../test-support/mcp-fixtures.js';

const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;

let ws: ReturnType<typeof mcpWorkspace>;
let server: Served;
let backendKey: string;
let deskKey: string;
const clients: Client[] = [];

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

/** The support portal (a service key with the initiator permission) starts a task for the desk agent. */
async function startTask(subject: string, name: string): Promise<Task> {
  const r = await api<Task>(server.url, 'POST', '/v1/tasks', {
    key: backendKey,
    body: { agent: 'desk-agent', initiator: { subject, name } },
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

const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  ws = mcpWorkspace();
  mkdirSync(ws.files);
  writeFileSync(join(ws.files, 'notes.txt'), 'hello from the notes\n');
  const config = join(ws.dir, 'warden.yaml');
  writeFileSync(
    config,
    JSON.stringify({ mcp: { servers: { fs: { command: process.execPath, args: [FS_SERVER, ws.files] } } } }),
  );
  server = await spawnServe(
    ['--config', config, '--db', join(ws.dir, 'warden.db'), '--port', '0', '--policy', ws.policy],
    { WARDEN_ADMIN_KEY: ADMIN },
  );
  backendKey = await key({
    principalKind: 'service',
    principal: 'support-portal',
    // A service key's role is a person's; the initiator permission is what lets it start tasks.
    role: 'auditor',
    permissions: ['initiator'],
  });
  deskKey = await key({ principalKind: 'agent', principal: 'desk-agent', role: 'agent' });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await server?.stop();
  killAll();
  if (ws) rmSync(ws.dir, { recursive: true, force: true });
});

/** `warden mcp` (the built CLI) on stdio, deciding with the served Warden under the desk agent's key. */
async function stdioGateway(extraArgs: string[], env: Record<string, string> = {}): Promise<Client> {
  const config = join(ws.dir, 'gateway.yaml');
  writeFileSync(
    config,
    [
      'warden:',
      `  url: ${server.url}`,
      '  key: env:DESK_AGENT_KEY',
      'mcpServers:',
      '  fs:',
      `    command: ${JSON.stringify(process.execPath)}`,
      `    args: [${JSON.stringify(FS_SERVER)}, ${JSON.stringify(ws.files)}]`,
    ].join('\n'),
  );
  const client = new Client({ name: 'desktop-client', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp', '--config', config, ...extraArgs],
      cwd: ROOT,
      env: childEnv({ DESK_AGENT_KEY: deskKey, ...env }) as Record<string, string>,
      stderr: 'pipe',
    }),
    { timeout: 60_000 },
  );
  clients.push(client);
  return client;
}

/** The official client on /mcp with the desk agent's key and these headers. */
async function httpClient(headers: Record<string, string>) {
  const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${deskKey}`, ...headers } },
  });
  const client = new Client({ name: 'agent-client', version: '1.0.0' });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

const read = (client: Client) =>
  client.callTool(
    { name: 'fs__read_text_file', arguments: { path: join(ws.files, 'notes.txt') } },
    { timeout: 60_000 },
  ) as Promise<CallToolResult>;

/** The decision recorded in the task's session, once there. */
const decidedIn = (session: string) =>
  eventually('the decision in the task session', async () => (await events(session, 'call.decided'))[0]);

describe('warden mcp --task-token (stdio, a real process)', () => {
  it('every call of the connection carries the token: the decision records the verified initiator', async () => {
    const task = await startTask('u-500', 'maria');
    const client = await stdioGateway(['--task-token', task.token]);
    const r = await read(client);
    expect(r.isError).toBeFalsy();
    expect(text(r)).toContain('hello from the notes');
    expect(await decidedIn(task.session)).toMatchObject({
      agent: 'desk-agent',
      tool: 'fs.read_text_file',
      session: task.session,
      triggeredBy: 'maria',
      decision: { effect: 'allow' },
      identity: {
        initiator: { method: 'api_key', subject: 'u-500', name: 'maria' },
        taskToken: { tokenId: task.tokenId, taskId: task.taskId },
      },
    });
  });

  it('a forged token in WARDEN_TASK_TOKEN: the call is an isError result TASK_TOKEN_INVALID and never forwarded', async () => {
    const task = await startTask('u-501', 'maria');
    const forged = await forgeTaskToken(task.token, {
      initiator: { method: 'api_key', subject: 'u-ceo', name: 'ceo' },
    });
    const client = await stdioGateway([], { WARDEN_TASK_TOKEN: forged });
    const r = await read(client);
    expect(r.isError).toBe(true);
    expect(r._meta?.['warden/code']).toBe('TASK_TOKEN_INVALID');
    expect(text(r)).not.toContain('hello from the notes');
    const refused = await eventually(
      'the refusal',
      async () => (await events(task.session, 'identity.refused'))[0],
    );
    expect(refused.data).toMatchObject({ code: 'TASK_TOKEN_INVALID', reason: 'signature' });
  });
});

describe('warden mcp --task-token with a config that names its own session', () => {
  it('refuses to start, naming the conflict (every call would disagree with the token)', async () => {
    const task = await startTask('u-502', 'maria');
    const config = join(ws.dir, 'gateway-session.yaml');
    writeFileSync(
      config,
      [
        'warden:',
        `  url: ${server.url}`,
        '  key: env:DESK_AGENT_KEY',
        'session: desk-session',
        'mcpServers:',
        '  fs:',
        `    command: ${JSON.stringify(process.execPath)}`,
        `    args: [${JSON.stringify(FS_SERVER)}, ${JSON.stringify(ws.files)}]`,
      ].join('\n'),
    );
    const ran = await warden(['mcp', '--config', config, '--task-token', task.token], {
      DESK_AGENT_KEY: deskKey,
    });
    expect(ran.code).toBe(2);
    expect(ran.err).toContain('remove session and triggeredBy from the config to run under a task token');
  });
});

describe('/mcp with the Warden-Task-Token header (warden serve, a real process)', () => {
  it('the header of the initialize request binds the session: its calls record the initiator', async () => {
    const task = await startTask('u-600', 'omar');
    const { client } = await httpClient({ 'warden-task-token': task.token });
    const r = await read(client);
    expect(r.isError).toBeFalsy();
    expect(await decidedIn(task.session)).toMatchObject({
      agent: 'desk-agent',
      session: task.session,
      triggeredBy: 'omar',
      identity: { initiator: { subject: 'u-600', name: 'omar' }, taskToken: { tokenId: task.tokenId } },
    });
  });

  it('a later request of the session carrying another token is refused (409, a JSON-RPC error)', async () => {
    const task = await startTask('u-601', 'omar');
    const other = await startTask('u-602', 'lee');
    const { transport } = await httpClient({ 'warden-task-token': task.token });
    const post = (token: string | undefined) =>
      fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: {
          accept: 'application/json, text/event-stream',
          'content-type': 'application/json',
          authorization: `Bearer ${deskKey}`,
          'mcp-session-id': transport.sessionId as string,
          'mcp-protocol-version': '2025-06-18',
          ...(token ? { 'warden-task-token': token } : {}),
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
      });
    const swapped = await post(other.token);
    expect(swapped.status).toBe(409);
    const body = (await swapped.json()) as { error: { code: number; message: string } };
    expect(body.error.message).toMatch(/^TASK_TOKEN_MISMATCH: this MCP session is bound/);
    // The token it was opened with, or none, goes on under the session's own.
    expect((await post(task.token)).status).toBe(200);
    expect((await post(undefined)).status).toBe(200);
    // A session header that disagrees with the token refuses the session before it opens (409).
    const disagreeing = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: {
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
        authorization: `Bearer ${deskKey}`,
        'warden-task-token': task.token,
        'warden-session': 'another-session',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }),
    });
    expect(disagreeing.status).toBe(409);
    expect(((await disagreeing.json()) as { error: { message: string } }).error.message).toMatch(
      /^TASK_TOKEN_MISMATCH: the Warden-Session header disagrees with the task token/,
    );
  });

  it('a forged token is refused at initialize (401, a JSON-RPC error) and recorded; so is a value that is no token', async () => {
    const task = await startTask('u-603', 'omar');
    const forged = await forgeTaskToken(task.token, { session: 'someone-elses-session' });
    await expect(httpClient({ 'warden-task-token': forged })).rejects.toThrow(
      /TASK_TOKEN_INVALID: .*signature/,
    );
    const refused = await eventually('the refusal', async () => {
      const r = await api<{ records: AuditRecord[] }>(
        server.url,
        'GET',
        '/v1/audit/events?agent=desk-agent&type=identity.refused&limit=100',
        { key: ADMIN },
      );
      // Its signature does not verify: the jti it carries is only claimed.
      return r.body.records.map((x) => x.event).find((e) => e.data?.claimedTokenId === task.tokenId);
    });
    expect(refused.data).toMatchObject({ code: 'TASK_TOKEN_INVALID', reason: 'signature' });
    const garbage = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: {
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
        authorization: `Bearer ${deskKey}`,
        'warden-task-token': 'not-a-token',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }),
    });
    expect(garbage.status).toBe(401);
    expect(((await garbage.json()) as { error: { message: string } }).error.message).toMatch(
      /^TASK_TOKEN_INVALID/,
    );
  });
});
