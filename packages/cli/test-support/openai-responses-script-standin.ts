/**
 * A local stand-in for the OpenAI Responses API (`POST /v1/responses`, streamed) that scripts an
 * assistant's tool calls turn by turn, for driving the real Codex CLI against it. It speaks the wire
 * format Codex reads: SSE with `event:` lines — `response.created`, `response.output_item.added` and
 * `.done` for each output item (a `function_call` such as `exec_command`, a `custom_tool_call` such as
 * the freeform `apply_patch`, a `local_shell_call`, or an assistant `message`), then `response.completed`
 * with the usage. Every request is recorded, so a test reads the tool output the assistant sent back.
 *
 * The script is asked for each request: the step is how many requests this conversation (the `session-id`
 * header Codex sends, else the `prompt_cache_key`) has made before; returning nothing ends the turn with
 * a closing message.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { startLoopbackServer } from './loopback-standin.js';

/** One output item the scripted model produces. */
export type ScriptedItem =
  /**
   * A function tool call (Codex's `exec_command`, `view_image`…); arguments as JSON. A tool in a
   * namespace names it: Codex offers MCP server `s`'s tools in namespace `mcp__s`.
   */
  | {
      readonly type: 'function_call';
      readonly name: string;
      readonly arguments: Record<string, unknown>;
      readonly namespace?: string;
    }
  /** A freeform (custom) tool call: Codex's `apply_patch` takes the patch text as its input. */
  | { readonly type: 'custom_tool_call'; readonly name: string; readonly input: string }
  /** The built-in local shell tool: an argv array. */
  | { readonly type: 'local_shell_call'; readonly command: readonly string[] }
  /** Assistant text. */
  | { readonly type: 'message'; readonly text: string };

/** What the script sees of a request. */
export interface ScriptContext {
  /** How many requests this conversation made before this one (0 for the first). */
  readonly step: number;
  /** The text of the conversation's first user message. */
  readonly prompt: string;
  readonly body: Record<string, unknown>;
}

/** The items to answer a request with, or undefined to close the turn with a message. */
export type Script = (ctx: ScriptContext) => readonly ScriptedItem[] | undefined;

export interface RecordedRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** The usage every response reports. */
export const STANDIN_USAGE = {
  input_tokens: 1200,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 40,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 1240,
} as const;

/** The text a turn closes with when the script has nothing more. */
export const CLOSING_TEXT = 'Done.';

export interface ResponsesScriptStandin {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** The output the assistant sent back for the tool call `callId`, once it has. */
  toolOutput(callId: string): string | undefined;
  close(): Promise<void>;
}

/** Starts the stand-in on a free port of 127.0.0.1. Call ids are `call_<n>`, in the order scripted. */
export async function startResponsesScriptStandin(script: Script): Promise<ResponsesScriptStandin> {
  const requests: RecordedRequest[] = [];
  const steps = new Map<string, number>();
  let ids = 0;
  const server = await startLoopbackServer((req, text, res) => {
    const path = (req.url ?? '').split('?')[0] as string;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return error(res, 400, 'the body is not JSON');
    }
    requests.push({ path, headers: req.headers, body });
    if (req.method !== 'POST' || !path.endsWith('/responses')) return error(res, 404, `no route ${path}`);
    if (body.stream !== true) return error(res, 400, 'this stand-in answers only streamed requests');
    const conversation = String(req.headers['session-id'] ?? body.prompt_cache_key ?? '');
    const step = steps.get(conversation) ?? 0;
    steps.set(conversation, step + 1);
    const items = (
      script({ step, prompt: firstPrompt(body), body }) ?? [{ type: 'message', text: CLOSING_TEXT }]
    ).map((item) => wire(item, `${++ids}`));
    stream(res, String(body.model), items);
  });
  return {
    url: server.url,
    requests,
    toolOutput(callId) {
      for (const { body } of requests)
        for (const item of (body.input as Record<string, unknown>[] | undefined) ?? [])
          if (item.call_id === callId && String(item.type).endsWith('_output'))
            return outputText(item.output);
      return undefined;
    },
    close: () => server.close(),
  };
}

function error(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: null } }));
}

/** The first user message's text: how a test tells its conversations apart. */
function firstPrompt(body: Record<string, unknown>): string {
  for (const item of (body.input as Record<string, unknown>[] | undefined) ?? []) {
    if (item.type !== 'message' || item.role !== 'user') continue;
    const text = ((item.content as { type: string; text?: string }[]) ?? [])
      .filter((c) => c.type === 'input_text')
      .map((c) => c.text ?? '')
      .join('');
    // Codex sends its environment context as user messages first; the prompt is the last of them.
    if (!text.startsWith('<')) return text;
  }
  return '';
}

/** A function_call_output's output: a string, or content items whose text is joined. */
function outputText(output: unknown): string {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) return output.map((c) => (c as { text?: string }).text ?? '').join('');
  return JSON.stringify(output);
}

/** A scripted item in the Responses API's output item shape. */
function wire(item: ScriptedItem, n: string): Record<string, unknown> {
  const callId = `call_${n}`;
  switch (item.type) {
    case 'function_call':
      return {
        type: 'function_call',
        id: `fc_${n}`,
        call_id: callId,
        ...(item.namespace ? { namespace: item.namespace } : {}),
        name: item.name,
        arguments: JSON.stringify(item.arguments),
        status: 'completed',
      };
    case 'custom_tool_call':
      return {
        type: 'custom_tool_call',
        id: `ctc_${n}`,
        call_id: callId,
        name: item.name,
        input: item.input,
        status: 'completed',
      };
    case 'local_shell_call':
      return {
        type: 'local_shell_call',
        id: `lsh_${n}`,
        call_id: callId,
        status: 'completed',
        action: {
          type: 'exec',
          command: item.command,
          env: {},
          timeout_ms: null,
          user: null,
          working_directory: null,
        },
      };
    case 'message':
      return {
        type: 'message',
        id: `msg_${n}`,
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: item.text, annotations: [] }],
      };
  }
}

function responseBody(model: string, n: string, status: string, output: unknown[], usage: unknown) {
  return { id: `resp_${n}`, object: 'response', created_at: 1_700_000_000, status, model, output, usage };
}

/** Streams one response: created, each item added and done, completed with the usage. */
function stream(res: ServerResponse, model: string, items: Record<string, unknown>[]): void {
  let seq = 0;
  const id = String(items[0]?.id ?? 'x');
  const event = (type: string, fields: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...fields })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'x-request-id': `req_${id}` });
  res.write(event('response.created', { response: responseBody(model, id, 'in_progress', [], null) }));
  items.forEach((item, output_index) => {
    const added = item.type === 'message' ? { ...item, status: 'in_progress', content: [] } : item;
    res.write(event('response.output_item.added', { output_index, item: added }));
    res.write(event('response.output_item.done', { output_index, item }));
  });
  res.end(
    event('response.completed', { response: responseBody(model, id, 'completed', items, STANDIN_USAGE) }),
  );
}
