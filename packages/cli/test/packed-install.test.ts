/**
 * The packages as a user gets them: every workspace of the root package.json packed with `npm pack`,
 * the tarballs installed into an empty project in a temp folder (third-party dependencies from the npm
 * registry), and Warden used there as a user would: `npx warden --version`, `serve` on a fresh SQLite
 * file with one allowed call over HTTP, `demo --auto-approve --exit`, `policy lint` on the packaged
 * example policy. Then a second empty project with only `@warden/sdk` and `ai`: a strict type-checked
 * AI SDK agent making governed calls against that server, with no database driver installed.
 * Slow (minutes: installs from the registry); needs the built packages (`npm run build`). A registry
 * that cannot be reached is a failure, never a skip.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../../server/test-support/serve-process.js';
import { expectDemoOutput, expectDemoTrail } from './demo-expectations.js';
import {
  installedPackages,
  installProject,
  type PackageManifest,
  type Packed,
  pack,
  pointedAt,
  projectEnv,
  readJson,
  sh,
  workspaces,
} from './packed-project.js';

const MINUTES = 60_000;
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
/** A user's Node project: ESM, NodeNext resolution, Node's types. */
const TS_FLAGS = [
  '--target',
  'es2022',
  '--module',
  'nodenext',
  '--moduleResolution',
  'nodenext',
  '--types',
  'node',
];

let root: string;
let app: string;
const packed = new Map<string, Packed>();
let server: { url: string; db: string; child: ChildProcessByStdio<null, Readable, Readable> } | undefined;
let agentKey: string;

/**
 * `npx warden …args` in the app project. `--no`: only the installed bin, never a `warden` fetched from the
 * registry; `--`: every option after it is the command's (`--version` is npx's own otherwise).
 */
const warden = (args: readonly string[], env = projectEnv()) =>
  sh('npx', ['--no', '--', 'warden', ...args], app, env);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'warden-packed-'));
  const tarballs = join(root, 'tarballs');
  mkdirSync(tarballs);
  for (const ws of workspaces()) {
    if (!existsSync(join(REPO, ws, 'dist')))
      throw new Error(`${ws}/dist is missing: run \`npm run build\` first`);
    const p = await pack(ws, tarballs);
    packed.set(p.manifest.name, p);
  }
  app = join(root, 'app');
  mkdirSync(app);
  await installProject(
    app,
    'packed-app',
    [...packed.values()].map((p) => p.tarball),
  );
}, 20 * MINUTES);

afterAll(() => {
  if (server?.child.exitCode === null && server.child.pid) process.kill(-server.child.pid, 'SIGKILL');
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('the packed packages, installed from their tarballs', () => {
  it('each tarball is publishable: license, README, public access, its own directory, no tests', () => {
    expect(packed.size).toBe(workspaces().length);
    for (const { dir, manifest: m, files } of packed.values()) {
      expect({ name: m.name, license: m.license, access: m.publishConfig?.access }).toEqual({
        name: m.name,
        license: 'Apache-2.0',
        access: 'public',
      });
      expect(m.repository?.directory, m.name).toBe(dir);
      for (const f of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json'])
        expect(files, m.name).toContain(f);
      const stray = [...files].filter((f) =>
        /(^|\/)(test|test-support|test-output)\/|\.test\.[tj]sx?$|\.tsbuildinfo$|(^|\/)\.env/.test(f),
      );
      expect(stray, m.name).toEqual([]);
      // Every export condition (also @warden/source) and bin points at a shipped file.
      expect(
        pointedAt(m).filter((f) => !files.has(f)),
        m.name,
      ).toEqual([]);
    }
  });

  it(
    '`npm publish --dry-run` succeeds for every workspace',
    async () => {
      // npm checks the manifest and builds the tarball as a real publish would, without uploading.
      const { out } = await sh('npm', ['publish', '--dry-run', '--json', '--workspaces'], REPO);
      // npm writes what it has so far as one JSON document each time it runs a lifecycle script
      // (@warden/cli's prepack rebuilds the hook bundle), so the output is several top-level objects.
      const documents = JSON.parse(`[${out.trim().replace(/^}\n{$/gm, '},{')}]`) as Record<string, unknown>[];
      const published = documents.flatMap((d) => Object.keys(d)).sort();
      expect(published).toEqual([...packed.keys()].sort());
    },
    5 * MINUTES,
  );

  it('source maps point at shipped sources', () => {
    for (const { manifest: m, files } of packed.values()) {
      for (const map of [...files].filter((f) => f.endsWith('.map'))) {
        const { sources } = readJson<{ sources: string[] }>(join(app, 'node_modules', m.name, map));
        for (const s of sources)
          expect(files, `${m.name}/${map} → ${s}`).toContain(normalize(join(dirname(map), s)));
      }
    }
  });

  it('`npx warden --version` prints the package version', async () => {
    const { out } = await warden(['--version']);
    expect(out.trim()).toBe(packed.get('@warden/cli')?.manifest.version);
  });

  it(
    '`npx warden serve` on a fresh SQLite file: the example policy, the dashboard, and an allowed call',
    async () => {
      const db = join(app, 'warden.db');
      const child = spawn('npx', ['--no', '--', 'warden', 'serve', '--db', db, '--port', '0'], {
        cwd: app,
        env: projectEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group: npx and the server it starts are stopped together
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      const deadline = Date.now() + 2 * MINUTES;
      // A first start ends its banner with the next step: a key for an agent.
      while (!/Warden is listening on (http:\/\/\S+)[\s\S]*keys create/.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`serve did not start\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = /Warden is listening on (http:\/\/\S+)/.exec(out)?.[1] as string;
      server = { url, db, child };
      expect(out).toContain(
        `from the example policy (${join('node_modules', '@warden', 'server', 'example-policy')})`,
      );
      expect(out).toMatch(/First start: an admin key was created[\s\S]*wdn_/);
      // The hint is the installed CLI's command, not the repository's `npm run warden --`.
      expect(out).toMatch(/\n {2}npx warden keys create --agent support-bot --db /);

      // The README's way: a key for the agent, made on the database.
      const created = await warden(['keys', 'create', '--db', db, '--agent', 'support-bot', '--json']);
      agentKey = (JSON.parse(created.out) as { secret: string }).secret;

      const res = await fetch(`${url}/v1/calls`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tool: 'billing.refund', args: { amount: 20 } }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ effect: 'allow', ruleId: 'support-small-refund' });

      // The dashboard's built files, served from the installed @warden/dashboard.
      const page = await (await fetch(`${url}/`)).text();
      const script = /src="(\/assets\/[^"]+\.js)"/.exec(page)?.[1];
      expect(script, page).toBeDefined();
      expect((await fetch(`${url}${script}`)).status).toBe(200);
      const openapi = (await (await fetch(`${url}/openapi.json`)).json()) as { info: { version: string } };
      expect(openapi.info.version).toBe(packed.get('@warden/server')?.manifest.version);
    },
    5 * MINUTES,
  );

  it(
    '`npx warden hook claude-code` answers from the shipped single-file bundle, against that server',
    async () => {
      expect(packed.get('@warden/cli')?.files).toContain('dist/hook.bundle.js');
      expect(server, 'the server of the test before').toBeDefined();
      // Claude Code's PreToolUse for an MCP tool: billing.refund of 20, which the example policy allows.
      const input = JSON.stringify({
        session_id: 'packed-hook',
        transcript_path: join(root, 'transcript.jsonl'),
        cwd: app,
        permission_mode: 'default',
        hook_event_name: 'PreToolUse',
        tool_name: 'mcp__billing__refund',
        tool_input: { amount: 20 },
        tool_use_id: 'toolu_packed_1',
      });
      const env = projectEnv({
        WARDEN_URL: server?.url,
        WARDEN_AGENT_KEY: agentKey,
        XDG_STATE_HOME: join(root, 'state'),
      });
      const child = spawn('npx', ['--no', '--', 'warden', 'hook', 'claude-code'], { cwd: app, env });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.stdin.end(input);
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      // Allowed: exit 0 and no decision printed (a deny, e.g. Warden unreachable, is a JSON answer).
      expect({ code, out, err }).toEqual({ code: 0, out: '', err: '' });
      const trail = await warden([
        'audit',
        'query',
        '--db',
        server?.db as string,
        '--type',
        'call.decided',
        '--tool',
        'billing.refund',
        '--format',
        'jsonl',
      ]);
      expect(trail.out).toContain('packed-hook');
    },
    2 * MINUTES,
  );

  it(
    '`npx warden demo --auto-approve --exit` tells the story on the policy shipped in the CLI',
    async () => {
      const dir = join(root, 'demo');
      const r = await warden(['demo', '--auto-approve', '--exit', '--port', '0', '--dir', dir]);
      expectDemoOutput(r.out, 'npx warden');
      expect(r.out).toContain(join('node_modules', '@warden', 'cli', 'demo', 'policy.yaml'));
      await expectDemoTrail(join(dir, 'warden.db'));
    },
    5 * MINUTES,
  );

  it(
    '`npx warden policy lint` accepts the packaged example policy',
    async () => {
      const r = await warden(['policy', 'lint', join('node_modules', '@warden', 'server', 'example-policy')]);
      // The verdict goes to stderr (stdout carries only diagnostics); the exit code is 0 or sh() throws.
      expect(r.err).toMatch(/policy "acme-agents" .* no problems/);
    },
    2 * MINUTES,
  );
});

describe('a remote agent with only @warden/sdk and ai installed', () => {
  let agentDir: string;

  beforeAll(async () => {
    agentDir = join(root, 'agent');
    mkdirSync(agentDir);
    const sdk = packed.get('@warden/sdk') as Packed;
    const rootManifest = readJson<PackageManifest>(join(REPO, 'package.json'));
    await installProject(agentDir, 'packed-agent', [
      ...wardenDependencies(sdk.manifest).map((name) => (packed.get(name) as Packed).tarball),
      `ai@${sdk.manifest.devDependencies?.ai}`,
      `@types/node@${rootManifest.devDependencies?.['@types/node']}`,
      // ai's own declarations import 'json-schema' types, which a strict check without skipLibCheck needs.
      '@types/json-schema',
    ]);
    copyFileSync(join(REPO, 'packages/cli/test/packed-agent.ts'), join(agentDir, 'agent.ts'));
  }, 15 * MINUTES);

  it('installs no database driver and not the engine', () => {
    const installed = installedPackages(agentDir);
    expect(installed.has('@warden/sdk')).toBe(true);
    for (const name of ['better-sqlite3', 'pg', '@warden/engine'])
      expect(installed.get(name), name).toBeUndefined();
  });

  it(
    'type-checks with strict tsc (library declarations included) and makes governed calls',
    async () => {
      // Strict, and without skipLibCheck: a type in the SDK's declarations that reached the engine would fail.
      await sh(process.execPath, [TSC, '--strict', '--noEmit', ...TS_FLAGS, 'agent.ts'], agentDir);
      await sh(process.execPath, [TSC, '--noCheck', ...TS_FLAGS, '--outDir', 'build', 'agent.ts'], agentDir);
      expect(server, 'the server of the first project').toBeDefined();
      const env = projectEnv({ WARDEN_URL: server?.url, WARDEN_KEY: agentKey });
      const { out } = await sh(process.execPath, ['build/agent.js'], agentDir, env);
      const report = JSON.parse(out) as Record<string, unknown>;
      expect(report).toEqual({
        ran: ['refund 20'],
        outcomes: [
          { tool: 'refund', output: { refunded: 20 } },
          { tool: 'dropTable', error: 'CALL_BLOCKED' },
        ],
        text: 'Refunded $20.',
        embedded: { code: 'CONFIG_INVALID', message: expect.stringContaining('npm i @warden/engine') },
      });

      // The server's audit trail has both decisions of the agent's session.
      const trail = await warden([
        'audit',
        'query',
        '--db',
        server?.db as string,
        '--session',
        'packed-agent',
        '--type',
        'call.decided',
        '--format',
        'jsonl',
      ]);
      type Decided = { event: { agent: string; tool: string; decision: { effect: string } } };
      const decided = trail.out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => (JSON.parse(l) as Decided).event);
      expect(decided.map((e) => [e.agent, e.tool, e.decision.effect])).toEqual([
        ['support-bot', 'billing.refund', 'allow'],
        ['support-bot', 'db.drop_table', 'block'],
      ]);
    },
    10 * MINUTES,
  );
});

/** The @warden packages a package needs at run time, its own dependencies' included (peers are not). */
function wardenDependencies(m: PackageManifest, seen = new Set<string>([m.name])): string[] {
  for (const dep of Object.keys(m.dependencies ?? {})) {
    if (!dep.startsWith('@warden/') || seen.has(dep)) continue;
    seen.add(dep);
    wardenDependencies((packed.get(dep) as Packed).manifest, seen);
  }
  return [...seen];
}
