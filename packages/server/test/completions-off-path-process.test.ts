/**
 * Nothing on the way back, through a real `warden serve`: the LLM proxy and the MCP gateway answer as
 * soon as the upstream has, their decision durable before they forwarded, and record the completion
 * afterwards (held for the next decision's commit). The proof that an answer did not wait for its
 * completion: this test holds the database's write lock (a second SQLite connection, BEGIN IMMEDIATE)
 * from the moment the upstream is reached until the client has the answer, so no completion can be
 * durable before it. And SIGTERM right after answers: the completions still held are recorded before
 * the process exits. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { AuditEvent } from '@warden/core';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVERYTHING_SERVER } from '../../mcp/test-support/mcp-fixtures.js';
import { eventually } from '../test-support/eventually.js';
import { api, BIN, killAll, type Served, spawnServe, warden } from '../test-support/serve-process.js';

const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const POLICY = `name: off the response path
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  coder:
    rules:
      - { id: llm-allowed, effect: allow, tools: "llm:*" }
      - { id: everything, effect: allow, tools: ["everything.echo", "everything.trigger-long-running-operation"] }
`;
const USAGE = { prompt_tokens: 31, completion_tokens: 7, total_tokens: 38 };

let dir: string;
let upstream: Server;
let upstreamUrl: string;
/** Runs when the upstream receives a request, before it answers. */
let onUpstreamRequest: () => void = () => {};

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-off-path-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  // A chat completions upstream speaking OpenAI's wire format (non-streaming).
  upstream = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => {
      raw += chunk;
    });
    req.on('end', () => {
      onUpstreamRequest();
      if ((JSON.parse(raw) as { stream?: boolean }).stream) {
        // Chat Completions streamed: a text chunk, the usage chunk (asked for by Warden), then [DONE].
        const chunk = (o: object) =>
          `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini-2025-01-01', ...o })}\n\n`;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(
          chunk({ choices: [{ index: 0, delta: { content: 'Hi.' }, finish_reason: null }] }) +
            chunk({ choices: [], usage: USAGE }) +
            'data: [DONE]\n\n',
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 1,
          model: 'gpt-4o-mini-2025-01-01',
          choices: [{ index: 0, message: { role: 'assistant', content: 'Hi.' }, finish_reason: 'stop' }],
          usage: USAGE,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
}, 30_000);

afterAll(async () => {
  killAll();
  await new Promise((resolve) => upstream?.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A `warden serve` on its own database with the proxy and the gateway configured, and an agent key. */
async function serve(name: string): Promise<{ server: Served; db: string; key: string }> {
  const db = join(dir, `${name}.db`);
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    JSON.stringify({
      llm: { openai: { baseUrl: upstreamUrl, apiKey: 'env:UPSTREAM_OPENAI_KEY' } },
      mcp: { servers: { everything: { command: process.execPath, args: [EVERYTHING_SERVER] } } },
    }),
  );
  const server = await spawnServe(
    ['--config', config, '--db', db, '--policy', join(dir, 'policy.yaml'), '--port', '0'],
    { WARDEN_ADMIN_KEY: ADMIN, UPSTREAM_OPENAI_KEY: 'sk-upstream-0123456789' },
  );
  const made = await warden(['keys', 'create', '--agent', 'coder', '--db', db, '--json']);
  expect(made.code, made.err).toBe(0);
  return { server, db, key: (JSON.parse(made.out) as { secret: string }).secret };
}

/** The events of a call in the audit trail, read through the API. */
async function callEvents(base: string, callId: string): Promise<AuditEvent[]> {
  const page = await api<{ records: { event: AuditEvent }[] }>(
    base,
    'GET',
    `/v1/audit/events?callId=${encodeURIComponent(callId)}&limit=10`,
    { key: ADMIN },
  );
  expect(page.status).toBe(200);
  return page.body.records.map((r) => r.event);
}

async function completed(base: string, callId: string): Promise<AuditEvent> {
  return eventually(`call ${callId} completed`, async () =>
    (await callEvents(base, callId)).find((e) => e.type === 'call.completed'),
  );
}

/** Whether the call's completion is in the database file (read on `conn`, which may hold the write lock). */
function completionStored(conn: Database.Database, callId: string): boolean {
  return (
    (
      conn
        .prepare("SELECT count(*) AS n FROM audit_events WHERE call_id = ? AND type = 'call.completed'")
        .get(callId) as { n: number }
    ).n > 0
  );
}

function chat(base: string, key: string, stream = false): Promise<Response> {
  return fetch(`${base}/llm/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hi.' }],
      ...(stream ? { stream: true } : {}),
    }),
  });
}

async function mcpClient(base: string, key: string): Promise<Client> {
  const client = new Client({ name: 'off-path-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

describe('warden serve: the LLM proxy answers before its completion is durable', () => {
  it('answers while the database is locked (the decision was durable before forwarding); the usage lands after', async () => {
    const { server, db, key } = await serve('proxy');
    const lock = new Database(db);
    try {
      // The upstream is reached only after the decision committed: from here on, nothing else can commit.
      onUpstreamRequest = () => {
        lock.prepare('BEGIN IMMEDIATE').run();
      };
      const res = await chat(server.url, key);
      onUpstreamRequest = () => {};
      expect(res.status).toBe(200);
      expect(((await res.json()) as { choices: unknown[] }).choices).toHaveLength(1);
      const callId = res.headers.get('warden-call-id') as string;
      // The answer is here while this test holds the write lock: its completion is not durable yet…
      expect(lock.inTransaction).toBe(true);
      expect(completionStored(lock, callId)).toBe(false);
      // …and no try at recording it came before the answer (one would have waited on the lock, failed
      // and said so in the log before answering).
      expect(server.stderr()).not.toContain('could not be settled');
      lock.prepare('ROLLBACK').run();
      const done = await completed(server.url, callId);
      expect(done.outcome).toMatchObject({
        status: 'ok',
        usage: { inputTokens: 31, outputTokens: 7 },
        result: { httpStatus: 200, usage: 'reported' },
      });
    } finally {
      if (lock.inTransaction) lock.prepare('ROLLBACK').run();
      lock.close();
      await server.stop();
    }
  }, 90_000);

  it('ends a stream, [DONE] included, while the database is locked; the usage lands after', async () => {
    const { server, db, key } = await serve('proxy-stream');
    const lock = new Database(db);
    try {
      onUpstreamRequest = () => {
        lock.prepare('BEGIN IMMEDIATE').run();
      };
      const res = await chat(server.url, key, true);
      const text = await res.text();
      onUpstreamRequest = () => {};
      expect(res.status).toBe(200);
      expect(text).toContain('data: [DONE]');
      const callId = res.headers.get('warden-call-id') as string;
      expect(lock.inTransaction).toBe(true);
      expect(completionStored(lock, callId)).toBe(false);
      expect(server.stderr()).not.toContain('could not be settled');
      lock.prepare('ROLLBACK').run();
      const done = await completed(server.url, callId);
      expect(done.outcome).toMatchObject({
        status: 'ok',
        usage: { inputTokens: 31, outputTokens: 7 },
        result: { stream: true, usage: 'reported' },
      });
    } finally {
      if (lock.inTransaction) lock.prepare('ROLLBACK').run();
      lock.close();
      await server.stop();
    }
  }, 90_000);

  it('SIGTERM right after the answers: every completion is recorded before the process exits', async () => {
    const { server, db, key } = await serve('proxy-stop');
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await chat(server.url, key, i % 2 === 1);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      ids.push(res.headers.get('warden-call-id') as string);
    }
    const exited = await server.stop();
    expect(exited.code, exited.err).toBe(0);
    const conn = new Database(db, { readonly: true });
    try {
      expect(ids.filter((id) => !completionStored(conn, id))).toEqual([]);
    } finally {
      conn.close();
    }
  }, 90_000);
});

describe('warden serve: the MCP gateway answers before its completion is durable', () => {
  it('answers a tools/call while the database is locked; the result lands after', async () => {
    const { server, db, key } = await serve('gateway');
    const client = await mcpClient(server.url, key);
    const lock = new Database(db);
    try {
      // Progress comes from the upstream tool while it runs: the decision is durable by then.
      const result = await client.callTool(
        { name: 'everything__trigger-long-running-operation', arguments: { duration: 0.5, steps: 2 } },
        {
          onprogress: () => {
            if (!lock.inTransaction) lock.prepare('BEGIN IMMEDIATE').run();
          },
        },
      );
      expect(result.isError).toBeFalsy();
      expect(lock.inTransaction).toBe(true);
      const callId = await onlyCall(lock);
      expect(completionStored(lock, callId)).toBe(false);
      lock.prepare('ROLLBACK').run();
      const done = await completed(server.url, callId);
      expect(done.outcome).toMatchObject({ status: 'ok' });
    } finally {
      if (lock.inTransaction) lock.prepare('ROLLBACK').run();
      lock.close();
      await client.close();
      await server.stop();
    }
  }, 90_000);

  it('SIGTERM right after the answers: every completion is recorded before the process exits', async () => {
    const { server, db, key } = await serve('gateway-stop');
    const client = await mcpClient(server.url, key);
    for (let i = 0; i < 5; i++) {
      const r = await client.callTool({ name: 'everything__echo', arguments: { message: `m${i}` } });
      expect(r.isError).toBeFalsy();
    }
    // The client stays connected: the server closes its session on the way down.
    const exited = await server.stop();
    expect(exited.code, exited.err).toBe(0);
    await client.close().catch(() => {});
    const conn = new Database(db, { readonly: true });
    try {
      const counts = conn
        .prepare(
          "SELECT type, count(*) AS n FROM audit_events WHERE tool = 'everything.echo' AND type IN ('call.decided', 'call.completed') GROUP BY type ORDER BY type",
        )
        .all();
      expect(counts).toEqual([
        { type: 'call.completed', n: 5 },
        { type: 'call.decided', n: 5 },
      ]);
    } finally {
      conn.close();
    }
  }, 90_000);
});

/** The id of the one tool call decided on this database. */
async function onlyCall(conn: Database.Database): Promise<string> {
  const rows = conn
    .prepare("SELECT call_id FROM audit_events WHERE type = 'call.decided' AND tool LIKE 'everything.%'")
    .all() as { call_id: string }[];
  expect(rows).toHaveLength(1);
  return rows[0]?.call_id as string;
}
