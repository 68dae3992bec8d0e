/**
 * What `warden hook` loads: the built CLI answers an allowed PreToolUse and its PostToolUse from the
 * build's single-file bundle (dist/hook.bundle.js), never loading Zod, the engine, a database driver or
 * OpenTelemetry (a coding assistant starts the hook twice per tool use, so every module file counts);
 * run from source, where there is no bundle, it answers the same from hook-cli.ts.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, REPO, spawnCollect } from '../../server/test-support/serve-process.js';
import {
  type HookWorld,
  hookEnv,
  postToolUse,
  preToolUse,
  startHookWorld,
  stopHookWorld,
} from './hook-fixtures.js';

let w: HookWorld;
/** A preload that writes every module URL the process resolves to $LOADED_OUT when it exits. */
let recorder: string;

beforeAll(async () => {
  w = await startHookWorld();
  recorder = join(w.dir, 'record-modules.mjs');
  writeFileSync(
    recorder,
    `import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
const seen = [];
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
process.on('exit', () => writeFileSync(process.env.LOADED_OUT, JSON.stringify(seen)));
`,
  );
}, 90_000);

afterAll(async () => {
  await stopHookWorld(w);
});

/** Runs `node …nodeArgs hook claude-code` with `input`; its result and the module files it loaded. */
async function hookLoading(nodeArgs: string[], input: unknown) {
  const out = join(w.dir, `loaded-${randomUUID()}.json`);
  const run = spawnCollect(['--import', pathToFileURL(recorder).href, ...nodeArgs, 'hook', 'claude-code'], {
    env: hookEnv(w, { LOADED_OUT: out }),
    stdin: 'pipe',
  });
  run.child.stdin.end(JSON.stringify(input));
  const ran = await run.exited;
  const files = (JSON.parse(readFileSync(out, 'utf8')) as string[])
    .filter((u) => u.startsWith('file:'))
    .map((u) => u.slice(pathToFileURL(REPO).href.length));
  return { ran, files: [...new Set(files)] };
}

describe('the modules `warden hook` loads', () => {
  it('the built CLI answers from dist/hook.bundle.js: no Zod, no engine, no database driver', async () => {
    const pre = preToolUse(randomUUID(), 'Bash', { command: 'ls' });
    for (const input of [pre, postToolUse(pre, { stdout: 'a\n', stderr: '', interrupted: false })]) {
      const { ran, files } = await hookLoading([BIN], input);
      expect(ran, ran.err).toMatchObject({ code: 0, out: '' });
      // bin.js, the I/O it shares with the full CLI, the bundle and package.json (the version): not
      // even @opentelemetry/api (installed here), whose trace context a hook process never has.
      expect(files.sort()).toEqual(
        [
          'packages/cli/dist/bin.js',
          'packages/cli/dist/cli-io.js',
          'packages/cli/dist/hook.bundle.js',
          'packages/cli/package.json',
        ].sort(),
      );
      expect(files.filter((f) => /zod|better-sqlite3|\/pg\/|engine/.test(f))).toEqual([]);
    }
  });

  it('run from source (no bundle there) it answers the same from hook-cli.ts', async () => {
    const { ran, files } = await hookLoading(
      ['--conditions=@warden/source', '--import', 'tsx', join(REPO, 'packages/cli/src/bin.ts')],
      preToolUse(randomUUID(), 'Bash', { command: 'ls' }),
    );
    expect(ran, ran.err).toMatchObject({ code: 0, out: '' });
    expect(files).toContain('packages/cli/src/hook-cli.ts');
    expect(files.filter((f) => f.includes('hook.bundle'))).toEqual([]);
  });
});
