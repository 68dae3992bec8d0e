/**
 * Benchmark runner: `npm run bench -- [--quick] [--json FILE] [--filter NAME]`.
 *
 * Discovers every `packages/<pkg>/bench/*.bench.ts` and `bench/*.bench.ts`, runs the `benchmarks` each one
 * exports in sequence (progress on stderr), prints one aligned table of all figures on stdout and, with
 * --json, writes them as one flat JSON object `{ "policy.decision_p50_ns": 512, … }`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Benchmark } from './benchmark.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `usage: npm run bench -- [--quick] [--json FILE] [--filter NAME]
  --quick        short run (the whole suite in under a minute); default is longer and steadier
  --json FILE    also write every figure to FILE as one flat JSON object (parent directories are created)
  --filter NAME  run only the benchmarks whose name or file contains NAME
  --help         show this help`;

interface Options {
  readonly quick: boolean;
  readonly json: string | undefined;
  readonly filter: string | undefined;
}

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(1);
}

function parseOptions(argv: readonly string[]): Options {
  let values: { quick?: boolean; json?: string; filter?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean' },
        json: { type: 'string' },
        filter: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (values.json !== undefined && (values.json === '' || values.json.startsWith('--'))) {
    usageError(`--json needs a file name, got "${values.json}"`);
  }
  if (values.filter !== undefined && (values.filter === '' || values.filter.startsWith('--'))) {
    usageError(`--filter needs a benchmark name, got "${values.filter}"`);
  }
  return { quick: values.quick ?? false, json: values.json, filter: values.filter };
}

/** `packages/<pkg>/bench/*.bench.ts` then `bench/*.bench.ts`, as absolute paths in a stable order. */
async function discover(): Promise<string[]> {
  const files: string[] = [];
  const benchFiles = async (dir: string) =>
    existsSync(dir)
      ? (await readdir(dir))
          .filter((f) => f.endsWith('.bench.ts'))
          .sort()
          .map((f) => path.join(dir, f))
      : [];
  const packages = path.join(ROOT, 'packages');
  for (const pkg of existsSync(packages) ? (await readdir(packages)).sort() : []) {
    files.push(...(await benchFiles(path.join(packages, pkg, 'bench'))));
  }
  files.push(...(await benchFiles(path.join(ROOT, 'bench'))));
  return files;
}

function isBenchmark(x: unknown): x is Benchmark {
  const b = x as Partial<Benchmark> | null;
  return (
    typeof b === 'object' &&
    b !== null &&
    typeof b.name === 'string' &&
    b.name !== '' &&
    typeof b.run === 'function'
  );
}

async function load(file: string): Promise<Benchmark[]> {
  const mod = (await import(pathToFileURL(file).href)) as { benchmarks?: unknown };
  const list = mod.benchmarks;
  if (!Array.isArray(list) || !list.every(isBenchmark)) {
    throw new Error(
      `${path.relative(ROOT, file)} must export \`benchmarks: Benchmark[]\` (see bench/benchmark.ts)`,
    );
  }
  return list;
}

function unitOf(key: string): string {
  if (key.endsWith('_ns')) return 'ns';
  if (key.endsWith('_us')) return 'µs';
  if (key.endsWith('_ms')) return 'ms';
  if (key.endsWith('_rps') || key.endsWith('_per_s')) return '/s';
  if (key.endsWith('_s')) return 's';
  if (key.endsWith('_bytes')) return 'bytes';
  if (key.endsWith('_mb')) return 'MB';
  if (/ratio|speedup|_vs_/.test(key)) return 'ratio';
  return 'count';
}

function formatValue(value: number, unit: string): string {
  if (unit === 'ratio') return `${value.toFixed(value >= 100 ? 0 : 2)}×`;
  if (Number.isInteger(value) || Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

function table(figures: Record<string, number>): string {
  const rows = Object.entries(figures).map(([k, v]) => {
    const unit = unitOf(k);
    return [k, formatValue(v, unit), unit] as const;
  });
  const head = ['figure', 'value', 'unit'] as const;
  const w0 = Math.max(head[0].length, ...rows.map((r) => r[0].length));
  const w1 = Math.max(head[1].length, ...rows.map((r) => r[1].length));
  const line = (r: readonly [string, string, string]) =>
    `${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`.trimEnd();
  return [line(head), line(['-'.repeat(w0), '-'.repeat(w1), '-----']), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const started = performance.now();
  const err = (msg: string) => process.stderr.write(`${msg}\n`);
  err(
    `bench: ${opts.quick ? 'quick' : 'full'} run on node ${process.version}, ${availableParallelism()} CPU(s)`,
  );

  const selected: { file: string; bench: Benchmark }[] = [];
  for (const file of await discover()) {
    for (const bench of await load(file)) {
      const rel = path.relative(ROOT, file);
      if (opts.filter === undefined || bench.name.includes(opts.filter) || rel.includes(opts.filter))
        selected.push({ file: rel, bench });
    }
  }
  if (selected.length === 0) {
    usageError(
      opts.filter === undefined
        ? 'no benchmarks found (packages/*/bench/*.bench.ts, bench/*.bench.ts)'
        : `no benchmark matches --filter "${opts.filter}"`,
    );
  }

  const figures: Record<string, number> = {};
  let failed = 0;
  for (const [i, { file, bench }] of selected.entries()) {
    err(`[${i + 1}/${selected.length}] ${bench.name} (${file})`);
    const t0 = performance.now();
    try {
      const result = await bench.run({ quick: opts.quick, log: (msg) => err(`  ${bench.name}: ${msg}`) });
      for (const [key, value] of Object.entries(result)) {
        if (typeof value !== 'number' || !Number.isFinite(value))
          throw new Error(`figure ${key} is not a finite number: ${String(value)}`);
        figures[`${bench.name}.${key}`] = value;
      }
      err(`  ${bench.name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      failed++;
      err(`  ${bench.name}: FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }

  if (Object.keys(figures).length > 0) process.stdout.write(`${table(figures)}\n`);
  if (opts.json !== undefined) {
    const file = path.resolve(opts.json);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(figures, null, 2)}\n`);
    err(`bench: wrote ${Object.keys(figures).length} figure(s) to ${file}`);
  }
  err(
    `bench: ${selected.length - failed}/${selected.length} benchmark(s) ran in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  if (failed > 0) process.exitCode = 1;
}

await main();
