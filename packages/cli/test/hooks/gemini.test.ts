/**
 * The real Gemini CLI (node_modules/.bin/gemini, run non-interactively with `-p … --yolo`) governed by
 * `warden hook gemini` against a real `warden serve`: its model is the Gemini API stand-in on loopback
 * (GOOGLE_GEMINI_BASE_URL), which scripts the tool calls. HOME is a temp dir, so Gemini CLI reads only
 * the settings written here. A blocked shell command never runs, a reviewed write waits for a second
 * person's approval and then runs, a denied one never runs, and the results are completed in the audit.
 * Needs the built CLI (`npm run build`).
 */

import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../server/test-support/eventually.js';
import {
  api,
  BIN,
  childEnv,
  freePort,
  killAll,
  REPO,
  type Served,
  spawnServe,
  warden,
} from '../../../server/test-support/serve-process.js';
import {
  callId,
  type GeminiScriptStandin,
  type RecordedRequest,
  type ScriptedTurn,
  STANDIN_MODEL_VERSION,
  startGeminiScriptStandin,
} from '../../test-support/gemini-script-standin.js';

const GEMINI = join(REPO, 'node_modules/@google/gemini-cli/bundle/gemini.js');
/** A real MCP server from npm (its tools include echo and get-env). */
const EVERYTHING = join(REPO, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const MODEL = 'gemini-2.5-flash';
/** The deployment's Gemini API key, which only Warden's proxy holds. */
const UPSTREAM_KEY = 'AIza-deployment-key-for-the-standin';

const POLICY = `warden: 1
name: gemini-hook-test
description: What the Gemini CLI hook test exercises.
mode: enforce
defaults:
  decision: block
  approval:
    approvers: { roles: [approver] }
    timeout: 30m
    onTimeout: block
agents:
  gemini-dev:
    rules:
      - id: no-blocked-file
        effect: block
        tools: "shell.exec"
        when: 'args.command.contains("blocked.txt")'
        reason: Nothing may write blocked.txt.
      - id: shell
        effect: allow
        tools: "shell.exec"
      - id: writes-reviewed
        effect: review
        tools: "fs.write"
        reason: Every file write needs a second person.
      - id: mcp-echo
        effect: allow
        tools: "my_tools.echo"
      - id: mcp-no-env
        effect: block
        tools: "my_tools.get-env"
        reason: The environment holds secrets.
      - id: the-rest
        effect: allow
        tools: ["fs.read", "fs.search", "assistant.*", "llm:*"]
`;

/** The scripted model's turns, by the scenario its prompt names. */
const SCRIPTS: Record<string, readonly ScriptedTurn[]> = {
  shell: [
    { calls: [{ name: 'run_shell_command', args: { command: 'echo pwned > blocked.txt' } }] },
    { calls: [{ name: 'run_shell_command', args: { command: 'echo fine > allowed.txt' } }] },
    { text: 'Both commands were tried.' },
  ],
  approved: [
    { calls: [{ name: 'write_file', args: { file_path: 'reviewed.txt', content: 'approved content\n' } }] },
    { text: 'Written.' },
  ],
  metered: [
    { calls: [{ name: 'run_shell_command', args: { command: 'echo metered > metered.txt' } }] },
    { text: 'Done.' },
  ],
  mcp: [
    { calls: [{ name: 'mcp_my_tools_get-env', args: {} }] },
    { calls: [{ name: 'mcp_my_tools_echo', args: { message: 'through Warden' } }] },
    { text: 'Done.' },
  ],
  unreachable: [
    { calls: [{ name: 'run_shell_command', args: { command: 'echo ran > unreachable.txt' } }] },
    { text: 'Done.' },
  ],
  redacted: [
    { calls: [{ name: 'run_shell_command', args: { command: 'echo redacted > redacted.txt' } }] },
    { text: 'Done.' },
  ],
  denied: [
    { calls: [{ name: 'write_file', args: { file_path: 'denied.txt', content: 'never\n' } }] },
    { text: 'The write was refused.' },
  ],
};

function scenarioOf(r: RecordedRequest): string {
  const first = JSON.stringify((r.body.contents as unknown[] | undefined)?.[0] ?? '');
  const name = /scenario:(\w+)/.exec(first)?.[1];
  if (!name || !SCRIPTS[name]) throw new Error(`no scenario in the prompt: ${first.slice(0, 200)}`);
  return name;
}

let dir: string;
let server: Served;
let standin: GeminiScriptStandin;
let admin: string;
let agentKey: string;
let approverKey: string;

async function key(args: string[]): Promise<string> {
  const db = join(dir, 'warden.db');
  const made = await warden(['keys', 'create', ...args, '--db', db, '--json']);
  if (made.code !== 0) throw new Error(`warden keys create failed: ${made.err}`);
  return (JSON.parse(made.out) as { secret: string }).secret;
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-gemini-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  standin = await startGeminiScriptStandin((turn, r) => SCRIPTS[scenarioOf(r)]?.[turn] ?? { text: 'done' });
  // The metering proxy's Gemini upstream is the stand-in, with the deployment's own provider key.
  writeFileSync(
    join(dir, 'warden.yaml'),
    `llm:\n  gemini: { baseUrl: "${standin.url}", apiKey: env:GEMINI_UPSTREAM_KEY }\n`,
  );
  admin = `wdn_${'a'.repeat(43)}`;
  server = await spawnServe(
    [
      ...['--config', join(dir, 'warden.yaml'), '--db', join(dir, 'warden.db')],
      ...['--port', '0', '--policy', join(dir, 'policy.yaml')],
    ],
    { WARDEN_ADMIN_KEY: admin, WARDEN_LOG_LEVEL: 'warn', GEMINI_UPSTREAM_KEY: UPSTREAM_KEY },
  );
  agentKey = await key(['--agent', 'gemini-dev']);
  approverKey = await key(['--human', 'ann@example.com', '--role', 'approver']);
}, 90_000);

afterAll(async () => {
  killAll();
  await server?.stop().catch(() => undefined);
  await standin?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface GeminiRun {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
  readonly project: string;
  /** Gemini CLI's session id, from its JSON output. */
  readonly session: string;
  /** The stand-in's requests before this run: `standin.functionResponses(since)` are this run's. */
  readonly since: number;
}

/** A fresh project (with Warden's hooks installed) and HOME, and Gemini CLI run there on one prompt. */
async function runGemini(
  scenario: string,
  o: {
    proxy?: { session: string };
    security?: Record<string, unknown>;
    mcp?: boolean;
    /** The Warden URL the hook is installed with (default the server's). */
    wardenUrl?: string;
  } = {},
): Promise<GeminiRun> {
  const project = join(dir, `project-${scenario}`);
  const home = join(dir, `home-${scenario}`);
  mkdirSync(join(home, '.gemini'), { recursive: true });
  mkdirSync(project, { recursive: true });
  // The user's settings: the API key as the way in, no telemetry, no update checks.
  writeFileSync(
    join(home, '.gemini', 'settings.json'),
    JSON.stringify({
      security: { auth: { selectedType: 'gemini-api-key' }, ...o.security },
      privacy: { usageStatisticsEnabled: false },
      telemetry: { enabled: false },
      general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
      ...(o.mcp ? { mcpServers: { my_tools: { command: process.execPath, args: [EVERYTHING] } } } : {}),
    }),
  );
  // As a user installs it: the project's .gemini/settings.json, written by `warden hook install`.
  const installed = await warden(
    [
      ...['hook', 'install', 'gemini', '--project', '--project-dir', project],
      ...['--url', o.wardenUrl ?? server.url, '--review-timeout', '45'],
    ],
    { HOME: home },
  );
  expect(installed.code, installed.err).toBe(0);
  const settings = JSON.parse(readFileSync(join(project, '.gemini', 'settings.json'), 'utf8'));
  expect(settings.hooks.BeforeTool[0].hooks[0]).toMatchObject({
    command: expect.stringMatching(/ hook gemini --url \S+ --review-timeout 45 --hook-timeout 105$/),
    timeout: 105_000,
  });
  const env = childEnv({
    HOME: home,
    // Through the proxy: Warden's base URL, the agent's Warden key as the API key, and the session
    // Gemini CLI is told to use sent as Warden-Session on every model request.
    ...(o.proxy
      ? {
          GEMINI_API_KEY: agentKey,
          GOOGLE_GEMINI_BASE_URL: `${server.url}/llm/gemini`,
          GEMINI_CLI_CUSTOM_HEADERS: `Warden-Session: ${o.proxy.session}`,
        }
      : { GEMINI_API_KEY: 'standin-key', GOOGLE_GEMINI_BASE_URL: standin.url }),
    GEMINI_CLI_TRUST_WORKSPACE: 'true',
    WARDEN_AGENT_KEY: agentKey,
  });
  // Under GitHub Actions Gemini CLI strips every variable not on its allow-list from a hook's environment.
  delete env.GITHUB_SHA;
  delete env.SURFACE;
  const since = standin.requests.length;
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(
    process.execPath,
    [
      ...[GEMINI, '-p', `scenario:${scenario}`, '--yolo', '-m', MODEL, '-o', 'json'],
      ...(o.proxy ? ['--session-id', o.proxy.session] : []),
    ],
    { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  let session = '';
  try {
    session = (JSON.parse(out) as { session_id: string }).session_id;
  } catch {
    throw new Error(`gemini printed no JSON (code ${code}):\n${out}\n${err}`);
  }
  return { code, out, err, project, session, since };
}

interface AuditRecord {
  event: {
    type: string;
    tool?: string;
    callId?: string;
    session?: string;
    args?: Record<string, unknown>;
    decision?: { effect: string; ruleId?: string };
    outcome?: { status: string; result?: unknown; usage?: unknown };
  };
}

async function trail(session: string): Promise<AuditRecord['event'][]> {
  const r = await api<{ records: AuditRecord[] }>(
    server.url,
    'GET',
    `/v1/audit/events?session=${encodeURIComponent(session)}&limit=1000`,
    { key: admin },
  );
  expect(r.status).toBe(200);
  return r.body.records.map((x) => x.event);
}

/** Waits for the pending review of the write to `file`; its approval id. */
async function pendingReview(file: string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const r = await api<{ approvals: { id: string; tool: string; args: { relativePath?: string } }[] }>(
      server.url,
      'GET',
      '/v1/approvals?status=pending',
      { key: approverKey },
    );
    const pending = r.body.approvals.find((a) => a.tool === 'fs.write' && a.args.relativePath === file);
    if (pending) return pending.id;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`no pending review of a write to ${file} appeared`);
}

/** Votes on an approval as ann, the approver: a second person, not the agent. */
async function vote(id: string, action: 'approve' | 'deny'): Promise<void> {
  const v = await api(server.url, 'POST', `/v1/approvals/${id}/${action}`, {
    key: approverKey,
    body: action === 'deny' ? { reason: 'not this file' } : {},
  });
  expect(v.status, JSON.stringify(v.body)).toBe(200);
}

describe('warden hook gemini, with the real Gemini CLI', () => {
  it('blocks a shell command before it runs, and completes an allowed one in the audit', async () => {
    const run = await runGemini('shell');
    expect(run.code, run.err).toBe(0);
    expect(existsSync(join(run.project, 'blocked.txt'))).toBe(false);
    expect(readFileSync(join(run.project, 'allowed.txt'), 'utf8')).toBe('fine\n');
    // What the model read back: Warden's reason, as the tool's error.
    const blocked = standin.functionResponse(callId(0), run.since);
    expect(blocked?.text).toMatch(/Tool execution blocked: .*Nothing may write blocked\.txt/);
    const events = await trail(run.session);
    const decided = events.filter((e) => e.type === 'call.decided' && e.tool === 'shell.exec');
    expect(decided.map((e) => [e.args?.command, e.decision?.effect])).toEqual([
      ['echo pwned > blocked.txt', 'block'],
      ['echo fine > allowed.txt', 'allow'],
    ]);
    const allowedCall = decided[1]?.callId;
    const completed = events.find((e) => e.type === 'call.completed' && e.callId === allowedCall);
    expect(completed?.outcome?.status).toBe('ok');
  }, 60_000);

  it('holds a reviewed write until a second person approves it, then it runs and is completed', async () => {
    const running = runGemini('approved');
    const id = await pendingReview('reviewed.txt');
    // Gemini CLI is held in the hook: the file is not there while the review is pending.
    expect(existsSync(join(dir, 'project-approved', 'reviewed.txt'))).toBe(false);
    await vote(id, 'approve');
    const run = await running;
    expect(run.code, run.err).toBe(0);
    expect(readFileSync(join(run.project, 'reviewed.txt'), 'utf8')).toBe('approved content\n');
    const events = await trail(run.session);
    const completed = events.filter((e) => e.type === 'call.completed' && e.tool === 'fs.write');
    expect(completed.map((e) => e.outcome?.status)).toEqual(['ok']);
  }, 60_000);

  it('never runs a write the reviewer denies, and tells the model why', async () => {
    const running = runGemini('denied');
    await vote(await pendingReview('denied.txt'), 'deny');
    const run = await running;
    expect(run.code, run.err).toBe(0);
    expect(existsSync(join(run.project, 'denied.txt'))).toBe(false);
    const denied = standin.functionResponses(run.since).find((f) => f.name === 'write_file');
    expect(denied?.text).toMatch(/Tool execution blocked: .*not this file/s);
  }, 60_000);

  it("meters Gemini CLI's model traffic through the proxy, in the same session as its hook calls", async () => {
    const session = randomUUID();
    const run = await runGemini('metered', { proxy: { session } });
    expect(run.code, run.err).toBe(0);
    expect(run.session).toBe(session);
    expect(readFileSync(join(run.project, 'metered.txt'), 'utf8')).toBe('metered\n');
    // The provider saw the deployment's key, never the agent's.
    const upstream = standin.requests.slice(run.since);
    expect(upstream.length).toBeGreaterThanOrEqual(2);
    for (const r of upstream) {
      // @google/genai asks for SSE; Warden sends only the query it chose (alt=sse on the stream method).
      expect(r.url).toMatch(/:(streamGenerateContent\?alt=sse|generateContent|countTokens)$/);
      expect(r.headers['x-goog-api-key']).toBe(UPSTREAM_KEY);
      expect(JSON.stringify(r.headers)).not.toContain(agentKey);
    }
    // The proxy records usage after it answers: wait until every metered request is completed.
    const events = await eventually('every proxied request completed', async () => {
      const found = await trail(session);
      const done = found.filter((e) => e.type === 'call.completed' && e.tool === 'llm:gemini');
      return done.length >= upstream.length ? found : undefined;
    });
    const llm = events.filter((e) => e.type === 'call.completed' && e.tool === 'llm:gemini');
    expect(llm.length).toBe(upstream.length);
    for (const e of llm)
      expect(e.outcome).toMatchObject({
        status: 'ok',
        usage: { model: STANDIN_MODEL_VERSION, inputTokens: 40, outputTokens: 17 },
      });
    const shell = events.filter((e) => e.type === 'call.completed' && e.tool === 'shell.exec');
    expect(shell.map((e) => e.outcome?.status)).toEqual(['ok']);
  }, 60_000);

  it('decides countTokens like any call and refuses the JSON-array stream, through the served proxy', async () => {
    const outsider = await key(['--agent', 'gemini-outsider']);
    const post = (path: string, k: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}/llm/gemini/v1beta/models/${MODEL}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': k, ...headers },
        body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'How long is this?' }] }] }),
      });
    const before = standin.requests.length;
    // An agent the policy does not let use llm:gemini (defaults: block) cannot count tokens either.
    const refused = await post(':countTokens', outsider);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      code: 403,
      status: 'PERMISSION_DENIED',
      message: expect.stringContaining('POLICY_BLOCKED'),
    });
    // A stream asked for as a JSON array would go unmetered: refused before it is decided.
    const array = await post(':streamGenerateContent', agentKey);
    expect(array.status).toBe(400);
    expect(((await array.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      status: 'INVALID_ARGUMENT',
      message: expect.stringContaining('add ?alt=sse'),
    });
    expect(standin.requests.length).toBe(before);

    const session = randomUUID();
    const counted = await post(':countTokens', agentKey, { 'Warden-Session': session });
    expect(counted.status).toBe(200);
    expect(await counted.json()).toEqual({ totalTokens: 40 });
    expect(standin.requests.at(-1)?.headers['x-goog-api-key']).toBe(UPSTREAM_KEY);
    // Its completion is recorded after the answer (off the response path).
    const events = await eventually('the countTokens call completed', async () => {
      const found = await trail(session);
      return found.some((e) => e.type === 'call.completed') ? found : undefined;
    });
    expect(events.filter((e) => e.type === 'call.decided')).toMatchObject([
      { tool: 'llm:gemini', args: { endpoint: 'countTokens', model: MODEL }, decision: { effect: 'allow' } },
    ]);
    expect(events.filter((e) => e.type === 'call.completed')).toMatchObject([
      { tool: 'llm:gemini', outcome: { status: 'ok', usage: { inputTokens: 0, outputTokens: 0 } } },
    ]);
  }, 60_000);

  it('fails closed when Warden cannot be reached, and says so to the model', async () => {
    const run = await runGemini('unreachable', { wardenUrl: `http://127.0.0.1:${await freePort()}` });
    expect(run.code, run.err).toBe(0);
    expect(existsSync(join(run.project, 'unreachable.txt'))).toBe(false);
    expect(standin.functionResponse(callId(0), run.since)?.text).toMatch(
      /Tool execution blocked: .*Warden could not be reached at http:\/\/127\.0\.0\.1:\d+/s,
    );
  }, 60_000);

  it('with Gemini CLI redacting secrets from hook environments, fails closed unless Warden’s variables are allowed', async () => {
    const redacting = { environmentVariableRedaction: { enabled: true } };
    const stripped = await runGemini('redacted', { security: redacting });
    expect(stripped.code, stripped.err).toBe(0);
    expect(existsSync(join(stripped.project, 'redacted.txt'))).toBe(false);
    expect(standin.functionResponse(callId(0), stripped.since)?.text).toMatch(/WARDEN_AGENT_KEY/);
    const allowed = await runGemini('redacted', {
      security: { environmentVariableRedaction: { enabled: true, allowed: ['WARDEN_AGENT_KEY'] } },
    });
    expect(allowed.code, allowed.err).toBe(0);
    expect(readFileSync(join(allowed.project, 'redacted.txt'), 'utf8')).toBe('redacted\n');
  }, 60_000);

  // The server's name has an underscore: only Gemini CLI's mcp_context tells `mcp_my_tools_echo` apart.
  it("decides an MCP tool as <server>.<tool> from Gemini CLI's mcp_context", async () => {
    const run = await runGemini('mcp', { mcp: true });
    expect(run.code, run.err).toBe(0);
    expect(standin.functionResponse(callId(0), run.since)?.text).toMatch(
      /Tool execution blocked: .*The environment holds secrets\./s,
    );
    expect(standin.functionResponse(callId(1), run.since)?.text).toContain('Echo: through Warden');
    const events = await trail(run.session);
    const decided = events.filter((e) => e.type === 'call.decided');
    expect(decided.map((e) => [e.tool, e.decision?.effect])).toEqual([
      ['my_tools.get-env', 'block'],
      ['my_tools.echo', 'allow'],
    ]);
    const echo = events.find((e) => e.type === 'call.completed' && e.tool === 'my_tools.echo');
    expect(echo?.outcome?.status).toBe('ok');
  }, 60_000);
});
