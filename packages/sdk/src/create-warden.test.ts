import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isEngineMissing } from './create-warden.js';

/** Real module-resolution errors, from a folder outside the repository (so nothing resolves upward). */
const dir = mkdtempSync(join(tmpdir(), 'warden-engine-missing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The error Node itself raises for `import` (ESM) or `require` (CommonJS) of `@warden/engine` from
 * `from`, in a child process: the test runner resolves dynamic imports itself, so it cannot tell.
 */
function thrown(from: string, how: 'import' | 'require'): { code: string; message: string } {
  const script =
    how === 'import'
      ? "import('@warden/engine').then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));"
      : "try { require('@warden/engine'); console.log('{}'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }";
  const file = join(from, how === 'import' ? 'probe.mjs' : 'probe.cjs');
  writeFileSync(file, script);
  const out = execFileSync(process.execPath, [file], { cwd: from, encoding: 'utf8' });
  const err = JSON.parse(out) as { code?: string; message?: string };
  if (!err.code) throw new Error(`expected an error from ${how} of @warden/engine in ${from}`);
  return err as { code: string; message: string };
}

describe('isEngineMissing', () => {
  it('recognises the engine missing under ESM import and CommonJS require', () => {
    const esm = thrown(dir, 'import');
    expect(esm).toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    expect(isEngineMissing(esm)).toBe(true);
    const cjs = thrown(dir, 'require');
    expect(cjs).toMatchObject({ code: 'MODULE_NOT_FOUND' });
    expect(isEngineMissing(cjs)).toBe(true);
  });

  it('does not take a missing dependency of the engine for the engine', () => {
    const engine = join(dir, 'with-engine', 'node_modules', '@warden', 'engine');
    mkdirSync(engine, { recursive: true });
    writeFileSync(
      join(engine, 'package.json'),
      JSON.stringify({ name: '@warden/engine', exports: { import: './index.mjs', require: './index.cjs' } }),
    );
    writeFileSync(join(engine, 'index.mjs'), "import 'warden-missing-driver';\n");
    writeFileSync(join(engine, 'index.cjs'), "require('warden-missing-driver');\n");
    const esm = thrown(join(dir, 'with-engine'), 'import');
    expect(esm).toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    expect(esm.message).toContain('@warden/engine');
    expect(isEngineMissing(esm)).toBe(false);
    const cjs = thrown(join(dir, 'with-engine'), 'require');
    expect(cjs).toMatchObject({ code: 'MODULE_NOT_FOUND' });
    expect(cjs.message).toContain('@warden/engine');
    expect(isEngineMissing(cjs)).toBe(false);
    expect(isEngineMissing(new Error("Cannot find module '@warden/engine'"))).toBe(false);
  });
});
