/**
 * A local stand-in for the Gemini API (generativelanguage.googleapis.com) that a real Gemini CLI talks
 * to (`GOOGLE_GEMINI_BASE_URL` pointed here), scripting the tool calls the "model" makes. It speaks the
 * real wire format: `POST /v1beta/models/<model>:streamGenerateContent?alt=sse` as SSE `data:` events of
 * GenerateContentResponse chunks (candidates[0].content.parts with `text` or `functionCall`, the last
 * with finishReason and the full usageMetadata), `:generateContent` as one JSON response, `:countTokens`,
 * and the Google error shape. As the real API does, the framing follows `alt`, not the method: a
 * `streamGenerateContent` without `alt=sse` streams the chunks as one JSON array (`application/json`,
 * `[{…}\n,\r\n{…}\n]`), and a `generateContent?alt=sse` answers as an event stream of one chunk (`{ error: { code, message, status } }`). Every request is recorded, so a
 * test can read the functionResponse parts Gemini CLI sent back (a hook's deny reason, a command's output).
 *
 * A script is a list of turns. A request of the main conversation (one that declares tools) gets the
 * turn whose index is the number of `model` contents already in it, so a retried request gets the same
 * turn and one stand-in serves several sequential runs of the same script. Side requests (no tools: a
 * classifier, a summary) get a short `{}` text answer. Past the end of the script, the answer is `done`.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { jsonBody, pickScriptedTurn, startLoopbackServer } from './loopback-standin.js';

/** One function call the scripted model makes. */
export interface ScriptedCall {
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
}

/** One scripted model turn: function calls (with optional text before them), or a final text. */
export type ScriptedTurn =
  | { readonly text?: string; readonly calls: readonly ScriptedCall[] }
  | { readonly text: string; readonly calls?: undefined };

/** A script: its turns in order, or a function choosing the turn for a main-conversation request. */
export type Script = readonly ScriptedTurn[] | ((turn: number, request: RecordedRequest) => ScriptedTurn);

/** The usage every answer reports, in the Gemini API's usageMetadata shape (the proxy meters these). */
export const STANDIN_USAGE = {
  promptTokenCount: 40,
  candidatesTokenCount: 12,
  thoughtsTokenCount: 5,
  totalTokenCount: 57,
} as const;

/** The model version every answer names. */
export const STANDIN_MODEL_VERSION = 'gemini-2.5-flash-standin';

/** A request as it arrived: the path without its query, the model and method from it, headers, body. */
export interface RecordedRequest {
  /** The URL as requested, query included. */
  readonly url: string;
  readonly path: string;
  readonly model: string;
  /** `streamGenerateContent`, `generateContent`, `countTokens`… */
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** A functionResponse part Gemini CLI sent back. */
export interface SeenFunctionResponse {
  readonly id: string;
  readonly name: string;
  readonly response: Record<string, unknown>;
  /** The response flattened to text (its `output`, else `error`, else the JSON). */
  readonly text: string;
}

export interface GeminiScriptStandin {
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** The main-conversation requests (those declaring tools). */
  turns(): RecordedRequest[];
  /**
   * Every distinct functionResponse seen (by call id), in the order first seen, in the requests from
   * index `since` on (default all: pass `requests.length` taken before a run to see only that run's).
   */
  functionResponses(since?: number): SeenFunctionResponse[];
  /** The functionResponse for the scripted call with this id (ids are `standin_<turn>_<i>`). */
  functionResponse(id: string, since?: number): SeenFunctionResponse | undefined;
  /** Replaces the script (for the next requests). */
  setScript(script: Script): void;
  close(): Promise<void>;
}

/** The id of the i-th call of turn `turn` (both from 0). */
export const callId = (turn: number, i = 0) => `standin_${turn}_${i}`;

/** Starts the stand-in on a free port of 127.0.0.1. */
export async function startGeminiScriptStandin(script: Script): Promise<GeminiScriptStandin> {
  const requests: RecordedRequest[] = [];
  let current = script;
  const server = await startLoopbackServer((req, text, res) => {
    const body = jsonBody(text);
    if (body === undefined)
      return json(res, apiError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.'), 400);
    const path = (req.url ?? '').split('?')[0] as string;
    const m = /^\/v1(?:beta|alpha)?\/models\/([^/:]+):([A-Za-z]+)$/.exec(path);
    const recorded = {
      url: req.url ?? '',
      path,
      model: m?.[1] ?? '',
      method: m?.[2] ?? '',
      headers: req.headers,
      body,
    };
    requests.push(recorded);
    if (req.method !== 'POST' || !m)
      return json(res, apiError(404, 'NOT_FOUND', `no route ${req.method} ${path}`), 404);
    void answer(recorded, current, res).catch(() => res.destroy());
  });
  const functionResponses = (since = 0) => {
    const seen = new Map<string, SeenFunctionResponse>();
    for (const r of requests.slice(since))
      for (const f of functionResponsesIn(r.body)) if (!seen.has(f.id)) seen.set(f.id, f);
    return [...seen.values()];
  };
  return {
    url: server.url,
    requests,
    turns: () => requests.filter(isMainTurn),
    functionResponses,
    functionResponse: (id, since) => functionResponses(since).find((f) => f.id === id),
    setScript(next) {
      current = next;
    },
    close: () => server.close(),
  };
}

/** A main-conversation request declares tools; side requests (a classifier, a summary) do not. */
function isMainTurn(r: RecordedRequest): boolean {
  const tools = r.body.tools;
  return /generateContent$/i.test(r.method) && Array.isArray(tools) && tools.length > 0;
}

type Content = { role?: string; parts?: Array<Record<string, unknown>> };

async function answer(r: RecordedRequest, script: Script, res: ServerResponse) {
  if (r.method === 'countTokens') return json(res, { totalTokens: STANDIN_USAGE.promptTokenCount });
  if (r.method !== 'streamGenerateContent' && r.method !== 'generateContent')
    return json(res, apiError(404, 'NOT_FOUND', `no method ${r.method}`), 404);
  const contents = Array.isArray(r.body.contents) ? (r.body.contents as Content[]) : [];
  let parts: Array<Record<string, unknown>>;
  if (isMainTurn(r)) {
    const index = contents.filter((c) => c.role === 'model').length;
    const turn: ScriptedTurn = pickScriptedTurn(script, index, r);
    parts = [
      ...(turn.text === undefined ? [] : [{ text: turn.text }]),
      ...(turn.calls ?? []).map((c, i) => ({
        functionCall: { id: callId(index, i), name: c.name, args: c.args },
      })),
    ];
  } else {
    parts = [{ text: '{}' }];
  }
  const sse = new URLSearchParams(r.url.split('?')[1] ?? '').get('alt') === 'sse';
  if (r.method === 'generateContent') {
    if (!sse) return json(res, response(parts, 'STOP', STANDIN_USAGE));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-goog-standin': '1' });
    await event(res, response(parts, 'STOP', STANDIN_USAGE));
    return res.end();
  }
  // Streamed: text first (as the real API does, in its own chunk), then the calls, then the end.
  res.writeHead(200, {
    'content-type': sse ? 'text/event-stream' : 'application/json; charset=UTF-8',
    'x-goog-standin': '1',
  });
  res.flushHeaders();
  const partial = {
    promptTokenCount: STANDIN_USAGE.promptTokenCount,
    totalTokenCount: STANDIN_USAGE.promptTokenCount,
  };
  const texts = parts.filter((p) => 'text' in p);
  const calls = parts.filter((p) => 'functionCall' in p);
  const chunks = [
    ...texts.map((p) => response([p], undefined, partial)),
    response(calls.length > 0 ? calls : [{ text: '' }], 'STOP', STANDIN_USAGE),
  ];
  for (const [i, chunk] of chunks.entries()) {
    if (sse) await event(res, chunk);
    else await write(res, `${i === 0 ? '[' : '\n,\r\n'}${JSON.stringify(chunk)}`);
  }
  if (!sse) res.write('\n]');
  res.end();
}

/** A GenerateContentResponse (one streamed chunk, or the whole JSON answer). */
function response(parts: unknown[], finishReason: string | undefined, usage: Record<string, number>) {
  return {
    candidates: [{ content: { role: 'model', parts }, ...(finishReason ? { finishReason } : {}), index: 0 }],
    usageMetadata: usage,
    modelVersion: STANDIN_MODEL_VERSION,
    responseId: 'standin-response',
  };
}

async function event(res: ServerResponse, chunk: unknown): Promise<void> {
  await write(res, `data: ${JSON.stringify(chunk)}\r\n\r\n`);
}

async function write(res: ServerResponse, text: string): Promise<void> {
  res.write(text);
  // A pause, so the chunks arrive as separate reads.
  await new Promise((r) => setTimeout(r, 5));
}

function json(res: ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

/** The Google API error shape. */
function apiError(code: number, status: string, message: string) {
  return { error: { code, message, status } };
}

function functionResponsesIn(body: Record<string, unknown>): SeenFunctionResponse[] {
  const contents = Array.isArray(body.contents) ? (body.contents as Content[]) : [];
  const out: SeenFunctionResponse[] = [];
  for (const c of contents)
    for (const p of c.parts ?? []) {
      const f = p.functionResponse as
        | { id?: string; name?: string; response?: Record<string, unknown> }
        | undefined;
      if (!f) continue;
      const response = f.response ?? {};
      const flat = response.output ?? response.error ?? response;
      out.push({
        id: String(f.id ?? ''),
        name: String(f.name ?? ''),
        response,
        text: typeof flat === 'string' ? flat : JSON.stringify(flat),
      });
    }
  return out;
}
