/**
 * The LLM metering proxy of a real `warden serve` process, with the official `openai` client: a stream
 * reaches the client byte for byte as the upstream sends it for the client's own request, though Warden
 * asks the upstream for usage, and that usage is settled. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '@warden/core';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import {
  FAKE_TEXT,
  FAKE_USAGE,
  type FakeLlmUpstream,
  snapshotOf,
  startFakeLlmUpstream,
} from '../test-support/fake-llm-upstream.js';
import { api, BIN, killAll, type Served, spawnServe, warden } from '../test-support/serve-process.js';

const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const POLICY = `name: llm
agents:
  coder:
    rules:
      - { id: llm-allowed, effect: allow, tools: "llm:*" }
`;

let dir: string;
let upstream: FakeLlmUpstream;
let server: Served;
let coder: string;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-llm-serve-'));
  upstream = await startFakeLlmUpstream();
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  writeFileSync(
    join(dir, 'warden.yaml'),
    `llm:\n  openai:\n    baseUrl: ${upstream.url}\n    apiKey: env:UPSTREAM_OPENAI_KEY\n`,
  );
  const db = join(dir, 'warden.db');
  server = await spawnServe(
    ['--config', join(dir, 'warden.yaml'), '--db', db, '--policy', join(dir, 'policy.yaml'), '--port', '0'],
    { WARDEN_ADMIN_KEY: ADMIN, UPSTREAM_OPENAI_KEY: 'sk-upstream-0123456789' },
  );
  const made = await warden(['keys', 'create', '--agent', 'coder', '--db', db, '--json']);
  expect(made.code, made.err).toBe(0);
  coder = (JSON.parse(made.out) as { secret: string }).secret;
}, 90_000);

afterAll(async () => {
  await server?.stop();
  killAll();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('warden serve: the LLM proxy streams what the client asked for (a real process)', () => {
  it.each([
    ['no stream_options', {}],
    ['include_usage: true', { stream_options: { include_usage: true } }],
  ])(
    '%s: the bytes the upstream sends for the client’s own request, and the usage settled',
    async (_, own) => {
      const request = {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user' as const, content: 'Say hello.' }],
        stream: true as const,
        ...own,
      };
      const direct = await fetch(`${upstream.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
      });
      const expected = await direct.text();
      let received = Promise.resolve('');
      const client = new OpenAI({
        apiKey: coder,
        baseURL: `${server.url}/llm/openai/v1`,
        maxRetries: 0,
        fetch: async (url, init) => {
          const res = await fetch(url, init);
          const [mine, theirs] = (res.body as ReadableStream<Uint8Array>).tee();
          received = new Response(mine).text();
          return new Response(theirs, { status: res.status, headers: res.headers });
        },
      });
      const { data, response } = await client.chat.completions.create(request).withResponse();
      for await (const _chunk of data) {
        // Read to the end, as a client does.
      }
      expect(await received).toBe(expected);
      expect(upstream.requests.at(-1)?.body).toMatchObject({ stream_options: { include_usage: true } });

      const callId = response.headers.get('warden-call-id') as string;
      const completed = await eventually('the settled call', async () => {
        const r = await api<{ records: AuditRecord[] }>(
          server.url,
          'GET',
          `/v1/audit/events?callId=${callId}&type=call.completed`,
          { key: ADMIN },
        );
        return r.body.records[0]?.event;
      });
      expect(completed.outcome).toMatchObject({
        status: 'ok',
        usage: {
          model: snapshotOf('gpt-4o-mini'),
          inputTokens: FAKE_USAGE.chat.prompt_tokens,
          outputTokens: FAKE_USAGE.chat.completion_tokens,
        },
        result: { stream: true, usage: 'reported' },
      });
    },
  );

  it('a stream whose upstream keeps its body open after `[DONE]` ends for the client at `[DONE]`, settled ok', async () => {
    const client = new OpenAI({ apiKey: coder, baseURL: `${server.url}/llm/openai/v1`, maxRetries: 0 });
    try {
      const { data, response } = await client.chat.completions
        .create({
          model: 'gpt-4o-mini-linger',
          messages: [{ role: 'user', content: 'Say hello.' }],
          stream: true,
          stream_options: { include_usage: true },
        })
        .withResponse();
      let text = '';
      for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toBe(FAKE_TEXT);
      const callId = response.headers.get('warden-call-id') as string;
      const completed = await eventually('the settled call', async () => {
        const r = await api<{ records: AuditRecord[] }>(
          server.url,
          'GET',
          `/v1/audit/events?callId=${callId}&type=call.completed`,
          { key: ADMIN },
        );
        return r.body.records[0]?.event;
      });
      // A complete answer, not one "broken off" when the idle upstream finally timed out.
      expect(completed.outcome).toMatchObject({
        status: 'ok',
        usage: {
          inputTokens: FAKE_USAGE.chat.prompt_tokens,
          outputTokens: FAKE_USAGE.chat.completion_tokens,
        },
        result: { stream: true, usage: 'reported' },
      });
    } finally {
      upstream.release();
    }
  });
});
