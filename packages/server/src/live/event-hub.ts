import type { AuditEvent, AuditRecord } from '@warden/core';
import type { Store } from '@warden/engine';

/** Someone listening to the live audit stream. */
export interface HubSubscriber {
  /** Receives each record once, in seq order, with the size of its body. Must not throw or block. */
  readonly deliver: (record: AuditRecord, bytes: number) => void;
}

/**
 * Tails the audit chain in the shared database and fans each new event out to subscribers. The database
 * is the only source: events written by any instance (or a CLI) reach every stream, in chain order, and a
 * client can resume from any seq. Tailing runs on each local commit, on each commit another instance
 * announces (where the store pushes: PostgreSQL) and on a short interval for the rest, but only while
 * someone is waiting (a stream or an approval wait): with nobody listening the hub reads nothing, so a
 * server that nobody streams from pays nothing for it.
 */
export class EventHub {
  readonly #store: Store;
  readonly #subscribers = new Set<HubSubscriber>();
  /** Listeners that keep the hub tailing (approval waits); passive ones only hear what is read anyway. */
  readonly #listeners = new Map<(e: AuditEvent) => void, boolean>();
  #active = 0;
  #lastSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #onError: (err: unknown) => void;

  constructor(store: Store, options: { onError?: (err: unknown) => void } = {}) {
    this.#store = store;
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Starts at the current head (earlier events are read from the store by whoever resumes). Where the
   * store pushes other instances' commits, each one kicks at once; the interval stays as a fallback.
   */
  async start(pollMs: number): Promise<void> {
    this.#lastSeq = (await this.#store.head()).seq;
    this.#timer = setInterval(() => this.kick(), pollMs);
    this.#timer.unref();
    if (this.#store.watch) {
      try {
        this.#unwatch = await this.#store.watch(() => void this.kick());
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  /** The last seq read and delivered. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Whether the hub is tailing (someone is waiting for events). */
  get tailing(): boolean {
    return this.#active > 0;
  }

  get size(): number {
    return this.#subscribers.size;
  }

  /**
   * Adds a subscriber. Resolves once the hub is tailing from a known point: when it was idle, it first
   * moves to the current head, so a new subscriber never waits for a backlog nobody asked for.
   */
  async subscribe(s: HubSubscriber): Promise<() => void> {
    await this.#activate();
    this.#subscribers.add(s);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#subscribers.delete(s);
      this.#active--;
    };
  }

  /**
   * Calls `fn` for every event read. With `keepAlive`, the hub tails while `fn` is registered (an
   * approval wait); without, `fn` hears only what is read for someone else (revocations).
   */
  onEvent(fn: (e: AuditEvent) => void, options: { keepAlive?: boolean } = {}): () => void {
    const keepAlive = options.keepAlive ?? false;
    this.#listeners.set(fn, keepAlive);
    if (keepAlive) void this.#activate();
    return () => {
      if (this.#listeners.delete(fn) && keepAlive) this.#active--;
    };
  }

  /**
   * Like `onEvent` with keepAlive, but resolves once the hub is tailing from a known point: anything
   * committed after it resolves is heard, so a caller that reads state then is never missed by both.
   */
  async listen(fn: (e: AuditEvent) => void): Promise<() => void> {
    this.#listeners.set(fn, true);
    await this.#activate();
    return () => {
      if (this.#listeners.delete(fn)) this.#active--;
    };
  }

  /** Reads whatever is new now; concurrent kicks coalesce into one more read. */
  kick(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#tail().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        void this.kick();
      }
    });
    return this.#running;
  }

  /** Stops tailing; subscribers are the caller's to close. */
  stop(): void {
    clearInterval(this.#timer);
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  async #activate(): Promise<void> {
    if (this.#active++ > 0) return;
    try {
      // Let a read in flight finish first, so it cannot move lastSeq back behind the head read here.
      await this.#running;
      this.#lastSeq = Math.max(this.#lastSeq, (await this.#store.head()).seq);
    } catch (err) {
      this.#onError(err);
    }
  }

  async #tail(): Promise<void> {
    try {
      for (;;) {
        const rows = await this.#store.readChain(this.#lastSeq, 1_000);
        for (const row of rows) {
          const record: AuditRecord = {
            seq: row.seq,
            prev: row.prev,
            hash: row.hash,
            event: JSON.parse(row.body) as AuditEvent,
          };
          this.#lastSeq = row.seq;
          for (const fn of this.#listeners.keys()) fn(record.event);
          for (const s of this.#subscribers) s.deliver(record, row.body.length);
        }
        if (rows.length < 1_000 || this.#active === 0) return;
      }
    } catch (err) {
      this.#onError(err);
    }
  }
}
