#!/usr/bin/env node
import { existsSync } from 'node:fs';
import module from 'node:module';
import { processIo } from './cli-io.js';

// Node caches the compiled code of the modules loaded from here on (in its compile cache under the OS
// temp folder, checked against each file's contents), so the next start skips most parsing; absent
// before Node 22.1.
module.enableCompileCache?.();

const argv = process.argv.slice(2);
const code =
  argv[0] === 'hook'
    ? await (await hookCli()).runHookCli(argv, processIo())
    : await (await import('./program.js')).runCli(argv, processIo());
process.exitCode = code;

/**
 * `warden hook` runs around every tool use of a coding assistant, so it loads only what it needs: the
 * build's single-file bundle of hook-cli.js (scripts/postbuild.mjs), without the hundreds of module files
 * and the Zod schemas the full CLI loads; hook-cli.js itself where there is none (run from source).
 */
async function hookCli(): Promise<typeof import('./hook-cli.js')> {
  const bundle = new URL('./hook.bundle.js', import.meta.url);
  return existsSync(bundle) ? import(bundle.href) : import('./hook-cli.js');
}
