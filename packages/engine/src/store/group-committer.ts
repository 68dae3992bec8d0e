import { isWardenError } from '@warden/core';
import type { CommitResult, CommitUnit, Store } from './store.js';

interface Pending {
  readonly unit: CommitUnit;
  readonly resolve: (r: CommitResult) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Group commit: units submitted while a transaction is in flight wait and go together in the next one,
 * so the chain lock and the fsync are paid once per batch rather than once per event. A unit's promise
 * settles only after its transaction commits: an acknowledged event is durable. When a batch fails for a
 * reason of its own (one unit's mutation refused), each unit is retried alone so one bad unit cannot
 * sink the others; when the database is unavailable, every unit fails at once. A unit's refused budget
 * reservation is no failure: the unit its `onRefused` builds commits in its place, in the same batch
 * (see `CommitResult.refused`), so budgets running out cause no retries.
 */
export class GroupCommitter {
  readonly #store: Store;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;

  constructor(store: Store, maxBatch = 4096) {
    this.#store = store;
    this.#maxBatch = maxBatch;
  }

  /** Queues a unit; resolves with its seq numbers once durable. */
  submit(unit: CommitUnit): Promise<CommitResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ unit, resolve, reject });
      // setImmediate, not a microtask: callers in the same tick join this batch.
      this.#running ??= new Promise<void>((done) => setImmediate(() => this.#drain().finally(done)));
    });
  }

  /** Resolves once everything submitted so far has settled. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        await this.#commit(batch);
      }
    } finally {
      this.#running = undefined;
    }
  }

  async #commit(batch: Pending[]): Promise<void> {
    try {
      const results = await this.#store.commit(batch.map((p) => p.unit));
      for (const [i, p] of batch.entries()) p.resolve(results[i] as CommitResult);
    } catch (err) {
      if (batch.length === 1 || isWardenError(err, 'STORE_UNAVAILABLE')) {
        for (const p of batch) p.reject(err);
        return;
      }
      for (const p of batch) await this.#commit([p]);
    }
  }
}
