/**
 * The hook's last line of defence. Every assistant RUNS the tool when its hook is killed at its time
 * limit or crashes (Claude Code treats any exit but 2 as non-blocking; Codex and Gemini CLI run the tool
 * when a hook fails or times out), so whatever the runner is doing, the process answers before that
 * limit and on any uncaught error: a deny of a `pre` (or of input it cannot read), rendered by the
 * adapter with the exit code that blocks in that assistant.
 */
import { writeSync } from 'node:fs';
import { WardenError } from '@warden/core';
import { describeError } from '../describe-error.js';
import type { HookAdapter, HookEvent, HookOutput, HookVerdict } from './hook-adapter.js';
import {
  DEFAULT_REVIEW_TIMEOUT_SECONDS,
  HOOK_TIMEOUT_MARGIN_SECONDS,
  reviewTimeoutSeconds,
} from './hook-config.js';
import { redactUrls } from './hook-reasons.js';

/** The most the guard answers before the hook's limit (less for short limits: a quarter of it). */
const MAX_MARGIN_MS = 10_000;

/** What the guard touches of the process; the real process by default, a stand-in in unit tests. */
export interface GuardProcess {
  on(event: 'uncaughtException' | 'unhandledRejection', listener: (err: unknown) => void): unknown;
  write(fd: 1 | 2, text: string): void;
  exit(code: number): void;
}

const realProcess: GuardProcess = {
  on: (event, listener) => process.on(event, listener),
  write: (fd, text) => {
    writeSync(fd, text);
  },
  exit: (code) => process.exit(code),
};

/**
 * The time limit the assistant gives the hook, in seconds: `--hook-timeout`, else what `warden hook
 * install` registers (the review wait plus {@link HOOK_TIMEOUT_MARGIN_SECONDS}). USAGE when malformed
 * or not above the review wait (the hook would be cut off while waiting for an approver).
 */
export function hookTimeLimitSeconds(flags: { reviewTimeout?: string; hookTimeout?: string }): number {
  let review = DEFAULT_REVIEW_TIMEOUT_SECONDS;
  try {
    review = reviewTimeoutSeconds(flags.reviewTimeout);
  } catch {
    // The runner reports a bad --review-timeout itself; the guard still needs a limit.
  }
  if (flags.hookTimeout === undefined) return Math.ceil(review) + HOOK_TIMEOUT_MARGIN_SECONDS;
  const n = Number(flags.hookTimeout);
  if (!/^\d+(\.\d+)?$/.test(flags.hookTimeout.trim()) || !(n > review)) {
    throw new WardenError(
      'USAGE',
      `--hook-timeout ${JSON.stringify(flags.hookTimeout)} must be a number of seconds above the review wait (${review} s)`,
    );
  }
  return n;
}

/** When the guard answers: the limit from process start, less a margin for the answer itself. */
export function guardDeadline(processStartMs: number, limitSeconds: number): number {
  const limitMs = limitSeconds * 1000;
  return processStartMs + limitMs - Math.min(MAX_MARGIN_MS, limitMs / 4);
}

/** The armed guard of one hook process. */
export interface HookGuard {
  /** The hook input, once read: lets the guard answer as the event needs. */
  input(stdin: string, env: NodeJS.ProcessEnv): void;
  /** The runner answered: the guard no longer does (a later crash only exits). */
  finish(): void;
  /** Answers now (what the timer and the process handlers call); exported for tests. */
  fire(why: string): void;
}

/**
 * Arms the guard: a timer (not keeping the process alive) that answers at `deadlineMs` (epoch ms), and
 * handlers for uncaught exceptions and unhandled rejections that answer at once.
 */
export function armHookGuard(
  adapter: HookAdapter,
  deadlineMs: number,
  limitSeconds: number,
  proc: GuardProcess = realProcess,
): HookGuard {
  let stdin: string | undefined;
  let env: NodeJS.ProcessEnv = {};
  let done = false;
  const guard: HookGuard = {
    input(s, e) {
      stdin = s;
      env = e;
    },
    finish() {
      done = true;
      clearTimeout(timer);
    },
    fire(why) {
      if (done) {
        // The answer is out: say what happened and stop (nothing else may print a second answer).
        proc.write(2, `warden hook ${adapter.assistant}: ${redactUrls(why)}\n`);
        proc.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
        return;
      }
      done = true;
      clearTimeout(timer);
      const out = guardAnswer(adapter, stdin, env, redactUrls(why));
      if (out.stdout) proc.write(1, out.stdout);
      if (out.stderr) proc.write(2, out.stderr);
      proc.exit(out.exitCode);
    },
  };
  const timer = setTimeout(
    () =>
      guard.fire(
        `Warden did not decide within the hook's time limit (${limitSeconds} s; the Warden server is slow or not answering)`,
      ),
    Math.max(0, deadlineMs - Date.now()),
  );
  timer.unref();
  const crashed = (err: unknown) => guard.fire(`the Warden hook failed: ${describeError(err)}`);
  proc.on('uncaughtException', crashed);
  proc.on('unhandledRejection', crashed);
  return guard;
}

/** A deny for a `pre` or for input that cannot be read; a message for events that decide nothing. */
function guardAnswer(
  adapter: HookAdapter,
  stdin: string | undefined,
  env: NodeJS.ProcessEnv,
  why: string,
): HookOutput {
  let event: HookEvent | undefined;
  try {
    event = stdin === undefined ? undefined : adapter.parse(stdin, env);
  } catch {
    event = undefined;
  }
  const verdict: HookVerdict =
    event === undefined || event.type === 'pre'
      ? { kind: 'deny', reason: `${why}. The tool use was not run (the Warden hook fails closed).` }
      : { kind: 'none', message: `warden: ${why}` };
  try {
    return adapter.render(event, verdict);
  } catch {
    // Rendering the event failed too: a deny without one is every adapter's fail-closed answer.
    return adapter.render(undefined, { kind: 'deny', reason: `${why}. The tool use was not run.` });
  }
}
