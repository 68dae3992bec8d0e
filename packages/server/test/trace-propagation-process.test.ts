/**
 * One trace from the agent, through a real `warden serve`, to the upstream. The agent (this process) runs
 * OpenTelemetry with an active span; Warden exports its spans to a local OTLP/HTTP receiver; the
 * upstreams (an OpenAI wire-format stand-in, an MCP server built with the official SDK) record the trace
 * context they receive. A second server without tracing passes the caller's context on unchanged. Needs
 * the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import {
  context,
  createTraceState,
  propagation,
  ROOT_CONTEXT,
  type SpanContext,
  trace,
} from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { createWarden } from '@warden/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { type FakeLlmUpstream, startFakeLlmUpstream } from '../test-support/fake-llm-upstream.js';
import { type MetaMcpUpstream, startMetaMcpUpstream } from '../test-support/meta-mcp-upstream.js';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SPAN_KIND,
  startOtlpReceiver,
} from '../test-support/otlp-receiver.js';
import { BIN, killAll, type Served, spawnServe, warden } from '../test-support/serve-process.js';

const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const POLICY = `name: tracing
agents:
  coder:
    rules:
      - { id: llm, effect: allow, tools: "llm:*" }
      - { id: remote, effect: allow, tools: "remote.*" }
      - { id: lookup, effect: allow, tools: lookup }
`;
/** What the agent's own caller put in tracestate: every hop must pass it on. */
const AGENT_STATE = 'agent=t61rcWkgMzE';

let dir: string;
let receiver: OtlpReceiver;
let llm: FakeLlmUpstream;
let mcpUpstream: MetaMcpUpstream;
/** Traces to the receiver. */
let traced: Served;
/** Traces nothing: OTEL_* unset. */
let plain: Served;
let coder: string;
let plainCoder: string;
let provider: NodeTracerProvider;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-trace-'));
  [receiver, llm, mcpUpstream] = await Promise.all([
    startOtlpReceiver(),
    startFakeLlmUpstream(),
    startMetaMcpUpstream(),
  ]);
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  writeFileSync(
    join(dir, 'warden.yaml'),
    [
      'llm:',
      '  openai:',
      `    baseUrl: ${llm.url}`,
      '    apiKey: env:UPSTREAM_OPENAI_KEY',
      'mcp:',
      '  servers:',
      `    remote: { url: "${mcpUpstream.url}" }`,
      '',
    ].join('\n'),
  );
  const db = join(dir, 'warden.db');
  const args = (file: string) => [
    '--config',
    join(dir, 'warden.yaml'),
    '--db',
    file,
    '--policy',
    join(dir, 'policy.yaml'),
    '--port',
    '0',
  ];
  const env = { WARDEN_ADMIN_KEY: ADMIN, UPSTREAM_OPENAI_KEY: 'sk-upstream-0123456789' };
  [traced, plain] = await Promise.all([
    spawnServe(args(db), {
      ...env,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: 'warden-under-test',
      // Export within a moment instead of every 5 s, so the assertions need not stop the server.
      OTEL_BSP_SCHEDULE_DELAY: '50',
    }),
    spawnServe(args(join(dir, 'plain.db')), {
      ...env,
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
    }),
  ]);
  const made = await warden(['keys', 'create', '--agent', 'coder', '--db', db, '--json']);
  expect(made.code, made.err).toBe(0);
  coder = (JSON.parse(made.out) as { secret: string }).secret;
  const plainMade = await warden([
    'keys',
    'create',
    '--agent',
    'coder',
    '--db',
    join(dir, 'plain.db'),
    '--json',
  ]);
  expect(plainMade.code, plainMade.err).toBe(0);
  plainCoder = (JSON.parse(plainMade.out) as { secret: string }).secret;
  // The agent's OpenTelemetry: a global provider, the AsyncLocalStorage context manager, W3C propagators.
  provider = new NodeTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())],
  });
  provider.register();
}, 120_000);

afterAll(async () => {
  await provider?.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
  await Promise.all([traced?.stop(), plain?.stop()]);
  killAll();
  await Promise.all([receiver?.close(), llm?.close(), mcpUpstream?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs `fn` inside an active agent span. The span continues a caller's context carrying a tracestate,
 * as an agent that is itself part of a larger trace does.
 */
async function asAgent<T>(fn: (agent: SpanContext) => Promise<T>): Promise<{ agent: SpanContext; value: T }> {
  const upstreamOfAgent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    traceFlags: 1,
    isRemote: true,
    traceState: createTraceState(AGENT_STATE),
  });
  const tracer = trace.getTracer('agent-under-test');
  return tracer.startActiveSpan('agent.task', {}, upstreamOfAgent, async (span) => {
    try {
      const agent = span.spanContext();
      return { agent, value: await fn(agent) };
    } finally {
      span.end();
    }
  });
}

/** The headers the agent's OpenTelemetry would put on a request made now. */
function agentHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  propagation.inject(context.active(), headers);
  return headers;
}

/** Waits for the span named `name` of this trace (with `match`), as the receiver got it. */
function spanOf(traceId: string, name: string, match: (s: ReceivedSpan) => boolean = () => true) {
  return eventually(`span ${name} of trace ${traceId}`, () =>
    receiver.spans.find((s) => s.traceId === traceId && s.name === name && match(s)),
  );
}

describe('warden serve joins the caller’s trace (a real process, a real OTLP export)', () => {
  it('the SDK sends the agent’s active span: warden.check and warden.complete are its children', async () => {
    const client = await createWarden({ url: traced.url, key: coder });
    const { agent, value } = await asAgent(() =>
      client.run({ tool: 'lookup', args: { q: 1 } }, async () => 'found'),
    );
    await client.close();
    expect(value).toBe('found');

    const check = await spanOf(agent.traceId, 'warden.check');
    expect(check).toMatchObject({ parentSpanId: agent.spanId, kind: SPAN_KIND.INTERNAL });
    expect(check.attributes).toMatchObject({ 'warden.tool': 'lookup', 'warden.decision': 'allow' });
    const complete = await spanOf(agent.traceId, 'warden.complete');
    expect(complete).toMatchObject({ parentSpanId: agent.spanId });
    expect(complete.attributes['warden.call_id']).toBe(check.attributes['warden.call_id']);
    expect(receiver.rejected).toEqual([]);
  });

  it('an invalid traceparent is ignored: the call is answered and its span starts a new trace', async () => {
    const bad = `00-${'A'.repeat(32)}-${'b'.repeat(16)}-01`;
    const res = await fetch(`${traced.url}/v1/calls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${coder}`, 'content-type': 'application/json', traceparent: bad },
      body: JSON.stringify({ tool: 'lookup', args: { q: 'bad-parent' } }),
    });
    expect(res.status).toBe(200);
    const { callId } = (await res.json()) as { callId: string };
    const check = await eventually('the check span', () =>
      receiver.spans.find((s) => s.name === 'warden.check' && s.attributes['warden.call_id'] === callId),
    );
    expect(check.parentSpanId).toBeUndefined();
    expect(check.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(check.traceId).not.toBe('a'.repeat(32));
  });

  it.each([
    ['whole', false],
    ['streamed', true],
  ] as const)(
    'LLM proxy (%s): the provider receives Warden’s client span as parent, in the agent’s trace',
    async (_, stream) => {
      const { agent, value: callId } = await asAgent(async () => {
        const openai = new OpenAI({
          apiKey: coder,
          baseURL: `${traced.url}/llm/openai/v1`,
          maxRetries: 0,
          defaultHeaders: agentHeaders(),
        });
        const messages = [{ role: 'user' as const, content: 'Say hello.' }];
        if (!stream) {
          const { response } = await openai.chat.completions
            .create({ model: 'gpt-4o-mini', messages })
            .withResponse();
          return response.headers.get('warden-call-id') as string;
        }
        const { data, response } = await openai.chat.completions
          .create({ model: 'gpt-4o-mini', messages, stream: true })
          .withResponse();
        for await (const _chunk of data) {
          // Read to the end, as a client does.
        }
        return response.headers.get('warden-call-id') as string;
      });

      const request = await spanOf(agent.traceId, 'warden.llm');
      expect(request).toMatchObject({ parentSpanId: agent.spanId, kind: SPAN_KIND.SERVER });
      expect(request.attributes).toMatchObject({
        'warden.call_id': callId,
        'gen_ai.provider.name': 'openai',
      });
      const client = await spanOf(agent.traceId, 'chat gpt-4o-mini');
      expect(client).toMatchObject({ parentSpanId: request.spanId, kind: SPAN_KIND.CLIENT });
      expect(client.attributes).toMatchObject({
        'http.response.status_code': 200,
        'gen_ai.usage.output_tokens': 7,
      });
      for (const name of ['warden.check', 'warden.complete']) {
        expect(await spanOf(agent.traceId, name)).toMatchObject({ parentSpanId: request.spanId });
      }

      const received = llm.requests.at(-1)?.headers;
      expect(received?.traceparent).toBe(`00-${agent.traceId}-${client.spanId}-01`);
      expect(received?.tracestate).toBe(AGENT_STATE);
    },
  );

  it('MCP gateway: _meta.traceparent is the parent; the upstream gets Warden’s client span in its _meta', async () => {
    const mcp = await connectMcp(traced.url, coder);
    try {
      const { agent } = await asAgent(async () => {
        const { traceparent, tracestate } = agentHeaders();
        const r = await mcp.callTool({
          name: 'remote__echo',
          arguments: { text: 'hi' },
          _meta: { traceparent, tracestate },
        });
        expect(r.isError ?? false).toBe(false);
      });

      const call = await spanOf(agent.traceId, 'tools/call remote__echo');
      expect(call).toMatchObject({ parentSpanId: agent.spanId, kind: SPAN_KIND.SERVER });
      expect(call.attributes).toMatchObject({
        'mcp.method.name': 'tools/call',
        'gen_ai.tool.name': 'remote__echo',
      });
      const hop = await spanOf(agent.traceId, 'tools/call echo');
      expect(hop).toMatchObject({ parentSpanId: call.spanId, kind: SPAN_KIND.CLIENT });
      const check = await spanOf(agent.traceId, 'warden.check');
      expect(check).toMatchObject({ parentSpanId: call.spanId });
      expect(check.attributes).toMatchObject({ 'warden.tool': 'remote.echo', 'warden.decision': 'allow' });
      expect(await spanOf(agent.traceId, 'warden.complete')).toMatchObject({ parentSpanId: call.spanId });

      expect(mcpUpstream.metas.at(-1)).toMatchObject({
        traceparent: `00-${agent.traceId}-${hop.spanId}-01`,
        tracestate: AGENT_STATE,
      });

      // A credential-looking tool name is refused, and its span does not carry it to the exporter.
      const secretName = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';
      const { agent: second } = await asAgent(async () => {
        const { traceparent, tracestate } = agentHeaders();
        const r = await mcp.callTool({ name: secretName, arguments: {}, _meta: { traceparent, tracestate } });
        expect(r.isError).toBe(true);
      });
      const refused = await spanOf(second.traceId, 'tools/call');
      expect(refused).toMatchObject({ parentSpanId: second.spanId, kind: SPAN_KIND.SERVER });
      expect(JSON.stringify(receiver.spans)).not.toContain('sk_live_');
    } finally {
      await mcp.close();
    }
  });
});

describe('warden serve without tracing passes the caller’s context on unchanged (W3C: a proxy forwards it)', () => {
  it('to the LLM provider and to the upstream MCP server', async () => {
    const { agent } = await asAgent(async () => {
      const openai = new OpenAI({
        apiKey: plainCoder,
        baseURL: `${plain.url}/llm/openai/v1`,
        maxRetries: 0,
        defaultHeaders: agentHeaders(),
      });
      await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Hi.' }],
      });
      const mcp = await connectMcp(plain.url, plainCoder);
      try {
        const { traceparent, tracestate } = agentHeaders();
        await mcp.callTool({
          name: 'remote__echo',
          arguments: { text: 'plain' },
          _meta: { traceparent, tracestate },
        });
      } finally {
        await mcp.close();
      }
    });
    const asSent = `00-${agent.traceId}-${agent.spanId}-01`;
    expect(llm.requests.at(-1)?.headers).toMatchObject({ traceparent: asSent, tracestate: AGENT_STATE });
    expect(mcpUpstream.metas.at(-1)).toMatchObject({ traceparent: asSent, tracestate: AGENT_STATE });
    // And it exported nothing: every span the receiver holds for this trace would be the traced server's.
    expect(receiver.spans.filter((s) => s.traceId === agent.traceId)).toEqual([]);
  });
});

describe('warden mcp (stdio, remote) passes its client’s _meta on: to the server’s spans and the upstream', () => {
  /** `warden mcp` (the real process, over stdio) in front of the recording upstream, governed by `traced`. */
  async function stdioGateway(): Promise<Client> {
    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      [
        'warden:',
        `  url: ${traced.url}`,
        '  key: env:CODER_KEY',
        'servers:',
        `  remote: { url: "${mcpUpstream.url}" }`,
        '',
      ].join('\n'),
    );
    const client = new Client({ name: 'desktop-client', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BIN, 'mcp', '--config', config],
        env: { ...(process.env as Record<string, string>), CODER_KEY: coder },
        stderr: 'pipe',
      }),
      { timeout: 60_000 },
    );
    return client;
  }

  it('the server’s check and completion are children of the caller’s span; the upstream gets it unchanged', async () => {
    const client = await stdioGateway();
    try {
      const { agent } = await asAgent(async () => {
        const { traceparent, tracestate } = agentHeaders();
        const r = await client.callTool({
          name: 'remote__echo',
          arguments: { text: 'over stdio' },
          _meta: { traceparent, tracestate },
        });
        expect(r.isError ?? false).toBe(false);
      });
      const check = await spanOf(agent.traceId, 'warden.check');
      expect(check).toMatchObject({ parentSpanId: agent.spanId });
      expect(check.attributes).toMatchObject({ 'warden.tool': 'remote.echo', 'warden.decision': 'allow' });
      expect(await spanOf(agent.traceId, 'warden.complete')).toMatchObject({ parentSpanId: agent.spanId });
      expect(mcpUpstream.metas.at(-1)).toMatchObject({
        traceparent: `00-${agent.traceId}-${agent.spanId}-01`,
        tracestate: AGENT_STATE,
      });
    } finally {
      await client.close();
    }
  });

  it('a newer-version traceparent with a free-form tail is passed on as version 00 and never fails the call', async () => {
    const client = await stdioGateway();
    try {
      const traceId = randomBytes(16).toString('hex');
      const spanId = randomBytes(8).toString('hex');
      // A CR/LF in the tail would be an invalid header value on the way to the Warden server.
      const r = await client.callTool({
        name: 'remote__echo',
        arguments: { text: 'newer version' },
        _meta: { traceparent: `cc-${traceId}-${spanId}-01-future\r\nX-Evil: 1` },
      });
      expect(r.isError ?? false).toBe(false);
      expect(mcpUpstream.metas.at(-1)).toMatchObject({ traceparent: `00-${traceId}-${spanId}-01` });
      const check = await spanOf(traceId, 'warden.check');
      expect(check).toMatchObject({ parentSpanId: spanId });
      expect(check.attributes).toMatchObject({ 'warden.decision': 'allow' });
    } finally {
      await client.close();
    }
  });
});

async function connectMcp(url: string, key: string): Promise<Client> {
  const client = new Client({ name: 'agent-under-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}
