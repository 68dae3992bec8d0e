import { existsSync } from 'node:fs';
import { WardenError } from '@warden/core';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

/** The embedded default: a SQLite file in the working directory. */
export const DEFAULT_DB = './warden.db';

/**
 * Opens the store a location names: `postgres://…` or `postgresql://…` for PostgreSQL, anything else
 * (a path, `sqlite:path`, `:memory:`) for SQLite. Migrations are applied on open. With `mustExist`, a
 * missing SQLite file is an error rather than a new empty database (for read-only tools).
 */
export async function openStore(
  location: string = DEFAULT_DB,
  options: { mustExist?: boolean } = {},
): Promise<Store> {
  if (/^postgres(ql)?:\/\//i.test(location)) {
    // Loaded on demand: embedded users never load the pg driver.
    const { openPostgresStore } = await import('./postgres/postgres-store.js');
    return openPostgresStore(location);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new WardenError(
      'STORE_INVALID',
      `unsupported database URL ${location.split('@').pop()}: use postgres://… or a SQLite file path`,
    );
  }
  const file = location.replace(/^sqlite:/, '');
  if (options.mustExist && file !== ':memory:' && !existsSync(file)) {
    throw new WardenError(
      'STORE_INVALID',
      `no database at ${file}: pass --db with the path of an existing Warden database`,
    );
  }
  return openSqliteStore(file);
}

/** Where the key file lives by default: beside a SQLite file, or in the working directory. */
export function defaultKeyFile(location: string = DEFAULT_DB): string {
  if (/^postgres(ql)?:\/\//i.test(location) || location === ':memory:') return './warden.keys.json';
  return `${location.replace(/^sqlite:/, '')}.keys.json`;
}
