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
  const metrics: UsageSums = {
    calls: 1,
    tokens: (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0),
    costUsd: usage?.costUsd ?? 0,
  };
  const hour = hourBucket(e.ts);
  const dims = dimsKey(e.agent);
  return [
    { name: USAGE_HOURLY, bucket: hour, dims, metrics },
    { name: USAGE_DAILY, bucket: hour.slice(0, 10), dims, metrics },
  ];
};
