#!/usr/bin/env node
import { processIo } from './cli-io.js';

const argv = process.argv.slice(2);
// `warden hook` runs around every tool use of a coding assistant: it loads only what it needs.
const code =
  argv[0] === 'hook'
    ? await (await import('./hook-cli.js')).runHookCli(argv, processIo())
    : await (await import('./program.js')).runCli(argv, processIo());
process.exitCode = code;
