import type { CallDecision, CallRequest, CallResult, CheckRequestOptions } from '@warden/sdk';
import { EngineTransport } from '@warden/sdk/engine';
import type { DeferredCompletions } from '../completions/deferred-completions.js';

/**
 * The engine transport of `/mcp` sessions: the gateway's completions share the next decision's commit.
 *
 * The gateway answers a tools/call before its result is recorded (unless `durableResults`), the decision
 * being durable before the call was forwarded. A successful result recorded in the background is held
 * (DeferredCompletions) until the next decision is made, so both commit in one durable write. A failure
 * (the upstream threw, the caller gave up) is awaited by the gateway before it answers: it is committed
 * at once rather than held, or the answer would wait for the linger.
 */
export class GatewayEngineTransport extends EngineTransport {
  readonly #completions: DeferredCompletions;
  readonly #hold: boolean;

  constructor(
    completions: DeferredCompletions,
    /** False when the gateway records results before answering (`durableResults`): nothing is held. */
    hold: boolean,
    ...args: ConstructorParameters<typeof EngineTransport>
  ) {
    super(...args);
    this.#completions = completions;
    this.#hold = hold;
  }

  override check(call: CallRequest, options?: CheckRequestOptions): Promise<CallDecision> {
    this.#completions.beforeDecision();
    return super.check(call, options);
  }

  override complete(callId: string, result: CallResult): Promise<void> {
    if (!this.#hold || result.status !== 'ok') return super.complete(callId, result);
    return this.#completions.defer(() => super.complete(callId, result));
  }
}
