import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiRole, PrincipalKind } from '@warden/engine';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { inject } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { resolveServerConfig, type ServerConfigInput } from '../src/config/server-config.js';
import { EXAMPLE_POLICY, startServer, type WardenServer } from '../src/warden-server.js';

/** A server under test, driven through inject() (no socket) unless started with listen. */
export interface TestServer {
  readonly server: WardenServer;
  /** The bootstrap admin key. */
  readonly admin: string;
  readonly db: string;
  readonly dir: string;
  /** Creates a key through the API and returns its secret. */
  key(kind: PrincipalKind, principal: string, role: ApiRole): Promise<string>;
  /** A request with an optional bearer key and JSON body. */
  request(
    method: InjectOptions['method'],
    url: string,
    o?: { key?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** Where a test server keeps its data: a temp SQLite file, or a new database on the run's PostgreSQL. */
export async function testDb(dialect: 'sqlite' | 'postgres', dir: string): Promise<string> {
  return dialect === 'sqlite' ? join(dir, 'warden.db') : createTestDatabase(inject('postgresUrl'), 'server');
}

/**
 * The example policy as the server tests knew it before task tokens: calls may still claim who
 * triggered them (identity.requireTaskToken off), which these tests of claimed, legacy names rely on.
 * The shipped example requires task tokens; task-tokens-process.test.ts covers that.
 */
function claimsAllowedExample(dir: string): string {
  const copy = join(dir, 'example-policy');
  mkdirSync(copy);
  for (const f of readdirSync(EXAMPLE_POLICY).filter((n) => n.endsWith('.yaml'))) {
    const text = readFileSync(join(EXAMPLE_POLICY, f), 'utf8');
    writeFileSync(join(copy, f), text.replace('requireTaskToken: true', 'requireTaskToken: false'));
  }
  return copy;
}

/** Starts a server on a fresh database with the example policy (or `config.policy`). */
export async function startTestServer(
  dialect: 'sqlite' | 'postgres' = 'sqlite',
  config: Partial<ServerConfigInput> = {},
  options: { listen?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-server-'));
  const db = config.db ?? (await testDb(dialect, dir));
  const resolved = resolveServerConfig(
    {
      port: 0,
      logLevel: 'silent',
      keysFile: join(dir, 'keys.json'),
      ...config,
      db,
      policy: config.policy ?? claimsAllowedExample(dir),
    } as never,
    {},
  );
  const server = await startServer(resolved, { listen: options.listen ?? false, env: options.env ?? {} });
  const admin = server.bootstrap?.secret as string;
  const request: TestServer['request'] = (method, url, o = {}) =>
    server.app.inject({
      method,
      url,
      headers: {
        ...(o.key ? { authorization: `Bearer ${o.key}` } : {}),
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...o.headers,
      },
      ...(o.body !== undefined
        ? { payload: typeof o.body === 'string' ? o.body : JSON.stringify(o.body) }
        : {}),
    });
  return {
    server,
    admin,
    db,
    dir,
    request,
    async key(principalKind, principal, role) {
      const r = await request('POST', '/v1/keys', { key: admin, body: { principalKind, principal, role } });
      if (r.statusCode !== 201) throw new Error(`creating a key failed: ${r.statusCode} ${r.body}`);
      return (r.json() as { secret: string }).secret;
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
