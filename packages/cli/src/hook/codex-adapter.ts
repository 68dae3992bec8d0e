/**
 * `warden hook codex`: OpenAI Codex CLI's command hooks (`PreToolUse`, `PostToolUse`, `SessionStart`; seen
 * working with Codex 0.171.0). Codex writes one JSON object to the hook's stdin — `session_id`, `turn_id`,
 * `cwd` (for a tool, its working directory: a shell command's `workdir`; the project is the directory
 * Codex runs the hook in), `hook_event_name`, `model`, and for tool events `tool_name`, `tool_input`, `tool_use_id` (and
 * `tool_response` after the tool ran). Tool names: `Bash` for its shell tools (`exec_command`, `shell`,
 * `local_shell`; input `{ command }`), `apply_patch` (input `{ command: <patch text> }`),
 * `mcp__<server>__<tool>` with the tool's arguments, and the tool's own name otherwise.
 *
 * A deny is `hookSpecificOutput.permissionDecision: "deny"` with a reason, exit 0 (Codex answers the
 * model with "Command blocked by PreToolUse hook: <reason>"); no objection is an empty stdout, exit 0 —
 * Codex refuses `permissionDecision: "allow"` without an input rewrite. Codex treats any other exit code,
 * invalid JSON or a timeout as a failed hook and RUNS the tool, so this adapter always answers.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { WardenError } from '@warden/core';
import { installCodexHooks } from './codex-install.js';
import { patchWrites } from './codex-patch.js';
import type { HookAdapter, HookEvent, HookVerdict } from './hook-adapter.js';
import type { ToolUse, ToolUseContext } from './tool-use.js';

/** The longest result text kept in a post event's summary (the server redacts and caps too). */
const SUMMARY_CHARS = 2000;

const SHELLS = new Set(['bash', 'sh', 'zsh', 'dash']);

/** Codex's shell tools (the hook names them all `Bash`; older builds their own name). */
const SHELL_TOOLS = new Set(['Bash', 'shell', 'local_shell', 'exec_command', 'shell_command']);

/** The Codex adapter. */
export const codexAdapter: HookAdapter = {
  assistant: 'codex',
  // Codex runs its hooks in the session's directory: the project, whatever the tool's `cwd` says.
  parse: (stdin: string, _env: NodeJS.ProcessEnv): HookEvent => parseCodexHook(stdin, process.cwd()),
  render(event: HookEvent | undefined, verdict: HookVerdict) {
    if (verdict.kind === 'deny') {
      const reason = verdict.reason.trim() || 'Warden denied this tool use.';
      if (event?.type === 'pre') {
        const hookSpecificOutput = {
          hookEventName: 'PreToolUse',
          permissionDecision: 'deny',
          permissionDecisionReason: reason,
        };
        return { stdout: `${JSON.stringify({ hookSpecificOutput })}\n`, stderr: '', exitCode: 0 };
      }
      // Exit 2 with the reason on stderr blocks every Codex event that can block, whatever it is.
      return { stdout: '', stderr: `${reason}\n`, exitCode: 2 };
    }
    // Nothing on stdout: Codex adds a SessionStart's plain stdout to the model's context.
    const message = verdict.kind === 'none' && verdict.message ? verdict.message : '';
    return { stdout: '', stderr: message && !message.endsWith('\n') ? `${message}\n` : message, exitCode: 0 };
  },
  install: ({ scope, projectDir, home, command, timeoutSeconds }) =>
    installCodexHooks({
      scope,
      projectDir,
      // Codex reads its settings from $CODEX_HOME when set; a hook written elsewhere would never run.
      codexHome: process.env.CODEX_HOME || join(home || homedir(), '.codex'),
      command,
      timeoutSeconds,
    }),
};

/**
 * One Codex hook input as a HookEvent. `sessionDir` is the session's directory (the hook process's
 * own): Codex gives a tool event's `cwd` as the tool's working directory (a shell command's `workdir`),
 * so the project is taken from where Codex runs the hook, never from the model's choice of folder.
 */
export function parseCodexHook(stdin: string, sessionDir: string): HookEvent {
  const input = parseObject(stdin);
  const name = typeof input.hook_event_name === 'string' ? input.hook_event_name : '';
  try {
    return codexEvent(input, field(input, 'hook_event_name'), sessionDir);
  } catch (err) {
    // Tell the runner which kind of event could not be read: a `pre` must be denied (fail closed).
    if (err instanceof WardenError)
      throw new WardenError(err.code, err.message, {
        ...err.details,
        event: name === 'PreToolUse' ? 'pre' : name ? 'other' : undefined,
      });
    throw err;
  }
}

function codexEvent(input: Record<string, unknown>, name: string, sessionDir: string): HookEvent {
  const cwd = field(input, 'cwd');
  if (!isAbsolute(cwd)) throw invalid(`cwd must be an absolute path, not ${JSON.stringify(cwd)}`);
  const ctx: ToolUseContext = {
    assistant: 'codex',
    sessionId: field(input, 'session_id'),
    cwd,
    projectDir: isAbsolute(sessionDir) ? sessionDir : cwd,
  };
  if (name === 'PreToolUse' || name === 'PostToolUse') {
    const tool = field(input, 'tool_name');
    const toolUseId = typeof input.tool_use_id === 'string' ? input.tool_use_id : undefined;
    const native = { name: tool, input: input.tool_input };
    const uses = codexToolUses(tool, input.tool_input);
    const base = {
      ctx: shellContext(ctx, tool, input.tool_input),
      native,
      uses,
      ...(toolUseId ? { toolUseId } : {}),
    };
    if (name === 'PreToolUse') return { type: 'pre', ...base };
    return { type: 'post', ...base, result: codexResult(input.tool_response) };
  }
  if (name === 'SessionStart') return { type: 'session-start', ctx, name };
  if (name === 'UserPromptSubmit') return { type: 'prompt', ctx, name };
  return { type: 'other', ctx, name };
}

/**
 * A shell tool runs in its `workdir` when the model gives one (Codex's exec_command and shell tools):
 * the command's paths are resolved there, as Gemini's `dir_path` is. Codex 0.171 already sends it as
 * the input's `cwd`; a `workdir` in tool_input (older or later builds) is honoured too.
 */
function shellContext(ctx: ToolUseContext, tool: string, toolInput: unknown): ToolUseContext {
  if (!SHELL_TOOLS.has(tool)) return ctx;
  const workdir = asRecord(toolInput).workdir;
  if (workdir === undefined || workdir === null || workdir === '') return ctx;
  if (typeof workdir !== 'string') throw invalid(`${tool}: tool_input.workdir must be a string`);
  // Relative to the session's directory, as Codex resolves it (the input's cwd may already be it).
  return { ...ctx, cwd: resolve(ctx.projectDir, workdir) };
}

const invalid = (message: string) => new WardenError('REQUEST_INVALID', `Codex hook input: ${message}`);

function parseObject(stdin: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch (e) {
    throw invalid(`not JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw invalid('not a JSON object');
  return parsed as Record<string, unknown>;
}

function field(input: Record<string, unknown>, name: string): string {
  const value = input[name];
  if (typeof value !== 'string' || value === '') throw invalid(`${name} must be a non-empty string`);
  return value;
}

const asRecord = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };

/** The canonical tool uses of one Codex tool call. */
export function codexToolUses(tool: string, toolInput: unknown): ToolUse[] {
  const input = asRecord(toolInput);
  const mcp = /^mcp__(.+?)__(.+)$/.exec(tool);
  if (mcp) return [{ kind: 'mcp', server: mcp[1] as string, tool: mcp[2] as string, input }];
  switch (tool) {
    case 'Bash':
    case 'shell':
    case 'local_shell':
    case 'exec_command':
    case 'shell_command': {
      const command = shellCommand(input.command ?? input.cmd);
      if (command === undefined)
        throw invalid(`${tool}: tool_input.command must be a string or an argv list`);
      const justification = typeof input.justification === 'string' ? input.justification : undefined;
      return [{ kind: 'shell', command, ...(justification ? { description: justification } : {}) }];
    }
    case 'apply_patch': {
      const patch = input.command ?? input.input ?? input.patch;
      if (typeof patch !== 'string') throw invalid('apply_patch: tool_input.command must be the patch text');
      try {
        return patchWrites(patch);
      } catch (e) {
        // A patch not understood whole may write files Warden never saw: the hook denies it (fail closed).
        throw invalid(
          `apply_patch: the patch could not be read whole, so it is not run: ${(e as Error).message}`,
        );
      }
    }
    case 'view_image':
    case 'read_file':
    case 'file_read':
      if (typeof input.path === 'string') return [{ kind: 'read', path: input.path }];
      break;
    case 'web_search':
      return [{ kind: 'web', ...(typeof input.query === 'string' ? { query: input.query } : {}) }];
    case 'spawn_agent':
      return [
        {
          kind: 'delegate',
          subagent: String(input.agent_type ?? input.name ?? 'agent'),
          ...(typeof input.message === 'string' ? { description: input.message } : {}),
        },
      ];
  }
  return [{ kind: 'other', name: tool, input }];
}

/** A shell tool's command as one string: a string as is; an argv list unwrapped from `bash -lc` or quoted. */
function shellCommand(command: unknown): string | undefined {
  if (typeof command === 'string') return command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((w) => typeof w === 'string'))
    return undefined;
  const argv = command as string[];
  const shell = (argv[0] as string).split('/').pop() as string;
  if (argv.length === 3 && SHELLS.has(shell) && (argv[1] === '-c' || argv[1] === '-lc')) return argv[2];
  return argv.map(quote).join(' ');
}

const quote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/**
 * A post event's result: Codex gives the tool's output as text (a shell's output; `Exit code: N…` for
 * apply_patch) or an MCP tool's result object (`isError`).
 */
function codexResult(response: unknown): { ok: boolean; summary: Record<string, unknown> } {
  if (typeof response === 'string') {
    const exit = /^Exit code: (\d+)/.exec(response);
    const exitCode = exit ? Number(exit[1]) : undefined;
    return {
      ok: exitCode === undefined || exitCode === 0,
      summary: { output: response.slice(0, SUMMARY_CHARS), ...(exitCode !== undefined ? { exitCode } : {}) },
    };
  }
  const record = asRecord(response);
  const text = JSON.stringify(response) ?? '';
  return { ok: record.isError !== true, summary: { output: text.slice(0, SUMMARY_CHARS) } };
}
