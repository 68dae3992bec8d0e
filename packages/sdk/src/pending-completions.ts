import { isWardenError, WardenError } from '@warden/core';
import type { CallResult, WardenTransport } from './warden-transport.js';

/** Codes a later try may get past (a database or server briefly away). */
const TRANSIENT = new Set([
  'STORE_UNAVAILABLE',
  'SHUTTING_DOWN',
  'RATE_LIMITED',
  'INTERNAL',
  'WARDEN_UNREACHABLE',
]);
const RETRY_DELAYS_MS = [100, 400, 1_600, 6_400];

/**
 * Records completions. The tool has already run when one is recorded, so a failure must not turn its
 * result into an error: a transient failure is retried in the background (`drain` waits for the
 * retries), and one that cannot be recorded is reported to `onError`, never dropped silently.
 */
export class PendingCompletions {
  readonly #transport: WardenTransport;
  readonly #onError: (err: WardenError) => void;
  readonly #pending = new Set<Promise<void>>();

  constructor(transport: WardenTransport, onError?: (err: WardenError) => void) {
    this.#transport = transport;
    this.#onError = onError ?? ((err) => process.emitWarning(`Warden: ${err.message}`, { code: err.code }));
  }

  /** Records a completion; resolves once it is recorded or handed to the background retries. */
  async record(callId: string, result: CallResult): Promise<void> {
    try {
      await this.#transport.complete(callId, result);
    } catch (err) {
      if (!transient(err)) return this.#report(callId, err);
      const retry = this.#retry(callId, result).finally(() => this.#pending.delete(retry));
      this.#pending.add(retry);
    }
  }

  /**
   * Records a completion without holding the caller: `drain` (and so `close`) waits for it. For a
   * result already on its way back to the agent, so its record shares the next decision's commit.
   */
  recordLater(callId: string, result: CallResult): void {
    // After the current turn: an embedded engine reads and writes synchronously, and the reply should
    // leave before that work, not after it.
    const later = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.record(callId, result))
      .finally(() => this.#pending.delete(later));
    this.#pending.add(later);
  }

  /** Waits for every completion still being recorded or retried. */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async #retry(callId: string, result: CallResult): Promise<void> {
    let last: unknown;
    for (const delay of RETRY_DELAYS_MS) {
      await new Promise((r) => setTimeout(r, delay));
      try {
        await this.#transport.complete(callId, result);
        return;
      } catch (err) {
        // A retry that finds the completion recorded (the first try landed after all) is done.
        if (isWardenError(err, 'CALL_ALREADY_COMPLETED')) return;
        last = err;
        if (!transient(err)) break;
      }
    }
    this.#report(callId, last);
  }

  #report(callId: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.#onError(
      new WardenError('INTERNAL', `the result of call ${callId} could not be recorded: ${message}`, {
        callId,
        ...(err instanceof WardenError ? { cause: err.code } : {}),
      }),
    );
  }
}

function transient(err: unknown): boolean {
  if (err instanceof WardenError) return TRANSIENT.has(err.code);
  // A network failure reaching the server (fetch throws a TypeError).
  return err instanceof TypeError;
}
