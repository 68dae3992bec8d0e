/**
 * The hook runner's settings, from its flags and the environment the assistant runs it in. The key
 * only ever comes from the environment: `warden hook install` never writes it into a settings file.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { WardenError } from '@warden/core';
import { DEFAULT_URL } from '../commands/api-client.js';

/**
 * How long the hook waits for an approver by default. Claude Code kills a hook at its `timeout`
 * (what `warden hook install` writes: this wait plus {@link HOOK_TIMEOUT_MARGIN_SECONDS}); waiting a
 * little less leaves the hook time to check, redeem and answer "still waiting, here is the URL" itself
 * instead of being killed without a word (a killed hook is a non-blocking error in Claude Code).
 */
export const DEFAULT_REVIEW_TIMEOUT_SECONDS = 240;

/** What `install` adds to the review wait for the hook's own timeout: checks, redemption, the answer. */
export const HOOK_TIMEOUT_MARGIN_SECONDS = 60;

/** The longest review wait accepted: an hour (an assistant blocked longer should be told and move on). */
const MAX_REVIEW_TIMEOUT_SECONDS = 3_600;

/** How often the review wait prints its progress on stderr. */
export const PROGRESS_EVERY_MS = 5_000;

/** Flags of `warden hook <assistant>`. */
export interface HookFlags {
  readonly url?: string;
  readonly reviewTimeout?: string;
  readonly failOpen?: boolean;
}

/** Everything the runner needs to know besides the event. */
export interface HookConfig {
  readonly url: string;
  /** The agent's key (WARDEN_AGENT_KEY, else WARDEN_KEY); undefined when neither is set. */
  readonly key: string | undefined;
  /** Which variable the key came from, for messages. */
  readonly keySource: 'WARDEN_AGENT_KEY' | 'WARDEN_KEY' | undefined;
  /** A developer's task token (WARDEN_TASK_TOKEN): its session and initiator are the calls'. */
  readonly taskToken: string | undefined;
  readonly reviewTimeoutMs: number;
  /** Allow (with a warning) when Warden cannot be reached, instead of denying. */
  readonly failOpen: boolean;
  /** Where per-session hook state lives. */
  readonly stateDir: string;
}

/** Resolves the runner's settings; throws USAGE naming a malformed flag or variable. */
export function resolveHookConfig(flags: HookFlags, env: NodeJS.ProcessEnv): HookConfig {
  const agentKey = nonEmpty(env.WARDEN_AGENT_KEY);
  const key = agentKey ?? nonEmpty(env.WARDEN_KEY);
  return {
    url: nonEmpty(flags.url) ?? nonEmpty(env.WARDEN_URL) ?? DEFAULT_URL,
    key,
    keySource: agentKey ? 'WARDEN_AGENT_KEY' : key ? 'WARDEN_KEY' : undefined,
    taskToken: nonEmpty(env.WARDEN_TASK_TOKEN),
    reviewTimeoutMs: reviewTimeoutSeconds(flags.reviewTimeout) * 1000,
    failOpen: flags.failOpen === true || env.WARDEN_HOOK_FAIL_OPEN === '1',
    stateDir: hookStateDir(env),
  };
}

/** `--review-timeout` in seconds (default {@link DEFAULT_REVIEW_TIMEOUT_SECONDS}). */
export function reviewTimeoutSeconds(flag: string | undefined): number {
  if (flag === undefined) return DEFAULT_REVIEW_TIMEOUT_SECONDS;
  const n = Number(flag);
  if (!/^\d+(\.\d+)?$/.test(flag.trim()) || !(n > 0) || n > MAX_REVIEW_TIMEOUT_SECONDS) {
    throw new WardenError(
      'USAGE',
      `--review-timeout ${JSON.stringify(flag)} is not a number of seconds between 1 and ${MAX_REVIEW_TIMEOUT_SECONDS}`,
    );
  }
  return n;
}

/** `$XDG_STATE_HOME/warden/hooks`, else `~/.local/state/warden/hooks`. */
export function hookStateDir(env: NodeJS.ProcessEnv): string {
  const xdg = nonEmpty(env.XDG_STATE_HOME);
  const base = xdg?.startsWith('/') ? xdg : join(nonEmpty(env.HOME) ?? homedir(), '.local', 'state');
  return join(base, 'warden', 'hooks');
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}
