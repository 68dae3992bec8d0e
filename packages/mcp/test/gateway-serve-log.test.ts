/**
 * The gateway at /mcp of `warden serve` (a real process) in front of the real filesystem server on stdio:
 * what the upstream writes to its stderr reaches the server's log as JSON lines naming the upstream,
 * never as bare text between them. Needs the built CLI.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import {
  BIN,
  killAll,
  logged,
  logLines,
  spawnServe,
  warden,
} from '../../server/test-support/serve-process.js';
import { FS_SERVER, mcpWorkspace } from '../test-support/mcp-fixtures.js';

let ws: ReturnType<typeof mcpWorkspace>;

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  ws = mcpWorkspace();
  mkdirSync(ws.files);
});

afterAll(() => {
  killAll();
  if (ws) rmSync(ws.dir, { recursive: true, force: true });
});

describe('warden serve with a stdio MCP upstream', () => {
  it("logs the upstream's stderr lines at the default level as warn JSON lines naming it, each capped", async () => {
    const db = join(ws.dir, 'gateway.db');
    const config = join(ws.dir, 'warden.yaml');
    // The filesystem server, after a 100 KB line on its stderr.
    const noisy = join(ws.dir, 'noisy.mjs');
    writeFileSync(
      noisy,
      `process.stderr.write('n'.repeat(100_000) + ' END-OF-LONG-LINE\\n');\nawait import(${JSON.stringify(pathToFileURL(FS_SERVER).href)});\n`,
    );
    writeFileSync(
      config,
      JSON.stringify({
        mcp: {
          servers: {
            fs: { command: process.execPath, args: [FS_SERVER, ws.files] },
            noisy: { command: process.execPath, args: [noisy, ws.files] },
          },
        },
      }),
    );
    // No WARDEN_LOG_LEVEL: the default (warn) must show what an upstream says.
    const server = await spawnServe(['--config', config, '--db', db, '--port', '0', '--policy', ws.policy], {
      WARDEN_ADMIN_KEY: `wdn_${randomBytes(32).toString('base64url')}`,
    });
    const client = new Client({ name: 'log-test', version: '1.0.0' });
    try {
      const made = await warden(['keys', 'create', '--agent', 'desk-agent', '--db', db, '--json']);
      expect(made.code, made.err).toBe(0);
      const key = (JSON.parse(made.out) as { secret: string }).secret;
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
          requestInit: { headers: { authorization: `Bearer ${key}` } },
        }),
      );
      // Listing tools starts the upstream, which announces itself on its stderr.
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('fs__read_text_file');
      const [line] = await eventually('the upstream stderr line in the log', () => {
        // Both upstreams run the filesystem server, so both announce it: the fs upstream's line, whichever came first.
        const lines = logged(server.stderr(), 'Secure MCP Filesystem Server running on stdio').filter(
          (l) => l.upstream === 'fs',
        );
        return lines.length ? lines : undefined;
      });
      expect(line).toMatchObject({ level: 'warn', upstream: 'fs', stream: 'stderr', name: 'warden' });
      const [long] = await eventually('the noisy upstream line in the log', () => {
        const lines = logLines(server.stderr()).filter(
          (l) => l.upstream === 'noisy' && /^n+/.test(String(l.msg)),
        );
        return lines.length ? lines : undefined;
      });
      expect(long?.msg).toBe(`${'n'.repeat(8192)}… [line cut at 8192 bytes]`);
      expect(server.stderr()).not.toContain('END-OF-LONG-LINE');
    } finally {
      await client.close().catch(() => {});
      const exit = await server.stop();
      expect(exit.code).toBe(0);
      // logLines throws on any line that is not a JSON log line: the upstream printed none through.
      expect(logLines(exit.err).length).toBeGreaterThan(0);
      expect(exit.err).not.toMatch(/^Secure MCP/m);
    }
  }, 90_000);
});
