#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { processIo } from './cli-io.js';

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
 * (Node's compile cache was measured here too: with the bundle it saved ~2 ms of ~60 ms CPU a run, so it
 * is not enabled, and nothing is written to the temp folder.)
 */
async function hookCli(): Promise<typeof import('./hook-cli.js')> {
  const bundle = new URL('./hook.bundle.js', import.meta.url);
  return existsSync(bundle) ? import(bundle.href) : import('./hook-cli.js');
}
