import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/client';
import { expect } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import type { TestServer } from '../../server/test-support/server-fixtures.js';

/** The repository root (children run from here so `--import tsx` resolves). */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** The real upstream MCP servers from npm. */
export const FS_SERVER = join(ROOT, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
export const EVERYTHING_SERVER = join(
  ROOT,
  'node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);
/** `warden` from source, as the tests of the other packages run it. */
export const WARDEN_BIN = [
  '--conditions=@warden/source',
  '--import',
  'tsx',
  join(ROOT, 'packages/cli/src/bin.ts'),
];

/**
 * The gateway tests' policy: the desk agent may read files and use the harmless everything tools, needs
 * a lead to write a file, may never move one or read the environment; everything else is denied (and so
 * hidden). The auditor agent may only list directories.
 */
export const MCP_POLICY = `
name: mcp gateway tests
approverGroups:
  leads: [lee]
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  desk-agent:
    rules:
      - id: fs-reads
        effect: allow
        tools: ["fs.read_text_file", "fs.list_directory", "fs.list_allowed_directories", "fs.get_file_info"]
      - id: fs-writes-need-a-lead
        effect: review
        tools: ["fs.write_file", "fs.edit_file"]
        reason: writing files needs a lead
        approval: { approvers: { groups: [leads] }, timeout: 10m }
      - id: fs-no-moves
        effect: block
        tools: ["fs.move_file"]
        reason: files are never moved by an agent
      - id: everything-harmless
        effect: allow
        tools: ["everything.echo", "everything.get-sum", "remote.echo", "remote.get-sum",
                "everything.trigger-long-running-operation", "remote.trigger-long-running-operation"]
      - id: no-environment
        effect: block
        tools: ["everything.get-env", "remote.get-env"]
        reason: the environment holds secrets
  lister-agent:
    rules:
      - id: list-only
        effect: allow
        tools: ["fs.list_directory"]
`;

/** A temp folder with the policy and a files/ folder the filesystem server may touch. */
export function mcpWorkspace(): { dir: string; files: string; policy: string } {
  const dir = mkdtempSync(join(tmpdir(), 'warden-mcp-'));
  const files = join(dir, 'files');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, MCP_POLICY);
  return { dir, files, policy };
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The everything server over streamable HTTP on a free port, for an HTTP upstream. */
export async function startEverythingHttp(
  port?: number,
): Promise<{ url: string; port: number; child: ChildProcess; stop(): Promise<void> }> {
  port ??= await freePort();
  const child = spawn(process.execPath, [EVERYTHING_SERVER, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`everything server did not start: ${err}`)), 20_000);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on port')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`everything server exited (${code}): ${err}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Grants desk-agent `fs.directory_tree` (a tool no rule names, so hidden) through the API as `approver`,
 * and expects the client to be told to list again and then to see the tool.
 */
export async function expectGrantToShowTool(
  client: Client,
  srv: TestServer,
  approver: string,
): Promise<void> {
  let told = 0;
  client.setNotificationHandler('notifications/tools/list_changed', async () => {
    told++;
  });
  expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('fs__directory_tree');
  const grant = await srv.request('POST', '/v1/grants', {
    key: approver,
    body: { agent: 'desk-agent', tool: 'fs.directory_tree', ttl: '1h', reason: 'map the files' },
  });
  expect(grant.statusCode).toBe(201);
  await eventually('tools/list_changed', () => (told > 0 ? true : undefined));
  expect((await client.listTools()).tools.map((t) => t.name)).toContain('fs__directory_tree');
}
