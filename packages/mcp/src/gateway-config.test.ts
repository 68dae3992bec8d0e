import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWardenError } from '@warden/core';
import { afterEach, describe, expect, it } from 'vitest';
import { loadGatewayConfig, resolveGatewayConfig } from './gateway-config.js';

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isWardenError(err, 'CONFIG_INVALID')) return err.message;
    throw err;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('gateway config', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes a desktop client’s mcpServers as they are, reads env: secrets and resolves paths', () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    const file = join(dir, 'gateway.json');
    writeFileSync(
      file,
      JSON.stringify({
        warden: { url: 'http://localhost:7400', key: 'env:MY_KEY' },
        mcpServers: {
          fs: {
            command: 'npx',
            args: ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'],
            cwd: 'work',
          },
          remote: { url: 'https://tools.example/mcp', headers: { Authorization: 'env:REMOTE_TOKEN' } },
          local: { command: 'node', args: ['server.js'] },
        },
      }),
    );
    const c = loadGatewayConfig(file, { MY_KEY: 'wdn_secret', REMOTE_TOKEN: 'Bearer abc' });
    expect(c.warden).toEqual({ url: 'http://localhost:7400', key: 'wdn_secret' });
    expect(c.servers.fs).toMatchObject({ command: 'npx', cwd: join(dir, 'work') });
    expect(c.servers.remote).toMatchObject({ headers: { Authorization: 'Bearer abc' } });
    // Relative paths of a stdio server mean the config file's folder, wherever the gateway starts.
    expect(c.servers.local).toMatchObject({ cwd: dir });
    expect(c.approvalWaitMs).toBe(15 * 60_000);
    expect(c.durableResults).toBe(false);
  });

  it('names every problem with its path', () => {
    expect(problem(() => resolveGatewayConfig({ servers: { my_fs: { command: 'x' } } }))).toContain(
      'server names may use letters, digits and -',
    );
    expect(problem(() => resolveGatewayConfig({ servers: {} }))).toContain('name at least one upstream');
    expect(
      problem(() =>
        resolveGatewayConfig(
          { warden: { url: 'http://w', key: 'env:NOPE' }, servers: { a: { command: 'x' } } },
          { env: {} },
        ),
      ),
    ).toContain('warden.key: environment variable NOPE is not set');
    expect(
      problem(() =>
        resolveGatewayConfig({ servers: { a: { command: 'x' } }, mcpServers: { b: { command: 'y' } } }),
      ),
    ).toContain('use servers or mcpServers, not both');
    expect(problem(() => resolveGatewayConfig({ servers: { a: { url: 'not a url' } } }))).toContain(
      'servers.a',
    );
    expect(
      problem(() => resolveGatewayConfig({ servers: { a: { command: 'x' } }, maxMessageBytes: '10MB' })),
    ).toContain('maxMessageBytes');
  });

  it('maxMessageBytes is kept when set, and left to the SDK default when not', () => {
    expect(
      resolveGatewayConfig({ servers: { a: { command: 'x' } }, maxMessageBytes: 1024 }).maxMessageBytes,
    ).toBe(1024);
    expect(resolveGatewayConfig({ servers: { a: { command: 'x' } } }).maxMessageBytes).toBeUndefined();
    expect(
      resolveGatewayConfig({ servers: { a: { command: 'x' } }, maxMessageBytes: 256 * 1024 * 1024 })
        .maxMessageBytes,
    ).toBe(256 * 1024 * 1024);
    expect(
      problem(() =>
        resolveGatewayConfig({ servers: { a: { command: 'x' } }, maxMessageBytes: 256 * 1024 * 1024 + 1 }),
      ),
    ).toMatch(/maxMessageBytes: must be at most 268435456 \(256 MiB\)/);
  });

  it('refuses user:pass@ in an upstream or Warden URL without echoing it, and points at headers', () => {
    const upstream = problem(() =>
      resolveGatewayConfig({
        servers: { remote: { url: 'https://bot:hunter2@tools.example/mcp?token=t0ken' } },
      }),
    );
    expect(upstream).toContain('servers.remote.url: must not contain a user name or password');
    expect(upstream).toContain('headers: { Authorization: env:UPSTREAM_TOKEN }');
    expect(upstream).not.toMatch(/hunter2|t0ken|bot/);
    const wardenUrl = problem(() =>
      resolveGatewayConfig({
        warden: { url: 'http://admin:hunter2@localhost:7400', key: 'wdn_x' },
        servers: { a: { command: 'x' } },
      }),
    );
    expect(wardenUrl).toContain('warden.url: must not contain a user name or password');
    expect(wardenUrl).not.toContain('hunter2');
  });

  it('a missing or malformed file is a clear error, not a crash', () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    expect(problem(() => loadGatewayConfig(join(dir as string, 'missing.yaml')))).toContain(
      'cannot read the gateway config',
    );
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'servers: [unclosed');
    expect(problem(() => loadGatewayConfig(bad))).toContain('is not valid YAML or JSON');
  });
});
