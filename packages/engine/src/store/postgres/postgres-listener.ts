import { WardenError } from '@warden/core';
import pg from 'pg';

/** The channel a commit other instances must hear about at once is announced on; the payload is the head seq. */
export const CHAIN_CHANNEL = 'warden_chain';

const CONNECT_TIMEOUT_MS = 3_000;
/** A silently dropped connection (no RST) is noticed after this much idle time plus a few probes. */
const KEEPALIVE_IDLE_MS = 10_000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

/** One start-to-stop span of the listener; a stop ends it for good, and a later start makes a new one. */
interface ListenRun {
  stopped: boolean;
  client: pg.Client | undefined;
  timer: NodeJS.Timeout | undefined;
  retryMs: number;
  /** The connection attempt in flight, if any: a stop waits for it. */
  attempt: Promise<void> | undefined;
}

/**
 * One dedicated connection (not from the pool: LISTEN is per session) that waits on CHAIN_CHANNEL and calls
 * every watcher on each notification. It connects on the first watch and disconnects after the last one
 * leaves; a lost connection is reopened with capped backoff, and every watcher is then called once, since
 * notifications sent meanwhile are gone. No error ever escapes an event handler.
 */
export class PostgresListener {
  readonly #config: pg.ClientConfig;
  /** One entry per watch() call, so the same function watched twice is unsubscribed once per watch. */
  readonly #watchers = new Set<{ readonly fn: () => void }>();
  #run: ListenRun | undefined;
  #stopping: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(url: string) {
    // The driver's connection settings, without its statement and lock timeouts: LISTEN waits forever.
    this.#config = {
      connectionString: url,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
      application_name: 'warden',
    };
  }

  /**
   * Calls `fn` after each announced commit. Resolves once the first attempt to listen has finished (when
   * it failed, retries follow and `fn` is called once they succeed); the result unsubscribes.
   */
  async watch(fn: () => void): Promise<() => void> {
    if (this.#closed) throw new WardenError('STORE_UNAVAILABLE', 'the store is closed');
    const entry = { fn };
    this.#watchers.add(entry);
    const run = this.#run ?? this.#start();
    await run.attempt;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (this.#watchers.delete(entry) && this.#watchers.size === 0) void this.#stop();
    };
  }

  /** Stops listening for good; resolves once the connection is closed. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watchers.clear();
    await this.#stop();
  }

  #start(): ListenRun {
    const run: ListenRun = {
      stopped: false,
      client: undefined,
      timer: undefined,
      retryMs: RETRY_MIN_MS,
      attempt: undefined,
    };
    this.#run = run;
    // A run started right after a stop connects only once the old connection is gone.
    const previous = this.#stopping;
    run.attempt = previous.then(() => this.#connect(run, false));
    return run;
  }

  #stop(): Promise<void> {
    const run = this.#run;
    if (!run) return this.#stopping;
    this.#run = undefined;
    run.stopped = true;
    clearTimeout(run.timer);
    const client = run.client;
    run.client = undefined;
    this.#stopping = (async () => {
      await client?.end().catch(() => {});
      // An attempt in flight sees `stopped` when it finishes and closes its own client.
      await run.attempt;
    })();
    return this.#stopping;
  }

  /** Opens a connection and listens; never rejects: a failure schedules the next attempt. */
  async #connect(run: ListenRun, reconnected: boolean): Promise<void> {
    if (run.stopped) return;
    const client = new pg.Client(this.#config);
    run.client = client;
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (run.client === client) run.client = undefined;
      void client.end().catch(() => {});
      this.#retry(run);
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (msg) => {
      if (msg.channel === CHAIN_CHANNEL) this.#fanOut();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHAIN_CHANNEL}`);
    } catch {
      onLost();
      return;
    }
    // Stopped meanwhile: the stop has ended this client already.
    if (run.stopped) return;
    run.retryMs = RETRY_MIN_MS;
    if (reconnected) this.#fanOut();
  }

  #retry(run: ListenRun): void {
    if (run.stopped) return;
    const delay = run.retryMs;
    run.retryMs = Math.min(run.retryMs * 2, RETRY_MAX_MS);
    run.timer = setTimeout(() => {
      run.timer = undefined;
      run.attempt = this.#connect(run, true);
    }, delay);
    run.timer.unref();
  }

  #fanOut(): void {
    for (const { fn } of [...this.#watchers]) {
      try {
        fn();
      } catch {
        // A watcher's failure is its own; the others still hear the commit.
      }
    }
  }
}
