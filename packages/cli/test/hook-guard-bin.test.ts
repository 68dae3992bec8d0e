/**
 * The hook's deadline through the real process: a Warden server that accepts connections and never
 * answers keeps every request hanging (each may take 20 s), so only the guard's timer, running from
 * process start, answers before the assistant's time limit — with the deny that blocks in each assistant.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, childEnv, freePort, spawnCollect } from '../../server/test-support/serve-process.js';

let silent: Server;
let url: string;
let dir: string;
const sockets: Socket[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-hook-guard-'));
  silent = createServer((s) => {
    sockets.push(s); // read nothing back: the hook's request hangs
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const address = silent.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  url = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => silent.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const PRE = {
  'claude-code': {
    session_id: 's-guard',
    transcript_path: '/tmp/t.jsonl',
    cwd: '/tmp',
    hook_event_name: 'PreToolUse',
    tool_name: 'Bash',
    tool_input: { command: 'rm -rf build' },
    tool_use_id: 'toolu_guard',
  },
  codex: {
    session_id: 's-guard',
    turn_id: 't1',
    cwd: '/tmp',
    hook_event_name: 'PreToolUse',
    model: 'gpt-5',
    tool_name: 'Bash',
    tool_input: { command: 'rm -rf build' },
    tool_use_id: 'call_guard',
  },
  gemini: {
    session_id: 's-guard',
    cwd: '/tmp',
    hook_event_name: 'BeforeTool',
    tool_name: 'run_shell_command',
    tool_input: { command: 'rm -rf build' },
  },
} as const;

/** The deny reason each assistant reads from the hook's stdout. */
function denyReason(assistant: keyof typeof PRE, out: string): unknown {
  const o = JSON.parse(out) as Record<
    string,
    { permissionDecision?: string; permissionDecisionReason?: string }
  > & { decision?: string; reason?: string };
  if (assistant === 'gemini') return o.decision === 'deny' ? o.reason : undefined;
  return o.hookSpecificOutput?.permissionDecision === 'deny'
    ? o.hookSpecificOutput.permissionDecisionReason
    : undefined;
}

describe('warden hook against a Warden server that never answers', () => {
  for (const assistant of Object.keys(PRE) as (keyof typeof PRE)[]) {
    it(`${assistant}: denies before its time limit (--hook-timeout 3), from the real process`, async () => {
      const run = spawnCollect(
        [BIN, 'hook', assistant, '--url', url, '--review-timeout', '1', '--hook-timeout', '3'],
        {
          env: childEnv({ WARDEN_AGENT_KEY: 'wdn_unused', XDG_STATE_HOME: join(dir, 'state') }),
          stdin: 'pipe',
        },
      );
      run.child.stdin.end(JSON.stringify(PRE[assistant]));
      const r = await run.exited;
      expect(r.code).toBe(0);
      expect(denyReason(assistant, r.out)).toMatch(
        /did not decide within the hook's time limit \(3 s.*The tool use was not run/,
      );
    }, 30_000);
  }

  it('refuses a --hook-timeout not above the review wait, with a deny (fail closed)', async () => {
    const run = spawnCollect([BIN, 'hook', 'claude-code', '--url', url, '--hook-timeout', '30'], {
      env: childEnv({ WARDEN_AGENT_KEY: 'wdn_unused', XDG_STATE_HOME: join(dir, 'state') }),
      stdin: 'pipe',
    });
    run.child.stdin.end(JSON.stringify(PRE['claude-code']));
    const r = await run.exited;
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--hook-timeout "30" must be a number of seconds above the review wait \(240 s\)/);
  });
});

describe('warden hook never shows the URL credentials it was given', () => {
  it('a deny for an unreachable Warden names the server without userinfo or query', async () => {
    const port = await freePort();
    const run = spawnCollect([BIN, 'hook', 'claude-code'], {
      env: childEnv({
        WARDEN_URL: `http://admin:s3cret-pass@127.0.0.1:${port}/?token=t0ken-value`,
        WARDEN_AGENT_KEY: 'wdn_unused',
        XDG_STATE_HOME: join(dir, 'state'),
      }),
      stdin: 'pipe',
    });
    run.child.stdin.end(JSON.stringify(PRE['claude-code']));
    const r = await run.exited;
    const reason = denyReason('claude-code', r.out);
    expect(reason).toMatch(new RegExp(`could not be reached at http://127\\.0\\.0\\.1:${port}/`));
    expect(`${r.out}${r.err}`).not.toMatch(/s3cret|t0ken|admin/);
  });
});
