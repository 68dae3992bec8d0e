/** One tools/call the gateway is handling. */
export interface InFlightCall {
  /** Aborts the call: a wait for approval is withdrawn, an upstream call is cancelled. */
  readonly signal: AbortSignal;
  /** The call has been decided and is now running upstream (it is no longer waiting for a person). */
  running(): void;
  done(): void;
}

/**
 * The calls a gateway has in hand, so that shutting down can withdraw the ones still waiting for a
 * decision (nothing has happened yet) and let the ones already running upstream finish: stopping those
 * halfway could leave a write half done.
 */
export class InFlightCalls {
  readonly #calls = new Map<
    InFlightCall,
    { controller: AbortController; running: boolean; finished: Promise<void> }
  >();

  begin(outer: AbortSignal): InFlightCall {
    const controller = new AbortController();
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const call: InFlightCall = {
      signal: AbortSignal.any([outer, controller.signal]),
      running: () => {
        const entry = this.#calls.get(call);
        if (entry) entry.running = true;
      },
      done: () => {
        this.#calls.delete(call);
        finish();
      },
    };
    this.#calls.set(call, { controller, running: false, finished });
    return call;
  }

  /** Withdraws calls still waiting for a decision; waits up to `ms` for running ones, then aborts them. */
  async settle(ms: number): Promise<void> {
    for (const entry of this.#calls.values()) {
      if (!entry.running) entry.controller.abort(new Error('the gateway is shutting down'));
    }
    const all = Promise.all([...this.#calls.values()].map((e) => e.finished));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), ms);
    });
    if ((await Promise.race([all, late])) === 'late') {
      for (const entry of this.#calls.values())
        entry.controller.abort(new Error('the gateway is shutting down'));
    }
    clearTimeout(timer);
  }
}
