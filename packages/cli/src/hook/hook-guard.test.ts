import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { HOOK_ADAPTERS } from './adapters.js';
import type { HookAdapter } from './hook-adapter.js';
import { armHookGuard, type GuardProcess, guardDeadline, hookTimeLimitSeconds } from './hook-guard.js';

/** A process stand-in: its events, what was written to fd 1 and 2, and the exit code. */
function fakeProcess() {
  const events = new EventEmitter();
  const seen = { out: '', err: '', exit: undefined as number | undefined };
  const proc: GuardProcess = {
    on: (event, listener) => events.on(event, listener),
    write: (fd, text) => {
      if (fd === 1) seen.out += text;
      else seen.err += text;
    },
    exit: (code) => {
      seen.exit = code;
    },
  };
  return { events, seen, proc };
}

const adapter = (name: string) => HOOK_ADAPTERS.find((a) => a.assistant === name) as HookAdapter;
const FAR = Date.now() + 3_600_000;

const claudePre = JSON.stringify({
  session_id: 's',
  cwd: '/tmp',
  hook_event_name: 'PreToolUse',
  tool_name: 'Bash',
  tool_input: { command: 'ls' },
});

describe('the hook guard', () => {
  it('on an uncaught exception during a pre, prints the adapter deny and exits with its code', () => {
    const { events, seen, proc } = fakeProcess();
    const g = armHookGuard(adapter('claude-code'), FAR, 300, proc);
    g.input(claudePre, {});
    events.emit('uncaughtException', new TypeError('boom'));
    g.finish();
    expect(seen.exit).toBe(0);
    const answer = JSON.parse(seen.out) as { hookSpecificOutput: Record<string, string> };
    expect(answer.hookSpecificOutput.permissionDecision).toBe('deny');
    expect(answer.hookSpecificOutput.permissionDecisionReason).toMatch(
      /the Warden hook failed: .*boom.*not run/,
    );
  });

  it('on an unhandled rejection before the input is read, denies with the blocking exit code', () => {
    const { events, seen, proc } = fakeProcess();
    const g = armHookGuard(adapter('claude-code'), FAR, 300, proc);
    events.emit('unhandledRejection', new Error('nope'));
    g.finish();
    // Claude Code blocks on exit 2 whatever the event; Codex too; Gemini CLI reads a JSON deny.
    expect(seen).toMatchObject({ exit: 2, out: '' });
    expect(seen.err).toMatch(/nope/);
    const codex = fakeProcess();
    armHookGuard(adapter('codex'), FAR, 300, codex.proc).fire('x');
    expect(codex.seen.exit).toBe(2);
    const gemini = fakeProcess();
    armHookGuard(adapter('gemini'), FAR, 300, gemini.proc).fire('x');
    expect(gemini.seen.exit).toBe(0);
    expect(JSON.parse(gemini.seen.out)).toMatchObject({ decision: 'deny' });
  });

  it('a crash in an event that decides nothing only reports; after the answer it only exits', () => {
    const { events, seen, proc } = fakeProcess();
    const g = armHookGuard(adapter('claude-code'), FAR, 300, proc);
    g.input(JSON.stringify({ session_id: 's', cwd: '/tmp', hook_event_name: 'SessionStart' }), {});
    events.emit('uncaughtException', new Error('late'));
    expect(seen).toMatchObject({ exit: 0, out: '' });
    expect(seen.err).toMatch(/late/);
    const after = fakeProcess();
    const g2 = armHookGuard(adapter('claude-code'), FAR, 300, after.proc);
    g2.input(claudePre, {});
    g2.finish();
    after.events.emit('uncaughtException', new Error('after'));
    expect(after.seen.out).toBe('');
  });

  it('answers from process start, a margin before the limit install registers', () => {
    expect(hookTimeLimitSeconds({})).toBe(300);
    expect(hookTimeLimitSeconds({ reviewTimeout: '20' })).toBe(80);
    expect(hookTimeLimitSeconds({ reviewTimeout: '1', hookTimeout: '3' })).toBe(3);
    expect(() => hookTimeLimitSeconds({ hookTimeout: '100' })).toThrow(/above the review wait \(240 s\)/);
    expect(() => hookTimeLimitSeconds({ reviewTimeout: '1', hookTimeout: 'soon' })).toThrow(/--hook-timeout/);
    expect(guardDeadline(1_000, 300)).toBe(1_000 + 290_000);
    expect(guardDeadline(0, 4)).toBe(3_000);
  });
});
