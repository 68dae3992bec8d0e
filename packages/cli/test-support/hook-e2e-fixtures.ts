/**
 * What the coding-assistant hook end-to-end tests (test/hooks/claude-code.test.ts, codex.test.ts) share:
 * a real `warden serve` whose LLM proxy's upstream is the model stand-in, the keys of the agent under
 * test, of an approver and of an initiator (an IDE backend), and reading a session's audit events.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent, AuditRecord } from '@warden/core';
import { expect } from 'vitest';
import { api, type Served, spawnServe } from '../../server/test-support/serve-process.js';

export interface HookServeOptions {
  /** The folder warden.yaml and warden.db go in. */
  readonly dir: string;
  /** The policy file or folder served. */
  readonly policy: string;
  /** The admin key (WARDEN_ADMIN_KEY). */
  readonly admin: string;
  /** The proxy's upstream: the provider, the stand-in's URL, and the deployment's key (and its variable). */
  readonly upstream: { provider: 'anthropic' | 'openai'; url: string; keyEnv: string; key: string };
  /** The agent under test, and the human that approves its reviews. */
  readonly agent: string;
  readonly approver: string;
}

/** The served Warden and the keys the tests act with. */
export interface HookServe {
  readonly server: Served;
  readonly agentKey: string;
  readonly approverKey: string;
  readonly initiatorKey: string;
}

/** A key made through `POST /v1/keys` with the admin key; its secret. */
export async function createKey(
  server: Served,
  admin: string,
  body: Record<string, unknown>,
): Promise<string> {
  const r = await api<{ secret: string }>(server.url, 'POST', '/v1/keys', { key: admin, body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.secret;
}

/** Starts `warden serve` (port 0) on the policy with the stand-in as its upstream, and makes the keys. */
export async function serveForHooks(o: HookServeOptions): Promise<HookServe> {
  const { provider, url, keyEnv, key } = o.upstream;
  writeFileSync(
    join(o.dir, 'warden.yaml'),
    `llm:\n  ${provider}:\n    baseUrl: ${url}\n    apiKey: env:${keyEnv}\n`,
  );
  const server = await spawnServe(
    [
      '--config',
      join(o.dir, 'warden.yaml'),
      '--db',
      join(o.dir, 'warden.db'),
      '--policy',
      o.policy,
      '--port',
      '0',
    ],
    { WARDEN_ADMIN_KEY: o.admin, [keyEnv]: key },
  );
  const agentKey = await createKey(server, o.admin, {
    principalKind: 'agent',
    principal: o.agent,
    role: 'agent',
  });
  const approverKey = await createKey(server, o.admin, {
    principalKind: 'human',
    principal: o.approver,
    role: 'approver',
  });
  const initiatorKey = await createKey(server, o.admin, {
    principalKind: 'service',
    principal: 'ide-backend',
    role: 'auditor',
    permissions: ['initiator'],
  });
  return { server, agentKey, approverKey, initiatorKey };
}

/** Every audit event of a session, of one type. */
export async function auditEvents(
  server: Served,
  admin: string,
  session: string,
  type: string,
): Promise<AuditEvent[]> {
  const r = await api<{ records: AuditRecord[] }>(
    server.url,
    'GET',
    `/v1/audit/events?session=${encodeURIComponent(session)}&type=${type}&limit=200`,
    { key: admin },
  );
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.records.map((x) => x.event);
}
