/**
 * `warden hook install <assistant>`: the command the assistant will run and the time limit it gets,
 * then the adapter merges them into the assistant's settings. No secret is ever written: the hook reads
 * its key (WARDEN_AGENT_KEY) from the environment the assistant runs in.
 */
import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { WardenError } from '@warden/core';
import { hookAdapter } from './adapters.js';
import { HOOK_TIMEOUT_MARGIN_SECONDS, reviewTimeoutSeconds } from './hook-config.js';

/** Flags of `warden hook install`. */
export interface InstallFlags {
  readonly project?: boolean;
  readonly user?: boolean;
  readonly projectDir?: string;
  readonly url?: string;
  readonly reviewTimeout?: string;
}

/** What `install` wrote. */
export interface Installed {
  readonly file: string;
  readonly written: string;
  readonly command: string;
  readonly timeoutSeconds: number;
}

/** Installs the hooks of `assistant`; USAGE for conflicting scopes or an assistant without an installer. */
export function installHooks(
  assistant: string,
  flags: InstallFlags,
  env: NodeJS.ProcessEnv,
  cwd: string,
  cliPath: string,
): Installed {
  const adapter = hookAdapter(assistant);
  if (!adapter.install)
    throw new WardenError('USAGE', `warden hook install does not support ${assistant} yet`);
  if (flags.project && flags.user) throw new WardenError('USAGE', 'choose one of --project and --user');
  const review = reviewTimeoutSeconds(flags.reviewTimeout);
  const timeoutSeconds = Math.ceil(review) + HOOK_TIMEOUT_MARGIN_SECONDS;
  const command = [
    wardenCommand(cliPath),
    'hook',
    assistant,
    ...(flags.url ? ['--url', shellQuote(flags.url)] : []),
    ...(flags.reviewTimeout ? ['--review-timeout', String(review)] : []),
    // The limit registered with the assistant, spelled out: whoever lowers one sees the other to lower.
    '--hook-timeout',
    String(timeoutSeconds),
  ].join(' ');
  const home = env.HOME?.trim() || homedir();
  const { file, written } = adapter.install({
    scope: flags.user ? 'user' : 'project',
    projectDir: resolve(cwd, flags.projectDir ?? '.'),
    home,
    command,
    timeoutSeconds,
  });
  return { file, written, command, timeoutSeconds };
}

/**
 * The absolute, real paths of this Node and this CLI, quoted for the shell. Never a bare `warden`
 * looked up on PATH: the assistant's PATH often holds folders the agent itself can write
 * (`node_modules/.bin`, `.venv/bin`), where it could put a `warden` that allows everything.
 */
export function wardenCommand(cliPath: string): string {
  return `${shellQuote(realpathSync(process.execPath))} ${shellQuote(realpathSync(cliPath))}`;
}

/** Quotes `s` for a POSIX shell when it needs it. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
