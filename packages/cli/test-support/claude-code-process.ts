/**
 * The real Claude Code (`node_modules/.bin/claude`, the native binary from `@anthropic-ai/claude-code`)
 * run non-interactively for the hook tests and the hook benchmark: `claude -p <prompt> --output-format
 * stream-json --verbose --permission-mode bypassPermissions`, with HOME and its config directory in a
 * temporary directory, its model base URL pointed at a loopback stand-in (or Warden's LLM proxy), and
 * no traffic but that one (telemetry, updates and other non-essential calls switched off).
 *
 * `bypassPermissions` makes Claude Code's own permission prompts (which nobody could answer under `-p`)
 * step aside, so Warden's PreToolUse hook alone decides; Claude Code still honours a hook's deny in that
 * mode. It refuses that mode as root unless IS_SANDBOX=1 says the machine is a sandbox (test containers
 * run as root).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assistantDirs, describeJsonLinesRun, inheritedEnv, runJsonLines } from './assistant-process.js';

/** The repository root. */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** Claude Code's native binary, a devDependency of @warden/cli. */
export const CLAUDE_BIN = join(REPO, 'node_modules/.bin/claude');
/** The model the runs ask for (one Warden has a price for). */
export const CLAUDE_MODEL = 'claude-sonnet-4-5';

/** A throwaway home for Claude Code, a temporary folder and a project directory for it to work in. */
export interface ClaudeSandbox {
  readonly dir: string;
  readonly home: string;
  readonly tmp: string;
  readonly project: string;
}

/**
 * Makes a temporary directory with `home/`, `tmp/` and `project/` (real paths: Claude Code resolves
 * symlinks). Claude Code keeps notes and its messaging socket under TMPDIR: inside, they go with it.
 */
export function claudeSandbox(prefix = 'warden-claude-'): ClaudeSandbox {
  const { dir, home, project } = assistantDirs(prefix, ['.claude']);
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  return { dir, home, tmp, project };
}

/**
 * Claude Code's environment: this process's, without Warden, Anthropic or Claude settings it might
 * carry, plus a home in the sandbox, the model base URL and key, and `extra` (e.g. the hook's WARDEN_*).
 */
export function claudeEnv(
  sandbox: ClaudeSandbox,
  model: { baseUrl: string; apiKey: string },
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    ...inheritedEnv(/^(WARDEN_|ANTHROPIC_|CLAUDE_|CLAUDECODE)/),
    HOME: sandbox.home,
    TMPDIR: sandbox.tmp,
    CLAUDE_CONFIG_DIR: join(sandbox.home, '.claude'),
    ANTHROPIC_BASE_URL: model.baseUrl,
    ANTHROPIC_API_KEY: model.apiKey,
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    IS_SANDBOX: '1',
    ...extra,
  };
}

/** How a Claude Code run ended: its exit, output, and the stream-json messages it printed. */
export interface ClaudeRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
  readonly messages: readonly Record<string, unknown>[];
  /** Claude Code's session id (from its `system/init` message). */
  readonly sessionId: string | undefined;
  /** The final `result` message. */
  readonly result: Record<string, unknown> | undefined;
}

export interface RunClaudeOptions {
  readonly prompt: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** A settings file (`--settings`), on top of the project's and the user's. */
  readonly settings?: string;
  /** Killed (SIGKILL) after this long; default 60 s. */
  readonly timeoutMs?: number;
}

/** Runs `claude -p` to its end. */
export async function runClaude(o: RunClaudeOptions): Promise<ClaudeRun> {
  const args = [
    '-p',
    o.prompt,
    '--output-format',
    'stream-json',
    '--verbose',
    '--permission-mode',
    'bypassPermissions',
    '--model',
    CLAUDE_MODEL,
    ...(o.settings ? ['--settings', o.settings] : []),
  ];
  const run = await runJsonLines(CLAUDE_BIN, args, o);
  const { lines: messages, ...exit } = run;
  const init = messages.find((m) => m.type === 'system' && m.subtype === 'init');
  return {
    ...exit,
    messages,
    sessionId: init?.session_id as string | undefined,
    result: messages.findLast((m) => m.type === 'result'),
  };
}

/** A short account of a run for assertion messages: exit, stderr and the last messages. */
export function describeRun(run: ClaudeRun): string {
  return describeJsonLinesRun('claude', run, run.messages);
}
