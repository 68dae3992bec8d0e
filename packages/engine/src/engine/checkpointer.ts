import { isWardenError, type SignedCheckpoint, WardenError } from '@warden/core';
import type { CheckpointRequest, CommitResult, CommitUnit } from '../store/store.js';

export interface CheckpointerOptions {
  readonly commit: (unit: CommitUnit) => Promise<CommitResult>;
  readonly request: (kind: CheckpointRequest['kind']) => CheckpointRequest;
  readonly everyEvents: number;
  readonly everyMs: number;
  readonly onError: (err: WardenError) => void;
}

/**
 * Signs a checkpoint after every `everyEvents` events this instance wrote, every `everyMs` while there
 * is anything unsigned, on demand, and on close. The timer never keeps the process alive.
 */
export class Checkpointer {
  readonly #o: CheckpointerOptions;
  readonly #timer: NodeJS.Timeout;
  #unsigned = 0;
  #inFlight: Promise<SignedCheckpoint> | undefined;

  constructor(options: CheckpointerOptions) {
    this.#o = options;
    this.#timer = setInterval(() => this.#background('periodic'), options.everyMs);
    this.#timer.unref();
  }

  /** Counts events written; signs in the background once enough have accumulated. */
  noteEvents(n: number): void {
    this.#unsigned += n;
    if (this.#unsigned >= this.#o.everyEvents) this.#background('periodic');
  }

  /** Signs a checkpoint at the head now. */
  async now(): Promise<SignedCheckpoint> {
    return this.#sign('on-demand');
  }

  /** Stops the timer and signs whatever is still unsigned. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    if (this.#inFlight) await this.#inFlight.catch(() => undefined);
    if (this.#unsigned > 0) await this.#sign('periodic').catch((err) => this.#report(err));
  }

  #background(kind: CheckpointRequest['kind']): void {
    if (this.#inFlight || this.#unsigned === 0) return;
    this.#sign(kind).catch((err) => this.#report(err));
  }

  async #sign(kind: CheckpointRequest['kind']): Promise<SignedCheckpoint> {
    const counted = this.#unsigned;
    const pending = this.#o.commit({ events: [], checkpoint: this.#o.request(kind) }).then((r) => {
      if (!r.checkpoint) throw new WardenError('INTERNAL', 'the store did not return the checkpoint');
      this.#unsigned = Math.max(0, this.#unsigned - counted);
      return r.checkpoint;
    });
    this.#inFlight = pending;
    try {
      return await pending;
    } finally {
      if (this.#inFlight === pending) this.#inFlight = undefined;
    }
  }

  #report(err: unknown): void {
    this.#o.onError(
      isWardenError(err) ? err : new WardenError('INTERNAL', `checkpoint failed: ${String(err)}`),
    );
  }
}
