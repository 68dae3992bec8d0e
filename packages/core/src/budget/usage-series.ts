import type { AuditEvent } from '../audit/audit-event.js';

/** What a usage chart plots per bucket: completed calls, tokens (input + output) and cost. */
export const USAGE_METRICS = ['calls', 'tokens', 'costUsd'] as const;
export type UsageMetric = (typeof USAGE_METRICS)[number];

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
 * Sums the usage recorded by `call.completed` events into time buckets per key. Pure: the same events
 * always give the same series, so a chart can be checked against the audit trail it was drawn from.
 */
export function usageSeries(events: Iterable<AuditEvent>, o: UsageSeriesOptions): UsageSeries {
  if (!(o.bucketMs > 0) || !(o.toMs > o.fromMs))
    throw new RangeError('usage series needs from < to and a bucket');
  const start = Math.floor(o.fromMs / o.bucketMs) * o.bucketMs;
  const count = Math.ceil((o.toMs - start) / o.bucketMs);
  const lines = new Map<string, UsageLine>();
  const line = (key: string): UsageLine => {
    let l = lines.get(key);
    if (!l) {
      const zero = () => new Array<number>(count).fill(0);
      l = { key, calls: zero(), tokens: zero(), costUsd: zero(), total: { calls: 0, tokens: 0, costUsd: 0 } };
      lines.set(key, l);
    }
    return l;
  };
  for (const e of events) {
    if (e.type !== 'call.completed' || !e.agent) continue;
    const t = Date.parse(e.ts);
    if (!(t >= o.fromMs && t < o.toMs)) continue;
    const i = Math.floor((t - start) / o.bucketMs);
    const usage = e.outcome?.usage;
    const tokens = (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0);
    const cost = usage?.costUsd ?? 0;
    for (const key of o.keysOf(e.agent)) {
      const l = line(key);
      l.calls[i] = (l.calls[i] ?? 0) + 1;
      l.tokens[i] = (l.tokens[i] ?? 0) + tokens;
      l.costUsd[i] = (l.costUsd[i] ?? 0) + cost;
      l.total.calls += 1;
      l.total.tokens += tokens;
      l.total.costUsd += cost;
    }
  }
  const buckets = Array.from({ length: count }, (_, i) => new Date(start + i * o.bucketMs).toISOString());
  const sorted = [...lines.values()].sort(
    (a, b) =>
      b.total.costUsd - a.total.costUsd ||
      b.total.tokens - a.total.tokens ||
      b.total.calls - a.total.calls ||
      a.key.localeCompare(b.key),
  );
  return { bucketMs: o.bucketMs, buckets, lines: sorted };
}
