import { WardenError } from '@warden/core';

/** better-sqlite3 13 is built for Node-API 10: Node.js 22.14 and later (every 24.x). */
const NODE_API_NEEDED = 10;

/**
 * Refuses, with a clear error, a Node.js whose Node-API is older than the SQLite driver's: loading its
 * binary there crashes the process (a segfault on 22.12 and 22.13) instead of failing.
 */
export function assertSqliteRuntime(versions: NodeJS.ProcessVersions = process.versions): void {
  const napi = Number(versions.napi);
  if (napi >= NODE_API_NEEDED) return;
  throw new WardenError(
    'STORE_INVALID',
    `SQLite needs Node.js 22.14 or later (Node-API ${NODE_API_NEEDED}); this is Node.js ${versions.node} (Node-API ${versions.napi}): use Node.js 24 LTS, or PostgreSQL`,
  );
}
