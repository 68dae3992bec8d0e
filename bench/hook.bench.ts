/**
 * What `warden hook claude-code` adds to a coding assistant's tool call: the real Claude Code
 * (node_modules/.bin/claude) runs a scripted task of N Bash tool calls (`true`) against a loopback
 * stand-in of the Anthropic Messages API, in turn without hooks, with no-op hooks, and with the Warden
 * hook on PreToolUse and PostToolUse against a `warden serve` process (the built CLI), in the same run.
 *
 * - `hook.claude_added_per_tool_call_ms`: (p50 of the runs with the hook − p50 of the runs without) / N,
 *   i.e. from the medians of whole runs; `hook.claude_run_with_p50_ms` and `…_without_p50_ms` are those.
 *   Each tool call starts the hook twice (PreToolUse decides, PostToolUse completes).
 * - `hook.claude_noop_hook_added_per_tool_call_ms`: the same with hooks that run `true`, i.e. what
 *   Claude Code's hook mechanism costs by itself, whatever the hook.
 * - `hook.process_p50_ms` / `_p99_ms`: one hook process alone (`node bin.js hook claude-code`, a
 *   PreToolUse event for `true` on stdin, the server allowing it), spawn to exit;
 *   `hook.process_post_p50_ms`: the PostToolUse that follows it (completing the call).
 *
 * Sanity figures: `hook.calls_decided` and `hook.calls_completed` (each must be `hook.calls_expected`,
 * the tool calls made with the hook) and `hook.runs_failed` (must be 0).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AnthropicScriptStandin,
  type ScriptedTurn,
  startAnthropicScriptStandin,
} from '../packages/cli/test-support/anthropic-script-standin.js';
import {
  type ClaudeSandbox,
  claudeEnv,
  claudeSandbox,
  runClaude,
} from '../packages/cli/test-support/claude-code-process.js';
import { api, BIN, killAll, spawnServe } from '../packages/server/test-support/serve-process.js';
import type { Benchmark, BenchmarkOptions } from './benchmark.js';

const AGENT = 'bench-claude';
const POLICY = `warden: 1
name: hook-bench
defaults: { decision: block }
agents:
  ${AGENT}:
    rules:
      - { id: shell, effect: allow, tools: shell.exec }
`;

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

/**
 * N turns of one Bash `true <i>` each (one per turn, so none run concurrently; distinct, so Warden's
 * repeat breaker never sees the same call twice), then a final text.
 */
function script(calls: number): ScriptedTurn[] {
  const turns: ScriptedTurn[] = [];
  for (let i = 0; i < calls; i++)
    turns.push({ toolUses: [{ name: 'Bash', input: { command: `true ${i}` } }] });
  turns.push({ text: 'done' });
  return turns;
}

/** A project whose .claude/settings.json runs `command` before and after every tool. */
function hookedProject(sandbox: ClaudeSandbox, name: string, command: string): string {
  const project = join(sandbox.dir, name);
  mkdirSync(join(project, '.claude'), { recursive: true });
  const hook = [{ matcher: '*', hooks: [{ type: 'command', command, timeout: 60 }] }];
  writeFileSync(
    join(project, '.claude', 'settings.json'),
    JSON.stringify({ hooks: { PreToolUse: hook, PostToolUse: hook } }),
  );
  return project;
}

/** One hook process on a PreToolUse event: milliseconds from spawn to exit. */
function hookOnce(env: NodeJS.ProcessEnv, event: string): Promise<number> {
  const start = performance.now();
  const child = spawn(process.execPath, [BIN, 'hook', 'claude-code'], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  child.stdin.end(event);
  return new Promise((resolve, reject) =>
    child.once('close', (code) =>
      code === 0 && !out.includes('"deny"')
        ? resolve(performance.now() - start)
        : reject(new Error(`the hook did not allow (exit ${code}): ${out} ${err}`)),
    ),
  );
}

async function measure({ quick, log }: BenchmarkOptions, sandbox: ClaudeSandbox) {
  const calls = quick ? 2 : 8;
  const rounds = quick ? 2 : 6;
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  writeFileSync(join(sandbox.dir, 'policy.yaml'), POLICY);
  const server = await spawnServe(
    ['--db', join(sandbox.dir, 'warden.db'), '--policy', join(sandbox.dir, 'policy.yaml'), '--port', '0'],
    { WARDEN_ADMIN_KEY: admin },
  );
  let standin: AnthropicScriptStandin | undefined;
  try {
    const created = await api<{ secret: string }>(server.url, 'POST', '/v1/keys', {
      key: admin,
      body: { principalKind: 'agent', principal: AGENT, role: 'agent' },
    });
    if (created.status !== 201)
      throw new Error(`creating the agent key failed: ${JSON.stringify(created.body)}`);
    const wardenEnv = { WARDEN_URL: server.url, WARDEN_AGENT_KEY: created.body.secret };
    standin = await startAnthropicScriptStandin(script(calls));
    const env = claudeEnv(sandbox, { baseUrl: standin.url, apiKey: 'sk-ant-bench' }, wardenEnv);
    const hooked = hookedProject(sandbox, 'hooked', `node ${BIN} hook claude-code`);
    // The same hooks running `true`: what Claude Code's hook mechanism costs by itself.
    const noop = hookedProject(sandbox, 'noop', 'true');

    const without: number[] = [];
    const withHook: number[] = [];
    const withNoop: number[] = [];
    const sessions: string[] = [];
    let failed = 0;
    const timed = async (cwd: string, into: number[]) => {
      const start = performance.now();
      const run = await runClaude({ prompt: 'Run the scripted commands.', cwd, env });
      into.push(performance.now() - start);
      if (run.code !== 0 || run.result?.is_error === true) failed++;
      return run;
    };
    if (!quick) {
      log('warming up Claude Code and the hook…');
      await timed(sandbox.project, []);
      await timed(hooked, []);
    }
    log(
      `Claude Code, ${calls} Bash calls a run, ${rounds} runs each without hooks, with no-op hooks and with Warden's…`,
    );
    for (let i = 0; i < rounds; i++) {
      await timed(sandbox.project, without);
      await timed(noop, withNoop);
      const run = await timed(hooked, withHook);
      if (run.sessionId) sessions.push(run.sessionId);
    }
    const count = async (type: string) => {
      let n = 0;
      for (const session of sessions) {
        const q = `session=${encodeURIComponent(session)}&type=${type}&tool=shell.exec&limit=1000`;
        const r = await api<{ records: unknown[] }>(server.url, 'GET', `/v1/audit/events?${q}`, {
          key: admin,
        });
        n += r.body.records?.length ?? 0;
      }
      return n;
    };
    const decided = await count('call.decided');
    const completed = await count('call.completed');

    const processRounds = quick ? 5 : 30;
    log(`the hook process alone, ${processRounds} PreToolUse and PostToolUse events…`);
    const event = (i: number, name: 'PreToolUse' | 'PostToolUse') =>
      JSON.stringify({
        session_id: `bench-hook-process-${i}`,
        transcript_path: join(sandbox.home, 'transcript.jsonl'),
        cwd: sandbox.project,
        permission_mode: 'bypassPermissions',
        hook_event_name: name,
        tool_name: 'Bash',
        tool_input: { command: 'true' },
        tool_use_id: `toolu_bench_${i}`,
        ...(name === 'PostToolUse' ? { tool_response: { stdout: '', stderr: '', interrupted: false } } : {}),
      });
    const preMs: number[] = [];
    const postMs: number[] = [];
    await hookOnce(env, event(-1, 'PreToolUse'));
    await hookOnce(env, event(-1, 'PostToolUse'));
    for (let i = 0; i < processRounds; i++) {
      preMs.push(await hookOnce(env, event(i, 'PreToolUse')));
      postMs.push(await hookOnce(env, event(i, 'PostToolUse')));
    }

    const withP50 = pct(withHook, 50);
    const withoutP50 = pct(without, 50);
    return {
      claude_added_per_tool_call_ms: (withP50 - withoutP50) / calls,
      claude_run_with_p50_ms: withP50,
      claude_run_without_p50_ms: withoutP50,
      claude_noop_hook_added_per_tool_call_ms: (pct(withNoop, 50) - withoutP50) / calls,
      claude_tool_calls_per_run: calls,
      process_p50_ms: pct(preMs, 50),
      process_p99_ms: pct(preMs, 99),
      process_post_p50_ms: pct(postMs, 50),
      calls_decided: decided,
      calls_completed: completed,
      calls_expected: rounds * calls,
      runs_failed: failed,
    };
  } finally {
    await standin?.close();
    await server.stop();
  }
}

export const benchmarks: Benchmark[] = [
  {
    name: 'hook',
    async run(opts) {
      const sandbox = claudeSandbox('warden-bench-hook-');
      try {
        return await measure(opts, sandbox);
      } finally {
        killAll();
        rmSync(sandbox.dir, { recursive: true, force: true });
      }
    },
  },
];
