import type { AuditEvent } from '@warden/core';
import { dimsKey, hourBucket, type RollupDelta, type RollupDeriver } from './rollup.js';

/** Completed calls' usage per agent and UTC hour: what `/v1/usage` charts with hour buckets. */
export const USAGE_HOURLY = 'usage';
/** The same per agent and UTC day ('YYYY-MM-DD'), so a 30-day chart reads 30 cells per agent, not 720. */
export const USAGE_DAILY = 'usage.day';

/** The sums a usage cell holds: completed calls, tokens (input + output) and cost in USD. */
export type UsageSums = {
  readonly calls: number;
  readonly tokens: number;
  readonly costUsd: number;
};

/**
 * A completed call with an agent adds one call, its tokens and its cost to its agent's hour and day,
 * exactly as the usage chart counts it (UsageSeriesBuilder.add): the same events give the same sums.
 */
export const usageDeriver: RollupDeriver = (e: AuditEvent): readonly RollupDelta[] => {
  if (e.type !== 'call.completed' || !e.agent) return [];
  const usage = e.outcome?.usage;
  // Only finite amounts: one absurd figure must not fail the commit it rides in (or migration 11's backfill).
  const finite = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const metrics: UsageSums = {
    calls: 1,
    tokens: finite(finite(usage?.inputTokens) + finite(usage?.outputTokens)),
    costUsd: finite(usage?.costUsd),
  };
  const hour = hourBucket(e.ts);
  const dims = dimsKey(e.agent);
  return [
    { name: USAGE_HOURLY, bucket: hour, dims, metrics },
    { name: USAGE_DAILY, bucket: hour.slice(0, 10), dims, metrics },
  ];
};
