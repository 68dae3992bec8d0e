/**
 * The real Codex CLI (`node_modules/.bin/codex`, the native binary from `@openai/codex`) run
 * non-interactively for the hook tests: `codex exec --json`, with HOME and CODEX_HOME in a temporary
 * directory, its model provider a custom one (`wire_api = "responses"`) whose base URL is a loopback
 * stand-in or Warden's LLM proxy, and the sandbox off (`danger-full-access`; `exec` never asks for
 * approval) so that Warden's PreToolUse hook alone decides.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assistantDirs, describeJsonLinesRun, inheritedEnv, runJsonLines } from './assistant-process.js';

/** The repository root. */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** Codex's launcher, a devDependency of @warden/cli. */
export const CODEX_BIN = join(REPO, 'node_modules/.bin/codex');
/** A model Codex 0.171 knows (so it offers its freeform apply_patch tool) and Warden has a price for. */
export const CODEX_MODEL = 'gpt-5.5';

/** A throwaway home (CODEX_HOME is `home/.codex`) and a project directory. */
export interface CodexSandbox {
  readonly dir: string;
  readonly home: string;
  readonly codexHome: string;
  readonly project: string;
}

/**
 * Makes the sandbox, with a config.toml naming three model providers: `standin` (the stand-in, directly),
 * `warden` (Warden's LLM proxy, with the agent key from WARDEN_AGENT_KEY as its API key) and
 * `warden-task` (the same, also sending WARDEN_TASK_TOKEN as the `Warden-Task-Token` header).
 */
export function codexSandbox(
  o: { standinUrl: string; wardenUrl: string },
  prefix = 'warden-codex-',
): CodexSandbox {
  const { dir, home, project } = assistantDirs(prefix, ['.codex']);
  const codexHome = join(home, '.codex');
  writeFileSync(
    join(codexHome, 'config.toml'),
    [
      `model = "${CODEX_MODEL}"`,
      'model_provider = "standin"',
      'check_for_update_on_startup = false',
      '',
      '[analytics]',
      'enabled = false',
      '',
      '[model_providers.standin]',
      'name = "Responses stand-in"',
      `base_url = "${o.standinUrl}/v1"`,
      'wire_api = "responses"',
      'env_key = "STANDIN_API_KEY"',
      '',
      '[model_providers.warden]',
      'name = "Warden LLM proxy"',
      `base_url = "${o.wardenUrl}/llm/openai/v1"`,
      'wire_api = "responses"',
      'env_key = "WARDEN_AGENT_KEY"',
      '',
      '[model_providers.warden-task]',
      'name = "Warden LLM proxy under a task token"',
      `base_url = "${o.wardenUrl}/llm/openai/v1"`,
      'wire_api = "responses"',
      'env_key = "WARDEN_AGENT_KEY"',
      'env_http_headers = { "Warden-Task-Token" = "WARDEN_TASK_TOKEN" }',
      '',
    ].join('\n'),
  );
  return { dir, home, codexHome, project };
}

/** Codex's environment: this process's without Warden, OpenAI or Codex settings, plus the sandbox's homes. */
export function codexEnv(sandbox: CodexSandbox, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...inheritedEnv(/^(WARDEN_|OPENAI_|CODEX_)/),
    HOME: sandbox.home,
    CODEX_HOME: sandbox.codexHome,
    STANDIN_API_KEY: 'sk-standin-not-a-key',
    ...extra,
  };
}

/** How a Codex run ended: its exit, output, the JSONL events it printed and its session (thread) id. */
export interface CodexRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
  readonly events: readonly Record<string, unknown>[];
  readonly sessionId: string | undefined;
}

export interface RunCodexOptions {
  readonly prompt: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** `standin` (default), `warden` (through the LLM proxy) or `warden-task` (the proxy, with the task token). */
  readonly provider?: 'standin' | 'warden' | 'warden-task';
  /** Killed (SIGKILL) after this long; default 60 s. */
  readonly timeoutMs?: number;
}

/** Runs `codex exec` to its end. */
export async function runCodex(o: RunCodexOptions): Promise<CodexRun> {
  const args = [
    'exec',
    '--json',
    '--skip-git-repo-check',
    '--sandbox',
    'danger-full-access',
    '-c',
    `model_provider="${o.provider ?? 'standin'}"`,
    o.prompt,
  ];
  const { lines: events, ...exit } = await runJsonLines(CODEX_BIN, args, o);
  const started = events.find((e) => e.type === 'thread.started');
  return { ...exit, events, sessionId: started?.thread_id as string | undefined };
}

/** A short account of a run for assertion messages. */
export function describeCodexRun(run: CodexRun): string {
  return describeJsonLinesRun('codex', run, run.events);
}
