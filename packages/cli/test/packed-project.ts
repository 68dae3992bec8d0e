/**
 * Packing the workspaces and installing the tarballs into throwaway projects, for the packed-install
 * test: `npm pack` and `npm install` as real processes, with npm's own output in every failure.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childEnv, REPO } from '../../server/test-support/serve-process.js';

/** How a command ended, and everything it printed. */
export interface Ran {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** One workspace packed: its manifest, where its tarball is and what the tarball holds. */
export interface Packed {
  readonly dir: string;
  readonly manifest: PackageManifest;
  readonly tarball: string;
  readonly files: ReadonlySet<string>;
}

/** The fields of a package.json the test reads. */
export interface PackageManifest {
  readonly name: string;
  readonly version: string;
  readonly exports?: unknown;
  readonly bin?: Record<string, string>;
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly publishConfig?: { readonly access?: string };
  readonly repository?: { readonly directory?: string };
  readonly license?: string;
  readonly workspaces?: readonly string[];
}

/**
 * The environment of npm and the installed commands: the test's, without Warden settings and without
 * what an enclosing `npm run` exports about this repository (its package, its workspaces).
 */
export function projectEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = childEnv(extra);
  for (const k of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_|^npm_config_(workspace|include_workspace_root|prefix|global)/.test(k))
      delete env[k];
  }
  return env;
}

/** Runs `command …args` in `cwd` to the end; rejects with its output when it exits non-zero. */
export function sh(command: string, args: readonly string[], cwd: string, env = projectEnv()): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve({ code, out, err });
      else reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${code}\n${out}\n${err}`));
    });
  });
}

/** The root package.json's workspaces, read each time: a package added there is packed too. */
export function workspaces(): readonly string[] {
  const root = readJson<PackageManifest>(join(REPO, 'package.json'));
  if (!root.workspaces?.length) throw new Error('the root package.json lists no workspaces');
  return root.workspaces;
}

/** `npm pack` of one workspace into `into`, with the tarball's file list. */
export async function pack(workspace: string, into: string): Promise<Packed> {
  const dir = join(REPO, workspace);
  const { out } = await sh('npm', ['pack', '--json', '--pack-destination', into], dir);
  const [info] = JSON.parse(out) as [{ filename: string; files: { path: string }[] }];
  return {
    dir: workspace,
    manifest: readJson<PackageManifest>(join(dir, 'package.json')),
    tarball: join(into, info.filename),
    files: new Set(info.files.map((f) => f.path)),
  };
}

/**
 * Makes an empty ESM project in `dir` and installs `specs` (tarball paths and registry names) as a
 * user would. Third-party packages come from the registry (npm's cache first); an unreachable
 * registry is a failure with npm's message.
 */
export async function installProject(dir: string, name: string, specs: readonly string[]): Promise<void> {
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name, private: true, type: 'module' })}\n`);
  await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...specs], dir);
}

/** Every installed package's folder under `dir/node_modules`, nested ones included, as `name → paths`. */
export function installedPackages(dir: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const visit = (modules: string) => {
    if (!existsSync(modules)) return;
    for (const entry of readdirSync(modules)) {
      if (entry.startsWith('.')) continue;
      const names = entry.startsWith('@')
        ? readdirSync(join(modules, entry)).map((n) => `${entry}/${n}`)
        : [entry];
      for (const n of names) {
        found.set(n, [...(found.get(n) ?? []), join(modules, n)]);
        visit(join(modules, n, 'node_modules'));
      }
    }
  };
  visit(join(dir, 'node_modules'));
  return found;
}

/** Every file path an `exports` map or `bin` points at (each condition's target), without `./`. */
export function pointedAt(manifest: PackageManifest): string[] {
  const targets: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') targets.push(v.replace(/^\.\//, ''));
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(manifest.exports);
  walk(manifest.bin);
  return targets;
}

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}
