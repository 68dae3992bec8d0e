#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { processIo } from './cli-io.js';

const argv = process.argv.slice(2);
if (argv[0] === 'hook') failClosed();
const code =
  argv[0] === 'hook'
    ? await (await loadHookCli()).runHookCli(argv, processIo())
    : await (await import('./program.js')).runCli(argv, processIo());
process.exitCode = code;

/**
 * Until the hook's own guard is armed, anything going wrong (a partial install, a missing package.json,
 * a broken bundle) must still deny: a hook exiting 1 lets every assistant run the tool, while exit 2
 * with a reason on stderr blocks it in Claude Code, Codex and Gemini CLI alike.
 */
function failClosed(): void {
  process.exitCode = 2;
  const on = (event: 'uncaughtException' | 'unhandledRejection') =>
    process.on(event, (err: unknown) => {
      // Once the hook's guard is armed it answers (in the assistant's own terms): leave it to that.
      if (process.listenerCount(event) > 1) return;
      process.stderr.write(`warden hook failed, so the tool use is blocked: ${oneLine(err)}\n`);
      process.exit(2);
    });
  on('uncaughtException');
  on('unhandledRejection');
}

async function loadHookCli(): Promise<typeof import('./hook-cli.js')> {
  try {
    return await hookCli();
  } catch (err) {
    process.stderr.write(`warden hook could not load, so the tool use is blocked: ${oneLine(err)}\n`);
    process.exit(2);
  }
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim() || 'unknown error';
}

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
