import { posix } from 'node:path';

/**
 * Where a tool use happens, for resolving the paths it names: relative paths resolve against `cwd`, `~`
 * and `$HOME` against `home`, and "inside the project" means inside `projectDir`.
 */
export interface PathContext {
  readonly cwd: string;
  readonly projectDir: string;
  readonly home: string;
}

/** `~`, `$HOME` or `${HOME}` at the start of a path, followed by a slash or the end. */
const HOME_PREFIX = /^(~|\$HOME|\$\{HOME\})(?=\/|$)/;

/**
 * The absolute, normalised form of `path` as written (`~`, `~/x`, `$HOME/x` and `${HOME}/x` expanded).
 * Symbolic links are NOT resolved: this is a pure function over the text an assistant sent, and the file
 * may not exist yet. A link inside the project that points outside it therefore counts as inside; a
 * policy that must close that gap needs the files themselves (the assistant's own sandbox), not the call.
 */
export function resolvePath(path: string, where: PathContext): string {
  const home = HOME_PREFIX.exec(path);
  const p = home ? where.home + path.slice((home[0] as string).length) : path;
  return posix.resolve(where.cwd, p);
}

/**
 * True when absolute `path` is `dir` or lies under it. The separator check keeps `/proj-evil` from
 * counting as inside `/proj`.
 */
export function isInside(path: string, dir: string): boolean {
  const root = posix.resolve(dir);
  if (path === root) return true;
  return path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/** `path` relative to the project root ('.' for the root itself), or '' when it lies outside. */
export function projectRelative(path: string, projectDir: string): string {
  if (!isInside(path, projectDir)) return '';
  return posix.relative(posix.resolve(projectDir), path) || '.';
}
