/**
 * Real child processes for the server tests: the built `warden` CLI (`packages/cli/dist/bin.js`, so
 * `npm run build` first) and helper scripts, run from the repository root with their output collected.
 * Call killAll() in afterAll for whatever is still running.
 */
import {
  type ChildProcess,
  type ChildProcessByStdio,
  type ChildProcessWithoutNullStreams,
  spawn,
} from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The repository root: the children's working directory, where `--import tsx` resolves. */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** The built `warden` entry point. */
export const BIN = join(REPO, 'packages/cli/dist/bin.js');

/** Every child spawned here, for killAll(). */
const children: ChildProcess[] = [];

/** SIGKILLs every child spawned here that is still running (call in afterAll). */
export function killAll(): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** The environment of a child: the test's, without any Warden settings it might carry. */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WARDEN_')));
  return { ...env, ...extra };
}

/** How a child ended, and everything it printed. */
export interface Ran {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
}

/** A spawned child whose stdout and stderr are being collected. */
export interface Collected<C extends ChildProcess> {
  readonly child: C;
  /** Resolves once the child has exited and closed its output. */
  readonly exited: Promise<Ran>;
  /** Its stdout so far. */
  out(): string;
  /** Its stderr so far. */
  err(): string;
}

interface SpawnOptions {
  /** The child's whole environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

/** Spawns `node …args` in REPO and collects its output; stdin is ignored unless `stdin: 'pipe'`. */
export function spawnCollect(
  args: readonly string[],
  options: SpawnOptions & { readonly stdin: 'pipe' },
): Collected<ChildProcessWithoutNullStreams>;
export function spawnCollect(
  args: readonly string[],
  options?: SpawnOptions & { readonly stdin?: 'ignore' },
): Collected<ChildProcessByStdio<null, Readable, Readable>>;
export function spawnCollect(
  args: readonly string[],
  options: SpawnOptions & { readonly stdin?: 'ignore' | 'pipe' } = {},
): Collected<ChildProcessByStdio<Writable | null, Readable, Readable>> {
  const child = spawn(process.execPath, args, {
    cwd: REPO,
    env: options.env ?? process.env,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  }) as ChildProcessByStdio<Writable | null, Readable, Readable>;
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<Ran>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, out, err })),
  );
  return { child, exited, out: () => out, err: () => err };
}

/** Runs `warden …` to the end (asynchronously: this process keeps serving its own sockets meanwhile). */
export function warden(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return spawnCollect([BIN, ...args], { env: childEnv(env) }).exited;
}

/** A `warden serve` child process. */
export interface Served {
  readonly url: string;
  readonly child: ChildProcess;
  readonly exited: Promise<Ran>;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then its exit. */
  stop(): Promise<Ran>;
}

/** Spawns `warden serve …` and resolves once it prints the URL it listens on. */
export function spawnServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const { child, exited, out, err } = spawnCollect([BIN, 'serve', ...args], { env: childEnv(env) });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail('did not print its URL within 60 s'), 60_000);
    function fail(why: string) {
      clearTimeout(timer);
      child.stdout.off('data', look);
      reject(new Error(`warden serve ${why}\nstdout:\n${out()}\nstderr:\n${err()}`));
    }
    function look() {
      const m = /Warden is listening on (http:\/\/\S+)/.exec(out());
      if (!m) return;
      clearTimeout(timer);
      child.stdout.off('data', look);
      resolve({
        url: m[1] as string,
        child,
        exited,
        stdout: out,
        stderr: err,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    }
    child.stdout.on('data', look);
    void exited.then(({ code, signal }) => fail(`exited early (code ${code}, signal ${signal})`));
  });
}

/** An HTTP answer: the status and the parsed JSON body (`{ text }` when the body is not JSON). */
export interface Answer<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
}

/** `method path` against `base`, with an optional API key and JSON body. */
export async function api<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  o: { key?: string; body?: unknown } = {},
): Promise<Answer<T>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(o.key ? { authorization: `Bearer ${o.key}` } : {}),
      ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, body: body as T };
}

/** One line of a running server's log (its stderr): pino JSON with a named level and a message. */
export interface LogLine {
  readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  readonly msg: string;
  readonly [field: string]: unknown;
}

/**
 * Every complete line of `stderr` parsed as a log line; throws naming the first line that is not JSON
 * with a string `level` and `msg` (a bare text line is exactly what the server must not print).
 */
export function logLines(stderr: string): LogLine[] {
  const complete = stderr.slice(0, stderr.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
      const o = parsed as Partial<LogLine> | null;
      if (typeof o?.level !== 'string' || typeof o.msg !== 'string')
        throw new Error(`a log line without a string level and msg: ${line}`);
      return o as LogLine;
    });
}

/** The log lines whose message contains `text`. */
export function logged(stderr: string, text: string): LogLine[] {
  return logLines(stderr).filter((l) => l.msg.includes(text));
}

/**
 * A port nothing listens on now, for a server whose URL must be known before it starts (an OpenID
 * provider's redirect URI). Another process may still take it before the server binds it.
 */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}
