import { WardenError } from '@warden/core';

/**
 * A token bucket per key (an IP, an API key id): `perSecond` sustained, `burst` at once. Refusals carry
 * the seconds until a token is back, for Retry-After. Buckets idle for a minute are dropped.
 */
export class RateLimiter {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #sweptAt = 0;

  constructor(perSecond: number, burst = Math.max(1, Math.ceil(perSecond))) {
    this.#perSecond = perSecond;
    this.#burst = burst;
  }

  /** Takes a token for `id`, or throws RATE_LIMITED with details.retryAfterSeconds. */
  take(id: string, what: string, now = Date.now()): void {
    this.#sweep(now);
    const b = this.#buckets.get(id) ?? { tokens: this.#burst, at: now };
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#perSecond);
    b.at = now;
    this.#buckets.set(id, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - b.tokens) / this.#perSecond));
    throw new WardenError('RATE_LIMITED', `too many ${what}; retry in ${retryAfterSeconds} s`, {
      retryAfterSeconds,
    });
  }

  /** Whether `id` has a token left, without taking one. */
  allows(id: string, now = Date.now()): boolean {
    const b = this.#buckets.get(id);
    return !b || Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#perSecond) >= 1;
  }

  #sweep(now: number): void {
    if (now - this.#sweptAt < 60_000) return;
    this.#sweptAt = now;
    for (const [id, b] of this.#buckets) if (now - b.at > 60_000) this.#buckets.delete(id);
  }
}
