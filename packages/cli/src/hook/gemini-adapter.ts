/**
 * `warden hook gemini`: Gemini CLI's hooks (settings.json `hooks`: BeforeTool, AfterTool, SessionStart,
 * SessionEnd, BeforeAgent) read and answered. Gemini CLI writes one JSON object to the hook's stdin
 * (`session_id`, `cwd`, `hook_event_name`, and for tools `tool_name`, `tool_input`, `tool_response`,
 * `mcp_context`) and reads one JSON object from its stdout. A deny is `{"decision":"deny","reason"}`
 * with exit 0 (the reason goes to the model as the tool's error); no objection is `{}`, which leaves
 * Gemini CLI's own approval mode in charge. Every answer exits 0 with JSON: Gemini CLI treats exit 1
 * and a hook that prints plain text as "allow with a warning", so neither may ever carry a deny.
 */
import { isAbsolute, resolve } from 'node:path';
import { WardenError } from '@warden/core';
import { installGeminiHooks } from './gemini-settings.js';
import { type GeminiMcpContext, geminiToolUses } from './gemini-tools.js';
import type { HookAdapter, HookEvent, HookOutput, HookVerdict, ToolResult } from './hook-adapter.js';
import { summarizeResult } from './tool-result-summary.js';
import type { ToolUseContext } from './tool-use.js';

/** The Gemini CLI hook adapter. */
export const geminiAdapter: HookAdapter = {
  assistant: 'gemini',
  parse: parseGeminiHook,
  render: renderGeminiHook,
  install: installGeminiHooks,
};

/** One Gemini CLI hook input as a HookEvent; throws REQUEST_INVALID naming the field that is wrong. */
export function parseGeminiHook(stdin: string, env: NodeJS.ProcessEnv): HookEvent {
  let input: unknown;
  try {
    input = JSON.parse(stdin);
  } catch {
    throw invalid(
      stdin.trim() === ''
        ? 'no hook input on stdin (expected Gemini CLI’s hook JSON)'
        : 'the hook input on stdin is not JSON',
      'pre',
    );
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw invalid('the hook input on stdin must be a JSON object', 'pre');
  const o = input as Record<string, unknown>;
  try {
    return parseEvent(o, env);
  } catch (err) {
    // Tell the runner which kind of event could not be read: a BeforeTool must be denied (fail closed).
    const name = o.hook_event_name;
    const event = name === 'BeforeTool' || typeof name !== 'string' ? 'pre' : 'other';
    if (err instanceof WardenError) throw new WardenError(err.code, err.message, { ...err.details, event });
    throw err;
  }
}

function parseEvent(o: Record<string, unknown>, env: NodeJS.ProcessEnv): HookEvent {
  const event = field(o, 'hook_event_name');
  const cwd = typeof o.cwd === 'string' && o.cwd !== '' ? o.cwd : env.GEMINI_CWD;
  if (!cwd || !isAbsolute(cwd)) throw invalid(`the hook input's cwd must be an absolute path`);
  const project = env.GEMINI_PROJECT_DIR;
  const ctx: ToolUseContext = {
    assistant: 'gemini',
    sessionId: field(o, 'session_id'),
    cwd,
    projectDir: project && isAbsolute(project) ? project : cwd,
  };
  switch (event) {
    case 'BeforeTool':
    case 'AfterTool':
      return toolEvent(event, o, ctx);
    case 'SessionStart':
      return { type: 'session-start', ctx, name: event };
    case 'SessionEnd':
      return { type: 'session-end', ctx, name: event };
    case 'BeforeAgent':
      return { type: 'prompt', ctx, name: event };
    default:
      return { type: 'other', ctx, name: event };
  }
}

function toolEvent(event: 'BeforeTool' | 'AfterTool', o: Record<string, unknown>, base: ToolUseContext) {
  const name = field(o, 'tool_name');
  const input = o.tool_input;
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw invalid(`the hook input's tool_input must be an object (tool ${name})`);
  const args = input as Record<string, unknown>;
  const uses = geminiToolUses(name, args, o.mcp_context as GeminiMcpContext | undefined);
  // A shell command may run in another directory of the workspace (`dir_path`): its paths resolve there.
  const dir = name === 'run_shell_command' && typeof args.dir_path === 'string' ? args.dir_path : '';
  const ctx = dir === '' ? base : { ...base, cwd: resolve(base.cwd, dir) };
  const native = { name, input };
  if (event === 'BeforeTool') return { type: 'pre' as const, ctx, native, uses };
  return { type: 'post' as const, ctx, native, uses, result: toolResult(o.tool_response) };
}

/** AfterTool's `tool_response` ({ llmContent, returnDisplay, error? }) as a short result summary. */
function toolResult(response: unknown): ToolResult {
  if (typeof response !== 'object' || response === null || Array.isArray(response))
    throw invalid(`the hook input's tool_response must be an object (AfterTool)`);
  const r = response as Record<string, unknown>;
  const error = r.error as { message?: unknown; type?: unknown } | null | undefined;
  const failed = typeof error === 'object' && error !== null;
  return {
    ok: !failed,
    summary: summarizeResult({
      output: text(r.llmContent),
      ...(failed ? { error: typeof error.message === 'string' ? error.message : 'error' } : {}),
      ...(failed && typeof error.type === 'string' ? { errorType: error.type } : {}),
    }),
  };
}

/** llmContent is a string, or Gemini content parts: their text joined. */
function text(content: unknown): string {
  if (typeof content === 'string') return content;
  const parts = Array.isArray(content) ? content : [content];
  return parts
    .map((p) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? (p.text as string) : ''))
    .join('');
}

/**
 * A verdict as Gemini CLI's hook output: JSON on stdout, always exit 0. A message of an event that
 * decides nothing is shown to the user (`systemMessage`) and written to stderr for the logs.
 */
export function renderGeminiHook(_event: HookEvent | undefined, verdict: HookVerdict): HookOutput {
  if (verdict.kind === 'deny')
    return {
      stdout: `${JSON.stringify({ decision: 'deny', reason: verdict.reason })}\n`,
      stderr: '',
      exitCode: 0,
    };
  // A fail-open allow is shown to the person too (the runner already printed it on stderr).
  const warning = verdict.kind === 'allow' ? (verdict.warning ?? '').trim() : '';
  if (warning !== '')
    return { stdout: `${JSON.stringify({ systemMessage: warning })}\n`, stderr: '', exitCode: 0 };
  const message = verdict.kind === 'none' ? (verdict.message ?? '').trim() : '';
  if (message === '') return { stdout: '{}\n', stderr: '', exitCode: 0 };
  return { stdout: `${JSON.stringify({ systemMessage: message })}\n`, stderr: `${message}\n`, exitCode: 0 };
}

function field(o: Record<string, unknown>, name: string): string {
  const value = o[name];
  if (typeof value !== 'string' || value === '')
    throw invalid(`the hook input's ${name} must be a non-empty string`);
  return value;
}

function invalid(message: string, event?: 'pre'): WardenError {
  return new WardenError('REQUEST_INVALID', `Gemini CLI hook: ${message}`, event ? { event } : {});
}
