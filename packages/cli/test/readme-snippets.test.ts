/**
 * The TypeScript examples of the README and of every page of docs/ (doc-pages.ts) type-check against the
 * built packages, as a user's project would compile them (strict, ESM, top-level await), with the `tsc`
 * command. An example leaves out what is the user's own (`stripe`, `ticket`, the agent's `prompt`): a
 * name it uses without defining is declared `any`, so what is checked is every use of Warden's and the
 * adapters' APIs. Needs the built packages (`npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../../server/test-support/serve-process.js';
import { DOC_PAGES } from './doc-pages.js';
import { typescriptSnippets } from './readme-blocks.js';

/** Every example with the page it is on and a file name of its own. */
const snippets = DOC_PAGES.flatMap((page) =>
  typescriptSnippets(readFileSync(join(REPO, page), 'utf8'), page).map((s) => ({
    ...s,
    page,
    file: `${page.replace(/\W+/g, '-')}-line-${s.line}.ts`,
  })),
);
let dir: string;

// TypeScript 7 is a native compiler without the JavaScript API of 5.x: the test runs its command.
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const OPTIONS = {
  target: 'es2022',
  lib: ['es2024'],
  module: 'nodenext',
  moduleResolution: 'nodenext',
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
};
/** "Cannot find name 'x'" (with or without a "did you mean"), and `{ x }` with no x in scope. */
const UNKNOWN_NAME = new Set([2304, 2552, 2580, 2582, 18004]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'warden-readme-ts-'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the TypeScript examples of the README and docs/', () => {
  it('has examples to check', () => {
    expect(snippets.length).toBeGreaterThan(3);
  });

  it('type-check against the built packages', () => {
    const files = snippets.map((s) => join(dir, s.file));
    for (const [i, s] of snippets.entries()) writeFileSync(files[i] as string, `${s.code}\nexport {};\n`);
    const unknown = new Map<string, Set<string>>();
    for (const d of diagnose(files)) {
      if (!d.file || !UNKNOWN_NAME.has(d.code)) continue;
      const name = /'([^']+)'/.exec(d.message)?.[1];
      if (!name) continue;
      const names = unknown.get(d.file) ?? new Set<string>();
      unknown.set(d.file, names.add(name));
    }
    for (const [i, s] of snippets.entries()) {
      const declared = [...(unknown.get(files[i] as string) ?? [])].map((n) => `declare const ${n}: any;`);
      writeFileSync(files[i] as string, `${s.code}\nexport {};\n${declared.join('\n')}\n`);
    }
    const problems = diagnose(files).map((d) => {
      const snippet = snippets[files.indexOf(d.file ?? '')];
      const line = snippet && d.line !== undefined ? snippet.line + d.line : '?';
      return `${snippet?.page ?? '?'} line ${line}: ${d.message}`;
    });
    expect(problems).toEqual([]);
  }, 60_000);
});

/** One error `tsc` reported: where (1-based line in `file`) and its TS code. */
interface Diagnostic {
  readonly file?: string;
  readonly line?: number;
  readonly code: number;
  readonly message: string;
}

/** Runs `tsc` on `files` (a tsconfig beside them) and parses its errors; throws when it could not run. */
function diagnose(files: string[]): Diagnostic[] {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: OPTIONS, files: files.map((f) => f.slice(dir.length + 1)) }),
  );
  const run = spawnSync(process.execPath, [TSC, '-p', dir, '--pretty', 'false'], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (run.error || (run.status !== 0 && run.status !== 1 && run.status !== 2)) {
    throw new Error(`tsc did not run: ${run.error?.message ?? `exit ${run.status}`}\n${run.stderr}`);
  }
  const out: Diagnostic[] = [];
  // `file(line,col): error TS2304: message`, or `error TS5023: message` for the whole project.
  for (const text of run.stdout.split('\n')) {
    const at = /^(.+)\((\d+),\d+\): error TS(\d+): (.*)$/.exec(text);
    if (at) {
      const [, file, line, code, message] = at as unknown as [string, string, string, string, string];
      out.push({ file: resolve(dir, file), line: Number(line), code: Number(code), message });
      continue;
    }
    const whole = /^error TS(\d+): (.*)$/.exec(text);
    if (whole) out.push({ code: Number(whole[1]), message: whole[2] as string });
  }
  if (run.status !== 0 && out.length === 0) throw new Error(`tsc failed without errors:\n${run.stdout}`);
  return out;
}
