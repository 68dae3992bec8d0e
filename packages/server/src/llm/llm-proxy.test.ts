/**
 * The LLM metering proxy end to end: a real server on a socket, the official `openai` and
 * `@anthropic-ai/sdk` clients pointed at it with the agent's Warden key as their API key (the only
 * change an agent makes), and a local upstream speaking the providers' wire formats.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Anthropic from '@anthropic-ai/sdk';
import type { AuditEvent } from '@warden/core';
import { WardenError } from '@warden/core';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eventually } from '../../test-support/eventually.js';
import {
  FAKE_DELTAS,
  FAKE_TEXT,
  type FakeLlmUpstream,
  snapshotOf,
  startFakeLlmUpstream,
} from '../../test-support/fake-llm-upstream.js';
import { startTestServer, type TestServer } from '../../test-support/server-fixtures.js';

const OPENAI_KEY = 'sk-upstream-openai-0123456789';
const ANTHROPIC_KEY = 'sk-ant-upstream-0123456789';

const POLICY = `warden: 1
name: llm-proxy-test
defaults:
  decision: block
agents:
  coder:
    rules:
      - id: llm-no-forbidden-model
        effect: block
        tools: "llm:*"
        when: 'args.model == "gpt-forbidden"'
        reason: This model is not for agents.
      - id: llm-allowed
        effect: allow
        tools: "llm:*"
        reason: The coder may call models.
  budgeted:
    budgets:
      - id: llm-session-tokens
        metric: tokens
        limit: 2000
        scope: session
        window: session
        tools: "llm:*"
    rules:
      - id: budgeted-llm
        effect: allow
        tools: "llm:*"
        reason: Models within the session's token budget.
`;

/** The usage each endpoint of the fake upstream reports, as Warden records it. */
const SETTLED = {
  chat: { inputTokens: 31, outputTokens: 7, cachedTokens: 12 },
  responses: { inputTokens: 42, outputTokens: 9, cachedTokens: 16 },
  // Anthropic's input_tokens (25) leave out cache reads (10) and writes (3): Warden's input count has them.
  messages: { inputTokens: 38, outputTokens: 15, cachedTokens: 10 },
};

const messages = [{ role: 'user' as const, content: 'Say hello.' }];

let upstream: FakeLlmUpstream;
let t: TestServer;
let dir: string;
let coder: string;
let outsider: string;
let approver: string;
let budgeted: string;

/** The decided and completed events of a call, from the audit trail. */
async function trail(callId: string): Promise<{ decided?: AuditEvent; completed?: AuditEvent }> {
  const page = await t.server.ctx.engine.store.queryAudit({ callId, limit: 10 });
  return {
    decided: page.records.find((r) => r.event.type === 'call.decided')?.event,
    completed: page.records.find((r) => r.event.type === 'call.completed')?.event,
  };
}

async function completedEvent(callId: string): Promise<AuditEvent> {
  return eventually(`call ${callId} completed`, async () => (await trail(callId)).completed);
}

/** The trail of a call once its completion is recorded: the proxy settles after it answers. */
async function settledTrail(callId: string): Promise<{ decided?: AuditEvent; completed?: AuditEvent }> {
  await completedEvent(callId);
  return trail(callId);
}

const openai = (apiKey = coder, maxRetries = 0) =>
  new OpenAI({ apiKey, baseURL: `${t.server.url}/llm/openai/v1`, maxRetries });
const anthropic = (apiKey = coder) =>
  new Anthropic({ apiKey, baseURL: `${t.server.url}/llm/anthropic`, maxRetries: 0 });

/** An error answer in either provider's shape. */
interface ErrorAnswer {
  readonly type?: string;
  readonly error: { readonly message: string } & Record<string, unknown>;
}

/** A raw POST to the proxy: status, headers and parsed body. */
async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`${t.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, body: (await r.json()) as ErrorAnswer };
}

/** The error a refused request rejects with. */
async function rejection<E>(request: PromiseLike<unknown>): Promise<E> {
  try {
    await request;
  } catch (err) {
    return err as E;
  }
  throw new Error('the request was expected to fail');
}

type OpenAiError = InstanceType<typeof OpenAI.APIError>;

/** The last request the fake upstream received. */
const lastUpstreamRequest = () => upstream.requests.at(-1) as FakeLlmUpstream['requests'][number];

beforeAll(async () => {
  upstream = await startFakeLlmUpstream();
  dir = mkdtempSync(join(tmpdir(), 'warden-llm-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  t = await startTestServer(
    'sqlite',
    {
      policy: join(dir, 'policy.yaml'),
      llm: {
        openai: { baseUrl: upstream.url, apiKey: OPENAI_KEY },
        anthropic: { baseUrl: upstream.url, apiKey: ANTHROPIC_KEY },
        maxOutputTokensDefault: 1000,
      },
    },
    { listen: true },
  );
  coder = await t.key('agent', 'coder', 'agent');
  outsider = await t.key('agent', 'outsider', 'agent');
  approver = await t.key('human', 'ann@acme.example', 'approver');
  budgeted = await t.key('agent', 'budgeted', 'agent');
});

afterAll(async () => {
  await t?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('OpenAI chat completions through the official client', () => {
  it('forwards with the provider key, decides llm:openai and settles the exact usage', async () => {
    const { data, response } = await openai()
      .chat.completions.create({ model: 'gpt-4o-mini', messages, max_completion_tokens: 300 })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe(FAKE_TEXT);

    const seen = lastUpstreamRequest();
    expect(seen.path).toBe('/v1/chat/completions');
    expect(seen.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(JSON.stringify(seen.headers)).not.toContain(coder);
    expect(seen.body).toMatchObject({ model: 'gpt-4o-mini', messages, max_completion_tokens: 300 });
    expect(seen.body).not.toHaveProperty('stream_options');

    const callId = response.headers.get('warden-call-id') as string;
    const { decided, completed } = await settledTrail(callId);
    expect(decided).toMatchObject({
      agent: 'coder',
      tool: 'llm:openai',
      session: response.headers.get('warden-session'),
      args: { model: 'gpt-4o-mini', endpoint: 'chat.completions', stream: false, maxOutputTokens: 300 },
      decision: { effect: 'allow', ruleId: 'llm-allowed' },
    });
    expect(decided?.args).toHaveProperty('promptHash', expect.stringMatching(/^[0-9a-f]{16}$/));
    expect(completed?.outcome).toMatchObject({
      status: 'ok',
      usage: { model: snapshotOf('gpt-4o-mini'), ...SETTLED.chat },
      result: { endpoint: 'chat.completions', stream: false, httpStatus: 200, usage: 'reported' },
    });
  });

  it('streams: asks the upstream for usage, relays every chunk but the one the client did not ask for, settles it', async () => {
    const { data, response } = await openai()
      .chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true })
      .withResponse();
    const chunks = [];
    for await (const chunk of data) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(FAKE_TEXT);
    // Without stream_options.include_usage, OpenAI sends no usage chunk: neither does Warden.
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
    expect(lastUpstreamRequest().body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });

    const callId = response.headers.get('warden-call-id') as string;
    // Settled before the response ended: no waiting needed.
    const { decided, completed } = await settledTrail(callId);
    expect(decided?.args).toMatchObject({ stream: true, maxOutputTokens: 1000 });
    expect(completed?.outcome).toMatchObject({
      status: 'ok',
      usage: { model: snapshotOf('gpt-4o-mini'), ...SETTLED.chat },
      result: { stream: true, usage: 'reported', clientGone: false },
    });
  });

  it.each([
    ['no stream_options', {}],
    ['include_usage: false', { stream_options: { include_usage: false } }],
    ['include_usage: true', { stream_options: { include_usage: true } }],
  ])(
    'streams exactly what the upstream sends for the client’s own request (%s), and settles the usage',
    async (_, own) => {
      const request = { model: 'gpt-4o-mini', messages, stream: true as const, ...own };
      // What the upstream sends when asked with the client's own options, Warden in between or not.
      const direct = await fetch(`${upstream.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
      });
      const expected = await direct.text();
      // What the official client receives through Warden, byte for byte, and the chunks it parses from it.
      let received = Promise.resolve('');
      const client = new OpenAI({
        apiKey: coder,
        baseURL: `${t.server.url}/llm/openai/v1`,
        maxRetries: 0,
        fetch: async (url, init) => {
          const res = await fetch(url, init);
          const [mine, theirs] = (res.body as ReadableStream<Uint8Array>).tee();
          received = new Response(mine).text();
          return new Response(theirs, { status: res.status, headers: res.headers });
        },
      });
      const { data, response } = await client.chat.completions.create(request).withResponse();
      const chunks: unknown[] = [];
      for await (const chunk of data) chunks.push(chunk);
      expect(await received).toBe(expected);
      const sent = expected
        .split('\n\n')
        .filter((e) => e.startsWith('data: {'))
        .map((e) => JSON.parse(e.slice('data: '.length)));
      expect(chunks).toEqual(sent);
      // Warden asked for the usage all the same, and settled it.
      expect(lastUpstreamRequest().body).toMatchObject({ stream_options: { include_usage: true } });
      const completed = await completedEvent(response.headers.get('warden-call-id') as string);
      expect(completed.outcome).toMatchObject({
        status: 'ok',
        usage: { model: snapshotOf('gpt-4o-mini'), ...SETTLED.chat },
        result: { stream: true, usage: 'reported' },
      });
    },
  );

  it('relays the usage chunk to a client that asked for it, and keeps the session it is given', async () => {
    const first = await openai().chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    const session = first.response.headers.get('warden-session') as string;
    const { data, response } = await openai()
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } },
        { headers: { 'Warden-Session': session, 'Warden-Triggered-By': 'tom@acme.example' } },
      )
      .withResponse();
    const chunks = [];
    for await (const chunk of data) chunks.push(chunk);
    expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 31, completion_tokens: 7 });
    expect(response.headers.get('warden-session')).toBe(session);
    const { decided } = await trail(response.headers.get('warden-call-id') as string);
    expect(decided).toMatchObject({ session, triggeredBy: 'tom@acme.example' });
  });
});

describe('the Warden-Triggered-By header', () => {
  it('is refused when it carries a C1 control (latin1 byte 0x85), naming the header and the code point', async () => {
    const url = new URL(`${t.server.url}/llm/openai/v1/chat/completions`);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        url,
        {
          method: 'POST',
          // A connection of its own: a pooled one would be reused by a later test that tracks its socket.
          agent: false,
          headers: {
            authorization: `Bearer ${coder}`,
            'content-type': 'application/json',
            // Node writes header values as latin1: this is the single byte 0x85 on the wire.
            'warden-triggered-by': 'tom\u0085',
          },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ model: 'gpt-4o-mini', messages }));
    });
    expect(answer.status, answer.body).toBe(400);
    expect(answer.body).toContain('Warden-Triggered-By header must contain only visible characters');
    expect(answer.body).toContain('U+0085');
  });
});

describe('OpenAI responses through the official client', () => {
  it('settles a whole response from its usage', async () => {
    const { data, response } = await openai()
      .responses.create({ model: 'gpt-4.1-mini', input: 'Say hello.', max_output_tokens: 200 })
      .withResponse();
    expect(data.output_text).toBe(FAKE_TEXT);
    expect(lastUpstreamRequest()).toMatchObject({ path: '/v1/responses' });
    const { decided, completed } = await settledTrail(response.headers.get('warden-call-id') as string);
    expect(decided?.args).toMatchObject({ endpoint: 'responses', maxOutputTokens: 200 });
    expect(completed?.outcome?.usage).toMatchObject({
      model: snapshotOf('gpt-4.1-mini'),
      ...SETTLED.responses,
    });
  });

  it('settles a stream from its response.completed event', async () => {
    const { data, response } = await openai()
      .responses.create({ model: 'gpt-4.1-mini', input: 'Say hello.', stream: true })
      .withResponse();
    const deltas: string[] = [];
    let completedUsage: unknown;
    for await (const event of data) {
      if (event.type === 'response.output_text.delta') deltas.push(event.delta);
      if (event.type === 'response.completed') completedUsage = event.response.usage;
    }
    expect(deltas).toEqual([...FAKE_DELTAS]);
    expect(completedUsage).toMatchObject({ input_tokens: 42, output_tokens: 9 });
    const { completed } = await settledTrail(response.headers.get('warden-call-id') as string);
    expect(completed?.outcome).toMatchObject({
      status: 'ok',
      usage: { model: snapshotOf('gpt-4.1-mini'), ...SETTLED.responses },
    });
  });
});

describe('Anthropic messages through the official client', () => {
  it('forwards with x-api-key and the client’s anthropic-version, and settles cache-aware usage', async () => {
    const { data, response } = await anthropic()
      .messages.create({ model: 'claude-haiku-4-5', max_tokens: 256, messages })
      .withResponse();
    expect(data.content[0]).toMatchObject({ type: 'text', text: FAKE_TEXT });

    const seen = lastUpstreamRequest();
    expect(seen.path).toBe('/v1/messages');
    expect(seen.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(seen.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(seen.headers.authorization).toBeUndefined();
    expect(JSON.stringify(seen.headers)).not.toContain(coder);

    const { decided, completed } = await settledTrail(response.headers.get('warden-call-id') as string);
    expect(decided).toMatchObject({
      tool: 'llm:anthropic',
      args: { model: 'claude-haiku-4-5', endpoint: 'messages', stream: false, maxOutputTokens: 256 },
    });
    expect(completed?.outcome?.usage).toMatchObject({
      model: snapshotOf('claude-haiku-4-5'),
      ...SETTLED.messages,
    });
  });

  it('settles a stream from message_start and message_delta', async () => {
    const stream = anthropic().messages.stream({ model: 'claude-haiku-4-5', max_tokens: 256, messages });
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ type: 'text', text: FAKE_TEXT });
    expect(final.usage.output_tokens).toBe(15);
    const { response } = await stream.withResponse();
    const { completed } = await settledTrail(response.headers.get('warden-call-id') as string);
    expect(completed?.outcome).toMatchObject({
      status: 'ok',
      usage: { model: snapshotOf('claude-haiku-4-5'), ...SETTLED.messages },
      result: { endpoint: 'messages', stream: true, usage: 'reported' },
    });
  });
});

describe('refusals, in the provider’s error format', () => {
  it('blocks by policy with 403 and never calls the upstream (OpenAI and Anthropic shapes)', async () => {
    const before = upstream.requests.length;
    const e = await rejection<OpenAiError>(
      openai(outsider).chat.completions.create({ model: 'gpt-4o-mini', messages }),
    );
    expect(e).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(e.status).toBe(403);
    expect(e.code).toBe('POLICY_BLOCKED');
    expect(e.type).toBe('permission_error');
    expect(e.message).toMatch(/Warden POLICY_BLOCKED: this llm:openai request was refused/);
    const callId = e.headers?.get('warden-call-id') as string;
    expect((e.error as { warden?: unknown }).warden).toMatchObject({ callId, effect: 'block' });
    expect((await trail(callId)).decided).toMatchObject({ agent: 'outsider', decision: { effect: 'block' } });

    const byRule = await rejection<OpenAiError>(
      openai().responses.create({ model: 'gpt-forbidden', input: 'hi' }),
    );
    expect(byRule.status).toBe(403);
    expect(byRule.message).toContain('by rule llm-no-forbidden-model: This model is not for agents.');

    const a = await rejection<InstanceType<typeof Anthropic.APIError>>(
      anthropic(outsider).messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages }),
    );
    expect(a).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(a.errorCode).toBe('POLICY_BLOCKED');
    expect(a.error).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    expect(upstream.requests.length).toBe(before);
  });

  it('refuses a paused session with 409 SESSION_PAUSED and tells the client not to retry', async () => {
    // A session of its own: pausing the key's session of the day would stop the coder's other tests.
    const first = await openai()
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages },
        { headers: { 'Warden-Session': 'llm-proxy-pause-test' } },
      )
      .withResponse();
    const session = first.response.headers.get('warden-session') as string;
    expect(session).toBe('llm-proxy-pause-test');
    const paused = await t.request('POST', `/v1/sessions/${session}/pause`, {
      key: approver,
      body: { reason: 'runaway test' },
    });
    expect(paused.statusCode, paused.body).toBe(200);
    const before = upstream.requests.length;
    // The client's default retries are on: a refusal must stop them.
    const err = await rejection<OpenAiError>(
      openai(coder, 2).chat.completions.create(
        { model: 'gpt-4o-mini', messages },
        { headers: { 'x-warden-session': session } },
      ),
    );
    expect(err).toBeInstanceOf(OpenAI.ConflictError);
    expect(err.code).toBe('SESSION_PAUSED');
    expect(err.headers?.get('x-should-retry')).toBe('false');
    expect(err.headers?.get('warden-session')).toBe(session);
    expect(upstream.requests.length).toBe(before);
    const decisions = await t.server.ctx.engine.store.queryAudit({
      session,
      type: 'call.decided',
      limit: 10,
    });
    expect(decisions.records.map((r) => r.event.decision?.effect)).toEqual(['allow', 'block']);
  });

  it('refuses a request over budget with 429 insufficient_quota, before the upstream is called', async () => {
    const first = await openai(budgeted)
      .chat.completions.create({ model: 'gpt-4o-mini', messages, max_completion_tokens: 1000 })
      .withResponse();
    const session = first.response.headers.get('warden-session') as string;
    // The reservation (prompt estimate + 1000) is settled to what the upstream reported (after the answer).
    const line = await eventually('the reservation settled', async () => {
      const [l] = await t.server.ctx.engine.budgets.status({ session });
      return l?.reserved === 0 ? l : undefined;
    });
    expect(line).toMatchObject({
      budgetId: 'llm-session-tokens',
      used: SETTLED.chat.inputTokens + SETTLED.chat.outputTokens,
      reserved: 0,
    });
    const before = upstream.requests.length;
    const err = await rejection<OpenAiError>(
      openai(budgeted, 2).chat.completions.create(
        { model: 'gpt-4o-mini', messages, max_completion_tokens: 5000 },
        { headers: { 'Warden-Session': session } },
      ),
    );
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err).toMatchObject({ status: 429, code: 'BUDGET_EXCEEDED', type: 'insufficient_quota' });
    expect(err.headers?.get('x-should-retry')).toBe('false');
    expect((err.error as { warden?: unknown }).warden).toMatchObject({
      session,
      budget: { budgetId: 'llm-session-tokens', metric: 'tokens', limit: 2000 },
    });
    expect(upstream.requests.length).toBe(before);
  });

  it('answers bad credentials, other roles, bad JSON and unknown paths in the provider’s shape', async () => {
    const body = { model: 'gpt-4o-mini', messages };
    const missing = await post('/llm/openai/v1/chat/completions', body);
    expect(missing.status).toBe(401);
    expect(missing.body.error).toMatchObject({ type: 'authentication_error', code: 'UNAUTHENTICATED' });
    expect(missing.body.error.message).toContain('Authorization: Bearer <key>');

    const wrong = await post('/llm/anthropic/v1/messages', body, { 'x-api-key': 'wdn_not-a-real-key' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error', details: { error_code: 'UNAUTHENTICATED' } },
    });

    const human = await post('/llm/openai/v1/chat/completions', body, {
      authorization: `Bearer ${approver}`,
    });
    expect(human.status).toBe(403);
    expect(human.body.error).toMatchObject({ type: 'permission_error', code: 'FORBIDDEN' });

    const auth = { authorization: `Bearer ${coder}` };
    const badJson = await post('/llm/openai/v1/chat/completions', '{"model": ', auth);
    expect(badJson.status).toBe(400);
    expect(badJson.body.error).toMatchObject({ type: 'invalid_request_error', code: 'REQUEST_INVALID' });
    const noModel = await post('/llm/anthropic/v1/messages', { messages }, { 'x-api-key': coder });
    expect(noModel.status).toBe(400);
    expect(noModel.body.error.message).toContain('body.model');

    const unknown = await post('/llm/openai/v1/embeddings', body, auth);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ type: 'not_found_error', code: 'NOT_FOUND' });
    for (const r of [missing, wrong, human, badJson, noModel, unknown]) {
      expect(JSON.stringify(r.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
    }
  });
});

describe('billing what was generated', () => {
  it('keeps reading after the client hangs up and settles the usage the upstream sends afterwards', async () => {
    const url = new URL(`${t.server.url}/llm/openai/v1/chat/completions`);
    // The server's end of the client's connection, to know when the server has seen the client leave.
    const serverSockets = new Map<number | undefined, Socket>();
    const onConnection = (socket: Socket) => serverSockets.set(socket.remotePort, socket);
    t.server.app.server.on('connection', onConnection);
    let localPort: number | undefined;
    const callId = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        url,
        { method: 'POST', headers: { authorization: `Bearer ${coder}`, 'content-type': 'application/json' } },
        (res) => {
          res.once('data', () => {
            localPort = req.socket?.localPort;
            resolve(res.headers['warden-call-id'] as string);
            req.destroy();
          });
        },
      );
      req.on('error', (err) => {
        if (!req.destroyed) reject(err);
      });
      req.end(JSON.stringify({ model: 'gpt-4o-mini-hold', messages, stream: true }));
    });
    // The client is gone (the server has closed its connection) and the upstream has not sent its
    // usage yet: nothing is settled.
    t.server.app.server.off('connection', onConnection);
    const serverSide = serverSockets.get(localPort) as Socket;
    await new Promise((resolve) =>
      serverSide.destroyed ? resolve(true) : serverSide.once('close', resolve),
    );
    await sleep(50);
    expect((await trail(callId)).completed).toBeUndefined();
    upstream.release();
    const completed = await completedEvent(callId);
    expect(completed.outcome).toMatchObject({
      status: 'ok',
      usage: { model: snapshotOf('gpt-4o-mini-hold'), ...SETTLED.chat },
      result: { usage: 'reported', clientGone: true },
    });
  });

  it('bills the input estimate and the text seen when the upstream dies without usage', async () => {
    const { data, response } = await openai()
      .chat.completions.create({ model: 'gpt-4o-mini-die', messages, stream: true })
      .withResponse();
    const text: string[] = [];
    const outcome = await (async () => {
      for await (const chunk of data) text.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(Error);
    expect(text.join('')).toBe(FAKE_TEXT);
    const completed = await completedEvent(response.headers.get('warden-call-id') as string);
    expect(completed.outcome).toMatchObject({
      status: 'error',
      error: expect.stringContaining('broke off'),
      usage: { model: snapshotOf('gpt-4o-mini-die'), outputTokens: Math.ceil(FAKE_TEXT.length / 4) },
      result: { usage: 'estimated' },
    });
    expect(completed.outcome?.usage?.inputTokens).toBeGreaterThan(0);
  });

  it('bills Anthropic’s reported input when its stream dies after message_start', async () => {
    const { data, response } = await anthropic()
      .messages.create({ model: 'claude-haiku-4-5-die', max_tokens: 256, messages, stream: true })
      .withResponse();
    await (async () => {
      for await (const _ of data);
    })().catch(() => {});
    const completed = await completedEvent(response.headers.get('warden-call-id') as string);
    expect(completed.outcome).toMatchObject({
      status: 'error',
      usage: { inputTokens: 38, cachedTokens: 10, outputTokens: Math.ceil(FAKE_TEXT.length / 4) },
    });
  });

  it('passes an upstream error through with its status and settles it as an error with no usage', async () => {
    const r = await post(
      '/llm/anthropic/v1/messages',
      { model: 'claude-haiku-4-5-fail', max_tokens: 10, messages },
      { 'x-api-key': coder, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'beta-x', cookie: 'c=1' },
    );
    expect(r.status).toBe(500);
    // The client's API version and betas go through; its key and anything else do not.
    expect(lastUpstreamRequest().headers).toMatchObject({
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'beta-x',
      'x-api-key': ANTHROPIC_KEY,
    });
    expect(lastUpstreamRequest().headers.cookie).toBeUndefined();
    expect(r.body).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'the fake upstream failed' },
    });
    const completed = await completedEvent(r.headers.get('warden-call-id') as string);
    expect(completed.outcome).toMatchObject({
      status: 'error',
      error: 'the upstream answered 500: the fake upstream failed',
      usage: { inputTokens: 0, outputTokens: 0 },
    });
  });

  it('answers 502 in the provider’s shape when the upstream cannot be reached', async () => {
    const dead = await startFakeLlmUpstream();
    await dead.close();
    const other = await startTestServer('sqlite', {
      llm: { openai: { baseUrl: dead.url, apiKey: OPENAI_KEY } },
      policy: join(dir, 'policy.yaml'),
    });
    try {
      const key = await other.key('agent', 'coder', 'agent');
      const r = await other.request('POST', '/llm/openai/v1/chat/completions', {
        key,
        body: { model: 'gpt-4o-mini', messages },
      });
      expect(r.statusCode).toBe(502);
      expect(r.json().error).toMatchObject({ code: 'LLM_UPSTREAM_UNAVAILABLE', type: 'server_error' });
      const completed = await eventually('the failed call completed', async () => {
        const page = await other.server.ctx.engine.store.queryAudit({ type: 'call.completed', limit: 10 });
        return page.records[0]?.event;
      });
      expect(completed.outcome).toMatchObject({ status: 'error', usage: { outputTokens: 0 } });

      const anthropicOff = await other.request('POST', '/llm/anthropic/v1/messages', {
        headers: { 'x-api-key': key },
        body: { model: 'claude-haiku-4-5', max_tokens: 10, messages },
      });
      expect(anthropicOff.statusCode).toBe(404);
      expect(anthropicOff.json()).toMatchObject({
        type: 'error',
        error: { type: 'not_found_error', details: { error_code: 'LLM_NOT_CONFIGURED' } },
      });
      expect(anthropicOff.json().error.message).toContain('llm.anthropic.apiKey');
    } finally {
      await other.close();
    }
  });
});

describe('the proxy meters, caps and settles on its own', () => {
  it('refuses the agent’s own completion of a proxied call and settles the upstream’s usage', async () => {
    const { data, response } = await openai()
      .chat.completions.create({ model: 'gpt-4o-mini-hold', messages, stream: true })
      .withResponse();
    const callId = response.headers.get('warden-call-id') as string;
    // The stream is held open: the agent knows the call id before the proxy settles it.
    const forged = await t.request('POST', `/v1/calls/${callId}/complete`, {
      key: coder,
      body: { status: 'ok', usage: { model: 'gpt-4o-mini', inputTokens: 1, outputTokens: 1 } },
    });
    expect(forged.statusCode, forged.body).toBe(409);
    expect(forged.json().error.code).toBe('CALL_NOT_RUNNABLE');
    expect((await trail(callId)).decided?.decision).toMatchObject({ effect: 'allow', meteredBy: 'proxy' });
    upstream.release();
    const chunks = [];
    for await (const chunk of data) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(0);
    const completed = await completedEvent(callId);
    expect(completed.outcome).toMatchObject({
      status: 'ok',
      usage: { model: snapshotOf('gpt-4o-mini-hold'), ...SETTLED.chat },
      result: { usage: 'reported' },
    });
  });

  it('sends the reserved output cap upstream when the client sets none, and the client’s own otherwise', async () => {
    await openai().chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(lastUpstreamRequest().body).toMatchObject({ max_completion_tokens: 1000 });
    await openai().chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 50 });
    expect(lastUpstreamRequest().body).toMatchObject({ max_tokens: 50 });
    expect(lastUpstreamRequest().body).not.toHaveProperty('max_completion_tokens');

    const stream = await openai().responses.create({
      model: 'gpt-4.1-mini',
      input: 'Say hello.',
      stream: true,
    });
    for await (const _ of stream);
    expect(lastUpstreamRequest().body).toMatchObject({ stream: true, max_output_tokens: 1000 });
    await openai().responses.create({ model: 'gpt-4.1-mini', input: 'Say hello.', max_output_tokens: 64 });
    expect(lastUpstreamRequest().body).toMatchObject({ max_output_tokens: 64 });

    const r = await post(
      '/llm/anthropic/v1/messages',
      { model: 'claude-haiku-4-5', messages },
      { 'x-api-key': coder },
    );
    expect(r.status).toBe(200);
    expect(lastUpstreamRequest().body).toMatchObject({ model: 'claude-haiku-4-5', max_tokens: 1000 });
  });

  it('puts requests without a Warden-Session header in the key’s session of the UTC day', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const first = await openai().chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    const second = await anthropic()
      .messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages })
      .withResponse();
    const session = first.response.headers.get('warden-session') as string;
    expect(session).toMatch(/^llm-key_[0-9a-f-]+-\d{4}-\d{2}-\d{2}$/);
    expect([day, new Date().toISOString().slice(0, 10)]).toContain(session.slice(-10));
    expect(second.response.headers.get('warden-session')).toBe(session);
    const { decided } = await trail(second.response.headers.get('warden-call-id') as string);
    expect(decided).toMatchObject({ agent: 'coder', session });

    // Another key has a session of its own.
    const other = await t.key('agent', 'coder', 'agent');
    const third = await openai(other)
      .chat.completions.create({ model: 'gpt-4o-mini', messages })
      .withResponse();
    const otherSession = third.response.headers.get('warden-session') as string;
    expect(otherSession).toMatch(/^llm-key_/);
    expect(otherSession).not.toBe(session);
  });

  it('takes the session from a coding assistant’s own session header when the request names none', async () => {
    const assistantSession = `0093813e-5e53-494f-bef3-${Date.now().toString(16).padStart(12, '0')}`;
    const claude = new Anthropic({
      apiKey: coder,
      baseURL: `${t.server.url}/llm/anthropic`,
      maxRetries: 0,
      defaultHeaders: { 'x-claude-code-session-id': assistantSession },
    });
    const ask = () => claude.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages });
    const first = await ask().withResponse();
    expect(first.response.headers.get('warden-session')).toBe(assistantSession);
    const { decided } = await trail(first.response.headers.get('warden-call-id') as string);
    expect(decided).toMatchObject({ agent: 'coder', session: assistantSession });
    // It only names the session: no initiator comes with it.
    expect(decided?.triggeredBy).toBeUndefined();

    // A Warden-Session header the client sends wins over the assistant's.
    const named = await claude.messages
      .create(
        { model: 'claude-haiku-4-5', max_tokens: 10, messages },
        { headers: { 'Warden-Session': 'named-s' } },
      )
      .withResponse();
    expect(named.response.headers.get('warden-session')).toBe('named-s');
  });

  it('tries a failed settlement again and records the upstream’s usage', async () => {
    const engine = t.server.ctx.engine;
    // Completions of the tests before, held for a later commit, go first: the failure below is this call's.
    await eventually('no completion held', async () => t.server.ctx.completions.held === 0 || undefined);
    // The database unavailable for a moment: the first completion fails, the next ones reach the store.
    const complete = vi
      .spyOn(engine, 'complete')
      .mockRejectedValueOnce(new WardenError('STORE_UNAVAILABLE', 'the database is briefly unavailable'));
    try {
      const { data, response } = await openai()
        .chat.completions.create({ model: 'gpt-4o-mini', messages, max_completion_tokens: 300 })
        .withResponse();
      expect(data.choices[0]?.message.content).toBe(FAKE_TEXT);
      const callId = response.headers.get('warden-call-id') as string;
      expect((await trail(callId)).completed).toBeUndefined();
      const completed = await completedEvent(callId);
      expect(completed.outcome).toMatchObject({
        status: 'ok',
        usage: { model: snapshotOf('gpt-4o-mini'), ...SETTLED.chat },
      });
      const tries = complete.mock.calls.filter((c) => c[0] === callId);
      expect(tries).toHaveLength(2);
      expect(tries[1]?.[3]).toEqual({ meteredBy: 'proxy', keyId: expect.stringMatching(/^key_/) });
    } finally {
      complete.mockRestore();
    }
  });

  it('waits at shutdown for a settlement being tried again', async () => {
    const db = join(dir, 'shutdown.db');
    const policy = join(dir, 'policy.yaml');
    const llm = { openai: { baseUrl: upstream.url, apiKey: OPENAI_KEY } };
    const first = await startTestServer('sqlite', { db, policy, llm });
    const key = await first.key('agent', 'coder', 'agent');
    vi.spyOn(first.server.ctx.engine, 'complete').mockRejectedValueOnce(
      new WardenError('STORE_UNAVAILABLE', 'the database is briefly unavailable'),
    );
    const r = await first.request('POST', '/llm/openai/v1/chat/completions', {
      key,
      body: { model: 'gpt-4o-mini', messages },
    });
    expect(r.statusCode).toBe(200);
    const callId = r.headers['warden-call-id'] as string;
    await first.close();

    const reopened = await startTestServer('sqlite', { db, policy, llm });
    try {
      const page = await reopened.server.ctx.engine.store.queryAudit({ callId, limit: 10 });
      const completed = page.records.find((x) => x.event.type === 'call.completed')?.event;
      expect(completed?.outcome).toMatchObject({ status: 'ok', usage: SETTLED.chat });
    } finally {
      await reopened.close();
    }
  });
});
