/**
 * Claude Code's hook protocol. Input on stdin: `session_id`, `transcript_path`, `cwd`,
 * `hook_event_name`, and for tool events `tool_name`, `tool_input`, `tool_use_id` (+ `tool_response`
 * after it ran, `error` when it failed); the project root is CLAUDE_PROJECT_DIR. A deny is
 * `hookSpecificOutput.permissionDecision: "deny"` with the reason Claude reads; an allow is no answer at
 * all (exit 0, no decision), so Claude's own permission rules still apply — Warden never widens them.
 */

import { isAbsolute, join, posix, resolve } from 'node:path';
import { WardenError } from '@warden/core';
import type { HookAdapter, HookEvent, HookInstallOptions, HookOutput, HookVerdict } from './hook-adapter.js';
import { mergeCommandHooks, readJsonSettings, writeJsonSettings } from './hook-settings.js';
import { clipText, summarizeResult } from './tool-result-summary.js';
import type { ToolUse, ToolUseContext } from './tool-use.js';
import { editContent, writeContent } from './write-content.js';

type Json = Record<string, unknown>;

/** The events that end a tool use the `PreToolUse` may have allowed: its call is completed with them. */
const TOOL_ENDS: readonly string[] = ['PostToolUse', 'PostToolUseFailure', 'PermissionDenied'];

/** The Claude Code adapter (`warden hook claude-code`). */
export const claudeCodeAdapter: HookAdapter = {
  assistant: 'claude-code',
  parse: parseClaudeHook,
  render: renderClaudeAnswer,
  install: installClaudeHooks,
};

/** Claude Code's hook input as a HookEvent; REQUEST_INVALID naming the missing or malformed field. */
export function parseClaudeHook(stdin: string, env: NodeJS.ProcessEnv): HookEvent {
  let input: unknown;
  try {
    input = JSON.parse(stdin);
  } catch {
    throw invalid(
      stdin.trim() === ''
        ? 'no hook input on stdin (expected Claude Code’s hook JSON)'
        : 'the hook input on stdin is not JSON',
    );
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw invalid('the hook input is not a JSON object');
  const o = input as Json;
  const name = text(o, 'hook_event_name');
  const pre = name === 'PreToolUse';
  try {
    const cwd = text(o, 'cwd');
    if (!isAbsolute(cwd)) throw invalid(`cwd ${JSON.stringify(cwd)} is not an absolute path`);
    const project = env.CLAUDE_PROJECT_DIR?.trim();
    const ctx: ToolUseContext = {
      assistant: 'claude-code',
      sessionId: text(o, 'session_id'),
      cwd,
      projectDir: project ? resolve(cwd, project) : cwd,
    };
    if (pre || TOOL_ENDS.includes(name)) return toolEvent(o, name, ctx);
    const type = {
      SessionStart: 'session-start',
      SessionEnd: 'session-end',
      UserPromptSubmit: 'prompt',
    } as const;
    return { type: type[name as keyof typeof type] ?? 'other', ctx, name };
  } catch (err) {
    // Tell the runner which kind of event could not be read: a `pre` must be denied (fail closed).
    if (err instanceof WardenError)
      throw new WardenError(err.code, err.message, { ...err.details, event: pre ? 'pre' : 'other' });
    throw err;
  }
}

function toolEvent(o: Json, name: string, ctx: ToolUseContext): HookEvent {
  const tool = text(o, 'tool_name');
  const input = o.tool_input;
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw invalid('tool_input is missing or not an object');
  const toolUseId = typeof o.tool_use_id === 'string' && o.tool_use_id !== '' ? o.tool_use_id : undefined;
  const base = {
    ctx,
    native: { name: tool, input },
    uses: claudeToolUses(tool, input as Json),
    ...(toolUseId ? { toolUseId } : {}),
  };
  if (name === 'PreToolUse') return { type: 'pre', ...base };
  return { type: 'post', ...base, result: outcomeOf(o, name) };
}

/** How the tool ended: ran (PostToolUse), failed (PostToolUseFailure), or refused by auto mode first. */
function outcomeOf(o: Json, name: string): { ok: boolean; summary: Record<string, unknown> } {
  if (name === 'PostToolUse') return { ok: true, summary: summarizeResult(o.tool_response) };
  if (name === 'PermissionDenied') {
    const why = typeof o.reason === 'string' && o.reason !== '' ? `: ${o.reason}` : '';
    return { ok: false, summary: { error: clipText(`not run: Claude Code's auto mode denied it${why}`) } };
  }
  const error = typeof o.error === 'string' ? o.error : 'the tool failed';
  return {
    ok: false,
    summary: { error: clipText(error), ...(o.is_interrupt === true ? { interrupted: true } : {}) },
  };
}

/** What a Claude Code tool does, as canonical tool uses (field names as Claude Code's tool schemas). */
export function claudeToolUses(tool: string, input: Json): ToolUse[] {
  const field = (key: string) => text(input, key, `tool_input.${key}`);
  const optional = (key: string) =>
    typeof input[key] === 'string' && input[key] !== '' ? (input[key] as string) : undefined;
  switch (tool) {
    case 'Bash': {
      const description = optional('description');
      return [{ kind: 'shell', command: field('command'), ...(description ? { description } : {}) }];
    }
    case 'Write': {
      const content = field('content');
      return [
        {
          kind: 'write',
          path: field('file_path'),
          operation: 'write',
          size: bytes(content),
          ...writeContent(content),
        },
      ];
    }
    case 'Edit': {
      const edit = { old: field('old_string'), new: field('new_string'), extra: input.replace_all ?? null };
      return [
        {
          kind: 'write',
          path: field('file_path'),
          operation: 'edit',
          size: bytes(edit.new),
          ...editContent([edit]),
        },
      ];
    }
    case 'MultiEdit':
      return [
        {
          kind: 'write',
          path: field('file_path'),
          operation: 'edit',
          size: multiEditSize(input),
          ...editContent(multiEdits(input)),
        },
      ];
    case 'NotebookEdit': {
      const source = optional('new_source') ?? '';
      const extra = {
        cell_id: input.cell_id ?? null,
        cell_type: input.cell_type ?? null,
        edit_mode: input.edit_mode ?? null,
      };
      return [
        {
          kind: 'write',
          path: field('notebook_path'),
          operation: 'notebook',
          size: bytes(source),
          ...editContent([{ old: '', new: source, extra }]),
        },
      ];
    }
    case 'Read':
      return [{ kind: 'read', path: field('file_path') }];
    case 'Glob': {
      // The pattern is where Glob looks (`../../**/*.pem`, `/etc/**`): the path the policy sees holds it.
      const pattern = field('pattern');
      return [{ kind: 'search', pattern, path: searchedPath(optional('path'), pattern) }];
    }
    case 'Grep': {
      // Grep reads the files its `glob` (or rg file `type`) selects under `path`: both go into the path.
      const glob = optional('glob') ?? (optional('type') ? `**/*.${optional('type')}` : undefined);
      const path = optional('path');
      const searched = glob ? searchedPath(path, glob) : path;
      // The glob also goes as `include`, so a credential name in it (`.env*`) is blocked outright.
      const include = optional('glob');
      return [
        {
          kind: 'search',
          pattern: field('pattern'),
          ...(searched ? { path: searched } : {}),
          ...(include ? { include } : {}),
        },
      ];
    }
    case 'WebFetch':
      return [{ kind: 'web', url: field('url') }];
    case 'WebSearch':
      return [{ kind: 'web', query: field('query') }];
    case 'Task':
    case 'Agent': {
      const description = optional('description');
      return [
        {
          kind: 'delegate',
          subagent: optional('subagent_type') ?? 'general-purpose',
          ...(description ? { description } : {}),
        },
      ];
    }
    default:
      return [mcpOrOther(tool, input)];
  }
}

/** A glob under a directory as one path (`dir/glob`; an absolute glob stands alone). */
function searchedPath(dir: string | undefined, glob: string): string {
  return isAbsolute(glob) || !dir ? glob : posix.join(dir, glob);
}

/** `mcp__<server>__<tool>` → an MCP call (the server's name may hold single underscores). */
function mcpOrOther(tool: string, input: Json): ToolUse {
  const m = /^mcp__(.+?)__(.+)$/.exec(tool);
  if (m) return { kind: 'mcp', server: m[1] as string, tool: m[2] as string, input };
  return { kind: 'other', name: tool, input };
}

/** MultiEdit's edits as old/new pairs (their `replace_all` too), for the content hash. */
function multiEdits(input: Json): { old: string; new: string; extra: unknown }[] {
  return (input.edits as Json[]).map((e, i) => {
    const old = e.old_string;
    if (typeof old !== 'string')
      throw invalid(`tool_input.edits[${i}].old_string is missing or not a string`);
    return { old, new: e.new_string as string, extra: e.replace_all ?? null };
  });
}

function multiEditSize(input: Json): number {
  const edits = input.edits;
  if (!Array.isArray(edits)) throw invalid('tool_input.edits is missing or not a list');
  return edits.reduce<number>((n, e, i) => {
    const s = (e as Json | null)?.new_string;
    if (typeof s !== 'string') throw invalid(`tool_input.edits[${i}].new_string is missing or not a string`);
    return n + bytes(s);
  }, 0);
}

/**
 * The answer Claude Code reads. Deny of a tool use: the decision JSON on stdout, exit 0. Deny without
 * an event we could read: exit 2 with the reason on stderr — Claude Code blocks a PreToolUse on exit 2
 * and shows stderr, whatever the event was. Allow and other events: nothing on stdout (a SessionStart's
 * stdout would be added to the model's context), messages on stderr, exit 0; an allow with a warning
 * (fail-open) adds only a `systemMessage` for the person.
 */
export function renderClaudeAnswer(event: HookEvent | undefined, verdict: HookVerdict): HookOutput {
  if (verdict.kind === 'deny') {
    if (event?.type !== 'pre') return { stdout: '', stderr: `${verdict.reason}\n`, exitCode: 2 };
    const answer = {
      hookSpecificOutput: {
        hookEventName: 'PreToolUse',
        permissionDecision: 'deny',
        permissionDecisionReason: verdict.reason,
      },
    };
    return { stdout: `${JSON.stringify(answer)}\n`, stderr: '', exitCode: 0 };
  }
  if (verdict.kind === 'allow' && verdict.warning) {
    // No decision, so Claude Code's own rules apply; `systemMessage` shows the person the warning.
    return { stdout: `${JSON.stringify({ systemMessage: verdict.warning })}\n`, stderr: '', exitCode: 0 };
  }
  const message = verdict.kind === 'none' && verdict.message ? verdict.message : '';
  return { stdout: '', stderr: message && !message.endsWith('\n') ? `${message}\n` : message, exitCode: 0 };
}

/** The events Warden's hook is registered for; the tool events match every tool. */
const EVENTS: readonly { event: string; matcher?: string; waits?: boolean }[] = [
  { event: 'PreToolUse', matcher: '*', waits: true },
  { event: 'PostToolUse', matcher: '*' },
  { event: 'PostToolUseFailure', matcher: '*' },
  { event: 'PermissionDenied', matcher: '*' },
  { event: 'SessionStart' },
  { event: 'SessionEnd' },
];

/** Events that never wait for a person get this limit: they only record. */
const RECORD_TIMEOUT_SECONDS = 30;

/** Merges Warden's hooks into `.claude/settings.json` (project) or `~/.claude/settings.json` (user). */
export function installClaudeHooks(o: HookInstallOptions): { file: string; written: string } {
  const file =
    o.scope === 'project'
      ? join(o.projectDir, '.claude', 'settings.json')
      : join(o.home, '.claude', 'settings.json');
  const hooks = EVENTS.map((e) => ({
    event: e.event,
    ...(e.matcher !== undefined ? { matcher: e.matcher } : {}),
    command: o.command,
    timeout: e.waits ? o.timeoutSeconds : Math.min(o.timeoutSeconds, RECORD_TIMEOUT_SECONDS),
  }));
  const merged = mergeCommandHooks(
    readJsonSettings(file),
    hooks,
    (c) => /\bhook\s+claude-code\b/.test(c),
    file,
  );
  return { file, written: writeJsonSettings(file, merged) };
}

function text(o: Json, key: string, label = key): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw invalid(`${label} is missing or not a non-empty string`);
  return v;
}

function bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function invalid(message: string): WardenError {
  return new WardenError('REQUEST_INVALID', `Claude Code hook input: ${message}`);
}
