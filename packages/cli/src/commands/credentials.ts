import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { WardenError } from '@warden/core';

/** Who a saved sign-in is, as the server's `principal` answered it (only what the CLI prints is relied on). */
export interface SignedInPerson {
  readonly id: string;
  readonly role: string | null;
  readonly kind?: string;
  readonly keyId?: string;
  readonly issuer?: string;
  readonly subject?: string;
  readonly displayName?: string;
  readonly email?: string;
  readonly groups?: readonly string[];
  readonly approverGroups?: readonly string[];
}

/** One server's sign-in: a short-lived bearer and the refresh token that renews it. */
export interface SavedSignIn {
  readonly accessToken: string;
  readonly refreshToken: string;
  /** ISO time the access token stops working. */
  readonly expiresAt: string;
  readonly principal: SignedInPerson;
  readonly savedAt: string;
}

interface CredentialsFile {
  readonly version: 1;
  readonly servers: Record<string, SavedSignIn>;
}

/**
 * Where sign-ins are kept: `$XDG_CONFIG_HOME/warden/credentials.json`, else `~/.config/warden/credentials.json`.
 * `env` is injectable so tests (and the in-process CLI) never touch the real home folder by accident.
 */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME?.trim();
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const base = xdg?.startsWith('/') ? xdg : join(env.HOME?.trim() || homedir(), '.config');
  return join(base, 'warden', 'credentials.json');
}

/**
 * The key a server's sign-in is saved under: its URL without a trailing slash, query or fragment, so
 * `http://host:7400` and `http://host:7400/` are one server and a proxy path prefix stays distinct.
 */
export function serverKey(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/** The user's id, where the platform has one (not on Windows, where these checks do not apply). */
const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;

/**
 * The folder the tokens live in must be a real folder (not a link) of this user that nobody else can write
 * to: another user who could would swap the file under us. Refused with what to do, like ssh does.
 */
function checkFolder(dir: string): void {
  if (uid === undefined) return;
  const st = lstatSync(dir);
  if (!st.isDirectory()) {
    throw new WardenError(
      'USAGE',
      `${dir} is not a folder (a link or a file): the credentials folder must be a real folder of yours`,
    );
  }
  if (st.uid !== uid) {
    throw new WardenError(
      'USAGE',
      `${dir} belongs to another user (uid ${st.uid}): the credentials folder must be yours`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw new WardenError(
      'USAGE',
      `${dir} can be written by others (mode ${(st.mode & 0o777).toString(8)}): run \`chmod 700 ${dir}\``,
    );
  }
}

function readAll(path: string): CredentialsFile {
  let text: string;
  let fd: number;
  try {
    // Not through a link: the file is opened itself, then its owner and mode are read from what was opened.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { version: 1, servers: {} };
    if (code === 'ELOOP')
      throw new WardenError('USAGE', `${path} is a link: the credentials file must be a real file`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (uid !== undefined && (st.uid !== uid || (st.mode & 0o077) !== 0)) {
      // Tokens others can read are as good as theirs: refuse, like ssh refuses a private key others can read.
      throw new WardenError(
        'USAGE',
        st.uid !== uid
          ? `${path} belongs to another user (uid ${st.uid}): delete it and run \`warden login\` again`
          : `${path} can be read by others (mode ${(st.mode & 0o777).toString(8)}): run \`chmod 600 ${path}\`, and \`warden login\` again if others may have read it`,
      );
    }
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new WardenError('USAGE', `${path} is not valid JSON: delete it and run \`warden login\` again`);
  }
  const servers = (parsed as { servers?: unknown })?.servers;
  if (!servers || typeof servers !== 'object' || Array.isArray(servers)) {
    throw new WardenError(
      'USAGE',
      `${path} is not a Warden credentials file (no "servers" object): delete it and run \`warden login\` again`,
    );
  }
  return { version: 1, servers: servers as Record<string, SavedSignIn> };
}

/** The saved sign-in for the server at `url`, if any. */
export function loadSignIn(url: string, env: NodeJS.ProcessEnv = process.env): SavedSignIn | undefined {
  const saved = readAll(credentialsPath(env)).servers[serverKey(url)];
  if (!saved) return undefined;
  if (typeof saved.accessToken !== 'string' || typeof saved.refreshToken !== 'string') {
    throw new WardenError(
      'USAGE',
      `the sign-in saved for ${serverKey(url)} in ${credentialsPath(env)} is damaged: run \`warden login --url ${serverKey(url)}\` again`,
    );
  }
  return saved;
}

/**
 * Saves (or with `undefined`, forgets) the sign-in for `url`. The file holds bearer tokens, so it is
 * written 0600 in a 0700 folder, through a temporary file renamed over it: a reader never sees half a file
 * and the tokens are never readable by others, not even for a moment.
 */
export function saveSignIn(
  url: string,
  signIn: SavedSignIn | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const path = credentialsPath(env);
  const all = readAll(path);
  const servers = { ...all.servers };
  if (signIn) servers[serverKey(url)] = signIn;
  else delete servers[serverKey(url)];
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  checkFolder(dirname(path));
  if (Object.keys(servers).length === 0) {
    rmSync(path, { force: true });
    return path;
  }
  // A name nobody can guess, created new ('wx': never through a link or over a file planted there).
  const tmp = `${path}.${randomBytes(12).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    // The mode given to open is masked by the umask; say it again.
    fchmodSync(fd, 0o600);
    writeSync(fd, `${JSON.stringify({ version: 1, servers }, null, 2)}\n`);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  return path;
}
