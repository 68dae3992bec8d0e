/**
 * The TypeScript examples of the README and of every page of docs/ (doc-pages.ts) type-check against the built packages, as a user's project would
 * compile them (strict, ESM, top-level await). An example leaves out what is the user's own (`stripe`,
 * `ticket`, the agent's `prompt`): a name it uses without defining is declared `any`, so what is checked
 * is every use of Warden's and the adapters' APIs. Needs the built packages (`npm run build`).
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
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

const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2024.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
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
      const name = /'([^']+)'/.exec(ts.flattenDiagnosticMessageText(d.messageText, '\n'))?.[1];
      if (!name) continue;
      const names = unknown.get(d.file.fileName) ?? new Set<string>();
      unknown.set(d.file.fileName, names.add(name));
    }
    for (const [i, s] of snippets.entries()) {
      const declared = [...(unknown.get(files[i] as string) ?? [])].map((n) => `declare const ${n}: any;`);
      writeFileSync(files[i] as string, `${s.code}\nexport {};\n${declared.join('\n')}\n`);
    }
    const problems = diagnose(files).map((d) => {
      const where =
        d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      const snippet = snippets[files.indexOf(d.file?.fileName ?? '')];
      const line = snippet && where ? snippet.line + 1 + where.line : '?';
      return `${snippet?.page ?? '?'} line ${line}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
    expect(problems).toEqual([]);
  }, 60_000);
});

function diagnose(files: string[]): readonly ts.Diagnostic[] {
  return ts.getPreEmitDiagnostics(ts.createProgram(files, OPTIONS));
}
