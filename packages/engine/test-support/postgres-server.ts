/**
 * A throwaway real PostgreSQL server for tests, from Debian's packages (apt-get installs them when missing
 * and running as root). Each server gets a fresh temp dir and a fresh port, so one left over by a crashed
 * run cannot get in the way, and a watchdog stops and removes it if its owning process dies first.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

/** A running PostgreSQL cluster owned by one test run; `url` points at its `postgres` database. */
export interface PostgresServer {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /**
   * Fast shutdown by default; the data stays. `immediate` kills the server like a crash (no checkpoint,
   * connections cut wherever they are, even mid-COMMIT); the next start recovers from the WAL.
   */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Start again on the same port with the same data. */
  start(): Promise<void>;
  /** Stop and remove the temp dir. */
  destroy(): Promise<void>;
  /** Toggle `default_transaction_read_only` cluster-wide; resolves once open sessions will see it. */
  setReadOnly(on: boolean): Promise<void>;
}

const INSTALL_HINT = 'install it with `apt-get install -y postgresql` as root (Debian/Ubuntu)';
const SETTINGS = ['listen_addresses=127.0.0.1', 'fsync=on', 'max_connections=200', 'shared_buffers=128MB'];
const execFileAsync = promisify(execFile);
const isRoot = process.getuid?.() === 0;
let installing: Promise<string> | undefined;

/** Always throws, naming what is missing and how to install it: these tests fail, never skip, CI or not. */
export function postgresUnavailable(reason: string): never {
  const ci = process.env.CI === 'true' ? ' (CI=true)' : '';
  throw new Error(`PostgreSQL is required by the tests${ci} but ${reason}; ${INSTALL_HINT}.`);
}

/** Starts a fresh cluster (fsync on) in a new temp dir on a free, or the given, port of 127.0.0.1. */
export async function startPostgres(options: { port?: number } = {}): Promise<PostgresServer> {
  const bin = await findOrInstallBinDir();
  const dir = await mkdtemp(join(tmpdir(), 'warden-pg-'));
  watchOwner(dir);
  const server = new TempPostgresServer(bin, dir, options.port ?? (await freePort()));
  try {
    // PostgreSQL refuses to run as root, so the postgres system user must own the cluster's directory.
    if (isRoot) await execFileAsync('chown', ['postgres:', dir]);
    // --no-sync skips initdb's final flush (~0.6 s); the server itself runs with fsync=on.
    const initdb = ['-D', server.dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C'];
    await run(join(bin, 'initdb'), [...initdb, '--no-sync'], dir);
    await server.start(options.port === undefined ? 3 : 1);
  } catch (error) {
    await server.destroy();
    throw error;
  }
  return server;
}

/** Creates `warden_<prefix>_<random>` on the server and returns its URL: parallel files never share state. */
export async function createTestDatabase(serverUrl: string, prefix = 'test'): Promise<string> {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const name = `warden_${safe.slice(0, 40)}_${randomBytes(6).toString('hex')}`;
  await withClient(serverUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

class TempPostgresServer implements PostgresServer {
  readonly dataDir: string;
  readonly #bin: string;
  readonly #dir: string;
  // Only a retry on a taken port changes it, before the server is handed out.
  port: number;
  #running = false;

  constructor(bin: string, dir: string, port: number) {
    this.#bin = bin;
    this.#dir = dir;
    this.port = port;
    this.dataDir = join(dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** `attempts` > 1 retries on fresh ports: a probed free port can be taken before the server binds it. */
  async start(attempts = 1): Promise<void> {
    const options = [`-p ${this.port} -k ${quote(this.#dir)}`, ...SETTINGS.map((s) => `-c ${s}`)].join(' ');
    const log = join(this.#dir, 'server.log');
    try {
      await this.#pgCtl('-o', options, '-l', log, '-w', '-t', '60', 'start');
    } catch (error) {
      const tail = (await readFile(log, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-25).join('\n');
      if (attempts > 1 && tail.includes('already in use')) {
        this.port = await freePort();
        return this.start(attempts - 1);
      }
      const hint = tail.includes('already in use') ? ' (port taken: pass another port, or none)' : '';
      throw new Error(
        `PostgreSQL did not start on port ${this.port}${hint}: ${(error as Error).message}\n${tail}`,
      );
    }
    this.#running = true;
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (this.#running) await this.#pgCtl('-m', mode, '-w', 'stop');
    this.#running = false;
  }

  async destroy(): Promise<void> {
    // Its files go next: no shutdown checkpoint to wait for (after a long run on a loaded machine, a
    // fast stop's checkpoint outlasted pg_ctl's 60 s and failed the run's teardown).
    await this.stop('immediate');
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async setReadOnly(on: boolean): Promise<void> {
    const value = on ? 'on' : 'off';
    // ALTER SYSTEM is allowed even in a read-only session, so turning it off again works.
    await withClient(this.url, async (client) => {
      await client.query(`ALTER SYSTEM SET default_transaction_read_only = ${value}`);
      await client.query('SELECT pg_reload_conf()');
    });
    // pg_reload_conf() only signals the postmaster. A new session showing the value proves it reloaded and
    // signalled every open session, which applies the change before running its next command.
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      const shown = await withClient(this.url, (c) => c.query('SHOW default_transaction_read_only'));
      if (shown.rows[0]?.default_transaction_read_only === value) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`default_transaction_read_only did not become ${value} within 10 s of pg_reload_conf()`);
  }

  #pgCtl(...args: string[]): Promise<void> {
    return run(join(this.#bin, 'pg_ctl'), ['-D', this.dataDir, ...args], this.#dir);
  }
}

/** Runs `use` with a connected client on `url`, and always disconnects it. */
export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function findOrInstallBinDir(): Promise<string> {
  const found = newestBinDir();
  if (found) return found;
  if (!isRoot) postgresUnavailable('/usr/lib/postgresql/*/bin/initdb is missing (only root can install it)');
  // One install per process; parallel processes queue on dpkg's lock instead of failing on it.
  installing ??= (async () => {
    process.stderr.write('warden tests: PostgreSQL is missing, installing it with apt-get …\n');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const apt = (...args: string[]) =>
      execFileAsync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], { env, maxBuffer: 64 << 20 });
    await apt('update')
      .then(() => apt('install', '-y', '--no-install-recommends', 'postgresql'))
      .catch((error: Error) => postgresUnavailable(`apt-get failed to install it (${error.message.trim()})`));
    return newestBinDir() ?? postgresUnavailable('initdb is still missing after apt-get install postgresql');
  })();
  return installing;
}

/** The bin dir of the highest installed major version, e.g. /usr/lib/postgresql/15/bin. */
function newestBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((version) => existsSync(join(root, version, 'bin/initdb')));
  const newest = versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))[0];
  return newest === undefined ? undefined : join(root, newest, 'bin');
}

/** Runs a PostgreSQL program, as the postgres user when root; a failure carries the program's output. */
async function run(file: string, args: string[], cwd: string): Promise<void> {
  const [command, argv] = asPostgresUser(file, args);
  try {
    await execFileAsync(command, argv, { cwd, maxBuffer: 16 << 20 });
  } catch (error) {
    const { stderr, stdout, message } = error as { stderr?: string; stdout?: string; message: string };
    // As root the usual culprit is a missing postgres system user, which the postgresql package creates.
    const as = isRoot ? 'as the postgres system user' : 'as the current user';
    throw new Error(`${basename(file)} failed ${as}: ${(stderr || stdout || message).trim()}`);
  }
}

/** PostgreSQL refuses to run as root: as root, wrap the command in runuser (or su where it is missing). */
function asPostgresUser(file: string, args: string[]): [string, string[]] {
  if (!isRoot) return [file, args];
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser'].find((path) => existsSync(path));
  if (runuser) return [runuser, ['-u', 'postgres', '--', file, ...args]];
  return ['su', ['postgres', '-s', '/bin/sh', '-c', [file, ...args].map(quote).join(' ')]];
}

function quote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Binds port 0 on 127.0.0.1 so the kernel picks a free port, then releases it for the server. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

// Runs detached, so it outlives a test process killed by SIGTERM/SIGKILL. Once the owning process ($2) is
// gone while the cluster dir ($1) still exists, it stops the postmaster at once and removes the dir.
const WATCHDOG = `while [ -d "$1" ] && kill -0 "$2" 2>/dev/null; do sleep 1; done
[ -d "$1" ] || exit 0
pid=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null) && kill -QUIT "$pid" 2>/dev/null
while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
rm -rf "$1"`;

/** Makes sure the cluster in dir cannot outlive this process, however it ends. */
function watchOwner(dir: string): void {
  const args = ['-c', WATCHDOG, 'warden-pg-watchdog', dir, String(process.pid)];
  spawn('sh', args, { detached: true, stdio: 'ignore' }).unref();
}
