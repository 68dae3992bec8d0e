/**
 * A user's terminal for the README command test: one folder (a copy of the checkout), one environment
 * that `export` lines change, and at most one server in the background (the README's "in another
 * terminal"). Commands run in bash as the README writes them, with only what a user would fill in
 * themselves changed: `wdn_…` is the key a command printed last, `apr_…` the approval id last printed,
 * port 7400 is a free port (a test cannot count on 7400), a `postgres://…` URL is the page's own
 * throwaway database, and `npm run NAME` / `npm start` run the package.json script's command directly
 * (its `npm run build` prefix dropped: the test needs the build).
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { freePort } from '../../server/test-support/serve-process.js';
import type { ReadmeCommand } from './readme-blocks.js';

export { freePort };

/** How a command ended and what it printed (stdout and stderr interleaved as they came). */
export interface CommandRun {
  readonly code: number | null;
  readonly output: string;
  /** The command as it was run, after the substitutions above. */
  readonly ran: string;
}

const KEY = /wdn_[A-Za-z0-9_-]{20,}/g;
const APPROVAL = /apr_[A-Za-z0-9_-]{6,}/g;
const BUILD_PREFIX = /^npm run build(?: --silent)? && /;
const POSTGRES_URL = /\bpostgres(?:ql)?:\/\/[^\s'"]+/g;

/** What a terminal is given beyond its folder, port and environment. */
export interface TerminalOptions {
  /** The database a `postgres://…` URL in a command stands for (a page that uses none needs none). */
  readonly databaseUrl?: string;
}

/** How often a server whose port was taken meanwhile is started again on another one. */
const PORT_TAKEN_RETRIES = 3;

/** A shell session in `dir` whose servers listen on `port`. */
export class ReadmeTerminal {
  readonly #dir: string;
  #port: number;
  /** Whether a command has been given the port: from then on it cannot change. */
  #portShown = false;
  readonly #scripts: Record<string, string>;
  readonly #databaseUrl: string | undefined;
  readonly #envDir = mkdtempSync(join(tmpdir(), 'warden-readme-env-'));
  #env: NodeJS.ProcessEnv;
  #key: string | undefined;
  #approval: string | undefined;
  #server: ChildProcessByStdio<null, Readable, Readable> | undefined;

  constructor(dir: string, port: number, env: NodeJS.ProcessEnv, options: TerminalOptions = {}) {
    this.#dir = dir;
    this.#port = port;
    this.#env = env;
    this.#databaseUrl = options.databaseUrl;
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    this.#scripts = pkg.scripts;
  }

  /** `text` as this test runs it; throws, saying why, when a user could not run it as written. */
  translate(text: string): string {
    if (/(?:^|[;&|(]\s*)warden\s/.test(withoutComment(text))) {
      throw new Error(
        'a bare `warden` is not on the PATH of a fresh clone; the README runs `npm run warden -- …`',
      );
    }
    if (/\bnpm run (?!-s\b|--silent\b)/.test(text) && /\s(?:>>?|\|)\s/.test(withoutComment(text))) {
      throw new Error(
        '`npm run` prints its own header on stdout, into the file or pipe too; use `npm run -s`',
      );
    }
    let out = text.replace(/\b(localhost|127\.0\.0\.1):7400\b/g, () => {
      this.#portShown = true;
      return `127.0.0.1:${this.#port}`;
    });
    out = out.replace(POSTGRES_URL, () => {
      if (!this.#databaseUrl)
        throw new Error('it names a postgres:// URL, but this terminal has no database');
      return this.#databaseUrl;
    });
    out = out.replace(
      /\bnpm (?:run (?:(?:-s|--silent) )?([\w:-]+)|start)(?: --(?=\s|$))?/g,
      (_m, name?: string) => this.#script(name ?? 'start'),
    );
    if (/\bnpm\s/.test(out))
      throw new Error(`it runs npm in a way this test cannot (${out}); mark the block`);
    out = out.replace(/wdn_…/g, () => this.#need(this.#key, 'wdn_…', 'an API key'));
    return out.replace(/apr_…/g, () => this.#need(this.#approval, 'apr_…', 'an approval id'));
  }

  /** Runs one command to its end, or, for a server (`npm start`, `… serve`), until it listens. */
  async run(command: ReadmeCommand): Promise<CommandRun> {
    const ran = this.translate(command.text);
    if (isServer(command.text)) return this.#startServer(ran);
    const envFile = join(this.#envDir, 'env');
    const script = `${ran}\n__rc=$?; env -0 > '${envFile}'; exit $__rc`;
    const result = await collect(spawn('bash', ['-o', 'pipefail', '-c', script], this.#spawnOptions()));
    if (result.code === 0) this.#env = readEnv(envFile);
    this.#remember(result.output);
    return { ...result, ran };
  }

  /** Stops the background server (Ctrl-C), if one runs. */
  async stopServer(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    if (server.exitCode !== null || server.signalCode !== null) return;
    const ended = new Promise((resolve) => server.once('close', resolve));
    killGroup(server, 'SIGINT');
    const timer = setTimeout(() => killGroup(server, 'SIGKILL'), 15_000);
    await ended;
    clearTimeout(timer);
  }

  /** Stops the server and removes the terminal's own files (not the folder it works in). */
  async close(): Promise<void> {
    await this.stopServer();
    rmSync(this.#envDir, { recursive: true, force: true });
  }

  #script(name: string): string {
    const body = this.#scripts[name];
    if (!body) throw new Error(`package.json has no script "${name}"`);
    return body.replace(BUILD_PREFIX, '');
  }

  #need(value: string | undefined, placeholder: string, what: string): string {
    if (!value) throw new Error(`it needs ${placeholder}, ${what}, but no earlier command printed one`);
    return value;
  }

  #remember(output: string): void {
    this.#key = [...output.matchAll(KEY)].pop()?.[0] ?? this.#key;
    this.#approval = [...output.matchAll(APPROVAL)].pop()?.[0] ?? this.#approval;
  }

  #spawnOptions(extra: NodeJS.ProcessEnv = {}) {
    return {
      cwd: this.#dir,
      env: { ...this.#env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a stop reaches what bash started too.
      detached: true,
    };
  }

  /** The README's server, in the background, as a user leaves it running in another terminal. */
  async #startServer(ran: string): Promise<CommandRun> {
    for (let retry = 0; ; retry++) {
      const started = await this.#startServerOnce(ran);
      // The free port picked for this terminal was taken by another process of the test run before the
      // server bound it (a port is only free when asked). No command has been told it yet: take another.
      if (started.code === 0 || this.#portShown || retry >= PORT_TAKEN_RETRIES) return started;
      if (!/port \d+ on [\d.]+ is in use/.test(started.output)) return started;
      this.#port = await freePort();
    }
  }

  async #startServerOnce(ran: string): Promise<CommandRun> {
    await this.stopServer();
    const child = spawn(
      'bash',
      ['-c', `exec ${ran}`],
      this.#spawnOptions({ WARDEN_PORT: String(this.#port) }),
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    this.#server = child;
    const deadline = Date.now() + 60_000;
    while (!/Warden is listening on http/.test(output)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        this.#server = undefined;
        killGroup(child, 'SIGKILL');
        return { code: child.exitCode ?? 1, output: `${output}\n(the server did not start listening)`, ran };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    this.#portShown = true;
    this.#remember(output);
    return { code: 0, output, ran };
  }
}

/** The command without its trailing comment (from an unquoted ` #`). */
export function withoutComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && /\s/.test(text[i - 1] ?? '')) return text.slice(0, i);
  }
  return text;
}

/** Whether a README command starts a server that keeps running (the user's other terminal). */
export function isServer(text: string): boolean {
  return /^npm start\b/.test(text) || /^npm run warden -- serve\b/.test(text);
}

/** A command that runs longer than this is stopped and fails (one that waits for a person, say). */
const COMMAND_LIMIT_MS = 60_000;

function collect(child: ChildProcessByStdio<null, Readable, Readable>): Promise<Omit<CommandRun, 'ran'>> {
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const timer = setTimeout(() => {
    output += `\n(still running after ${COMMAND_LIMIT_MS / 1000} s: stopped; mark it if it cannot end here)`;
    killGroup(child, 'SIGKILL');
  }, COMMAND_LIMIT_MS);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    }),
  );
}

/** Signals the command's whole process group (bash and what it started). */
function killGroup(child: ChildProcessByStdio<null, Readable, Readable>, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function readEnv(file: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const entry of readFileSync(file, 'utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  // bash's own bookkeeping is not the user's environment.
  for (const name of ['_', 'SHLVL', 'PWD', 'OLDPWD', '__rc']) delete env[name];
  return env;
}
