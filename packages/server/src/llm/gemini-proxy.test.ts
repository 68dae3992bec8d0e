/**
 * The LLM metering proxy for the Gemini API: a real server on a socket, requests as Google's client
 * (`@google/genai`, which Gemini CLI bundles) sends them — the model and method in the path, the agent's
 * Warden key as `x-goog-api-key`, `?alt=sse` for a stream — and the Gemini API stand-in upstream.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '@warden/core';
import { pauseSession } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GeminiScriptStandin,
  STANDIN_MODEL_VERSION,
  startGeminiScriptStandin,
} from '../../../cli/test-support/gemini-script-standin.js';
import { eventually } from '../../test-support/eventually.js';
import { startTestServer, type TestServer } from '../../test-support/server-fixtures.js';

const UPSTREAM_KEY = 'AIza-upstream-gemini-0123456789';

const POLICY = `warden: 1
name: gemini-proxy-test
defaults:
  decision: block
agents:
  coder:
    rules:
      - id: no-pro
        effect: block
        tools: "llm:gemini"
        when: 'args.model == "gemini-2.5-pro"'
        reason: Agents use flash.
      - id: llm-allowed
        effect: allow
        tools: "llm:*"
`;

/** The stand-in's usageMetadata (40 prompt, 12 candidates, 5 thoughts) as Warden records it. */
const SETTLED = { model: STANDIN_MODEL_VERSION, inputTokens: 40, outputTokens: 17 };

const contents = [{ role: 'user', parts: [{ text: 'Say hello.' }] }];

let upstream: GeminiScriptStandin;
let t: TestServer;
let dir: string;
let coder: string;

async function trail(callId: string): Promise<{ decided?: AuditEvent; completed?: AuditEvent }> {
  const page = await t.server.ctx.engine.store.queryAudit({ callId, limit: 10 });
  return {
    decided: page.records.find((r) => r.event.type === 'call.decided')?.event,
    completed: page.records.find((r) => r.event.type === 'call.completed')?.event,
  };
}

/** The trail of a call once its completion is recorded: the proxy settles after it answers. */
async function settledTrail(callId: string): Promise<{ decided?: AuditEvent; completed?: AuditEvent }> {
  await eventually(`call ${callId} completed`, async () => (await trail(callId)).completed);
  return trail(callId);
}

/** A POST as Google's client makes it: the key in x-goog-api-key. */
function post(path: string, body: unknown, headers: Record<string, string> = { 'x-goog-api-key': coder }) {
  return fetch(`${t.server.url}/llm/gemini${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-goog-api-client': 'google-genai-sdk/1.30.0',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  upstream = await startGeminiScriptStandin([{ text: 'Hello from the stand-in.' }]);
  dir = mkdtempSync(join(tmpdir(), 'warden-gemini-proxy-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  t = await startTestServer(
    'sqlite',
    {
      policy: join(dir, 'policy.yaml'),
      llm: { gemini: { baseUrl: upstream.url, apiKey: UPSTREAM_KEY }, maxOutputTokensDefault: 1000 },
    } as never,
    { listen: true },
  );
  coder = await t.key('agent', 'coder', 'agent');
});

afterAll(async () => {
  await t?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the Gemini API through the proxy', () => {
  it('streams streamGenerateContent (alt=sse) with the deployment key, and settles the reported usage', async () => {
    const res = await post('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', {
      contents,
      tools: [{ functionDeclarations: [{ name: 'noop', description: 'nothing' }] }],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    const chunks = text
      .split(/\r?\n\r?\n/)
      .filter((e) => e.startsWith('data: '))
      .map((e) => JSON.parse(e.slice(6)));
    expect(chunks.at(-1)).toMatchObject({ candidates: [{ finishReason: 'STOP' }] });
    expect(chunks[0].candidates[0].content.parts[0].text).toBe('Hello from the stand-in.');

    const seen = upstream.requests.at(-1);
    expect(seen?.url).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(seen?.headers['x-goog-api-key']).toBe(UPSTREAM_KEY);
    expect(seen?.headers['x-goog-api-client']).toBe('google-genai-sdk/1.30.0');
    expect(JSON.stringify(seen?.headers)).not.toContain(coder);
    // No cap of its own: the reserved one goes upstream, so the model cannot generate past it.
    expect(seen?.body).toMatchObject({ contents, generationConfig: { maxOutputTokens: 1000 } });

    const callId = res.headers.get('warden-call-id') as string;
    const { decided, completed } = await settledTrail(callId);
    expect(decided).toMatchObject({
      agent: 'coder',
      tool: 'llm:gemini',
      args: {
        model: 'gemini-2.5-flash',
        endpoint: 'streamGenerateContent',
        stream: true,
        maxOutputTokens: 1000,
      },
      decision: { effect: 'allow', ruleId: 'llm-allowed' },
    });
    expect(completed?.outcome).toMatchObject({
      status: 'ok',
      usage: SETTLED,
      result: { endpoint: 'streamGenerateContent', stream: true, httpStatus: 200, usage: 'reported' },
    });
  });

  it("answers generateContent whole, keeps the request's own cap and takes the session it is given", async () => {
    const res = await post(
      '/v1beta/models/gemini-2.5-flash:generateContent',
      { contents, generationConfig: { maxOutputTokens: 64, temperature: 0 } },
      { 'x-goog-api-key': coder, 'Warden-Session': 'gemini-session-1' },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('warden-session')).toBe('gemini-session-1');
    expect(((await res.json()) as { usageMetadata: unknown }).usageMetadata).toMatchObject({
      promptTokenCount: 40,
    });
    expect(upstream.requests.at(-1)?.body).toMatchObject({
      generationConfig: { maxOutputTokens: 64, temperature: 0 },
    });
    const { decided, completed } = await settledTrail(res.headers.get('warden-call-id') as string);
    expect(decided).toMatchObject({
      session: 'gemini-session-1',
      args: { stream: false, maxOutputTokens: 64 },
    });
    expect(completed?.outcome).toMatchObject({ status: 'ok', usage: SETTLED });
  });

  it('refuses in the Google error shape: a blocked model, a missing key, an unknown method', async () => {
    const before = upstream.requests.length;
    const blocked = await post('/v1beta/models/gemini-2.5-pro:generateContent', { contents });
    expect(blocked.status).toBe(403);
    const body = (await blocked.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({
      code: 403,
      status: 'PERMISSION_DENIED',
      message: expect.stringMatching(/^Warden POLICY_BLOCKED: .*by rule no-pro: Agents use flash\./),
      details: [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'POLICY_BLOCKED', domain: 'warden' },
      ],
    });

    const keyless = await post('/v1beta/models/gemini-2.5-flash:generateContent', { contents }, {});
    expect(keyless.status).toBe(401);
    expect(((await keyless.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      code: 401,
      status: 'UNAUTHENTICATED',
      message: expect.stringContaining('x-goog-api-key: <key>'),
    });

    const unknown = await post('/v1beta/models/gemini-2.5-flash:embedContent', { contents });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      status: 'NOT_FOUND',
      message: expect.stringContaining(':streamGenerateContent'),
    });
    // None of them reached the provider.
    expect(upstream.requests.length).toBe(before);
  });

  it('decides countTokens like any call: allowed and recorded with no usage, nothing reserved', async () => {
    const res = await post('/v1beta/models/gemini-2.5-flash:countTokens', { contents });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ totalTokens: 40 });
    const seen = upstream.requests.at(-1);
    expect(seen?.url).toBe('/v1beta/models/gemini-2.5-flash:countTokens');
    expect(seen?.headers['x-goog-api-key']).toBe(UPSTREAM_KEY);
    expect(seen?.body).toEqual({ contents });
    const { decided, completed } = await settledTrail(res.headers.get('warden-call-id') as string);
    expect(decided).toMatchObject({
      agent: 'coder',
      tool: 'llm:gemini',
      args: { model: 'gemini-2.5-flash', endpoint: 'countTokens', stream: false, maxOutputTokens: 0 },
      decision: { effect: 'allow', ruleId: 'llm-allowed' },
    });
    expect(completed?.outcome).toMatchObject({
      status: 'ok',
      usage: { model: 'gemini-2.5-flash', inputTokens: 0, outputTokens: 0 },
      result: { endpoint: 'countTokens', httpStatus: 200, usage: 'reported' },
    });
    const keyless = await post('/v1beta/models/gemini-2.5-flash:countTokens', { contents }, {});
    expect(keyless.status).toBe(401);
  });

  it("refuses a blocked agent's countTokens, and one in a paused session, in the Google error shape", async () => {
    const before = upstream.requests.length;
    const blocked = await post('/v1beta/models/gemini-2.5-pro:countTokens', { contents });
    expect(blocked.status).toBe(403);
    expect(((await blocked.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      code: 403,
      status: 'PERMISSION_DENIED',
      message: expect.stringMatching(/^Warden POLICY_BLOCKED: .*by rule no-pro: Agents use flash\./),
    });
    const { decided } = await trail(blocked.headers.get('warden-call-id') as string);
    expect(decided).toMatchObject({
      args: { endpoint: 'countTokens', model: 'gemini-2.5-pro' },
      decision: { effect: 'block', ruleId: 'no-pro' },
    });

    const session = { 'x-goog-api-key': coder, 'Warden-Session': 'gemini-paused' };
    const first = await post('/v1beta/models/gemini-2.5-flash:countTokens', { contents }, session);
    expect(first.status).toBe(200);
    await pauseSession(t.server.ctx.engine, 'gemini-paused', { kind: 'human', id: 'ops' }, 'looks odd');
    const paused = await post('/v1beta/models/gemini-2.5-flash:countTokens', { contents }, session);
    expect(paused.status).toBe(409);
    expect(((await paused.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      code: 409,
      message: expect.stringContaining('SESSION_PAUSED'),
    });
    // Only the one allowed before the pause reached the provider.
    expect(upstream.requests.length).toBe(before + 1);
  });

  it('refuses streamGenerateContent without alt=sse (a JSON array, unmeterable as a stream) before deciding it', async () => {
    // The premise, from the stand-in as from the Gemini API: without alt=sse the stream is a JSON array.
    const direct = await fetch(`${upstream.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contents }),
    });
    expect(direct.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await direct.json()) as unknown[]).at(-1)).toMatchObject({
      usageMetadata: { candidatesTokenCount: 12 },
    });

    const before = upstream.requests.length;
    const audited = (await t.server.ctx.engine.store.queryAudit({ tool: 'llm:gemini', limit: 1000 })).records
      .length;
    for (const query of ['', '?alt=json', '?key=x&alt=proto']) {
      const res = await post(`/v1beta/models/gemini-2.5-flash:streamGenerateContent${query}`, { contents });
      expect(res.status).toBe(400);
      expect(res.headers.get('x-should-retry')).toBe('false');
      expect(((await res.json()) as { error: Record<string, unknown> }).error).toMatchObject({
        code: 400,
        status: 'INVALID_ARGUMENT',
        message: expect.stringContaining('add ?alt=sse'),
        details: [{ reason: 'LLM_STREAM_FORMAT_UNSUPPORTED', domain: 'warden' }],
      });
    }
    expect(upstream.requests.length).toBe(before);
    const after = await t.server.ctx.engine.store.queryAudit({ tool: 'llm:gemini', limit: 1000 });
    expect(after.records.length).toBe(audited);
  });

  it('sends the stream upstream as alt=sse and nothing else of the query, whatever else the client adds', async () => {
    const res = await post(
      `/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=${coder}&prettyPrint=false&fields=candidates`,
      { contents },
    );
    expect(res.status).toBe(200);
    await res.text();
    expect(upstream.requests.at(-1)?.url).toBe(
      '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    );
    const { completed } = await settledTrail(res.headers.get('warden-call-id') as string);
    expect(completed?.outcome).toMatchObject({ status: 'ok', usage: SETTLED });
  });

  it('strips alt from generateContent: the answer comes whole and is metered from its usage', async () => {
    const res = await post('/v1beta/models/gemini-2.5-flash:generateContent?alt=sse', { contents });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await res.json()) as { usageMetadata: unknown }).usageMetadata).toMatchObject({
      candidatesTokenCount: 12,
    });
    expect(upstream.requests.at(-1)?.url).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    const { completed } = await settledTrail(res.headers.get('warden-call-id') as string);
    expect(completed?.outcome).toMatchObject({
      status: 'ok',
      usage: SETTLED,
      result: { endpoint: 'generateContent', stream: false, usage: 'reported' },
    });
  });

  it('never passes a key sent in the query string on to the provider', async () => {
    const res = await post(`/v1beta/models/gemini-2.5-flash:generateContent?key=${coder}`, { contents });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1);
    expect(seen?.url).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(JSON.stringify(seen)).not.toContain(coder);
  });
});
