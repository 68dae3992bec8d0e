import type { AuditEvent, AuditRecord } from '@warden/core';
import type { Store } from '@warden/engine';

/** Someone listening to the live audit stream. */
export interface HubSubscriber {
  /** Receives each record once, in seq order. Must not throw or block. */
  readonly deliver: (record: AuditRecord) => void;
}

/**
 * Tails the audit chain in the shared database and fans each new event out to subscribers. The database
 * is the only source: events written by any instance (or a CLI) reach every stream, in chain order, and a
 * client can resume from any seq. Tailing runs on each local commit and on a short interval for the rest.
 */
export class EventHub {
  readonly #store: Store;
  readonly #subscribers = new Set<HubSubscriber>();
  readonly #listeners = new Set<(e: AuditEvent) => void>();
  #lastSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #onError: (err: unknown) => void;

  constructor(store: Store, options: { onError?: (err: unknown) => void } = {}) {
    this.#store = store;
    this.#onError = options.onError ?? (() => {});
  }

  /** Starts at the current head (earlier events are read from the store by whoever resumes). */
  async start(pollMs: number): Promise<void> {
    this.#lastSeq = (await this.#store.head()).seq;
    this.#timer = setInterval(() => this.kick(), pollMs);
    this.#timer.unref();
  }

  /** The last seq delivered to subscribers. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  get size(): number {
    return this.#subscribers.size;
  }

  subscribe(s: HubSubscriber): () => void {
    this.#subscribers.add(s);
    return () => this.#subscribers.delete(s);
  }

  /** Internal listeners (key revocations, metrics); called for every event before subscribers. */
  onEvent(fn: (e: AuditEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Reads whatever is new now; concurrent kicks coalesce into one more read. */
  kick(): Promise<void> {
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
          for (const fn of this.#listeners) fn(record.event);
          for (const s of this.#subscribers) s.deliver(record);
        }
        if (rows.length < 1_000) return;
      }
    } catch (err) {
      this.#onError(err);
    }
  }
}
