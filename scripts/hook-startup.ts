/**
 * How long one `warden hook claude-code` process takes, spawn to exit, as a coding assistant runs it:
 * the median of N runs (default 20) of `node packages/cli/dist/bin.js hook claude-code` with
 * - a PreToolUse event for an allowed Bash call against a running `warden serve` (the built CLI), and
 * - bad stdin (not JSON) with no server (the hook must answer with its own error, fail closed).
 * Needs `npm run build`. Run: `node --conditions=@warden/source --import tsx scripts/hook-startup.ts [N]`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, BIN, childEnv, spawnServe } from '../packages/server/test-support/serve-process.js';

const RUNS = Number(process.argv[2] ?? 20);
const AGENT = 'startup-bench';
const POLICY = `warden: 1
name: hook-startup
defaults: { decision: block }
agents:
  ${AGENT}:
    rules:
      - { id: shell, effect: allow, tools: shell.exec }
`;

/** One hook process: its wall time in ms, exit code and stdout. */
function hookOnce(env: NodeJS.ProcessEnv, stdin: string) {
  const start = performance.now();
  const child = spawn(process.execPath, [BIN, 'hook', 'claude-code'], { env, stdio: 'pipe' });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.resume();
  child.stdin.end(stdin);
  return new Promise<{ ms: number; code: number | null; out: string }>((resolve) =>
    child.once('close', (code) => resolve({ ms: performance.now() - start, code, out })),
  );
}

async function median(
  env: NodeJS.ProcessEnv,
  stdin: (i: number) => string,
  ok: (r: { code: number | null; out: string }) => boolean,
) {
  const ms: number[] = [];
  await hookOnce(env, stdin(-1)); // warm the file cache
  for (let i = 0; i < RUNS; i++) {
    const r = await hookOnce(env, stdin(i));
    if (!ok(r)) throw new Error(`unexpected hook answer (exit ${r.code}): ${r.out}`);
    ms.push(r.ms);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)] as number;
}

const dir = mkdtempSync(join(tmpdir(), 'warden-hook-startup-'));
const admin = `wdn_${randomBytes(32).toString('base64url')}`;
writeFileSync(join(dir, 'policy.yaml'), POLICY);
const server = await spawnServe(
  ['--db', join(dir, 'warden.db'), '--policy', join(dir, 'policy.yaml'), '--port', '0'],
  { WARDEN_ADMIN_KEY: admin },
);
try {
  const created = await api<{ secret: string }>(server.url, 'POST', '/v1/keys', {
    key: admin,
    body: { principalKind: 'agent', principal: AGENT, role: 'agent' },
  });
  const env = childEnv({ WARDEN_URL: server.url, WARDEN_AGENT_KEY: created.body.secret, HOME: dir });
  const event = (i: number) =>
    JSON.stringify({
      session_id: `startup-${i}`,
      transcript_path: join(dir, 'transcript.jsonl'),
      cwd: dir,
      permission_mode: 'default',
      hook_event_name: 'PreToolUse',
      tool_name: 'Bash',
      tool_input: { command: `true ${i}` },
      tool_use_id: `toolu_startup_${i}`,
    });
  const allowed = await median(env, event, (r) => r.code === 0 && !r.out.includes('"deny"'));
  const noServer = childEnv({ WARDEN_URL: 'http://127.0.0.1:9', WARDEN_AGENT_KEY: 'wdn_x', HOME: dir });
  const bad = await median(
    noServer,
    () => 'not json',
    (r) => r.code !== 0,
  );
  console.log(`median of ${RUNS} runs of \`node ${BIN} hook claude-code\`:`);
  console.log(`  allowed PreToolUse, warden serve running: ${allowed.toFixed(0)} ms`);
  console.log(`  bad stdin, no server:                      ${bad.toFixed(0)} ms`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
