/**
 * The real Claude Code (node_modules/.bin/claude, its native binary) governed by `warden hook
 * claude-code` against a real `warden serve`: Claude Code runs non-interactively in a throwaway home,
 * its model is a loopback stand-in of the Anthropic Messages API that scripts its tool calls (directly,
 * or through Warden's LLM metering proxy), and the hook is the built CLI that Claude Code's
 * PreToolUse/PostToolUse settings run. Needs `npm run build` first.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent, AuditRecord } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../server/test-support/eventually.js';
import { api, BIN, killAll, type Served, spawnServe } from '../../../server/test-support/serve-process.js';
import {
  type AnthropicScriptStandin,
  type ScriptedTurn,
  startAnthropicScriptStandin,
  toolUseId,
} from '../../test-support/anthropic-script-standin.js';
import {
  type ClaudeRun,
  type ClaudeSandbox,
  claudeEnv,
  claudeSandbox,
  describeRun,
  runClaude,
} from '../../test-support/claude-code-process.js';

const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const AGENT = 'claude-dev';

/** A small policy in the shape of examples/coding-assistants: what the scenarios below need, no more. */
const POLICY = `warden: 1
name: claude-code-e2e
defaults:
  decision: block
  approval:
    approvers: { roles: [approver] }
    quorum: 1
    timeout: 10m
agents:
  ${AGENT}:
    rules:
      - { id: models, effect: allow, tools: "llm:anthropic" }
      - id: shell-outside-project
        effect: block
        tools: shell.exec
        when: size(args.pathsOutsideProject) > 0
        reason: Shell commands stay inside the project.
      - { id: shell, effect: allow, tools: shell.exec }
      - id: deploy-writes-reviewed
        effect: review
        tools: fs.write
        when: args.relativePath.startsWith("deploy/")
        reason: Deployment files need a second person.
      - { id: writes-in-project, effect: allow, tools: fs.write, when: args.insideProject }
      - { id: reads-in-project, effect: allow, tools: [fs.read, fs.search], when: args.insideProject }
`;

let dir: ClaudeSandbox;
let standin: AnthropicScriptStandin;
let server: Served;
let agentKey: string;
let approverKey: string;
let initiatorKey: string;

async function key(body: Record<string, unknown>): Promise<string> {
  const r = await api<{ secret: string }>(server.url, 'POST', '/v1/keys', { key: ADMIN, body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.secret;
}

/** Every audit event of a session, of one type. */
async function events(session: string, type: string): Promise<AuditEvent[]> {
  const r = await api<{ records: AuditRecord[] }>(
    server.url,
    'GET',
    `/v1/audit/events?session=${encodeURIComponent(session)}&type=${type}&limit=200`,
    { key: ADMIN },
  );
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.records.map((x) => x.event);
}

/** The hook's settings for the project, as Claude Code reads them from .claude/settings.json. */
function installHook(project: string): void {
  const command = `node ${BIN} hook claude-code --review-timeout 40`;
  const hook = [{ matcher: '*', hooks: [{ type: 'command', command, timeout: 60 }] }];
  writeFileSync(
    join(project, '.claude', 'settings.json'),
    JSON.stringify({ hooks: { PreToolUse: hook, PostToolUse: hook } }),
  );
}

/** Runs Claude Code in the sandbox's project with the stand-in playing `script`. */
async function claude(
  script: readonly ScriptedTurn[],
  o: { viaProxy?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<ClaudeRun> {
  standin.setScript(script);
  const model = o.viaProxy
    ? { baseUrl: `${server.url}/llm/anthropic`, apiKey: agentKey }
    : { baseUrl: standin.url, apiKey: 'sk-ant-standin-not-a-key' };
  const env = claudeEnv(dir, model, { WARDEN_URL: server.url, WARDEN_AGENT_KEY: agentKey, ...o.env });
  const run = await runClaude({ prompt: 'Do the scripted task.', cwd: dir.project, env });
  expect(run.code, describeRun(run)).toBe(0);
  return run;
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = claudeSandbox();
  standin = await startAnthropicScriptStandin([]);
  writeFileSync(join(dir.dir, 'policy.yaml'), POLICY);
  writeFileSync(
    join(dir.dir, 'warden.yaml'),
    `llm:\n  anthropic:\n    baseUrl: ${standin.url}\n    apiKey: env:UPSTREAM_ANTHROPIC_KEY\n`,
  );
  server = await spawnServe(
    [
      '--config',
      join(dir.dir, 'warden.yaml'),
      '--db',
      join(dir.dir, 'warden.db'),
      '--policy',
      join(dir.dir, 'policy.yaml'),
      '--port',
      '0',
    ],
    { WARDEN_ADMIN_KEY: ADMIN, UPSTREAM_ANTHROPIC_KEY: 'sk-ant-upstream-0123456789' },
  );
  agentKey = await key({ principalKind: 'agent', principal: AGENT, role: 'agent' });
  approverKey = await key({ principalKind: 'human', principal: 'ann@acme.example', role: 'approver' });
  initiatorKey = await key({
    principalKind: 'service',
    principal: 'ide-backend',
    role: 'auditor',
    permissions: ['initiator'],
  });
}, 90_000);

afterAll(async () => {
  await server?.stop();
  killAll();
  await standin?.close();
  if (dir) rmSync(dir.dir, { recursive: true, force: true });
});

describe('Claude Code through Warden’s LLM proxy', () => {
  it('meters its model usage under its own session id', async () => {
    const run = await claude([{ text: 'Nothing to do.' }], { viaProxy: true });
    const session = run.sessionId as string;
    expect(session).toMatch(/^[0-9a-f-]{36}$/);
    const completed = await eventually('the model call completed', async () => {
      const found = await events(session, 'call.completed');
      return found.length > 0 ? found : undefined;
    });
    expect(completed[0]).toMatchObject({ agent: AGENT, tool: 'llm:anthropic', session });
    expect(completed[0]?.outcome).toMatchObject({
      status: 'ok',
      usage: { inputTokens: 40, outputTokens: 12 },
    });
  });
});
