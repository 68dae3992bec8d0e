#!/usr/bin/env node
import { processIo } from './cli-io.js';

const argv = process.argv.slice(2);
// A coding assistant runs `warden hook` around every tool use: it loads only the hook (see hook-cli.ts).
const code =
  argv[0] === 'hook'
    ? await (await import('./hook-cli.js')).runHookCli(argv, processIo())
    : await (await import('./program.js')).runCli(argv, processIo());
process.exitCode = code;
