/**
 * What the coding-assistant process helpers (claude-code-process.ts, codex-process.ts) share: a
 * throwaway directory with a home and a project, the inherited environment without the variables that
 * would steer the assistant elsewhere, and running the assistant to its end while collecting the JSON
 * lines it prints.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Makes a temporary directory with `home/` and `project/` (real paths: the assistants resolve symlinks),
 * and `home/<each of homeDirs>`.
 */
export function assistantDirs(
  prefix: string,
  homeDirs: readonly string[],
): { dir: string; home: string; project: string } {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  const home = join(dir, 'home');
  const project = join(dir, 'project');
  for (const d of homeDirs) mkdirSync(join(home, d), { recursive: true });
  mkdirSync(project);
  return { dir, home, project };
}

/** This process's environment without the variables whose names match `leave`. */
export function inheritedEnv(leave: RegExp): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !leave.test(k)));
}

/** How an assistant run ended: its exit, output, and the JSON lines it printed on stdout. */
export interface JsonLinesRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
  readonly lines: Record<string, unknown>[];
}

/** Runs `bin args` to its end (killed with SIGKILL after timeoutMs, default 60 s). */
export function runJsonLines(
  bin: string,
  args: readonly string[],
  o: { readonly cwd: string; readonly env: NodeJS.ProcessEnv; readonly timeoutMs?: number },
): Promise<JsonLinesRun> {
  const child = spawn(bin, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, out, err, lines });
    });
  });
}

/** A short account of a run for assertion messages: exit, stderr and the last JSON lines. */
export function describeJsonLinesRun(
  name: string,
  run: { code: number | null; signal: NodeJS.Signals | null; err: string },
  lines: readonly Record<string, unknown>[],
): string {
  const tail = lines.slice(-4).map((m) => JSON.stringify(m).slice(0, 600));
  return `${name} exited ${run.code ?? run.signal}\nstderr: ${run.err.slice(-2000)}\n${tail.join('\n')}`;
}
