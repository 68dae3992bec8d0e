import { USAGE_METRICS, type UsageMetric } from '@warden/api';
import type { AuditEvent } from '../audit/audit-event.js';

/** What a usage chart plots per bucket: completed calls, tokens (input + output) and cost. */
export { USAGE_METRICS, type UsageMetric };

/** One line of a usage chart: an agent or a team, one value per bucket and metric. */
export interface UsageLine {
  readonly key: string;
  readonly calls: number[];
  readonly tokens: number[];
  readonly costUsd: number[];
  readonly total: { calls: number; tokens: number; costUsd: number };
}

/** Usage over time: bucket start times (ISO) and one line per key, the biggest spenders first. */
export interface UsageSeries {
  readonly bucketMs: number;
  readonly buckets: readonly string[];
  readonly lines: readonly UsageLine[];
}

/** How to cut the time range and whom a call's usage counts for (an agent, or each of its teams). */
export interface UsageSeriesOptions {
  readonly fromMs: number;
  readonly toMs: number;
  readonly bucketMs: number;
  readonly keysOf: (agent: string) => readonly string[];
}

/**
 * Sums the usage recorded by `call.completed` events into time buckets per key, one event at a time, so
 * a caller streaming pages of the trail holds only the sums. Pure: the same events always give the same
 * series, so a chart can be checked against the audit trail it was drawn from.
 */
export class UsageSeriesBuilder {
  readonly #o: UsageSeriesOptions;
  readonly #start: number;
  readonly #count: number;
  readonly #lines = new Map<string, UsageLine>();

  constructor(o: UsageSeriesOptions) {
    if (!(o.bucketMs > 0) || !(o.toMs > o.fromMs)) {
      throw new RangeError('usage series needs from < to and a bucket');
    }
    this.#o = o;
    this.#start = Math.floor(o.fromMs / o.bucketMs) * o.bucketMs;
    this.#count = Math.ceil((o.toMs - this.#start) / o.bucketMs);
  }

  /** Counts one event if it is a completed call inside the range; anything else is ignored. */
  add(e: AuditEvent): void {
    if (e.type !== 'call.completed' || !e.agent) return;
    const usage = e.outcome?.usage;
    const tokens = (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0);
    this.addSums(e.agent, Date.parse(e.ts), { calls: 1, tokens, costUsd: usage?.costUsd ?? 0 });
  }

  /**
   * Counts sums already added up for `agent` at time `t` (ms), e.g. a rollup cell of the hour or day
   * starting at `t`: all of it lands in the bucket holding `t`. Ignored outside the range.
   */
  addSums(agent: string, t: number, sums: { calls: number; tokens: number; costUsd: number }): void {
    if (!(t >= this.#o.fromMs && t < this.#o.toMs)) return;
    const i = Math.floor((t - this.#start) / this.#o.bucketMs);
    const { tokens, costUsd: cost } = sums;
    for (const key of this.#o.keysOf(agent)) {
      const l = this.#line(key);
      l.calls[i] = (l.calls[i] ?? 0) + sums.calls;
      l.tokens[i] = (l.tokens[i] ?? 0) + tokens;
      l.costUsd[i] = (l.costUsd[i] ?? 0) + cost;
      l.total.calls += sums.calls;
      l.total.tokens += tokens;
      l.total.costUsd += cost;
    }
  }

  /** The series so far, the biggest spenders first. */
  result(): UsageSeries {
    const { bucketMs } = this.#o;
    const buckets = Array.from({ length: this.#count }, (_, i) =>
      new Date(this.#start + i * bucketMs).toISOString(),
    );
    const lines = [...this.#lines.values()].sort(
      (a, b) =>
        b.total.costUsd - a.total.costUsd ||
        b.total.tokens - a.total.tokens ||
        b.total.calls - a.total.calls ||
        a.key.localeCompare(b.key),
    );
    return { bucketMs, buckets, lines };
  }

  #line(key: string): UsageLine {
    let l = this.#lines.get(key);
    if (!l) {
      const zero = () => new Array<number>(this.#count).fill(0);
      l = { key, calls: zero(), tokens: zero(), costUsd: zero(), total: { calls: 0, tokens: 0, costUsd: 0 } };
      this.#lines.set(key, l);
    }
    return l;
  }
}

/** The series of a whole list of events (see UsageSeriesBuilder). */
export function usageSeries(events: Iterable<AuditEvent>, o: UsageSeriesOptions): UsageSeries {
  const builder = new UsageSeriesBuilder(o);
  for (const e of events) builder.add(e);
  return builder.result();
}
