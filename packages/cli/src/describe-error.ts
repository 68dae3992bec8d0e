import { isWardenError } from '@warden/core';

/** A one-line, stack-free description of any failure, for the terminal. */
export function describeError(err: unknown): string {
  if (isWardenError(err)) return `${err.message} [${err.code}]`;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && typeof e.code === 'string' && typeof e.path === 'string') {
    const what =
      {
        ENOENT: 'no such file or folder',
        EACCES: 'permission denied',
        EISDIR: 'is a folder',
        ENOTDIR: 'not a folder',
      }[e.code] ?? e.code;
    return `${what}: ${e.path}`;
  }
  return `internal error: ${err instanceof Error ? err.message : String(err)} [INTERNAL]`;
}
