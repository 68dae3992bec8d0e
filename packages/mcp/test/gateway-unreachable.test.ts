import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CallToolResult, Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import { startTestServer, type TestServer } from '../../server/test-support/server-fixtures.js';
import { FS_SERVER, freePort, mcpWorkspace, ROOT, WARDEN_BIN } from '../test-support/mcp-fixtures.js';

/**
 * `warden mcp` (a real process on stdio, the official MCP client) when the Warden server it decides with
 * cannot be reached: every call is refused with WARDEN_UNREACHABLE naming the URL and the fix, and the
 * upstream tool never runs (fail closed).
 */
describe('warden mcp with its Warden server unreachable', () => {
  let ws: ReturnType<typeof mcpWorkspace>;
  let client: Client | undefined;
  /** What the gateway processes wrote to stderr (their log). */
  let logged = '';

  beforeAll(() => {
    ws = mcpWorkspace();
    mkdirSync(ws.files);
  });

  afterEach(async () => {
    await client?.close();
    client = undefined;
  });

  afterAll(() => {
    if (ws) rmSync(ws.dir, { recursive: true, force: true });
  });

  /** Starts `warden mcp` in front of the filesystem server, deciding with the Warden server at `url`. */
  async function gateway(url: string, key: string): Promise<Client> {
    const config = join(ws.dir, `gateway-${Date.now()}.yaml`);
    writeFileSync(
      config,
      [
        'warden:',
        `  url: ${url}`,
        '  key: env:DESK_AGENT_KEY',
        'mcpServers:',
        '  fs:',
        `    command: ${JSON.stringify(process.execPath)}`,
        `    args: [${JSON.stringify(FS_SERVER)}, ${JSON.stringify(ws.files)}]`,
      ].join('\n'),
    );
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [...WARDEN_BIN, 'mcp', '--config', config],
      cwd: ROOT,
      env: { ...(process.env as Record<string, string>), DESK_AGENT_KEY: key },
      stderr: 'pipe',
    });
    const c = new Client({ name: 'desktop-client', version: '1.0.0' });
    await c.connect(transport, { timeout: 60_000 });
    transport.stderr?.on('data', (d: Buffer) => {
      logged += d.toString();
    });
    return c;
  }

  const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
  const call = (c: Client, name: string, args: Record<string, unknown>) =>
    c.callTool({ name, arguments: args }, { timeout: 60_000 }) as Promise<CallToolResult>;

  /** The refusal every call gets while Warden is away: the code, the URL, the fix; the tool not run. */
  async function expectUnreachable(c: Client, url: string): Promise<void> {
    const file = join(ws.files, `written-${Date.now()}.txt`);
    const r = await call(c, 'fs__write_file', { path: file, content: 'should never be written' });
    expect(r.isError).toBe(true);
    expect(r._meta?.['warden/code']).toBe('WARDEN_UNREACHABLE');
    expect(text(r)).toContain(`Warden at ${url} is unreachable`);
    expect(text(r)).toMatch(/warden serve/);
    expect(text(r)).toMatch(/warden\.url in the gateway config/);
    expect(text(r)).toMatch(/fs__write_file was not called/);
    expect(text(r)).not.toMatch(/INTERNAL|the error is logged/);
    expect(existsSync(file)).toBe(false);
    // The operator's log says it too.
    await eventually('the gateway logging it', () =>
      logged.includes(`tools/call fs__write_file: Warden at ${url} is unreachable`) ? true : undefined,
    );
  }

  it('a port nothing listens on', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    client = await gateway(url, 'wdn_not-checked-because-nothing-answers');
    // Listing needs Warden too: the error says why the list is unavailable, not that something broke.
    await expect(client.listTools()).rejects.toThrow(`Warden at ${url} is unreachable`);
    await expectUnreachable(client, url);
  }, 120_000);

  it('a server that was stopped after the gateway used it', async () => {
    const srv: TestServer = await startTestServer('sqlite', { policy: ws.policy }, { listen: true });
    const url = srv.server.url;
    try {
      client = await gateway(url, await srv.key('agent', 'desk-agent', 'agent'));
      const listed = await call(client, 'fs__list_directory', { path: ws.files });
      expect(listed.isError ?? false).toBe(false);
    } finally {
      await srv.close();
    }
    await expectUnreachable(client, url);
  }, 120_000);
});
