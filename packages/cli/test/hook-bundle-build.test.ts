/**
 * bin.js loads dist/hook.bundle.js whenever it exists, so the bundle must never be older than the
 * dist/ it ships with: scripts/postbuild.mjs removes a bundle left without its entry (dist/hook-cli.js),
 * and @warden/cli's `prepack` rebuilds it, so `npm pack` ships one made from the packed dist/. Run on a
 * copy of the script and the CLI's package.json in a temp tree (the real esbuild), with a tiny entry.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO } from '../../server/test-support/serve-process.js';

let root: string;
let dist: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'warden-bundle-build-'));
  mkdirSync(join(root, 'scripts'));
  copyFileSync(join(REPO, 'scripts/postbuild.mjs'), join(root, 'scripts/postbuild.mjs'));
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
  dist = join(root, 'packages/cli/dist');
  mkdirSync(dist, { recursive: true });
  copyFileSync(join(REPO, 'packages/cli/package.json'), join(root, 'packages/cli/package.json'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Runs a command to its end; a failure throws with its output. */
function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A bundle as an earlier build left it (dated in the past). */
function staleBundle(): void {
  writeFileSync(join(dist, 'hook.bundle.js'), 'export const runHookCli = async () => "stale";\n');
  const past = new Date('2020-01-01T00:00:00Z');
  utimesSync(join(dist, 'hook.bundle.js'), past, past);
}

describe('the hook bundle and the dist/ it ships with', () => {
  it('postbuild removes a bundle whose entry (dist/hook-cli.js) is gone', () => {
    staleBundle();
    run(process.execPath, ['scripts/postbuild.mjs'], root);
    expect(existsSync(join(dist, 'hook.bundle.js'))).toBe(false);
  });

  it('`npm pack` of the CLI ships a bundle rebuilt from the packed dist/hook-cli.js, not a stale one', () => {
    staleBundle();
    writeFileSync(join(dist, 'hook-cli.js'), 'export const runHookCli = async () => "fresh-entry";\n');
    const out = join(root, 'out');
    mkdirSync(out);
    const [info] = JSON.parse(
      run('npm', ['pack', '--json', '--pack-destination', out], join(root, 'packages/cli')),
    ) as [{ filename: string }];
    const shipped = run('tar', ['-xzOf', join(out, info.filename), 'package/dist/hook.bundle.js'], root);
    expect(shipped).toContain('fresh-entry');
    expect(shipped).not.toContain('stale');
  });
});
