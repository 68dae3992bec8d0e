import { SdkError, SdkErrorCode } from '@modelcontextprotocol/server';

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

  /**
   * `outer` is the request's signal from the MCP SDK: it aborts when the client cancels the call, and
   * also when the client's connection closes. A closed connection is treated like shutting down: a call
   * still waiting for a decision is withdrawn, one already running upstream finishes and is recorded.
   */
  begin(outer: AbortSignal): InFlightCall {
    const controller = new AbortController();
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const onAbort = () => {
      if (this.#calls.get(call)?.running && isConnectionClosed(outer.reason)) return;
      controller.abort(outer.reason);
    };
    const call: InFlightCall = {
      signal: controller.signal,
      running: () => {
        const entry = this.#calls.get(call);
        if (entry) entry.running = true;
      },
      done: () => {
        outer.removeEventListener('abort', onAbort);
        this.#calls.delete(call);
        finish();
      },
    };
    this.#calls.set(call, { controller, running: false, finished });
    if (outer.aborted) onAbort();
    else outer.addEventListener('abort', onAbort, { once: true });
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

/** The SDK aborts a request's handler with ConnectionClosed when its connection closes (v1 did not). */
function isConnectionClosed(reason: unknown): boolean {
  return SdkError.isInstance(reason) && reason.code === SdkErrorCode.ConnectionClosed;
}
