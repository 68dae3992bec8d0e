/** How long a completion waits for a decision to share its commit with before it commits on its own. */
export const COMPLETION_LINGER_MS = 20;

/**
 * Completions held off the response path until they can share a durable write.
 *
 * The proxy and the gateway answer as soon as the upstream has answered: the call's decision is durable
 * already (it was committed before the request was forwarded), so its completion is recorded after the
 * answer, not before it. Committed at once, a completion would still cost a commit of its own, and
 * SQLite commits on the event loop: the next request would wait behind its `fdatasync`. Held here
 * instead, it starts when the next decision is about to be made (`beforeDecision`), in the same turn, so
 * the group committer puts both in one transaction: one durable write per call. With no decision
 * coming, a held completion commits on its own after {@link COMPLETION_LINGER_MS}.
 *
 * Crash semantics (docs/llm-proxy.md, "When Warden stops"): a decision is never lost, as it is durable
 * before anything is forwarded. A held completion is in memory only: shutdown (`release`) starts every
 * held one and the server waits for them before closing the engine; a crash loses at most the
 * completions of the last {@link COMPLETION_LINGER_MS}. Such a call stays decided and never completed:
 * the audit shows it so, and the budget sweep charges its reservation at its estimate when the lease
 * runs out (`budget.expired`). A result is recorded late, or not at all after a crash; never wrongly.
 */
export class DeferredCompletions {
  readonly #lingerMs: number;
  #held: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Set by `release` (shutdown): completions are no longer held. */
  #released = false;

  constructor(lingerMs = COMPLETION_LINGER_MS) {
    this.#lingerMs = lingerMs;
  }

  /**
   * Runs `record` (the completion's commit) with the next decision's commit, or on its own after the
   * linger; settles as `record` does. After `release`, runs it at once.
   */
  defer<T>(record: () => Promise<T>): Promise<T> {
    if (this.#released) return record();
    return new Promise<T>((resolve, reject) => {
      this.#held.push(() => {
        try {
          record().then(resolve, reject);
        } catch (err) {
          reject(err);
        }
      });
      this.#timer ??= setTimeout(() => this.#start(), this.#lingerMs);
    });
  }

  /** Call right before a decision is submitted: held completions start now and join its commit. */
  beforeDecision(): void {
    if (this.#held.length > 0) this.#start();
  }

  /** Shutdown: every held completion starts now, and later ones are not held. */
  release(): void {
    this.#released = true;
    this.#start();
  }

  /** Completions held right now (for tests and metrics). */
  get held(): number {
    return this.#held.length;
  }

  #start(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const held = this.#held;
    this.#held = [];
    for (const run of held) run();
  }
}
