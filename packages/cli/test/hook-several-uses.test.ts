/**
 * One native tool use that maps to several Warden calls (Codex's apply_patch over three files, say):
 * the runner decides every one against a real `warden serve`, and any call not allowed denies the
 * whole tool use. Driven in-process through runHook with an adapter that splits one command per line
 * (the real assistants' adapters are driven through the process in their own tests).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import { api } from '../../server/test-support/serve-process.js';
import { claudeCodeAdapter } from '../src/hook/claude-code-adapter.js';
import type { HookAdapter, HookEvent } from '../src/hook/hook-adapter.js';
import { resolveHookConfig } from '../src/hook/hook-config.js';
import { runHook } from '../src/hook/hook-runner.js';
import { eventsOf, type HookWorld, startHookWorld, stopHookWorld } from './hook-fixtures.js';

let w: HookWorld;

beforeAll(async () => {
  w = await startHookWorld();
}, 90_000);

afterAll(async () => {
  await stopHookWorld(w);
});

/** Claude Code's protocol, but a Bash command of several lines is one shell use per line. */
const perLine: HookAdapter = {
  ...claudeCodeAdapter,
  parse(stdin, env) {
    const e = claudeCodeAdapter.parse(stdin, env);
    if (e.type !== 'pre' && e.type !== 'post') return e;
    const command = String((e.native.input as { command: string }).command);
    return { ...e, uses: command.split('\n').map((c) => ({ kind: 'shell', command: c })) } as HookEvent;
  },
};

function run(
  session: string,
  command: string,
  reviewTimeout = '240',
  event = 'PreToolUse',
  toolUseId = randomUUID(),
  progress: (line: string) => void = () => {},
) {
  const input = {
    session_id: session,
    cwd: '/tmp',
    hook_event_name: event,
    tool_name: 'Bash',
    tool_input: { command },
    tool_use_id: toolUseId,
    ...(event === 'PostToolUse' ? { tool_response: { stdout: 'done' } } : {}),
  };
  const env = {
    WARDEN_URL: w.server.url,
    WARDEN_AGENT_KEY: w.agentKey,
    XDG_STATE_HOME: join(w.dir, 'state'),
  };
  const config = resolveHookConfig({ reviewTimeout }, env);
  return runHook(perLine, JSON.stringify(input), config, env, progress);
}

function reasonOf(stdout: string): string {
  return JSON.parse(stdout).hookSpecificOutput.permissionDecisionReason;
}

describe('a tool use of several calls', () => {
  it('all allowed: allowed, and its PostToolUse completes every call', async () => {
    const session = randomUUID();
    const id = randomUUID();
    expect(await run(session, 'ls\ngit status', '240', 'PreToolUse', id)).toMatchObject({
      stdout: '',
      exitCode: 0,
    });
    await run(session, 'ls\ngit status', '240', 'PostToolUse', id);
    expect(await eventsOf(w, session, 'call.completed')).toHaveLength(2);
  });

  it('one blocked: denied; the allowed call is completed as not run and the review it opened withdrawn', async () => {
    const session = randomUUID();
    const out = await run(session, 'ls\ndeploy web\nrm -rf build');
    expect(reasonOf(out.stdout)).toContain('Warden blocked shell.exec `rm -rf build`');
    const decided = await eventsOf(w, session, 'call.decided');
    expect(decided.map((e) => e.decision?.effect)).toEqual(['allow', 'review', 'block']);
    const [completed] = await eventsOf(w, session, 'call.completed');
    expect(completed).toMatchObject({
      callId: decided[0]?.callId,
      outcome: { status: 'error', error: expect.stringContaining('not run') },
    });
    const review = await api<{ status: string }>(
      w.server.url,
      'GET',
      `/v1/approvals/${decided[1]?.decision?.approvalId}`,
      { key: w.approver },
    );
    expect(review.body.status).toBe('cancelled');
  });

  it('two reviewed, the first denied: denied at once, the second request withdrawn', async () => {
    const session = randomUUID();
    const lines: string[] = [];
    const running = run(session, 'deploy a\ndeploy b', '240', 'PreToolUse', randomUUID(), (l) =>
      lines.push(l),
    );
    const first = await eventually('the first wait', () => /approval (apr_[\w-]+)/.exec(lines.join(''))?.[1]);
    const denied = await api(w.server.url, 'POST', `/v1/approvals/${first}/deny`, {
      key: w.approver,
      body: { reason: 'no' },
    });
    expect(denied.status).toBe(200);
    const out = await running;
    expect(reasonOf(out.stdout)).toContain(`request ${first} was denied by lee: no`);
    const decided = await eventsOf(w, session, 'call.decided');
    const second = decided[1]?.decision?.approvalId;
    expect(second).not.toBe(first);
    const r = await api<{ status: string }>(w.server.url, 'GET', `/v1/approvals/${second}`, {
      key: w.approver,
    });
    expect(r.body.status).toBe('cancelled');
  });

  it('two reviewed past the limit: both kept and named; approved, the same tool use is allowed', async () => {
    const session = randomUUID();
    const late = await run(session, 'deploy c\ndeploy d', '1');
    const ids = [...reasonOf(late.stdout).matchAll(/request (apr_[\w-]+)/g)].map((m) => m[1]);
    expect(ids).toHaveLength(2);
    for (const id of ids)
      expect(
        (await api(w.server.url, 'POST', `/v1/approvals/${id}/approve`, { key: w.approver, body: {} }))
          .status,
      ).toBe(200);
    expect(await run(session, 'deploy c\ndeploy d', '1')).toMatchObject({ stdout: '', exitCode: 0 });
    expect(await eventsOf(w, session, 'approval.used')).toHaveLength(2);
  });

  it('one reviewed past the limit: denied and kept; after the approval the same tool use is allowed', async () => {
    const session = randomUUID();
    const late = await run(session, 'ls\ndeploy api', '1');
    const id = /request (apr_[\w-]+)/.exec(reasonOf(late.stdout))?.[1];
    expect(id).toBeDefined();
    const vote = await api(w.server.url, 'POST', `/v1/approvals/${id}/approve`, {
      key: w.approver,
      body: {},
    });
    expect(vote.status).toBe(200);
    expect(await run(session, 'ls\ndeploy api', '1')).toMatchObject({ stdout: '', exitCode: 0 });
    const decided = await eventsOf(w, session, 'call.decided');
    expect(decided.map((e) => `${(e.args as { command?: string }).command} ${e.decision?.effect}`)).toEqual([
      'ls allow',
      'deploy api review',
      'ls allow',
      'deploy api allow',
    ]);
  });
});
