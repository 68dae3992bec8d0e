// After the TypeScript build: makes the built CLI executable (npm links workspace bins at install time,
// before dist/ exists) and bundles the hook's entry into one file.
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const bin = new URL('../packages/cli/dist/bin.js', import.meta.url);
if (existsSync(bin)) chmodSync(bin, 0o755);

// The SDK passes on the active OpenTelemetry span's context, loading the optional @opentelemetry/api (some
// 40 files, ~15 ms CPU) on the first request. A hook process has no active span (it starts none, and an
// undici instrumentation propagates by itself), so in the bundle that import fails, as it does where
// the package is not installed: the same (empty) trace headers, without the load.
const noOpenTelemetry = {
  name: 'no-opentelemetry',
  setup(b) {
    b.onResolve({ filter: /^@opentelemetry\/api$/ }, (a) => ({ path: a.path, namespace: 'no-otel' }));
    b.onLoad({ filter: /.*/, namespace: 'no-otel' }, () => ({
      contents: "throw new Error('@opentelemetry/api is not loaded by warden hook');",
    }));
  },
};

// `warden hook` starts as a new process twice per tool use of a coding assistant: bin.js loads this one
// file (shipped in @warden/cli's dist/) rather than hook-cli.js's hundreds of modules. The engine and
// its native database drivers (the embedded SDK's) stay outside it; the hook never loads them.
// Also run as @warden/cli's `prepack`, so a packed CLI never ships a bundle older than its dist/.
const entry = new URL('../packages/cli/dist/hook-cli.js', import.meta.url);
const bundle = fileURLToPath(new URL('../packages/cli/dist/hook.bundle.js', import.meta.url));
// bin.js prefers the bundle whenever it exists: one left from an earlier build must not outlive its entry.
if (!existsSync(entry)) rmSync(bundle, { force: true });
else
  await build({
    entryPoints: [fileURLToPath(entry)],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    external: ['@warden/engine', 'better-sqlite3', 'pg'],
    plugins: [noOpenTelemetry],
    banner: { js: '// Built by scripts/postbuild.mjs from dist/hook-cli.js (esbuild); do not edit.' },
    logLevel: 'warning',
  });
