import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CallToolResult, Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import { startTestServer, type TestServer } from '../../server/test-support/server-fixtures.js';
import {
  expectGrantToShowTool,
  FS_SERVER,
  mcpWorkspace,
  startEverythingHttp,
} from '../test-support/mcp-fixtures.js';

/**
 * The gateway at /mcp on a real Warden server (listening on a socket, on PostgreSQL when the dialect
 * says so), in front of the real filesystem server (stdio) and the everything server over streamable
 * HTTP, reached with the official client's streamable HTTP transport and an agent key per connection.
 */
describe.each(['sqlite', 'postgres'] as const)('MCP gateway at /mcp (%s)', (dialect) => {
  let ws: ReturnType<typeof mcpWorkspace>;
  let everything: Awaited<ReturnType<typeof startEverythingHttp>>;
  let srv: TestServer;
  let deskKey: string;
  let listerKey: string;
  let lee: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    ws = mcpWorkspace();
    mkdirSync(ws.files);
    writeFileSync(join(ws.files, 'plan.md'), '# the plan\n');
    everything = await startEverythingHttp();
    srv = await startTestServer(
      dialect,
      {
        policy: ws.policy,
        mcp: {
          servers: {
            fs: { command: process.execPath, args: [FS_SERVER, ws.files] },
            remote: { url: everything.url },
          },
          progressEveryMs: 100,
        },
      },
      { listen: true },
    );
    deskKey = await srv.key('agent', 'desk-agent', 'agent');
    listerKey = await srv.key('agent', 'lister-agent', 'agent');
    lee = await srv.key('human', 'lee', 'approver');
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await srv?.close();
    await everything?.stop();
    if (ws) rmSync(ws.dir, { recursive: true, force: true });
  });

  async function connect(key: string, headers: Record<string, string> = {}) {
    const transport = new StreamableHTTPClientTransport(new URL(`${srv.server.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}`, ...headers } },
    });
    const client = new Client({ name: 'http-client', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    return { client, transport };
  }
  const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

  it('each connection sees the tools its own key’s agent could use', async () => {
    const desk = await connect(deskKey);
    const lister = await connect(listerKey);
    const deskTools = (await desk.client.listTools()).tools.map((t) => t.name);
    const listerTools = (await lister.client.listTools()).tools.map((t) => t.name);
    expect(deskTools).toEqual(
      expect.arrayContaining(['fs__read_text_file', 'fs__write_file', 'remote__echo', 'remote__get-sum']),
    );
    expect(deskTools).not.toContain('remote__get-env');
    expect(listerTools).toEqual(['fs__list_directory']);
  });

  it('forwards to an HTTP upstream and a stdio upstream, and the audit names the session', async () => {
    const { client } = await connect(deskKey, {
      'Warden-Session': `http-${dialect}`,
      'Warden-Triggered-By': 'omar',
    });
    const echo = (await client.callTool({
      name: 'remote__echo',
      arguments: { message: 'over http' },
    })) as CallToolResult;
    expect(text(echo)).toContain('over http');
    const read = (await client.callTool({
      name: 'fs__read_text_file',
      arguments: { path: join(ws.files, 'plan.md') },
    })) as CallToolResult;
    expect(text(read)).toContain('# the plan');
    // The gateway records each result just after replying with it.
    const events = await eventually('both completions in the audit', async () => {
      const r = await srv.request('GET', `/v1/audit/events?session=http-${dialect}&limit=50`, {
        key: srv.admin,
      });
      const all = (
        r.json() as {
          records: { event: { type: string; tool: string; agent: string; triggeredBy: string } }[];
        }
      ).records.map((x) => x.event);
      return all.filter((e) => e.type === 'call.completed').length === 2 ? all : undefined;
    });
    // Each call is decided before it completes; a result recorded after its reply may land after the
    // next call's decision, so the order across calls is not fixed.
    const order = events.map((e) => `${e.type}:${e.tool}`);
    expect([...order].sort()).toEqual([
      'call.completed:fs.read_text_file',
      'call.completed:remote.echo',
      'call.decided:fs.read_text_file',
      'call.decided:remote.echo',
    ]);
    for (const tool of ['remote.echo', 'fs.read_text_file']) {
      expect(order.indexOf(`call.decided:${tool}`)).toBeLessThan(order.indexOf(`call.completed:${tool}`));
    }
    expect(order[0]).toBe('call.decided:remote.echo');
    expect(events.every((e) => e.agent === 'desk-agent' && e.triggeredBy === 'omar')).toBe(true);
  });

  it('holds a reviewed write until approved (woken by the decision), then writes', async () => {
    const { client } = await connect(deskKey);
    const target = join(ws.files, `http-${dialect}.txt`);
    const progress: string[] = [];
    const pending = client.callTool(
      { name: 'fs__write_file', arguments: { path: target, content: 'via /mcp' } },
      {
        onprogress: (p) => progress.push(p.message ?? ''),
        resetTimeoutOnProgress: true,
      },
    ) as Promise<CallToolResult>;
    const id = await eventually('the approval request', async () => {
      const r = await srv.request('GET', '/v1/approvals?status=pending', { key: lee });
      return (r.json() as { approvals: { id: string }[] }).approvals[0]?.id;
    });
    await eventually('progress while waiting', () => (progress.length > 0 ? true : undefined));
    expect(existsSync(target)).toBe(false);
    expect(
      (await srv.request('POST', `/v1/approvals/${id}/approve`, { key: lee, body: {} })).statusCode,
    ).toBe(200);
    const r = await pending;
    expect(r.isError).toBeFalsy();
    expect(readFileSync(target, 'utf8')).toBe('via /mcp');
  });

  it('relays an HTTP upstream’s own progress to the caller', async () => {
    const { client } = await connect(deskKey);
    const progress: { progress: number; total?: number }[] = [];
    const r = await client.callTool(
      { name: 'remote__trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } },
      { onprogress: (p) => progress.push({ progress: p.progress, total: p.total }) },
    );
    expect(text(r)).toContain('Long running operation completed');
    // Every step in order, each with the total. The last one may be missing: the SDK (v1 and v2 alike)
    // drops a progress notification that arrives together with the result it precedes
    // (modelcontextprotocol/typescript-sdk#2580), on the gateway's upstream side or the caller's.
    const steps = [1, 2, 3].map((n) => ({ progress: n, total: 3 }));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress).toEqual(steps.slice(0, progress.length));
  });

  it('a client that cancels a held call: the approval is withdrawn and nothing runs', async () => {
    const { client } = await connect(deskKey);
    const target = join(ws.files, `cancelled-${dialect}.txt`);
    const cancel = new AbortController();
    const held = client
      .callTool(
        { name: 'fs__write_file', arguments: { path: target, content: 'never' } },
        { signal: cancel.signal },
      )
      .catch((err: Error) => err);
    const id = await eventually('the approval request', async () => {
      const r = await srv.request('GET', '/v1/approvals?status=pending', { key: lee });
      return (r.json() as { approvals: { id: string }[] }).approvals[0]?.id;
    });
    cancel.abort('the user pressed stop');
    expect(await held).toBeInstanceOf(Error);
    const status = await eventually('the request withdrawn', async () => {
      const r = await srv.request('GET', `/v1/approvals/${id}`, { key: lee });
      const s = (r.json() as { status: string }).status;
      return s === 'pending' ? undefined : s;
    });
    expect(status).toBe('cancelled');
    expect(existsSync(target)).toBe(false);
    // The session stays usable after the cancellation.
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  });

  it('a client that negotiates the protocol era is served on the 2025 handshake', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${srv.server.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${deskKey}` } },
    });
    const client = new Client(
      { name: 'auto-client', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    await client.connect(transport);
    clients.push(client);
    expect(client.getProtocolEra()).toBe('legacy');
    const r = await client.callTool({ name: 'remote__echo', arguments: { message: 'either era' } });
    expect(text(r)).toContain('either era');
  });

  it('refuses a blocked call as an isError result', async () => {
    const { client } = await connect(deskKey);
    const r = (await client.callTool({ name: 'remote__get-env', arguments: {} })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('the environment holds secrets');
  });

  it('authenticates every request: no key 401, a human key 403, another key cannot use the session', async () => {
    const init = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    };
    const headers = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
    const post = (key: string | undefined, body: unknown, extra: Record<string, string> = {}) =>
      fetch(`${srv.server.url}/mcp`, {
        method: 'POST',
        headers: { ...headers, ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra },
        body: JSON.stringify(body),
      });
    const anonymous = await post(undefined, init);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    const human = await post(lee, init);
    expect(human.status).toBe(403);
    const { transport } = await connect(deskKey);
    const sessionId = transport.sessionId as string;
    expect(sessionId).toBeTruthy();
    const hijack = await post(
      listerKey,
      { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      { 'mcp-session-id': sessionId },
    );
    expect(hijack.status).toBe(404);
    const noSession = await post(deskKey, { jsonrpc: '2.0', id: 3, method: 'tools/list' });
    expect(noSession.status).toBe(400);
  });

  it('a client that hangs up while its call is held: the request is withdrawn and nothing runs', async () => {
    const base = {
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      authorization: `Bearer ${deskKey}`,
    };
    const init = await fetch(`${srv.server.url}/mcp`, {
      method: 'POST',
      headers: base,
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
    const sid = init.headers.get('mcp-session-id') as string;
    await init.text();
    const headers = { ...base, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
    await fetch(`${srv.server.url}/mcp`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    const target = join(ws.files, `hung-up-${dialect}.txt`);
    const hangUp = new AbortController();
    const held = fetch(`${srv.server.url}/mcp`, {
      method: 'POST',
      headers,
      signal: hangUp.signal,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'fs__write_file', arguments: { path: target, content: 'for nobody' } },
      }),
    }).catch(() => undefined);
    const id = await eventually('the approval request', async () => {
      const r = await srv.request('GET', '/v1/approvals?status=pending', { key: lee });
      return (r.json() as { approvals: { id: string }[] }).approvals[0]?.id;
    });
    hangUp.abort();
    await held;
    const status = await eventually('the request withdrawn', async () => {
      const r = await srv.request('GET', `/v1/approvals/${id}`, { key: lee });
      const s = (r.json() as { status: string }).status;
      return s === 'pending' ? undefined : s;
    });
    expect(status).toBe('cancelled');
    const late = await srv.request('POST', `/v1/approvals/${id}/approve`, { key: lee, body: {} });
    expect(late.statusCode).toBe(409);
    expect(existsSync(target)).toBe(false);
  });

  it('an HTTP upstream that restarts is reconnected to', async () => {
    const { client } = await connect(deskKey);
    const echo = async () =>
      (await client.callTool({ name: 'remote__echo', arguments: { message: 'again' } })) as CallToolResult;
    expect((await echo()).isError).toBeFalsy();
    const port = everything.port;
    await everything.stop();
    everything = await startEverythingHttp(port);
    // The first call after the restart may find the old session gone; the gateway then reconnects.
    const r = await eventually('echo after the restart', async () => {
      const x = await echo();
      return x.isError ? undefined : x;
    });
    expect(text(r)).toContain('again');
  });

  it('a grant tells open sessions to list again, and the granted tool appears', async () => {
    const { client } = await connect(deskKey);
    await expectGrantToShowTool(client, srv, lee);
  });
});
