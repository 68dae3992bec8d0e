/**
 * `warden hook claude-code` as the real process Claude Code runs, with its documented hook JSON on
 * stdin, against a real `warden serve`: allow (no decision), block (a deny with Warden's reason),
 * completion on PostToolUse, fail closed when Warden cannot decide, bad input, task tokens.
 */

import { randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, freePort, warden } from '../../server/test-support/serve-process.js';
import {
  denial,
  eventsOf,
  type HookWorld,
  hook,
  hookEnv,
  postToolUse,
  preToolUse,
  startHookWorld,
  stopHookWorld,
} from './hook-fixtures.js';

let w: HookWorld;

beforeAll(async () => {
  w = await startHookWorld();
}, 90_000);

afterAll(async () => {
  await stopHookWorld(w);
});

/** No stack trace ever reaches the assistant. */
function noStack(text: string): void {
  expect(text).not.toMatch(/\n\s+at .+[:(]\d+/);
}

describe('warden hook claude-code against a real warden serve', () => {
  it('allows an allowed Bash command with no decision; PostToolUse completes it, capped (call.completed in audit query)', async () => {
    const session = randomUUID();
    const pre = preToolUse(session, 'Bash', { command: 'ls -la src', description: 'List files' });
    const allowed = await hook(pre, hookEnv(w));
    expect(allowed).toMatchObject({ code: 0, out: '' });
    const [decided] = await eventsOf(w, session, 'call.decided');
    expect(decided).toMatchObject({
      tool: 'shell.exec',
      session,
      labels: { assistant: 'claude-code', assistantSession: session },
      decision: { effect: 'allow', ruleId: 'the-rest' },
    });
    expect(decided?.args).toMatchObject({ command: 'ls -la src', program: 'ls', cwd: '/tmp' });

    const posted = await hook(
      postToolUse(pre, { stdout: 'x'.repeat(5_000), stderr: '', interrupted: false }),
      hookEnv(w),
    );
    expect(posted).toMatchObject({ code: 0, out: '' });
    const q = await warden([
      'audit',
      'query',
      '--db',
      join(w.dir, 'warden.db'),
      '--session',
      session,
      '--type',
      'call.completed',
      '--format',
      'jsonl',
    ]);
    expect(q.code, q.err).toBe(0);
    const completed = q.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).event ?? JSON.parse(l));
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({
      callId: decided?.callId,
      outcome: { status: 'ok', result: { stdoutLength: 5_000, interrupted: false } },
    });
    expect(String(completed[0].outcome.result.stdout).length).toBeLessThan(300);
  });

  it('PostToolUseFailure completes the call as an error with what Claude Code reported', async () => {
    const session = randomUUID();
    const pre = preToolUse(session, 'Bash', { command: 'make test' });
    expect(await hook(pre, hookEnv(w))).toMatchObject({ code: 0, out: '' });
    const failure = { ...pre, hook_event_name: 'PostToolUseFailure', error: 'Exit code 2: 3 tests failed' };
    expect(await hook(failure, hookEnv(w))).toMatchObject({ code: 0, out: '' });
    const [completed] = await eventsOf(w, session, 'call.completed');
    expect(completed).toMatchObject({ outcome: { status: 'error', error: 'Exit code 2: 3 tests failed' } });
  });

  it('denies a blocked command with Warden’s reason and rule for the model to read', async () => {
    const session = randomUUID();
    const r = await hook(preToolUse(session, 'Bash', { command: 'rm -rf build' }), hookEnv(w));
    expect(r.code).toBe(0);
    const reason = denial(r.out);
    expect(reason).toContain(
      'Warden blocked shell.exec `rm -rf build`: deleting files is not allowed here (rule no-rm)',
    );
    expect((await eventsOf(w, session, 'call.decided'))[0]).toMatchObject({ decision: { effect: 'block' } });
  });

  it('maps the other tools: a Write outside any rule’s reach is decided as fs.write with its size', async () => {
    const session = randomUUID();
    const r = await hook(
      preToolUse(session, 'Write', { file_path: '/tmp/proj/a.txt', content: 'héllo' }, '/tmp/proj'),
      hookEnv(w, { CLAUDE_PROJECT_DIR: '/tmp/proj' }),
    );
    expect(r).toMatchObject({ code: 0, out: '' });
    const [decided] = await eventsOf(w, session, 'call.decided');
    expect(decided).toMatchObject({
      tool: 'fs.write',
      args: { path: '/tmp/proj/a.txt', relativePath: 'a.txt', insideProject: true, size: 6 },
    });
  });

  it('a Grep is decided with what it searches: its glob under its path (outside the project here)', async () => {
    const session = randomUUID();
    const r = await hook(
      preToolUse(session, 'Grep', { pattern: 'KEY', path: '/home/u', glob: '.ssh/*' }, '/tmp/proj'),
      hookEnv(w, { CLAUDE_PROJECT_DIR: '/tmp/proj' }),
    );
    expect(r).toMatchObject({ code: 0, out: '' });
    const [decided] = await eventsOf(w, session, 'call.decided');
    expect(decided).toMatchObject({
      tool: 'fs.search',
      args: { pattern: 'KEY', path: '/home/u/.ssh/*', relativePath: '', insideProject: false },
    });
  });

  it('fails closed when Warden is down (a deny saying it could not be reached and how to fix it); --fail-open allows with a warning', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const env = hookEnv(w, { WARDEN_URL: down });
    const closed = await hook(preToolUse(randomUUID(), 'Bash', { command: 'ls' }), env);
    expect(closed.code).toBe(0);
    const reason = denial(closed.out);
    expect(reason).toContain(`Warden could not be reached at ${down}`);
    expect(reason).toContain('WARDEN_URL');
    noStack(closed.out + closed.err);

    for (const open of [
      await hook(preToolUse(randomUUID(), 'Bash', { command: 'ls' }), env, ['--fail-open']),
      await hook(preToolUse(randomUUID(), 'Bash', { command: 'ls' }), { ...env, WARDEN_HOOK_FAIL_OPEN: '1' }),
    ]) {
      // No decision (Claude Code's own rules apply), a warning the person sees.
      expect(open.code).toBe(0);
      expect(JSON.parse(open.out)).toEqual({
        systemMessage: expect.stringContaining('allowed WITHOUT a Warden decision because fail-open is on'),
      });
      expect(open.err).toContain('allowed WITHOUT a Warden decision');
    }
  });

  it('denies when the key is missing or refused, naming the variable to set (fail-open does not cover a bad key)', async () => {
    const none = await hook(
      preToolUse(randomUUID(), 'Bash', { command: 'ls' }),
      hookEnv(w, { WARDEN_AGENT_KEY: '' }),
    );
    expect(denial(none.out)).toContain('No agent key: set WARDEN_AGENT_KEY');
    const bad = await hook(
      preToolUse(randomUUID(), 'Bash', { command: 'ls' }),
      hookEnv(w, { WARDEN_AGENT_KEY: `wdn_${'A'.repeat(43)}` }),
      ['--fail-open'],
    );
    expect(denial(bad.out)).toMatch(/refused the hook's key \(from WARDEN_AGENT_KEY\).*UNAUTHENTICATED/);
  });

  it('refuses bad input with a clear error naming the field, exit 2 (Claude Code blocks the tool), no stack trace', async () => {
    const notJson = await hook('{"session_id": ', hookEnv(w));
    expect(notJson).toMatchObject({ code: 2, out: '' });
    expect(notJson.err).toContain('the hook input on stdin is not JSON');
    const missing = await hook(preToolUse(randomUUID(), 'Bash', { description: 'no command' }), hookEnv(w));
    expect(missing).toMatchObject({ code: 2, out: '' });
    expect(missing.err).toContain('tool_input.command is missing');
    const { session_id: _, ...noSession } = preToolUse('x', 'Read', { file_path: '/tmp/a' });
    const noSessionRun = await hook(noSession, hookEnv(w));
    expect(noSessionRun.code).toBe(2);
    expect(noSessionRun.err).toContain('session_id is missing');
    const empty = await hook('', hookEnv(w));
    expect(empty.code).toBe(2);
    expect(empty.err).toContain('no hook input on stdin');
    const badFlag = await hook(preToolUse(randomUUID(), 'Bash', { command: 'ls' }), hookEnv(w), [
      '--review-timeout',
      '0',
    ]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.err).toContain('--review-timeout "0" is not a number of seconds between 1 and 3600');
    for (const r of [notJson, missing, noSessionRun, empty, badFlag]) noStack(r.err);
  });

  it('names the known assistants for an unknown one (exit 2)', async () => {
    const r = await warden(['hook', 'cursor'], {});
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown assistant "cursor": warden hook knows claude-code');
  });

  it('keeps the allowed call for its PostToolUse in a 0600 file in 0700 folders; SessionEnd completes calls whose result never came', async () => {
    const session = randomUUID();
    const pre = preToolUse(session, 'Bash', { command: 'sleep 100' });
    expect(await hook(pre, hookEnv(w))).toMatchObject({ code: 0, out: '' });
    const hooks = join(w.dir, 'state', 'warden', 'hooks');
    expect(statSync(hooks).mode & 0o777).toBe(0o700);
    const sessionDirs = readdirSync(join(hooks, 'claude-code')).map((d) => join(hooks, 'claude-code', d));
    const files = sessionDirs
      .flatMap((d) => readdirSync(d).map((f) => join(d, f)))
      .filter((f) => f.includes('call-'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(statSync(f).mode & 0o777).toBe(0o600);

    const end = {
      session_id: session,
      transcript_path: '/tmp/t.jsonl',
      cwd: '/tmp',
      hook_event_name: 'SessionEnd',
      reason: 'prompt_input_exit',
    };
    expect(await hook(end, hookEnv(w))).toMatchObject({ code: 0, out: '' });
    const [completed] = await eventsOf(w, session, 'call.completed');
    expect(completed).toMatchObject({
      outcome: {
        status: 'error',
        error: expect.stringContaining('no result reported before the assistant session ended'),
      },
    });
  });

  it('with WARDEN_TASK_TOKEN the call runs in the task’s session; the assistant’s session is the label', async () => {
    const backend = await api<{ secret: string }>(w.server.url, 'POST', '/v1/keys', {
      key: w.admin,
      body: {
        principalKind: 'service',
        principal: 'dev-portal',
        role: 'auditor',
        permissions: ['initiator'],
      },
    });
    const task = await api<{ token: string; session: string }>(w.server.url, 'POST', '/v1/tasks', {
      key: backend.body.secret,
      body: { agent: 'claude-dev', initiator: { subject: 'u-7', name: 'maria' } },
    });
    expect(task.status, JSON.stringify(task.body)).toBe(201);
    const claudeSession = randomUUID();
    const r = await hook(
      preToolUse(claudeSession, 'Bash', { command: 'git status' }),
      hookEnv(w, { WARDEN_TASK_TOKEN: task.body.token }),
    );
    expect(r).toMatchObject({ code: 0, out: '' });
    const [decided] = await eventsOf(w, task.body.session, 'call.decided');
    expect(decided).toMatchObject({
      session: task.body.session,
      labels: { assistantSession: claudeSession },
      identity: { initiator: { subject: 'u-7' } },
    });
  });
});
