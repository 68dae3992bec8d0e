import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isEngineMissing } from './create-warden.js';

/** Real module-resolution errors, from a folder outside the repository (so nothing resolves upward). */
const dir = mkdtempSync(join(tmpdir(), 'warden-engine-missing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('isEngineMissing', () => {
  it('recognises the engine missing under ESM import and CommonJS require', async () => {
    const importer = join(dir, 'importer.mjs');
    writeFileSync(importer, "export default () => import('@warden/engine');\n");
    const esm = await thrown(async () => (await import(pathToFileURL(importer).href)).default());
    expect(esm).toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    expect(isEngineMissing(esm)).toBe(true);
    const cjs = await thrown(() => createRequire(join(dir, 'x.cjs'))('@warden/engine'));
    expect(cjs).toMatchObject({ code: 'MODULE_NOT_FOUND' });
    expect(isEngineMissing(cjs)).toBe(true);
  });

  it('does not take a missing dependency of the engine for the engine', async () => {
    const engine = join(dir, 'with-engine', 'node_modules', '@warden', 'engine');
    mkdirSync(engine, { recursive: true });
    writeFileSync(
      join(engine, 'package.json'),
      JSON.stringify({ name: '@warden/engine', exports: { import: './index.mjs', require: './index.cjs' } }),
    );
    writeFileSync(join(engine, 'index.mjs'), "import 'warden-missing-driver';\n");
    writeFileSync(join(engine, 'index.cjs'), "require('warden-missing-driver');\n");
    const importer = join(dir, 'with-engine', 'importer.mjs');
    writeFileSync(importer, "export default () => import('@warden/engine');\n");
    const esm = await thrown(async () => (await import(pathToFileURL(importer).href)).default());
    expect(esm).toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    expect(String((esm as Error).message)).toContain('@warden/engine');
    expect(isEngineMissing(esm)).toBe(false);
    const cjs = await thrown(() => createRequire(join(dir, 'with-engine', 'x.cjs'))('@warden/engine'));
    expect(cjs).toMatchObject({ code: 'MODULE_NOT_FOUND' });
    expect(String((cjs as Error).message)).toContain('@warden/engine');
    expect(isEngineMissing(cjs)).toBe(false);
    expect(isEngineMissing(new Error("Cannot find module '@warden/engine'"))).toBe(false);
  });
});
