/**
 * A local stand-in for the Anthropic Messages API that a real Claude Code talks to (its base URL pointed
 * here), scripting the tool calls the "model" makes. It speaks the real wire format: `POST /v1/messages`
 * streamed as SSE (message_start, content_block_start / content_block_delta (text_delta,
 * input_json_delta) / content_block_stop, message_delta with usage and stop_reason, message_stop) or as
 * one JSON message, and `POST /v1/messages/count_tokens`. Every request is recorded, so a test can read
 * the tool results Claude Code sent back (a hook's deny reason, a command's output).
 *
 * A script is a list of turns. A request of the main conversation (one that offers tools) gets the turn
 * whose index is the number of assistant messages already in it, so a retried request gets the same
 * turn and one stand-in serves several sequential runs of the same script. Side requests (no tools: a
 * title, a summary) get a short text answer. Past the end of the script, the answer is `done`.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { jsonBody, pickScriptedTurn, startLoopbackServer } from './loopback-standin.js';

/** One tool call the scripted model makes. */
export interface ScriptedToolUse {
  readonly name: string;
  readonly input: Readonly<Record<string, unknown>>;
  /** Its `tool_use` id, to find its result by (default: a fresh `toolu_standin_<n>`). */
  readonly id?: string;
}

/** One scripted assistant turn: tool calls (with optional text before them), or a final text. */
export type ScriptedTurn =
  | { readonly text?: string; readonly toolUses: readonly ScriptedToolUse[] }
  | { readonly text: string; readonly toolUses?: undefined };

/** A script: its turns in order, or a function choosing the turn for a main-conversation request. */
export type Script = readonly ScriptedTurn[] | ((turn: number, request: RecordedRequest) => ScriptedTurn);

/** The usage every answer reports (the proxy meters these). */
export const STANDIN_USAGE = {
  input_tokens: 40,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  output_tokens: 12,
} as const;

/** A request as it arrived: the path without its query, the headers and the parsed JSON body. */
export interface RecordedRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** A `tool_result` block Claude Code sent back, its content flattened to text. */
export interface SeenToolResult {
  readonly toolUseId: string;
  readonly isError: boolean;
  readonly text: string;
}

export interface AnthropicScriptStandin {
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** The main-conversation requests (those offering tools). */
  turns(): RecordedRequest[];
  /** Every distinct tool result seen in any request (by tool_use id), in the order first seen. */
  toolResults(): SeenToolResult[];
  /** The tool result Claude Code sent back for the tool use with this id. */
  toolResult(id: string): SeenToolResult | undefined;
  /** Replaces the script (for the next requests). */
  setScript(script: Script): void;
  close(): Promise<void>;
}

/** Starts the stand-in on a free port of 127.0.0.1. */
export async function startAnthropicScriptStandin(script: Script): Promise<AnthropicScriptStandin> {
  const requests: RecordedRequest[] = [];
  let current = script;
  const server = await startLoopbackServer((req, text, res) => {
    const body = jsonBody(text);
    if (body === undefined) return json(res, apiError('invalid_request_error', 'the body is not JSON'), 400);
    const recorded = { path: (req.url ?? '').split('?')[0] as string, headers: req.headers, body };
    requests.push(recorded);
    void answer(req.method ?? 'GET', recorded, current, res).catch(() => res.destroy());
  });
  const toolResults = () => {
    const seen = new Map<string, SeenToolResult>();
    for (const r of requests)
      for (const t of toolResultsIn(r.body)) if (!seen.has(t.toolUseId)) seen.set(t.toolUseId, t);
    return [...seen.values()];
  };
  return {
    url: server.url,
    requests,
    turns: () => requests.filter(isMainTurn),
    toolResults,
    toolResult: (id) => toolResults().find((t) => t.toolUseId === id),
    setScript(next) {
      current = next;
    },
    close: () => server.close(),
  };
}

/** A main-conversation request offers tools; side requests (titles, summaries) do not. */
function isMainTurn(r: RecordedRequest): boolean {
  return r.path === '/v1/messages' && Array.isArray(r.body.tools) && r.body.tools.length > 0;
}

async function answer(method: string, r: RecordedRequest, script: Script, res: ServerResponse) {
  if (method !== 'POST') return json(res, apiError('not_found_error', `no route ${method} ${r.path}`), 404);
  if (r.path === '/v1/messages/count_tokens')
    return json(res, { input_tokens: Math.ceil(JSON.stringify(r.body).length / 4) });
  if (r.path !== '/v1/messages') return json(res, apiError('not_found_error', `no route ${r.path}`), 404);
  if (typeof r.body.model !== 'string')
    return json(res, apiError('invalid_request_error', 'model: Field required'), 400);
  const turn = isMainTurn(r) ? pickTurn(script, r) : { text: 'Scripted session' };
  const message = messageOf(r.body.model, turn);
  if (r.body.stream === true) return stream(res, message);
  json(res, message);
}

function pickTurn(script: Script, r: RecordedRequest): ScriptedTurn {
  return pickScriptedTurn(script, assistantCount(r.body), r);
}

function assistantCount(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: unknown }[]) : [];
  return messages.filter((m) => m?.role === 'assistant').length;
}

type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Readonly<Record<string, unknown>> };

interface Message {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: Block[];
  stop_reason: 'tool_use' | 'end_turn';
  stop_sequence: null;
  usage: typeof STANDIN_USAGE;
}

let messageSeq = 0;
let toolUseSeq = 0;

function messageOf(model: string, turn: ScriptedTurn): Message {
  const content: Block[] = [];
  if (turn.text !== undefined) content.push({ type: 'text', text: turn.text });
  for (const u of turn.toolUses ?? [])
    content.push({
      type: 'tool_use',
      id: u.id ?? `toolu_standin_${++toolUseSeq}`,
      name: u.name,
      input: u.input,
    });
  return {
    id: `msg_standin_${++messageSeq}`,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: turn.toolUses?.length ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: STANDIN_USAGE,
  };
}

/** The message as the Messages API streams it; a tool's input arrives as JSON in two pieces. */
async function stream(res: ServerResponse, m: Message): Promise<void> {
  const event = (type: string, fields: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'request-id': `req_${m.id}` });
  const { output_tokens: _, ...startUsage } = m.usage;
  const out = [
    event('message_start', {
      message: { ...m, content: [], stop_reason: null, usage: { ...startUsage, output_tokens: 1 } },
    }),
    event('ping', {}),
  ];
  m.content.forEach((block, index) => {
    if (block.type === 'text') {
      out.push(event('content_block_start', { index, content_block: { type: 'text', text: '' } }));
      out.push(event('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } }));
    } else {
      const start = { ...block, input: {} };
      out.push(event('content_block_start', { index, content_block: start }));
      const input = JSON.stringify(block.input);
      const cut = Math.floor(input.length / 2);
      for (const partial_json of ['', input.slice(0, cut), input.slice(cut)])
        out.push(event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } }));
    }
    out.push(event('content_block_stop', { index }));
  });
  out.push(
    event('message_delta', {
      delta: { stop_reason: m.stop_reason, stop_sequence: null },
      usage: { output_tokens: m.usage.output_tokens },
    }),
    event('message_stop', {}),
  );
  // One write per event, so a client sees them arrive as separate chunks, as from the real API.
  for (const e of out) res.write(e);
  res.end();
}

function toolResultsIn(body: Record<string, unknown>): SeenToolResult[] {
  const messages = Array.isArray(body.messages)
    ? (body.messages as { role?: unknown; content?: unknown }[])
    : [];
  const found: SeenToolResult[] = [];
  for (const m of messages) {
    if (m?.role !== 'user' || !Array.isArray(m.content)) continue;
    for (const b of m.content as Record<string, unknown>[]) {
      if (b?.type !== 'tool_result') continue;
      found.push({
        toolUseId: String(b.tool_use_id),
        isError: b.is_error === true,
        text: flatten(b.content),
      });
    }
  }
  return found;
}

function flatten(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((c: { type?: unknown; text?: unknown }) => (c?.type === 'text' ? String(c.text) : ''))
    .join('\n');
}

function apiError(type: string, message: string) {
  return { type: 'error', error: { type, message } };
}

function json(res: ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_standin' });
  res.end(JSON.stringify(body));
}
