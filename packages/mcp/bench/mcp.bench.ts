/**
 * What the MCP gateway adds to a tool call: the same `tools/call` of the everything server's `echo`, made
 * directly to the upstream (stdio), through `warden serve`'s `/mcp` (the built CLI in its own process, the
 * official SDK client over Streamable HTTP with an agent key; the server runs the upstream over stdio and
 * decides with its own engine on a SQLite file) and through `warden mcp` (the built CLI, its own process
 * on stdio, an embedded engine on a SQLite file), in alternation so the machine's noise falls on all
 * alike. In both gateways the decision is durable before the call is forwarded.
 *
 * - `mcp.overhead_p50_ms` / `mcp.overhead_p99_ms`: through `warden serve` minus direct, per percentile.
 * - `mcp.stdio_overhead_p50_ms` / `mcp.stdio_overhead_p99_ms`: through `warden mcp` minus direct.
 * - `mcp.relay_overhead_p50_ms`: a bare relay process (the same MCP server and client code, no decision,
 *   no record) minus direct: what any proxy process in between costs on this machine.
 * - `mcp.governance_p50_ms`: `warden mcp` minus bare relay: what Warden's durable decision and record add.
 * - `mcp.in_process_overhead_p50_ms`: the gateway run inside the client's process (an in-memory MCP
 *   transport, embedded engine on its own SQLite file) minus direct: Warden's cost without a process hop.
 * - `mcp.direct_p50_ms`, `mcp.relay_p50_ms`, `mcp.gateway_p50_ms` (`warden mcp`), `mcp.serve_p50_ms`.
 * - `mcp.audited_calls` / `mcp.serve_audited_calls`: completed calls each gateway's audit holds afterwards
 *   (each must equal the calls made).
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client, InMemoryTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { createWarden } from '@warden/sdk';
import type { Benchmark, BenchmarkOptions } from '../../../bench/benchmark.js';
import { countEvents } from '../../sdk/test-support/sdk-fixtures.js';
import { api, killAll, type Served, spawnServe } from '../../server/test-support/serve-process.js';
import { createGatewayServer } from '../src/gateway-server.js';
import { UpstreamPool } from '../src/upstream-pool.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const CLI = join(ROOT, 'packages/cli/dist/bin.js');
const RELAY = fileURLToPath(new URL('./bare-relay.ts', import.meta.url));

/** Breakers off: thousands of calls a second from one session is exactly what the rate breaker stops. */
const POLICY = `
name: mcp bench
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  bench-agent:
    rules:
      - { id: echo, effect: allow, tools: ["everything.echo"] }
`;

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))] as number;
}

async function connect(command: string, args: string[]): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command, args, cwd: ROOT, stderr: 'ignore' }), {
    timeout: 60_000,
  });
  return client;
}

async function run({ quick, log }: BenchmarkOptions): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-mcp-bench-'));
  const clients: Client[] = [];
  let served: Served | undefined;
  try {
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    writeFileSync(
      join(dir, 'gateway.yaml'),
      [
        'warden:',
        '  embedded:',
        '    db: warden.db',
        '    policy: policy.yaml',
        '    agent: bench-agent',
        'servers:',
        '  everything:',
        `    command: ${JSON.stringify(process.execPath)}`,
        `    args: [${JSON.stringify(EVERYTHING)}, stdio]`,
      ].join('\n'),
    );
    const direct = await connect(process.execPath, [EVERYTHING, 'stdio']);
    clients.push(direct);
    const relay = await connect(process.execPath, [
      '--import',
      'tsx',
      RELAY,
      process.execPath,
      EVERYTHING,
      'stdio',
    ]);
    clients.push(relay);
    const gateway = await connect(process.execPath, [CLI, 'mcp', '--config', join(dir, 'gateway.yaml')]);
    clients.push(gateway);
    const local = await inProcessGateway(dir);
    const viaServe = await serveGateway(dir);
    served = viaServe.served;
    clients.push(viaServe.client);
    const warmup = quick ? 100 : 300;
    const n = quick ? 500 : 3_000;
    const d: number[] = [];
    const b: number[] = [];
    const g: number[] = [];
    const l: number[] = [];
    const v: number[] = [];
    let calls = 0;
    for (let i = 0; i < warmup + n; i++) {
      const message = `m${i}`;
      // Each governed call follows an ungoverned one, so the record one gateway commits just after its
      // reply never shares the disk with the other gateway's decision.
      const t0 = performance.now();
      await direct.callTool({ name: 'echo', arguments: { message } });
      const t1 = performance.now();
      const r = await gateway.callTool({ name: 'everything__echo', arguments: { message } });
      const t2 = performance.now();
      await relay.callTool({ name: 'up__echo', arguments: { message } });
      const t3 = performance.now();
      await local.client.callTool({ name: 'everything__echo', arguments: { message } });
      const t4 = performance.now();
      const s = await viaServe.client.callTool({ name: 'everything__echo', arguments: { message } });
      const t5 = performance.now();
      if (r.isError) throw new Error(`the gateway refused echo: ${JSON.stringify(r.content)}`);
      if (s.isError) throw new Error(`warden serve's /mcp refused echo: ${JSON.stringify(s.content)}`);
      calls++;
      if (i >= warmup) {
        d.push(t1 - t0);
        g.push(t2 - t1);
        b.push(t3 - t2);
        l.push(t4 - t3);
        v.push(t5 - t4);
      }
      if ((i + 1) % 500 === 0) log(`${i + 1}/${warmup + n} rounds of five calls`);
    }
    await local.close();
    // Closing the gateway's stdin ends it: it records what is in flight and closes its engine.
    await gateway.close();
    clients.pop();
    const audited = await countEvents(join(dir, 'warden.db'), 'call.completed');
    await viaServe.client.close();
    clients.pop();
    await served.stop();
    served = undefined;
    const serveAudited = await countEvents(join(dir, 'serve.db'), 'call.completed');
    for (const xs of [d, b, g, l, v]) xs.sort((x, y) => x - y);
    const round = (x: number) => Math.round(x * 1000) / 1000;
    if (audited !== calls) throw new Error(`the audit holds ${audited} completed calls of ${calls}`);
    if (serveAudited !== calls)
      throw new Error(`warden serve's audit holds ${serveAudited} completed calls of ${calls}`);
    return {
      overhead_p50_ms: round(pct(v, 0.5) - pct(d, 0.5)),
      overhead_p99_ms: round(pct(v, 0.99) - pct(d, 0.99)),
      stdio_overhead_p50_ms: round(pct(g, 0.5) - pct(d, 0.5)),
      stdio_overhead_p99_ms: round(pct(g, 0.99) - pct(d, 0.99)),
      relay_overhead_p50_ms: round(pct(b, 0.5) - pct(d, 0.5)),
      governance_p50_ms: round(pct(g, 0.5) - pct(b, 0.5)),
      in_process_overhead_p50_ms: round(pct(l, 0.5) - pct(d, 0.5)),
      direct_p50_ms: round(pct(d, 0.5)),
      relay_p50_ms: round(pct(b, 0.5)),
      gateway_p50_ms: round(pct(g, 0.5)),
      serve_p50_ms: round(pct(v, 0.5)),
      audited_calls: audited,
      serve_audited_calls: serveAudited,
    };
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await served?.stop();
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `warden serve` (the built CLI) with the MCP gateway at /mcp in front of the everything server (stdio),
 * on its own SQLite file, and an official SDK client on it with an agent key of `bench-agent`.
 */
async function serveGateway(dir: string): Promise<{ served: Served; client: Client }> {
  writeFileSync(
    join(dir, 'serve.yaml'),
    [
      'mcp:',
      '  servers:',
      '    everything:',
      `      command: ${JSON.stringify(process.execPath)}`,
      `      args: [${JSON.stringify(EVERYTHING)}, stdio]`,
      '',
    ].join('\n'),
  );
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  const served = await spawnServe(
    [
      ...['--config', join(dir, 'serve.yaml'), '--db', join(dir, 'serve.db')],
      ...['--policy', join(dir, 'policy.yaml'), '--port', '0'],
    ],
    { WARDEN_ADMIN_KEY: admin },
  );
  try {
    const made = await api<{ secret: string }>(served.url, 'POST', '/v1/keys', {
      key: admin,
      body: { principalKind: 'agent', principal: 'bench-agent', role: 'agent' },
    });
    if (made.status !== 201) throw new Error(`POST /v1/keys: ${made.status} ${JSON.stringify(made.body)}`);
    const client = new Client({ name: 'bench-serve', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${served.url}/mcp`), {
        requestInit: {
          headers: { authorization: `Bearer ${made.body.secret}`, 'warden-session': 'bench-serve' },
        },
      }),
    );
    return { served, client };
  } catch (err) {
    await served.stop();
    throw err;
  }
}

/** The gateway inside this process, reached over an in-memory MCP transport. */
async function inProcessGateway(dir: string): Promise<{ client: Client; close(): Promise<void> }> {
  const warden = await createWarden({
    embedded: { db: join(dir, 'local.db'), policy: join(dir, 'policy.yaml'), agent: 'bench-agent' },
    context: { session: 'bench-in-process' },
  });
  const pool = new UpstreamPool({ everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] } });
  const server = createGatewayServer({
    pool,
    warden,
    context: warden.context(),
    approvalWaitMs: 60_000,
    progressEveryMs: 5_000,
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'bench-in-process', version: '1.0.0' });
  await client.connect(clientSide);
  return {
    client,
    async close() {
      await client.close();
      await pool.close();
      await warden.close();
    },
  };
}

export const benchmarks: Benchmark[] = [{ name: 'mcp', run }];
