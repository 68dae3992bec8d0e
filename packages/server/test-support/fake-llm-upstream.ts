/**
 * A local stand-in for the OpenAI and Anthropic APIs that speaks their wire formats: Chat Completions
 * (JSON, and SSE `data:` chunks ending with a usage chunk when asked and `data: [DONE]`), Responses (JSON,
 * and SSE with `event:` lines ending in `response.completed`) and Messages (JSON, and SSE message_start …
 * message_stop). It records every request it receives.
 *
 * The model name steers a scenario:
 * - `…-hold`: the stream sends its text, then waits for `release()` before its usage and end;
 * - `…-die`: the stream sends its text, then the connection is destroyed (no usage);
 * - `…-linger`: the stream sends everything, `[DONE]` included, then keeps its body open until `release()`;
 * - `…-fail`: a 500 in the provider's error shape.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** The text every answer generates, sent as these deltas when streamed. */
export const FAKE_DELTAS = ['Hello', ' from', ' the', ' fake', ' upstream.'] as const;
export const FAKE_TEXT = FAKE_DELTAS.join('');

/** The usage each endpoint reports, in its own shape. */
export const FAKE_USAGE = {
  chat: {
    prompt_tokens: 31,
    completion_tokens: 7,
    total_tokens: 38,
    prompt_tokens_details: { cached_tokens: 12 },
  },
  responses: {
    input_tokens: 42,
    input_tokens_details: { cached_tokens: 16 },
    output_tokens: 9,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 51,
  },
  messages: {
    input_tokens: 25,
    cache_creation_input_tokens: 3,
    cache_read_input_tokens: 10,
    output_tokens: 15,
  },
} as const;

/** The model an answer names: the provider's dated snapshot of the requested alias. */
export const snapshotOf = (model: string) => `${model}-2025-01-01`;

export interface RecordedRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

export interface FakeLlmUpstream {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Lets held streams (`…-hold`) requested so far send their usage and end. */
  release(): void;
  close(): Promise<void>;
}

/** Starts the fake upstream on a free port of 127.0.0.1. */
export async function startFakeLlmUpstream(): Promise<FakeLlmUpstream> {
  const requests: RecordedRequest[] = [];
  let release!: () => void;
  let held = new Promise<void>((r) => {
    release = r;
  });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      const path = (req.url ?? '').split('?')[0] as string;
      requests.push({ path, headers: req.headers, body });
      // Held until the next release(), even one that comes before the stream reaches its hold.
      const gate = held;
      void answer(path, body, res, () => gate).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    release() {
      release();
      held = new Promise<void>((r) => {
        release = r;
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Waiter = () => Promise<void>;

async function answer(path: string, body: Record<string, unknown>, res: ServerResponse, held: Waiter) {
  const model = String(body.model);
  if (model.endsWith('-fail')) return failure(path, res);
  const stream = body.stream === true;
  if (path === '/v1/chat/completions')
    return stream ? chatStream(body, res, held) : json(res, chatBody(model));
  if (path === '/v1/responses')
    return stream ? responsesStream(model, res, held) : json(res, responsesBody(model));
  if (path === '/v1/messages')
    return stream ? messagesStream(model, res, held) : json(res, messagesBody(model));
  json(res, { error: { message: `no route ${path}`, type: 'invalid_request_error' } }, 404);
}

function json(res: ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'req_fake_1' });
  res.end(JSON.stringify(body));
}

function failure(path: string, res: ServerResponse): void {
  const body =
    path === '/v1/messages'
      ? { type: 'error', error: { type: 'api_error', message: 'the fake upstream failed' } }
      : { error: { message: 'the fake upstream failed', type: 'server_error', param: null, code: null } };
  json(res, body, 500);
}

/** Sends SSE events with a pause between them, so they arrive as separate chunks. */
async function sse(res: ServerResponse, events: readonly string[]): Promise<void> {
  for (const e of events) {
    res.write(e);
    await sleep(5);
  }
}

function startSse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'x-request-id': 'req_fake_1' });
  res.flushHeaders();
}

/** The end of a scripted stream: held until released, cut, or sent at once. */
async function finish(model: string, res: ServerResponse, held: Waiter, last: readonly string[]) {
  if (model.endsWith('-die')) {
    res.destroy();
    return;
  }
  if (model.endsWith('-hold')) await held();
  await sse(res, last);
  if (model.endsWith('-linger')) await held();
  res.end();
}

function chatBody(model: string) {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: snapshotOf(model),
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: FAKE_TEXT, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: FAKE_USAGE.chat,
    system_fingerprint: 'fp_fake',
  };
}

async function chatStream(body: Record<string, unknown>, res: ServerResponse, held: Waiter) {
  const model = String(body.model);
  const withUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  const chunk = (choices: unknown[], usage?: unknown) =>
    `data: ${JSON.stringify({
      id: 'chatcmpl-fake',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: snapshotOf(model),
      system_fingerprint: 'fp_fake',
      choices,
      ...(withUsage ? { usage: usage ?? null } : {}),
    })}\n\n`;
  const delta = (d: Record<string, unknown>, finish: string | null = null) => ({
    index: 0,
    delta: d,
    logprobs: null,
    finish_reason: finish,
  });
  startSse(res);
  await sse(res, [
    chunk([delta({ role: 'assistant', content: '', refusal: null })]),
    ...FAKE_DELTAS.map((t) => chunk([delta({ content: t })])),
  ]);
  const last = [
    chunk([delta({}, 'stop')]),
    ...(withUsage ? [chunk([], FAKE_USAGE.chat)] : []),
    'data: [DONE]\n\n',
  ];
  await finish(model, res, held, last);
}

function responsesBody(model: string, status = 'completed', withUsage = true) {
  return {
    id: 'resp_fake',
    object: 'response',
    created_at: 1_700_000_000,
    status,
    model: snapshotOf(model),
    output:
      status === 'completed'
        ? [
            {
              type: 'message',
              id: 'msg_fake',
              status: 'completed',
              role: 'assistant',
              content: [{ type: 'output_text', text: FAKE_TEXT, annotations: [] }],
            },
          ]
        : [],
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    usage: withUsage ? FAKE_USAGE.responses : null,
  };
}

async function responsesStream(model: string, res: ServerResponse, held: Waiter) {
  let seq = 0;
  const event = (type: string, fields: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...fields })}\n\n`;
  const item = { type: 'message', id: 'msg_fake', status: 'in_progress', role: 'assistant', content: [] };
  const part = { type: 'output_text', text: '', annotations: [] };
  const at = { item_id: 'msg_fake', output_index: 0, content_index: 0 };
  startSse(res);
  await sse(res, [
    event('response.created', { response: responsesBody(model, 'in_progress', false) }),
    event('response.in_progress', { response: responsesBody(model, 'in_progress', false) }),
    event('response.output_item.added', { output_index: 0, item }),
    event('response.content_part.added', { ...at, part }),
    ...FAKE_DELTAS.map((delta) => event('response.output_text.delta', { ...at, delta })),
  ]);
  const done = { ...part, text: FAKE_TEXT };
  await finish(model, res, held, [
    event('response.output_text.done', { ...at, text: FAKE_TEXT }),
    event('response.content_part.done', { ...at, part: done }),
    event('response.output_item.done', {
      output_index: 0,
      item: { ...item, status: 'completed', content: [done] },
    }),
    event('response.completed', { response: responsesBody(model) }),
  ]);
}

function messagesBody(model: string) {
  return {
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model: snapshotOf(model),
    content: [{ type: 'text', text: FAKE_TEXT }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: FAKE_USAGE.messages,
  };
}

async function messagesStream(model: string, res: ServerResponse, held: Waiter) {
  const event = (type: string, fields: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;
  const { output_tokens: _, ...startUsage } = FAKE_USAGE.messages;
  startSse(res);
  await sse(res, [
    event('message_start', {
      message: {
        ...messagesBody(model),
        content: [],
        stop_reason: null,
        usage: { ...startUsage, output_tokens: 1 },
      },
    }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', {}),
    ...FAKE_DELTAS.map((text) =>
      event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }),
    ),
  ]);
  await finish(model, res, held, [
    event('content_block_stop', { index: 0 }),
    event('message_delta', {
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: FAKE_USAGE.messages.output_tokens },
    }),
    event('message_stop', {}),
  ]);
}
