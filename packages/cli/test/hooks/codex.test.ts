/**
 * The real Codex CLI (node_modules/.bin/codex, its native binary) governed by `warden hook codex` against
 * a real `warden serve`: Codex runs `exec` non-interactively in a throwaway home, its model is a loopback
 * stand-in of the OpenAI Responses API that scripts its tool calls (directly, or through Warden's LLM
 * metering proxy), and the hook is the built CLI, installed by `warden hook install codex --user` — trust
 * included: Codex runs without `--dangerously-bypass-hook-trust`, so an untrusted hook would not run and
 * the blocked command would. Needs `npm run build` first.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../server/test-support/eventually.js';
import { api, BIN, killAll, type Served, warden } from '../../../server/test-support/serve-process.js';
import {
  type CodexRun,
  type CodexSandbox,
  codexEnv,
  codexSandbox,
  describeCodexRun,
  runCodex,
} from '../../test-support/codex-process.js';
import { auditEvents, serveForHooks } from '../../test-support/hook-e2e-fixtures.js';
import {
  type ResponsesScriptStandin,
  type ScriptedItem,
  STANDIN_USAGE,
  startResponsesScriptStandin,
} from '../../test-support/openai-responses-script-standin.js';

const NOTES_SERVER = fileURLToPath(new URL('../../test-support/mcp-stdio-notes.ts', import.meta.url));
/** Each test runs the real Codex (killed after 60 s) and waits for the audit. */
const RUN_TIMEOUT = 90_000;
const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const AGENT = 'codex-dev';

/** A small policy in the shape of examples/coding-assistants: what the scenarios below need, no more. */
const POLICY = `warden: 1
name: codex-e2e
defaults:
  decision: block
  approval:
    approvers: { roles: [approver] }
    quorum: 1
    timeout: 10m
agents:
  ${AGENT}:
    rules:
      - { id: models, effect: allow, tools: "llm:openai" }
      - id: no-forbidden-commands
        effect: block
        tools: shell.exec
        when: args.command.contains("forbidden")
        reason: That command is forbidden here.
      - { id: shell, effect: allow, tools: shell.exec }
      - id: deploy-writes-reviewed
        effect: review
        tools: fs.write
        when: args.relativePath.startsWith("deploy/")
        reason: Deployment files need a second person.
      - { id: writes-in-project, effect: allow, tools: fs.write, when: args.insideProject }
      - id: notes-are-kept
        effect: block
        tools: notes.delete_note
        reason: Notes are kept.
`;

/** A folder outside the project that a command may name as its `workdir`. */
const OUTSIDE = mkdtempSync(join(tmpdir(), 'warden-codex-outside-'));

/** What the scripted model does, by prompt: one tool call, then a closing message. */
const SCRIPTS: Record<string, ScriptedItem> = {
  'run in another folder': {
    type: 'function_call',
    name: 'exec_command',
    arguments: { cmd: 'echo out > outside.txt', workdir: OUTSIDE },
  },
  'run the forbidden command': {
    type: 'function_call',
    name: 'exec_command',
    arguments: { cmd: 'echo forbidden > blocked.txt' },
  },
  'run the task command': {
    type: 'function_call',
    name: 'exec_command',
    arguments: { cmd: 'echo task > task.txt' },
  },
  'run an allowed command': {
    type: 'function_call',
    name: 'exec_command',
    arguments: { cmd: 'echo ok > allowed.txt' },
  },
  'write the deployment': {
    type: 'custom_tool_call',
    name: 'apply_patch',
    input: '*** Begin Patch\n*** Add File: deploy/app.yaml\n+replicas: 3\n*** End Patch\n',
  },
  'delete the note': {
    type: 'function_call',
    namespace: 'mcp__notes',
    name: 'delete_note',
    arguments: { title: 'groceries' },
  },
  'write the other deployment': {
    type: 'custom_tool_call',
    name: 'apply_patch',
    input: '*** Begin Patch\n*** Add File: deploy/denied.yaml\n+replicas: 9\n*** End Patch\n',
  },
};

let dir: CodexSandbox;
let standin: ResponsesScriptStandin;
let server: Served;
let agentKey: string;
let approverKey: string;
let initiatorKey: string;

/** Every audit event of a session, of one type. */
function events(session: string, type: string): Promise<AuditEvent[]> {
  return auditEvents(server, ADMIN, session, type);
}

/** Starts Codex on a prompt of SCRIPTS (its hook reaching Warden with the agent key). */
function codex(
  prompt: string,
  provider: 'standin' | 'warden' | 'warden-task' = 'standin',
  extra: NodeJS.ProcessEnv = {},
): Promise<CodexRun> {
  const env = codexEnv(dir, { WARDEN_URL: server.url, WARDEN_AGENT_KEY: agentKey, ...extra });
  return runCodex({ prompt, cwd: dir.project, env, provider });
}

/** The call id of the tool call the stand-in scripted for a run, from Codex's last request of its session. */
function callIdOf(run: CodexRun): string {
  const last = standin.requests.filter((r) => r.headers['session-id'] === run.sessionId).at(-1);
  const call = ((last?.body.input as Record<string, unknown>[]) ?? []).find((i) =>
    String(i.type).endsWith('_call'),
  );
  expect(call, describeCodexRun(run)).toBeDefined();
  return call?.call_id as string;
}

/** The pending approval of a session, once the hook has asked for it. */
async function pendingApproval(session: string): Promise<string> {
  return eventually('the approval request', async () => {
    if (!session) return undefined;
    const r = await api<{ approvals: { id: string }[] }>(
      server.url,
      'GET',
      `/v1/approvals?status=pending&session=${encodeURIComponent(session)}`,
      { key: approverKey },
    );
    return r.body.approvals?.[0]?.id;
  });
}

/** The session id a running Codex announced to the stand-in (its `session-id` header). */
async function runningSession(prompt: string): Promise<string> {
  return eventually('Codex to ask its model', async () => {
    const found = standin.requests.find((r) => JSON.stringify(r.body.input ?? '').includes(prompt));
    return found?.headers['session-id'] as string | undefined;
  });
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  standin = await startResponsesScriptStandin(({ step, prompt }) => {
    const item = SCRIPTS[prompt];
    return step === 0 && item ? [item] : undefined;
  });
  dir = codexSandbox({ standinUrl: standin.url, wardenUrl: 'http://127.0.0.1:1' });
  writeFileSync(join(dir.dir, 'policy.yaml'), POLICY);
  ({ server, agentKey, approverKey, initiatorKey } = await serveForHooks({
    dir: dir.dir,
    policy: join(dir.dir, 'policy.yaml'),
    admin: ADMIN,
    upstream: {
      provider: 'openai',
      url: standin.url,
      keyEnv: 'UPSTREAM_OPENAI_KEY',
      key: 'sk-upstream-0123456789',
    },
    agent: AGENT,
    approver: 'ann@acme.example',
  }));
  // The proxy's URL is known only now; and Codex gets an MCP server that records the calls it receives.
  const config = join(dir.codexHome, 'config.toml');
  const notes = `[mcp_servers.notes]\ncommand = ${JSON.stringify(process.execPath)}\nargs = ${JSON.stringify([NOTES_SERVER, join(dir.dir, 'notes-calls.jsonl')])}\n`;
  writeFileSync(
    config,
    `${readFileSync(config, 'utf8').replaceAll('http://127.0.0.1:1', server.url)}\n${notes}`,
  );
  // The user's door: `warden hook install codex --user` writes hooks.json and trusts the hooks.
  const installed = await warden(['hook', 'install', 'codex', '--user'], {
    HOME: dir.home,
    CODEX_HOME: dir.codexHome,
  });
  expect(installed.code, installed.err).toBe(0);
  expect(readFileSync(join(dir.codexHome, 'config.toml'), 'utf8')).toContain('trusted_hash = "sha256:');
}, 90_000);

afterAll(async () => {
  await server?.stop();
  killAll();
  await standin?.close();
  if (dir) rmSync(dir.dir, { recursive: true, force: true });
  rmSync(OUTSIDE, { recursive: true, force: true });
});

describe('Codex CLI governed by warden hook codex', () => {
  it(
    'a blocked shell command never runs, and Codex tells the model Warden’s reason',
    async () => {
      const run = await codex('run the forbidden command');
      expect(run.code, describeCodexRun(run)).toBe(0);
      expect(existsSync(join(dir.project, 'blocked.txt'))).toBe(false);
      const output = standin.toolOutput(callIdOf(run)) ?? '';
      expect(output).toContain('blocked by PreToolUse hook');
      expect(output).toContain('That command is forbidden here.');
      const decided = await events(run.sessionId as string, 'call.decided');
      expect(decided).toContainEqual(
        expect.objectContaining({
          agent: AGENT,
          tool: 'shell.exec',
          session: run.sessionId,
          labels: expect.objectContaining({ assistant: 'codex', assistantSession: run.sessionId }),
        }),
      );
    },
    RUN_TIMEOUT,
  );

  it(
    'a command run in another folder (workdir) is analysed there, against the session’s project',
    async () => {
      const run = await codex('run in another folder');
      expect(run.code, describeCodexRun(run)).toBe(0);
      const [decided] = await events(run.sessionId as string, 'call.decided');
      expect(decided?.args, describeCodexRun(run)).toMatchObject({
        command: 'echo out > outside.txt',
        cwd: OUTSIDE,
        projectDir: dir.project,
        pathsOutsideProject: expect.arrayContaining([join(OUTSIDE, 'outside.txt')]),
      });
    },
    RUN_TIMEOUT,
  );

  it(
    'an allowed command runs and its result is completed in the audit',
    async () => {
      const run = await codex('run an allowed command');
      expect(run.code, describeCodexRun(run)).toBe(0);
      expect(readFileSync(join(dir.project, 'allowed.txt'), 'utf8')).toBe('ok\n');
      const completed = await eventually('the shell call completed', async () => {
        const found = (await events(run.sessionId as string, 'call.completed')).filter(
          (e) => e.tool === 'shell.exec',
        );
        return found.length > 0 ? found : undefined;
      });
      expect(completed[0]?.outcome).toMatchObject({ status: 'ok' });
    },
    RUN_TIMEOUT,
  );

  it(
    'a reviewed write waits for a second person’s approval, then runs and is completed',
    async () => {
      const running = codex('write the deployment');
      const session = await runningSession('write the deployment');
      const id = await pendingApproval(session);
      expect(existsSync(join(dir.project, 'deploy/app.yaml'))).toBe(false);
      const vote = await api(server.url, 'POST', `/v1/approvals/${id}/approve`, {
        key: approverKey,
        body: { reason: 'planned rollout' },
      });
      expect(vote.status, JSON.stringify(vote.body)).toBe(200);
      const run = await running;
      expect(run.code, describeCodexRun(run)).toBe(0);
      expect(readFileSync(join(dir.project, 'deploy/app.yaml'), 'utf8')).toBe('replicas: 3\n');
      const completed = await eventually('the write completed', async () => {
        const found = (await events(session, 'call.completed')).filter((e) => e.tool === 'fs.write');
        return found.length > 0 ? found : undefined;
      });
      expect(completed[0]?.outcome).toMatchObject({ status: 'ok' });
    },
    RUN_TIMEOUT,
  );

  it(
    'a write the approver denies never runs',
    async () => {
      const running = codex('write the other deployment');
      const session = await runningSession('write the other deployment');
      const id = await pendingApproval(session);
      const vote = await api(server.url, 'POST', `/v1/approvals/${id}/deny`, {
        key: approverKey,
        body: { reason: 'not today' },
      });
      expect(vote.status, JSON.stringify(vote.body)).toBe(200);
      const run = await running;
      expect(run.code, describeCodexRun(run)).toBe(0);
      expect(existsSync(join(dir.project, 'deploy/denied.yaml'))).toBe(false);
      expect(standin.toolOutput(callIdOf(run)) ?? '').toContain('blocked by PreToolUse hook');
    },
    RUN_TIMEOUT,
  );
});

describe('Codex’s MCP tools under warden hook codex', () => {
  it(
    'an MCP tool call is decided as <server>.<tool>, and a blocked one never reaches the server',
    async () => {
      const run = await codex('delete the note');
      expect(run.code, describeCodexRun(run)).toBe(0);
      const output = standin.toolOutput(callIdOf(run)) ?? '';
      expect(output).toContain('blocked by PreToolUse hook');
      expect(output).toContain('Notes are kept.');
      expect(existsSync(join(dir.dir, 'notes-calls.jsonl'))).toBe(false);
      const decided = await events(run.sessionId as string, 'call.decided');
      expect(decided).toContainEqual(
        expect.objectContaining({
          tool: 'notes.delete_note',
          decision: expect.objectContaining({ effect: 'block' }),
        }),
      );
    },
    RUN_TIMEOUT,
  );
});

describe('Codex through Warden’s LLM proxy', () => {
  it(
    'meters its model usage in the session its hook calls are decided in',
    async () => {
      const run = await codex('run the forbidden command', 'warden');
      expect(run.code, describeCodexRun(run)).toBe(0);
      const session = run.sessionId as string;
      expect(session).toMatch(/^[0-9a-f-]{36}$/);
      const completed = await eventually('both model calls completed', async () => {
        const found = (await events(session, 'call.completed')).filter((e) => e.tool === 'llm:openai');
        return found.length >= 2 ? found : undefined;
      });
      expect(completed[0]).toMatchObject({ agent: AGENT, session });
      expect(completed[0]?.outcome).toMatchObject({
        status: 'ok',
        usage: { inputTokens: STANDIN_USAGE.input_tokens, outputTokens: STANDIN_USAGE.output_tokens },
      });
      const decided = await events(session, 'call.decided');
      expect(decided.map((e) => e.tool)).toContain('shell.exec');
      expect(existsSync(join(dir.project, 'blocked.txt'))).toBe(false);
    },
    RUN_TIMEOUT,
  );

  it(
    'under a developer’s task token, the hook and the proxy both use the task’s session',
    async () => {
      const started = await api<{ token: string; session: string }>(server.url, 'POST', '/v1/tasks', {
        key: initiatorKey,
        body: { agent: AGENT, initiator: { subject: 'u-dev-1', name: 'dana' } },
      });
      expect(started.status, JSON.stringify(started.body)).toBe(201);
      const task = started.body;
      const run = await codex('run the task command', 'warden-task', { WARDEN_TASK_TOKEN: task.token });
      expect(run.code, describeCodexRun(run)).toBe(0);
      expect(readFileSync(join(dir.project, 'task.txt'), 'utf8')).toBe('task\n');
      const decided = await events(task.session, 'call.decided');
      expect(decided.map((e) => e.tool).sort()).toEqual(['llm:openai', 'llm:openai', 'shell.exec']);
      for (const e of decided)
        expect(e).toMatchObject({ agent: AGENT, session: task.session, triggeredBy: 'dana' });
      const shell = decided.find((e) => e.tool === 'shell.exec');
      expect(shell?.labels).toMatchObject({ assistant: 'codex', assistantSession: run.sessionId });
      // Nothing landed in Codex's own session id.
      expect(await events(run.sessionId as string, 'call.decided')).toEqual([]);
    },
    RUN_TIMEOUT,
  );
});
