import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { relative, resolve } from 'node:path';
import { type Actor, compilePolicy, isCalendarDate, parseDuration, WardenError } from '@warden/core';
import {
  DEFAULT_DB,
  defaultKeyFile,
  type Engine,
  type KeyRing,
  openEngine,
  openStore,
  readKeyRing,
  type Store,
} from '@warden/engine';
import type { CliIo } from '../cli-io.js';

/** The database and key file flags every `warden audit` command shares. */
export interface StoreFlags {
  readonly db: string;
  readonly keys?: string;
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/**
 * Where the database is, resolved against the working directory. A SQLite file must already exist:
 * opening a missing path would silently create an empty database, and an empty chain verifies.
 */
export function existingDb(location: string, io: CliIo): string {
  const db = location || DEFAULT_DB; // an empty WARDEN_DB counts as unset
  if (POSTGRES_URL.test(db) || db === ':memory:') return db;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(db)) return db; // openStore names what is wrong with the URL
  const path = resolve(io.cwd, db.replace(/^sqlite:/, ''));
  if (!existsSync(path)) {
    throw new WardenError(
      'USAGE',
      `no database at ${shownPath(path, io)}: pass --db PATH (or a postgres:// URL), or set WARDEN_DB`,
    );
  }
  return path;
}

/** Opens the existing store `db` names, runs `use`, and closes it whatever happens. */
export async function withStore<T>(db: string, io: CliIo, use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(existingDb(db, io));
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** The key file: --keys, or the default beside the SQLite file (or in the working directory). */
export function keyFilePath(flags: StoreFlags, io: CliIo): string {
  return resolve(io.cwd, flags.keys || defaultKeyFile(flags.db || DEFAULT_DB));
}

/** Reads the existing key ring; never creates one (a new key would silently rotate the signing key). */
export function existingKeyRing(flags: StoreFlags, io: CliIo): KeyRing {
  const file = keyFilePath(flags, io);
  if (!existsSync(file)) {
    throw new WardenError(
      'KEYS_INVALID',
      `no key file at ${shownPath(file, io)}: pass --keys FILE (the key file of the engine writing this database), or set WARDEN_KEYS`,
    );
  }
  return readKeyRing(file);
}

/** A policy that decides nothing: the audit commands only write system events and checkpoints. */
const NO_POLICY = 'name: warden-cli\n';

/** Opens an engine on the existing database with the existing keys, runs `use`, and closes it. */
export async function withEngine<T>(
  flags: StoreFlags,
  io: CliIo,
  use: (e: Engine) => Promise<T>,
): Promise<T> {
  const db = existingDb(flags.db, io);
  const keys = existingKeyRing(flags, io);
  const engine = await openEngine({
    db,
    keys,
    policy: compilePolicy(NO_POLICY, 'warden-cli.yaml'),
    requireKnownKey: true,
    onError: () => {},
  });
  try {
    return await use(engine);
  } finally {
    await engine.close();
  }
}

/** The person running the command, for `--by`: the OS user name. */
export function osUser(): string {
  try {
    return userInfo().username || process.env.USER || 'unknown';
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

/** A human actor named by --by (default: the OS user). */
export function humanActor(by: string | undefined): Actor {
  const id = (by ?? osUser()).trim();
  if (!id) throw new WardenError('USAGE', '--by must name who is doing this, e.g. --by alice');
  return { kind: 'human', id };
}

/**
 * A time flag: ISO 8601 (`2026-05-01T09:00:00Z`), a date (`2026-05-01`, midnight UTC) or a time ago
 * (`7d`, `12h`, `1h30m`), as the ISO time the query schema takes.
 */
export function parseTimeFlag(flag: string, text: string | undefined, now = Date.now()): string | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  const ago = parseDuration(t);
  if (ago !== undefined) return new Date(now - ago).toISOString();
  if (/^\d{4}-\d{2}-\d{2}$/.test(t) && isCalendarDate(t)) return `${t}T00:00:00Z`;
  if (ISO_TIME.test(t) && isCalendarDate(t) && !Number.isNaN(Date.parse(t))) return t;
  throw new WardenError(
    'QUERY_INVALID',
    `${flag} "${text}" is not a time: write an ISO time (2026-05-01T09:00:00Z), a date (2026-05-01) or an age (7d, 12h, 1h30m)`,
  );
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** A whole-number flag; USAGE names the flag otherwise. */
export function parseCount(flag: string, text: string | undefined, example: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim())) {
    throw new WardenError('USAGE', `${flag} must be a whole number, got "${text}"; e.g. ${flag} ${example}`);
  }
  return Number(text.trim());
}

/** 12345 → `12,345`. */
export function n(value: number): string {
  return value.toLocaleString('en-US');
}

/** A path as the user would write it: relative to the working directory when inside it. */
export function shownPath(path: string, io: CliIo): string {
  const rel = relative(io.cwd, path);
  return rel && !rel.startsWith('..') ? rel : path;
}

/** Quotes a shell argument only when it needs it, so printed commands can be pasted. */
export function shellArg(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
