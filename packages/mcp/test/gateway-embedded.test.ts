import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CallToolResult, Client, InMemoryTransport } from '@modelcontextprotocol/client';
import { createWarden, type Warden } from '@warden/sdk';
import type { EngineTransport } from '@warden/sdk/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { countEvents } from '../../sdk/test-support/sdk-fixtures.js';
import { createGatewayServer } from '../src/gateway-server.js';
import { InFlightCalls } from '../src/in-flight-calls.js';
import { UpstreamPool } from '../src/upstream-pool.js';
import { EVERYTHING_SERVER, FS_SERVER, mcpWorkspace } from '../test-support/mcp-fixtures.js';

/**
 * The gateway inside one process on an embedded engine (a real SQLite file), with the official client
 * over the SDK's in-memory transport and real upstreams: how results are recorded, and what an upstream
 * that cannot start looks like.
 */
describe('gateway on an embedded engine', () => {
  let ws: ReturnType<typeof mcpWorkspace> | undefined;
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
    if (ws) rmSync(ws.dir, { recursive: true, force: true });
  });

  async function gateway(
    o: { durableResults?: boolean; servers?: ConstructorParameters<typeof UpstreamPool>[0] } = {},
  ) {
    ws = mcpWorkspace();
    mkdirSync(ws.files);
    writeFileSync(join(ws.files, 'a.txt'), 'alpha');
    const warden: Warden = await createWarden({
      embedded: { db: join(ws.dir, 'warden.db'), policy: ws.policy, agent: 'desk-agent' },
      context: { session: 'embedded-gw' },
    });
    const pool = new UpstreamPool(
      o.servers ?? {
        fs: { command: process.execPath, args: [FS_SERVER, ws.files] },
        everything: { command: process.execPath, args: [EVERYTHING_SERVER, 'stdio'] },
      },
    );
    const calls = new InFlightCalls();
    const server = createGatewayServer({
      pool,
      warden,
      calls,
      context: warden.context(),
      approvalWaitMs: 5_000,
      progressEveryMs: 1_000,
      ...(o.durableResults ? { durableResults: true } : {}),
    });
    const [c, s] = InMemoryTransport.createLinkedPair();
    await server.connect(s);
    const client = new Client({ name: 'in-process', version: '1' });
    await client.connect(c);
    const engine = (warden.transport as EngineTransport).engine;
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await client.close();
      await pool.close();
      await warden.close();
    };
    closers.push(close);
    return { client, engine, close, calls, db: join(ws.dir, 'warden.db') };
  }

  const completions = (db: string) => countEvents(db, 'call.completed');
  const outcomes = async (db: string) => {
    const { default: Database } = await import('better-sqlite3');
    const conn = new Database(db, { readonly: true });
    const rows = conn.prepare("SELECT body FROM audit_events WHERE type = 'call.completed'").all() as {
      body: string;
    }[];
    conn.close();
    return rows.map((r) => (JSON.parse(r.body) as { outcome: { status: string } }).outcome.status);
  };

  it('closing the gateway waits for the results still being recorded: none is lost', async () => {
    const g = await gateway();
    const calls = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        g.client.callTool({ name: 'everything__echo', arguments: { message: `m${i}` } }),
      ),
    );
    expect(calls.every((r) => !r.isError)).toBe(true);
    await g.close();
    expect(await completions(g.db)).toBe(20);
  });

  it('with durableResults the record is committed before the result comes back', async () => {
    const g = await gateway({ durableResults: true });
    const r = (await g.client.callTool({
      name: 'fs__read_text_file',
      arguments: { path: join(ws?.files as string, 'a.txt') },
    })) as CallToolResult;
    expect(r.content[0]).toMatchObject({ text: 'alpha' });
    expect(await completions(g.db)).toBe(1);
  });

  it('an upstream that cannot start: its tools are missing, its calls fail with a clear error, others work', async () => {
    const g = await gateway({
      servers: {
        everything: { command: process.execPath, args: [EVERYTHING_SERVER, 'stdio'] },
        fs: { command: join(ws?.dir ?? '/nonexistent', 'no-such-binary'), args: [] },
      },
    });
    const names = (await g.client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('everything__echo');
    expect(names.some((n) => n.startsWith('fs__'))).toBe(false);
    const r = (await g.client.callTool({
      name: 'fs__list_directory',
      arguments: { path: '/' },
    })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(JSON.stringify(r.content)).toContain('upstream fs');
    expect(r._meta?.['warden/code']).toBe('MCP_UPSTREAM_UNAVAILABLE');
    const echo = (await g.client.callTool({
      name: 'everything__echo',
      arguments: { message: 'ok' },
    })) as CallToolResult;
    expect(echo.isError).toBeFalsy();
  });

  it('a client that hangs up while a call runs upstream: the call finishes and is recorded', async () => {
    const g = await gateway();
    let running: () => void = () => {};
    const upstreamStarted = new Promise<void>((resolve) => {
      running = resolve;
    });
    const pending = g.client
      .callTool(
        { name: 'everything__trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
        { onprogress: () => running() },
      )
      .catch((err: Error) => err);
    await upstreamStarted;
    // The SDK aborts a closed connection's handlers; the gateway still lets a running call finish,
    // as on shutdown: stopping it halfway could leave a write half done and its record wrong.
    await g.client.close();
    await pending;
    await g.calls.settle(10_000);
    await g.close();
    expect(await outcomes(g.db)).toEqual(['ok']);
  });

  it('an upstream error result is recorded as an error with its text', async () => {
    const g = await gateway();
    const r = (await g.client.callTool({
      name: 'fs__read_text_file',
      arguments: { path: '/etc/passwd' },
    })) as CallToolResult;
    expect(r.isError).toBe(true);
    await g.close();
    const { default: Database } = await import('better-sqlite3');
    const conn = new Database(g.db, { readonly: true });
    const row = conn.prepare("SELECT body FROM audit_events WHERE type = 'call.completed'").get() as {
      body: string;
    };
    conn.close();
    const outcome = (JSON.parse(row.body) as { outcome: { status: string; error: string } }).outcome;
    expect(outcome.status).toBe('error');
    expect(outcome.error).toContain('Access denied');
  });
});
