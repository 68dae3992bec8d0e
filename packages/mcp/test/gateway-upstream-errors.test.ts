import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type CallToolResult, Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import { startTestServer, type TestServer } from '../../server/test-support/server-fixtures.js';
import { mcpWorkspace, ROOT, WARDEN_BIN } from '../test-support/mcp-fixtures.js';

/**
 * `warden mcp` (a real process on stdio, the official MCP client) in front of an upstream that fails
 * with secrets in its words: the agent is told which upstream failed and its HTTP status, never the
 * upstream's text; the operator's log has all of it. And a URL with credentials is refused at start.
 */
describe('warden mcp keeping upstream error text from the agent', () => {
  let ws: ReturnType<typeof mcpWorkspace>;
  let srv: TestServer;
  let upstream: Server;
  let upstreamUrl: string;

  beforeAll(async () => {
    ws = mcpWorkspace();
    mkdirSync(ws.files);
    srv = await startTestServer('sqlite', { policy: ws.policy }, { listen: true });
    // Answers every request the way a crashing app server does: 500 with its stack trace.
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(
          'Traceback (most recent call last):\n  db password=hunter2 at postgres://app:hunter2@db/prod',
        );
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`;
  }, 60_000);

  afterAll(async () => {
    await srv?.close();
    upstream?.closeAllConnections();
    await new Promise((r) => upstream?.close(r));
    if (ws) rmSync(ws.dir, { recursive: true, force: true });
  });

  function writeConfig(url: string): string {
    const config = join(ws.dir, `gateway-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(
      config,
      [
        'warden:',
        `  url: ${srv.server.url}`,
        '  key: env:DESK_AGENT_KEY',
        'mcpServers:',
        '  remote:',
        `    url: ${url}`,
      ].join('\n'),
    );
    return config;
  }

  it('an upstream answering HTTP 500 with a stack trace: the agent gets the status, the log gets the text', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [...WARDEN_BIN, 'mcp', '--config', writeConfig(upstreamUrl)],
      cwd: ROOT,
      env: {
        ...(process.env as Record<string, string>),
        DESK_AGENT_KEY: await srv.key('agent', 'desk-agent', 'agent'),
      },
      stderr: 'pipe',
    });
    let logged = '';
    transport.stderr?.on('data', (d: Buffer) => {
      logged += d.toString();
    });
    const client = new Client({ name: 'desktop-client', version: '1.0.0' });
    await client.connect(transport, { timeout: 60_000 });
    try {
      const r = (await client.callTool(
        { name: 'remote__echo', arguments: { message: 'hi' } },
        { timeout: 60_000 },
      )) as CallToolResult;
      expect(r.isError).toBe(true);
      expect(r._meta?.['warden/code']).toBe('MCP_UPSTREAM_UNAVAILABLE');
      const said = JSON.stringify(r);
      // The listing at start already failed it, so the call may meet the retry pause: either says the status.
      expect(said).toMatch(/upstream remote (could not be started or reached|is unavailable) \(HTTP 500\)/);
      expect(said).toContain('ask the operator to check upstream remote');
      expect(said).not.toMatch(/hunter2|Traceback|POSTing/);
      // The operator sees what the upstream said.
      await eventually('the gateway logging the upstream text', () =>
        logged.includes('upstream remote could not be started or reached') && logged.includes('hunter2')
          ? true
          : undefined,
      );
    } finally {
      await client.close();
    }
  }, 120_000);

  it('an upstream URL with credentials is refused at start, without echoing them', async () => {
    const secretUrl = upstreamUrl.replace('http://', 'http://bot:hunter2@');
    const child = spawn(process.execPath, [...WARDEN_BIN, 'mcp', '--config', writeConfig(secretUrl)], {
      cwd: ROOT,
      env: { ...process.env, DESK_AGENT_KEY: 'wdn_unused' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(code).not.toBe(0);
    expect(err).toContain('servers.remote.url: must not contain a user name or password');
    expect(err).toContain('headers');
    expect(err).not.toContain('hunter2');
  }, 60_000);
});
