import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CallToolResult, Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import { startTestServer, type TestServer } from '../../server/test-support/server-fixtures.js';
import {
  EVERYTHING_SERVER,
  expectGrantToShowTool,
  FS_SERVER,
  mcpWorkspace,
  ROOT,
  WARDEN_BIN,
} from '../test-support/mcp-fixtures.js';

/**
 * `warden mcp` as a desktop client runs it: a real process on stdio, in front of the real filesystem and
 * everything servers from npm, deciding with a real Warden server over HTTP with one agent key.
 */
describe('warden mcp over stdio', () => {
  let ws: ReturnType<typeof mcpWorkspace>;
  let srv: TestServer;
  let lee: string;
  let client: Client;
  let transport: StdioClientTransport;
  const session = 'desk-task-1';

  beforeAll(async () => {
    ws = mcpWorkspace();
    mkdirSync(ws.files);
    writeFileSync(join(ws.files, 'notes.txt'), 'hello from the notes\n');
    srv = await startTestServer('sqlite', { policy: ws.policy }, { listen: true });
    const agentKey = await srv.key('agent', 'desk-agent', 'agent');
    lee = await srv.key('human', 'lee', 'approver');
    const config = join(ws.dir, 'gateway.yaml');
    writeFileSync(
      config,
      [
        'warden:',
        `  url: ${srv.server.url}`,
        '  key: env:DESK_AGENT_KEY',
        `session: ${session}`,
        'triggeredBy: maria',
        'progressEveryMs: 100',
        'listCheckEveryMs: 200',
        `maxMessageBytes: ${1024 * 1024}`,
        'mcpServers:',
        '  fs:',
        `    command: ${JSON.stringify(process.execPath)}`,
        `    args: [${JSON.stringify(FS_SERVER)}, ${JSON.stringify(ws.files)}]`,
        '  everything:',
        `    command: ${JSON.stringify(process.execPath)}`,
        `    args: [${JSON.stringify(EVERYTHING_SERVER)}, stdio]`,
      ].join('\n'),
    );
    transport = new StdioClientTransport({
      command: process.execPath,
      args: [...WARDEN_BIN, 'mcp', '--config', config],
      cwd: ROOT,
      env: { ...(process.env as Record<string, string>), DESK_AGENT_KEY: agentKey },
      stderr: 'pipe',
    });
    client = new Client({ name: 'desktop-client', version: '1.0.0' });
    await client.connect(transport, { timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await srv?.close();
    if (ws) rmSync(ws.dir, { recursive: true, force: true });
  });

  const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
  const call = (name: string, args: Record<string, unknown>, o = {}) =>
    client.callTool(
      { name, arguments: args },
      {
        timeout: 60_000,
        ...o,
      },
    ) as Promise<CallToolResult>;

  type Event = {
    type: string;
    tool?: string;
    callId?: string;
    decision?: { effect: string };
    outcome?: { status: string; result?: unknown };
  };
  /**
   * The audit events of the gateway's session, through the API, once every allowed call has its
   * completion: the gateway records a result just after replying with it.
   */
  async function audit(): Promise<Event[]> {
    return eventually('every allowed call completed in the audit', async () => {
      const r = await srv.request('GET', `/v1/audit/events?session=${session}&limit=500`, { key: srv.admin });
      const events = (r.json() as { records: { event: Event }[] }).records.map((e) => e.event);
      const done = new Set(events.filter((e) => e.type === 'call.completed').map((e) => e.callId));
      const open = events.filter(
        (e) => e.type === 'call.decided' && e.decision?.effect === 'allow' && !done.has(e.callId),
      );
      return open.length === 0 ? events : undefined;
    });
  }

  it('lists only the tools the policy could ever allow, namespaced per upstream', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'fs__read_text_file',
        'fs__list_directory',
        'fs__write_file',
        'everything__echo',
        'everything__get-sum',
      ]),
    );
    // Blocked outright, or never allowed (default deny): invisible.
    for (const hidden of [
      'fs__move_file',
      'everything__get-env',
      'fs__directory_tree',
      'fs__create_directory',
    ]) {
      expect(names).not.toContain(hidden);
    }
    const write = (await client.listTools()).tools.find((t) => t.name === 'fs__write_file');
    expect(write?.inputSchema.properties).toHaveProperty('path');
  });

  it('forwards an allowed read and records the call with its result', async () => {
    const r = await call('fs__read_text_file', { path: join(ws.files, 'notes.txt') });
    expect(r.isError).toBeFalsy();
    expect(text(r)).toContain('hello from the notes');
    const sum = await call('everything__get-sum', { a: 2, b: 40 });
    expect(text(sum)).toContain('42');
    const events = await audit();
    const read = events.filter((e) => e.tool === 'fs.read_text_file');
    expect(read.map((e) => e.type)).toEqual(['call.decided', 'call.completed']);
    expect(read[0]?.decision?.effect).toBe('allow');
    expect(JSON.stringify(read[1]?.outcome?.result)).toContain('hello from the notes');
  });

  it('holds a write under review open, with progress, until a lead approves it; then writes once', async () => {
    const target = join(ws.files, 'approved.txt');
    const progress: string[] = [];
    const pending = call(
      'fs__write_file',
      { path: target, content: 'written after approval' },
      {
        onprogress: (p: { message?: string }) => progress.push(p.message ?? ''),
        resetTimeoutOnProgress: true,
      },
    );
    const approvalId = await eventually('the approval request', async () => {
      const r = await srv.request('GET', '/v1/approvals?status=pending', { key: lee });
      return (r.json() as { approvals: { id: string; tool: string }[] }).approvals.find(
        (a) => a.tool === 'fs.write_file',
      )?.id;
    });
    await eventually('a progress notification', () => (progress.length > 0 ? true : undefined));
    expect(existsSync(target)).toBe(false);
    const vote = await srv.request('POST', `/v1/approvals/${approvalId}/approve`, { key: lee, body: {} });
    expect(vote.statusCode).toBe(200);
    const r = await pending;
    expect(r.isError).toBeFalsy();
    expect(readFileSync(target, 'utf8')).toBe('written after approval');
    expect(progress[0]).toContain(approvalId);
    expect(progress[0]).toContain('writing files needs a lead');
    const events = (await audit()).filter((e) => e.tool === 'fs.write_file');
    // The whole story: held, asked, approved by lee, redeemed by the same call, used once, completed.
    expect(events.map((e) => `${e.type}:${e.decision?.effect ?? e.outcome?.status ?? ''}`)).toEqual([
      'call.decided:review',
      'approval.requested:',
      'approval.voted:',
      'approval.decided:',
      'call.decided:allow',
      'approval.used:',
      'call.completed:ok',
    ]);
  });

  it('a denied write returns an error result naming who denied it, and nothing is written', async () => {
    const target = join(ws.files, 'denied.txt');
    const pending = call('fs__write_file', { path: target, content: 'never' });
    const approvalId = await eventually('the approval request', async () => {
      const r = await srv.request('GET', '/v1/approvals?status=pending', { key: lee });
      return (r.json() as { approvals: { id: string }[] }).approvals[0]?.id;
    });
    await srv.request('POST', `/v1/approvals/${approvalId}/deny`, {
      key: lee,
      body: { reason: 'not that file' },
    });
    const r = await pending;
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('denied by lee');
    expect(existsSync(target)).toBe(false);
  });

  it('relays a stdio upstream’s own progress to the client', async () => {
    const progress: { progress: number; total?: number }[] = [];
    const r = await call(
      'everything__trigger-long-running-operation',
      { duration: 0.6, steps: 3 },
      {
        onprogress: (p: { progress: number; total?: number }) =>
          progress.push({ progress: p.progress, total: p.total }),
      },
    );
    expect(text(r)).toContain('Long running operation completed');
    // Every step in order, each with the total. The last one may be missing: the SDK (v1 and v2 alike)
    // drops a progress notification that arrives together with the result it precedes
    // (modelcontextprotocol/typescript-sdk#2580), on the gateway's upstream side or the caller's.
    const steps = [1, 2, 3].map((n) => ({ progress: n, total: 3 }));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress).toEqual(steps.slice(0, progress.length));
  });

  it('a client that cancels a held write: the approval is withdrawn and nothing is written', async () => {
    const target = join(ws.files, 'cancelled.txt');
    const cancel = new AbortController();
    const held = call('fs__write_file', { path: target, content: 'never' }, { signal: cancel.signal }).catch(
      (err: Error) => err,
    );
    const approvalId = await eventually('the approval request', async () => {
      const r = await srv.request('GET', '/v1/approvals?status=pending', { key: lee });
      return (r.json() as { approvals: { id: string }[] }).approvals[0]?.id;
    });
    cancel.abort('the user pressed stop');
    expect(await held).toBeInstanceOf(Error);
    const status = await eventually('the request withdrawn', async () => {
      const r = await srv.request('GET', `/v1/approvals/${approvalId}`, { key: lee });
      const s = (r.json() as { status: string }).status;
      return s === 'pending' ? undefined : s;
    });
    expect(status).toBe('cancelled');
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a blocked tool with isError and the reason, even called by name while hidden', async () => {
    const from = join(ws.files, 'notes.txt');
    const r = await call('fs__move_file', { source: from, destination: join(ws.files, 'moved.txt') });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('files are never moved by an agent');
    expect(r._meta?.['warden/code']).toBe('CALL_BLOCKED');
    expect(existsSync(from)).toBe(true);
    const env = await call('everything__get-env', {});
    expect(env.isError).toBe(true);
    expect(text(env)).toContain('the environment holds secrets');
    const blocked = (await audit()).filter(
      (e) => e.tool === 'fs.move_file' || e.tool === 'everything.get-env',
    );
    expect(blocked.map((e) => `${e.type}:${e.decision?.effect}`)).toEqual([
      'call.decided:block',
      'call.decided:block',
    ]);
  });

  it('an upstream message over maxMessageBytes fails the call naming the limit; the upstream is reconnected', async () => {
    const big = join(ws.files, 'big.txt');
    writeFileSync(big, 'x'.repeat(2 * 1024 * 1024));
    const r = await call('fs__read_text_file', { path: big });
    expect(r.isError).toBe(true);
    expect(r._meta?.['warden/code']).toBe('MCP_UPSTREAM_UNAVAILABLE');
    expect(text(r)).toContain(`exceeded maximum size of ${1024 * 1024} bytes`);
    expect(text(r)).toContain('raise maxMessageBytes');
    const again = await eventually('the upstream back', async () => {
      const x = await call('fs__read_text_file', { path: join(ws.files, 'notes.txt') });
      return x.isError ? undefined : x;
    });
    expect(text(again)).toContain('hello from the notes');
  });

  it('an unknown tool is an error result, not a crash, and the gateway keeps serving', async () => {
    const r = await call('nope__nothing', {});
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('no tool named nope__nothing');
    const echo = await call('everything__echo', { message: 'still here' });
    expect(text(echo)).toContain('still here');
  });

  it('a grant made on the server shows its tool: the client is told to list again', async () => {
    await expectGrantToShowTool(client, srv, lee);
  });
});
