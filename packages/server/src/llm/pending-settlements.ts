import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { WardenError } from '@warden/core';

/** The waits between tries of a settlement that failed: six tries over about 31 seconds. */
export const SETTLE_RETRY_DELAYS_MS: readonly number[] = [1_000, 2_000, 4_000, 8_000, 16_000];

/** Once shutdown begins, a retry waits at most this long: the shutdown deadline is near. */
const HURRIED_DELAY_MS = 500;

/** Codes after which trying again cannot help: the call is settled already, or cannot be by the proxy. */
const FINAL_CODES: ReadonlySet<string> = new Set([
  'CALL_ALREADY_COMPLETED',
  'CALL_NOT_FOUND',
  'CALL_NOT_RUNNABLE',
  'CALL_INVALID',
  'CALL_VOIDED',
]);

/** Whether a failed settlement would fail the same way on every try. */
export function isFinalSettleError(err: unknown): boolean {
  return err instanceof WardenError && FINAL_CODES.has(err.code);
}

/**
 * The proxy's settlements still under way: streams still being read (their client may be gone) and
 * settlements that failed (the database briefly unavailable) being tried again. Shutdown drains them
 * before the engine closes, so the provider's usage is recorded rather than left to the lease to release.
 */
export class PendingSettlements {
  readonly #tasks = new Set<Promise<unknown>>();
  /** Aborted when shutdown begins: retries stop waiting out their backoff. */
  readonly #hurry = new AbortController();
  readonly #delaysMs: readonly number[];
  /** Set once the shutdown deadline passed: no more tries, the engine is closing. */
  #stopped = false;

  constructor(delaysMs: readonly number[] = SETTLE_RETRY_DELAYS_MS) {
    this.#delaysMs = delaysMs;
  }

  /** Keeps `task` until it ends; shutdown waits for it. */
  track(task: Promise<unknown>): void {
    this.#tasks.add(task);
    const done = () => this.#tasks.delete(task);
    task.then(done, done);
  }

  /**
   * Tries `attempt`, which failed with `failed`, again with exponential backoff until it succeeds
   * (resolves undefined) or fails with a final error, then hands the last error (undefined once settled)
   * to `ended`. `attempt` never throws: it resolves with its error.
   */
  retry(failed: unknown, attempt: () => Promise<unknown>, ended: (lastError: unknown) => void): void {
    const task = (async () => {
      let err = failed;
      for (const delay of this.#delaysMs) {
        if (!(await this.#pause(delay))) break;
        err = await attempt();
        if (err === undefined || isFinalSettleError(err)) break;
      }
      ended(err);
    })();
    this.track(task);
  }

  /** Resolves once every pending settlement ended, or after `timeoutMs`; retries hurry meanwhile. */
  async drain(timeoutMs: number): Promise<void> {
    this.#hurry.abort();
    const deadline = performance.now() + timeoutMs;
    // A stream that ends may leave a retry behind: wait again until nothing is left.
    while (this.#tasks.size > 0) {
      const left = deadline - performance.now();
      if (left <= 0 || !(await within(Promise.allSettled([...this.#tasks]), left))) break;
    }
    this.#stopped = true;
  }

  /** Waits before the next try (unref'd: it keeps no process alive); false when tries must stop. */
  async #pause(ms: number): Promise<boolean> {
    if (this.#stopped) return false;
    const hurry = this.#hurry.signal;
    const wait = hurry.aborted ? Math.min(ms, HURRIED_DELAY_MS) : ms;
    await sleep(wait, undefined, { ref: false, ...(hurry.aborted ? {} : { signal: hurry }) }).catch(
      () => undefined,
    );
    return !this.#stopped;
  }
}

/** Whether `p` settles within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
