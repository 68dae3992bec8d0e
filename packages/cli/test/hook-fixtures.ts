/**
 * A real `warden serve` with a coding-assistant policy, its keys, and `warden hook claude-code` run as
 * the real process with Claude Code's documented hook JSON on stdin, for the hook process tests.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, AuditRecord } from '@warden/core';
import { expect } from 'vitest';
import {
  api,
  BIN,
  type Collected,
  childEnv,
  killAll,
  type Ran,
  type Served,
  spawnCollect,
  spawnServe,
} from '../../server/test-support/serve-process.js';

/** Shell commands: `rm` blocked, `deploy` reviewed by an approver, everything else allowed. */
export const HOOK_POLICY = `
name: hook tests
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  claude-dev:
    rules:
      - id: no-rm
        effect: block
        tools: [shell.exec]
        when: 'args.program == "rm"'
        reason: deleting files is not allowed here
      - id: deploys-need-a-person
        effect: review
        tools: [shell.exec]
        when: 'args.program == "deploy"'
        reason: deploys need a person
        approval: { approvers: { roles: [approver] }, timeout: 10m }
      - id: the-rest
        effect: allow
        tools: ["shell.exec", "fs.*", "web.fetch"]
`;

/** The running server and what the tests act with. */
export interface HookWorld {
  readonly dir: string;
  readonly server: Served;
  readonly admin: string;
  readonly agentKey: string;
  /** An approver key (lee), the second person who decides reviews. */
  readonly approver: string;
}

/** Starts the server on a fresh database and creates the agent and approver keys. */
export async function startHookWorld(): Promise<HookWorld> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  const dir = mkdtempSync(join(tmpdir(), 'warden-hook-'));
  writeFileSync(join(dir, 'policy.yaml'), HOOK_POLICY);
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  const server = await spawnServe(
    ['--db', join(dir, 'warden.db'), '--policy', join(dir, 'policy.yaml'), '--port', '0'],
    { WARDEN_ADMIN_KEY: admin },
  );
  const key = async (body: Record<string, unknown>) => {
    const r = await api<{ secret: string }>(server.url, 'POST', '/v1/keys', { key: admin, body });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.secret;
  };
  const agentKey = await key({ principalKind: 'agent', principal: 'claude-dev', role: 'agent' });
  const approver = await key({ principalKind: 'human', principal: 'lee', role: 'approver' });
  return { dir, server, admin, agentKey, approver };
}

/** Stops the server and removes its folder. */
export async function stopHookWorld(w: HookWorld | undefined): Promise<void> {
  await w?.server.stop();
  killAll();
  if (w) rmSync(w.dir, { recursive: true, force: true });
}

/** Claude Code's PreToolUse input for a tool (the fields its hooks reference documents). */
export function preToolUse(session: string, tool: string, input: Record<string, unknown>, cwd = '/tmp') {
  return {
    session_id: session,
    transcript_path: `/tmp/claude/${session}.jsonl`,
    cwd,
    permission_mode: 'default',
    hook_event_name: 'PreToolUse',
    tool_name: tool,
    tool_input: input,
    tool_use_id: `toolu_${randomUUID().replaceAll('-', '')}`,
  };
}

/** The PostToolUse input that follows `pre`, with the tool's response. */
export function postToolUse(pre: ReturnType<typeof preToolUse>, response: unknown) {
  return { ...pre, hook_event_name: 'PostToolUse', tool_response: response };
}

/** The environment the hook runs in: this world's server and agent key, state under `dir`. */
export function hookEnv(w: HookWorld, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return childEnv({
    WARDEN_URL: w.server.url,
    WARDEN_AGENT_KEY: w.agentKey,
    XDG_STATE_HOME: join(w.dir, 'state'),
    ...extra,
  });
}

/** Starts `warden hook claude-code …args` with `input` on stdin (a string is sent as is). */
export function startHook(
  input: unknown,
  env: NodeJS.ProcessEnv,
  args: string[] = [],
): Collected<ChildProcessWithoutNullStreams> {
  const run = spawnCollect([BIN, 'hook', 'claude-code', ...args], { env, stdin: 'pipe' });
  run.child.stdin.end(typeof input === 'string' ? input : JSON.stringify(input));
  return run;
}

/** Runs `warden hook claude-code …args` with `input` on stdin to its end. */
export function hook(input: unknown, env: NodeJS.ProcessEnv, args: string[] = []): Promise<Ran> {
  return startHook(input, env, args).exited;
}

/** The deny decision a hook printed (undefined when it printed none). */
export function denial(out: string): string | undefined {
  if (out.trim() === '') return undefined;
  const o = JSON.parse(out) as {
    hookSpecificOutput?: { permissionDecision?: string; permissionDecisionReason?: string };
  };
  expect(o.hookSpecificOutput?.permissionDecision).toBe('deny');
  return o.hookSpecificOutput?.permissionDecisionReason;
}

/** Every recorded event of `type` in `session` (read through the API as the admin). */
export async function eventsOf(w: HookWorld, session: string, type: string): Promise<AuditEvent[]> {
  const r = await api<{ records: AuditRecord[] }>(
    w.server.url,
    'GET',
    `/v1/audit/events?session=${encodeURIComponent(session)}&type=${type}&limit=100`,
    { key: w.admin },
  );
  expect(r.status).toBe(200);
  return r.body.records.map((x) => x.event);
}
