import { closeSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { MAX_POLICY_BYTES, type PolicySource, WardenError } from '@warden/core';

const YAML = /\.ya?ml$/i;
const TEST_FILE = /\.test\.ya?ml$/i;

/** Reads a file, but never more than the policy size limit plus one byte (the parser reports the real size). */
export function readBounded(path: string, display: string): PolicySource {
  const size = statSync(path).size;
  const len = Math.min(size, MAX_POLICY_BYTES + 1);
  const buf = Buffer.alloc(len);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, len, 0);
  } finally {
    closeSync(fd);
  }
  return { file: display, text: buf.toString('utf8'), size };
}

/**
 * Every YAML file under a folder (recursively, sorted), or the file itself; test files are skipped.
 * Symbolic links are followed (a shared guard file linked into a policy folder must count), each real
 * folder once, so a link cycle cannot loop.
 */
export function listYaml(path: string, opts: { tests: boolean }): string[] {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new WardenError('POLICY_NOT_FOUND', `no such file or folder: ${path}`);
  if (st.isFile()) return [path];
  if (!st.isDirectory()) throw new WardenError('POLICY_NOT_FOUND', `not a file or folder: ${path}`);
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = (dir: string) => {
    const real = realpathSync(dir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const full = join(dir, entry.name);
      const target = entry.isSymbolicLink() ? statSync(full, { throwIfNoEntry: false }) : entry;
      if (!target)
        throw new WardenError('POLICY_NOT_FOUND', `broken symbolic link in the policy folder: ${full}`);
      if (target.isDirectory() && !entry.name.startsWith('.') && entry.name !== 'node_modules') walk(full);
      else if (target.isFile() && YAML.test(entry.name) && TEST_FILE.test(entry.name) === opts.tests)
        out.push(full);
    }
  };
  walk(path);
  return out;
}

/** Loads the YAML sources of one policy from files and folders, named relative to `cwd` for display. */
export function loadPolicySources(paths: readonly string[], cwd: string): PolicySource[] {
  const files = paths.flatMap((p) => listYaml(resolve(cwd, p), { tests: false }));
  if (files.length === 0)
    throw new WardenError('POLICY_NOT_FOUND', `no policy YAML files in ${paths.join(', ')}`);
  return files.map((f) => readBounded(f, relative(cwd, f) || f));
}
