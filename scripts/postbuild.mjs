// After the TypeScript build: makes the built CLI executable (npm links workspace bins at install time,
// before dist/ exists) and bundles the hook's entry into one file.
import { chmodSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const bin = new URL('../packages/cli/dist/bin.js', import.meta.url);
if (existsSync(bin)) chmodSync(bin, 0o755);

// `warden hook` starts as a new process twice per tool use of a coding assistant: bin.js loads this one
// file (shipped in @warden/cli's dist/) rather than hook-cli.js's hundreds of modules. Optional and
// native modules stay outside it (the hook never loads them): @opentelemetry/api is the application's
// (an optional peer of the SDK), the engine and its database drivers are for the embedded SDK only.
const entry = new URL('../packages/cli/dist/hook-cli.js', import.meta.url);
if (existsSync(entry))
  await build({
    entryPoints: [fileURLToPath(entry)],
    outfile: fileURLToPath(new URL('../packages/cli/dist/hook.bundle.js', import.meta.url)),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    external: ['@warden/engine', 'better-sqlite3', 'pg', '@opentelemetry/api'],
    banner: { js: '// Built by scripts/postbuild.mjs from dist/hook-cli.js (esbuild); do not edit.' },
    logLevel: 'warning',
  });
