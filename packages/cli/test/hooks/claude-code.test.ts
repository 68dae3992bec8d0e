/**
 * The real Claude Code (node_modules/.bin/claude, its native binary) governed by `warden hook
 * claude-code` against a real `warden serve`: Claude Code runs non-interactively in a throwaway home,
 * its model is a loopback stand-in of the Anthropic Messages API that scripts its tool calls (directly,
 * or through Warden's LLM metering proxy), and the hook is the built CLI that Claude Code's
 * PreToolUse/PostToolUse settings run. Needs `npm run build` first.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../server/test-support/eventually.js';
import { api, BIN, killAll, type Served, warden } from '../../../server/test-support/serve-process.js';
import {
  type AnthropicScriptStandin,
  type ScriptedTurn,
  startAnthropicScriptStandin,
} from '../../test-support/anthropic-script-standin.js';
import {
  type ClaudeRun,
  type ClaudeSandbox,
  claudeEnv,
  claudeSandbox,
  describeRun,
  REPO,
  runClaude,
} from '../../test-support/claude-code-process.js';
import { auditEvents, serveForHooks } from '../../test-support/hook-e2e-fixtures.js';

const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const AGENT = 'claude-dev';
const APPROVER = 'pat@example.com'; // in the example policy's platform group

/**
 * The policy served: examples/coding-assistants/policy.yaml as shipped, plus this file in the same
 * folder — an agent in the example's coding-assistants group with two rules of its own: its model calls
 * through the proxy, and a review of writes under deploy/ (the example reviews no file writes).
 */
const EXTRA_POLICY = `agents:
  ${AGENT}:
    description: The Claude Code under test.
    groups: [coding-assistants]
    rules:
      - { id: models, effect: allow, tools: "llm:anthropic" }
      - id: deploy-writes-reviewed
        effect: review
        tools: fs.write
        when: args.insideProject && args.relativePath.startsWith("deploy/")
        reason: Deployment files need a second person on the platform team.
`;

let dir: ClaudeSandbox;
let standin: AnthropicScriptStandin;
let server: Served;
let agentKey: string;
let approverKey: string;
let initiatorKey: string;

/** Every audit event of a session, of one type. */
function events(session: string, type: string): Promise<AuditEvent[]> {
  return auditEvents(server, ADMIN, session, type);
}

/** `warden hook install claude-code --project`, as a developer runs it in their project. */
async function installHook(project: string): Promise<void> {
  const r = await warden([
    'hook',
    'install',
    'claude-code',
    '--project',
    '--project-dir',
    project,
    '--review-timeout',
    '40',
  ]);
  expect(r.code, r.err).toBe(0);
  const settings = JSON.parse(readFileSync(join(project, '.claude', 'settings.json'), 'utf8'));
  expect(Object.keys(settings.hooks)).toEqual(expect.arrayContaining(['PreToolUse', 'PostToolUse']));
}

/** Starts Claude Code in the sandbox's project with the stand-in playing `script`. */
function startClaude(
  script: readonly ScriptedTurn[],
  o: { viaProxy?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<ClaudeRun> {
  standin.setScript(script);
  const model = o.viaProxy
    ? { baseUrl: `${server.url}/llm/anthropic`, apiKey: agentKey }
    : { baseUrl: standin.url, apiKey: 'sk-ant-standin-not-a-key' };
  const env = claudeEnv(dir, model, { WARDEN_URL: server.url, WARDEN_AGENT_KEY: agentKey, ...o.env });
  return runClaude({ prompt: 'Do the scripted task.', cwd: dir.project, env });
}

/** Runs Claude Code to its end; it must exit 0. */
async function claude(
  script: readonly ScriptedTurn[],
  o: { viaProxy?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<ClaudeRun> {
  const run = await startClaude(script, o);
  expect(run.code, describeRun(run)).toBe(0);
  return run;
}

/** The tool result Claude Code sent the model for a scripted tool use. */
function resultOf(id: string) {
  const r = standin.toolResult(id);
  if (!r)
    throw new Error(
      `Claude Code sent no result for ${id}; it sent: ${JSON.stringify(standin.toolResults())}`,
    );
  return r;
}

/** The one pending approval of the agent, once the hook's check has opened it. */
async function pendingApproval(tool: string): Promise<{ id: string; session: string; args: unknown }> {
  return eventually(
    `a pending ${tool} approval`,
    async () => {
      const r = await api<{ approvals: { id: string; tool: string; session: string; args: unknown }[] }>(
        server.url,
        'GET',
        `/v1/approvals?status=pending&agent=${AGENT}`,
        { key: approverKey },
      );
      return r.body.approvals.find((a) => a.tool === tool);
    },
    30_000,
  );
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = claudeSandbox();
  standin = await startAnthropicScriptStandin([]);
  mkdirSync(join(dir.dir, 'policy'));
  copyFileSync(join(REPO, 'examples/coding-assistants/policy.yaml'), join(dir.dir, 'policy', 'policy.yaml'));
  writeFileSync(join(dir.dir, 'policy', 'claude-e2e.yaml'), EXTRA_POLICY);
  ({ server, agentKey, approverKey, initiatorKey } = await serveForHooks({
    dir: dir.dir,
    policy: join(dir.dir, 'policy'),
    admin: ADMIN,
    upstream: {
      provider: 'anthropic',
      url: standin.url,
      keyEnv: 'UPSTREAM_ANTHROPIC_KEY',
      key: 'sk-ant-upstream-0123456789',
    },
    agent: AGENT,
    approver: APPROVER,
  }));
  await installHook(dir.project);
}, 90_000);

afterAll(async () => {
  await server?.stop();
  killAll();
  await standin?.close();
  if (dir) rmSync(dir.dir, { recursive: true, force: true });
});

// Each test runs Claude Code and several hook processes; a loaded 2-core machine needs more than 30 s.
describe('Claude Code governed by warden hook claude-code', { timeout: 75_000 }, () => {
  it('blocked tool calls never run and Claude reads Warden’s reason; an allowed one runs and is completed', async () => {
    const outside = join(dir.dir, 'outside.txt');
    // Local settings could switch the hook off: the example policy keeps the assistant out of .claude.
    const localSettings = join(dir.project, '.claude', 'settings.local.json');
    const run = await claude([
      {
        toolUses: [
          { id: 'toolu_blocked_shell', name: 'Bash', input: { command: `echo pwned > ${outside}` } },
        ],
      },
      {
        toolUses: [
          {
            id: 'toolu_blocked_write',
            name: 'Write',
            input: { file_path: localSettings, content: '{"disableAllHooks": true}' },
          },
        ],
      },
      {
        toolUses: [{ id: 'toolu_allowed_shell', name: 'Bash', input: { command: 'echo ok > allowed.txt' } }],
      },
      { text: 'Done.' },
    ]);
    // The redirection outside the project never happened, nor was the hook switched off.
    expect(existsSync(outside)).toBe(false);
    expect(existsSync(localSettings)).toBe(false);
    expect(readFileSync(join(dir.project, 'allowed.txt'), 'utf8')).toBe('ok\n');
    expect(resultOf('toolu_allowed_shell').isError).toBe(false);

    // All three decided in Claude Code's own session, by the example policy's rules.
    const session = run.sessionId as string;
    const decided = await events(session, 'call.decided');
    expect(decided.map((e) => [e.tool, e.decision?.effect, e.decision?.ruleId])).toEqual([
      ['shell.exec', 'block', 'shell-write-outside-project'],
      ['fs.write', 'block', 'no-hook-tampering'],
      ['shell.exec', 'allow', 'shell-known-commands'],
    ]);
    expect(decided[0]?.args).toMatchObject({ command: `echo pwned > ${outside}`, cwd: dir.project });
    expect(decided[0]?.labels).toMatchObject({ assistant: 'claude-code', assistantSession: session });
    // What the model read for each block: Warden's reason and rule.
    for (const [id, e] of [
      ['toolu_blocked_shell', decided[0]],
      ['toolu_blocked_write', decided[1]],
    ] as const) {
      const result = resultOf(id);
      expect(result.isError).toBe(true);
      expect(result.text).toContain(`rule ${e?.decision?.ruleId}`);
      expect(result.text).toContain(e?.decision?.reasons?.[0]);
    }
    const completed = await eventually('the allowed call completed', async () => {
      const found = await events(session, 'call.completed');
      return found.length > 0 ? found : undefined;
    });
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({ callId: decided[2]?.callId, outcome: { status: 'ok' } });
  });

  it('a reviewed write waits for a second person’s approval, then runs and is completed', async () => {
    const target = join(dir.project, 'deploy', 'prod.yaml');
    const running = startClaude([
      {
        toolUses: [
          {
            id: 'toolu_reviewed_write',
            name: 'Write',
            input: { file_path: target, content: 'replicas: 3\n' },
          },
        ],
      },
      { text: 'Written.' },
    ]);
    const approval = await pendingApproval('fs.write');
    expect(approval.args).toMatchObject({
      path: target,
      relativePath: 'deploy/prod.yaml',
      insideProject: true,
    });
    // Claude Code is waiting on its hook: nothing is written yet.
    expect(existsSync(target)).toBe(false);
    const voted = await api(server.url, 'POST', `/v1/approvals/${approval.id}/approve`, {
      key: approverKey,
      body: { reason: 'Looks right.' },
    });
    expect(voted.status, JSON.stringify(voted.body)).toBe(200);
    const run = await running;
    expect(run.code, describeRun(run)).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('replicas: 3\n');
    expect(resultOf('toolu_reviewed_write').isError).toBe(false);
    expect(approval.session).toBe(run.sessionId);
    const completed = await eventually('the approved write completed', async () =>
      (await events(approval.session, 'call.completed')).find((e) => e.tool === 'fs.write'),
    );
    expect(completed.outcome).toMatchObject({ status: 'ok' });
  });

  it('a reviewed write the approver denies never runs, and Claude reads why', async () => {
    const target = join(dir.project, 'deploy', 'staging.yaml');
    const running = startClaude([
      {
        toolUses: [
          { id: 'toolu_denied_write', name: 'Write', input: { file_path: target, content: 'replicas: 0\n' } },
        ],
      },
      { text: 'Understood.' },
    ]);
    const approval = await pendingApproval('fs.write');
    const voted = await api(server.url, 'POST', `/v1/approvals/${approval.id}/deny`, {
      key: approverKey,
      body: { reason: 'Not during the freeze.' },
    });
    expect(voted.status, JSON.stringify(voted.body)).toBe(200);
    const run = await running;
    expect(run.code, describeRun(run)).toBe(0);
    expect(existsSync(target)).toBe(false);
    const denied = resultOf('toolu_denied_write');
    expect(denied.isError).toBe(true);
    expect(denied.text).toMatch(/denied/i);
    expect(await events(approval.session, 'call.completed')).toEqual([]);
  });
});

describe('Claude Code’s model traffic through Warden’s LLM proxy', { timeout: 75_000 }, () => {
  it('is metered in the same session as its tool calls: Claude Code’s own session id', async () => {
    const run = await claude(
      [
        {
          toolUses: [
            { id: 'toolu_proxied_shell', name: 'Bash', input: { command: 'echo proxied > proxied.txt' } },
          ],
        },
        { text: 'Done.' },
      ],
      { viaProxy: true },
    );
    expect(existsSync(join(dir.project, 'proxied.txt'))).toBe(true);
    const session = run.sessionId as string;
    expect(session).toMatch(/^[0-9a-f-]{36}$/);
    const completed = await eventually('the model calls and the shell call completed', async () => {
      const found = await events(session, 'call.completed');
      return found.length >= 3 ? found : undefined;
    });
    const models = completed.filter((e) => e.tool === 'llm:anthropic');
    // Two model turns (the tool call, then the final text), each with the usage the stand-in reported.
    expect(models).toHaveLength(2);
    for (const m of models) {
      expect(m).toMatchObject({ agent: AGENT, session });
      expect(m.outcome).toMatchObject({ status: 'ok', usage: { inputTokens: 40, outputTokens: 12 } });
    }
    expect(completed.filter((e) => e.tool === 'shell.exec')).toHaveLength(1);
  });

  it('under a developer’s task token, the hook and the proxy both use the task’s session', async () => {
    const started = await api<{ token: string; session: string }>(server.url, 'POST', '/v1/tasks', {
      key: initiatorKey,
      body: { agent: AGENT, initiator: { subject: 'u-dev-1', name: 'dana' } },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const task = started.body;
    const run = await claude(
      [
        { toolUses: [{ id: 'toolu_task_shell', name: 'Bash', input: { command: 'echo task > task.txt' } }] },
        { text: 'Done.' },
      ],
      {
        viaProxy: true,
        env: { WARDEN_TASK_TOKEN: task.token, ANTHROPIC_CUSTOM_HEADERS: `Warden-Task-Token: ${task.token}` },
      },
    );
    expect(existsSync(join(dir.project, 'task.txt'))).toBe(true);
    const decided = await events(task.session, 'call.decided');
    expect(decided.map((e) => e.tool).sort()).toEqual(['llm:anthropic', 'llm:anthropic', 'shell.exec']);
    for (const e of decided)
      expect(e).toMatchObject({ agent: AGENT, session: task.session, triggeredBy: 'dana' });
    const shell = decided.find((e) => e.tool === 'shell.exec');
    expect(shell?.labels).toMatchObject({ assistant: 'claude-code', assistantSession: run.sessionId });
    // Nothing landed in Claude Code's own session id.
    expect(await events(run.sessionId as string, 'call.decided')).toEqual([]);
  });
});
