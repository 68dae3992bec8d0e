/**
 * What one hook process leaves for the next of the same assistant session: the calls a `pre` decided
 * (for the `post` to complete) and the approval requests still pending (for a retried call to redeem).
 * One file per entry, written atomically (a temporary file renamed into place), so parallel hook
 * processes — an assistant running tools concurrently — never share a file; files are 0600 in 0700
 * folders (a call's id lets its holder complete it), and entries older than a week are pruned.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** The Warden calls a `pre` had allowed for one native tool use, for its `post` to complete. */
export interface DecidedCalls {
  readonly callIds: readonly string[];
  readonly tools: readonly string[];
  readonly decidedAt: string;
}

/** A review still open when the hook stopped waiting: the same call retried redeems it once approved. */
export interface PendingApproval {
  readonly approvalId: string;
  /** The Warden session the request belongs to (the redeeming check must name it). */
  readonly session: string;
  readonly tool: string;
  /** The arguments it was opened for: a retry redeems with exactly these. */
  readonly args?: Record<string, unknown>;
  readonly openedAt: string;
}

/** Entries older than this are removed (a week: an approval left over a weekend still redeems). */
const MAX_AGE_MS = 7 * 24 * 3_600_000;
/** Pruning walks the whole state folder, so it runs at most this often. */
const PRUNE_EVERY_MS = 3_600_000;

/** One assistant session's hook state under `root` (see hookStateDir). */
export class HookState {
  readonly #dir: string;

  constructor(
    readonly root: string,
    assistant: string,
    sessionId: string,
  ) {
    this.#dir = join(root, assistant, digest(sessionId).slice(0, 32));
  }

  /** Records the calls a `pre` allowed under `key` (the tool use id, else the calls' hash). */
  saveCalls(key: string, calls: DecidedCalls): void {
    this.#write(`call-${digest(key)}.json`, calls);
  }

  /** Claims and removes the calls recorded under `key` (exactly one process gets them). */
  takeCalls(key: string): DecidedCalls | undefined {
    return this.#take(`call-${digest(key)}.json`) as DecidedCalls | undefined;
  }

  /** Claims and removes every call record of the session (its end: no `post` will come for them). */
  takeAllCalls(): DecidedCalls[] {
    return this.#names()
      .filter((n) => n.startsWith('call-') && n.endsWith('.json'))
      .map((n) => this.#take(n) as DecidedCalls | undefined)
      .filter((c): c is DecidedCalls => c !== undefined);
  }

  /** The pending approval of the call hashed `key`, if one is remembered. */
  pending(key: string): PendingApproval | undefined {
    try {
      return JSON.parse(readFileSync(join(this.#dir, `approval-${digest(key)}.json`), 'utf8'));
    } catch {
      return undefined;
    }
  }

  savePending(key: string, approval: PendingApproval): void {
    this.#write(`approval-${digest(key)}.json`, approval);
  }

  dropPending(key: string): void {
    removeFile(join(this.#dir, `approval-${digest(key)}.json`));
  }

  #write(name: string, value: unknown): void {
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.#dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    writeFileSync(tmp, `${JSON.stringify(value)}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, join(this.#dir, name));
  }

  #take(name: string): unknown {
    const claimed = join(this.#dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.taken`);
    try {
      renameSync(join(this.#dir, name), claimed);
    } catch {
      return undefined; // never recorded, or another process took it first
    }
    try {
      return JSON.parse(readFileSync(claimed, 'utf8'));
    } catch {
      return undefined;
    } finally {
      removeFile(claimed);
    }
  }

  #names(): string[] {
    try {
      return readdirSync(this.#dir);
    } catch {
      return [];
    }
  }
}

/** Removes entries (and emptied session folders) older than a week, at most once an hour. */
export function pruneHookState(root: string, now = Date.now()): void {
  const marker = join(root, '.pruned');
  try {
    if (now - statSync(marker).mtimeMs < PRUNE_EVERY_MS) return;
  } catch {
    // never pruned
  }
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    writeFileSync(marker, '', { mode: 0o600 });
    utimesSync(marker, new Date(now), new Date(now));
  } catch {
    return; // nothing to prune when the folder cannot even be made
  }
  for (const assistant of subfolders(root))
    for (const session of subfolders(assistant)) {
      for (const name of entries(session)) {
        const file = join(session, name);
        if (now - mtime(file) > MAX_AGE_MS) removeFile(file);
      }
      if (entries(session).length === 0) tryRmdir(session);
    }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function subfolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function removeFile(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

function tryRmdir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // another process wrote into it meanwhile
  }
}
