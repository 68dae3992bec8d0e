import { type CompiledPolicy, PolicyReplayer, type ReplayReport } from '@warden/core';
import { parseAuditQuery } from '../store/audit-query.js';
import type { Store } from '../store/store.js';

/** Which recorded calls to replay. */
export interface ReplayTrailOptions {
  /** Calls decided at or after this time (ISO). */
  readonly from: string;
  /** Calls decided before this time (ISO). */
  readonly to: string;
  /** Only this agent's calls. */
  readonly agent?: string | undefined;
  /** At most this many recorded calls are read (the report then says `complete: false`); default all. */
  readonly limit?: number | undefined;
  /** Examples kept per group of changed calls (default 20). */
  readonly samplesPerGroup?: number | undefined;
  /** Events read per query (default 500): what is held in memory at once. */
  readonly pageSize?: number | undefined;
  /** Called after each page with the number of recorded calls read so far (for progress). */
  readonly onProgress?: ((read: number) => void) | undefined;
}

/**
 * Replays the `call.decided` events of the trail in a time range under `policy`, page by page in trail
 * order, and reports what would change. Only reads: nothing is written to the store.
 */
export async function replayTrail(
  store: Store,
  policy: CompiledPolicy,
  o: ReplayTrailOptions,
): Promise<ReplayReport> {
  const replayer = new PolicyReplayer(policy, {
    window: { from: o.from, to: o.to, agent: o.agent ?? null },
    ...(o.samplesPerGroup !== undefined ? { samplesPerGroup: o.samplesPerGroup } : {}),
  });
  const pageSize = o.pageSize ?? 500;
  const limit = o.limit ?? Number.POSITIVE_INFINITY;
  const voided = await voidedCalls(store, o);
  let read = 0;
  let cursor: string | undefined;
  for (;;) {
    const query = parseAuditQuery({
      type: 'call.decided',
      from: o.from,
      to: o.to,
      ...(o.agent !== undefined ? { agent: o.agent } : {}),
      limit: Math.min(pageSize, limit - read),
      ...(cursor !== undefined ? { cursor } : {}),
    });
    const page = await store.queryAudit(query);
    for (const r of page.records) replayer.add(r.event, voided.has(r.event.callId ?? ''));
    read += page.records.length;
    o.onProgress?.(read);
    if (page.nextCursor === null) return replayer.report(true);
    if (read >= limit) return replayer.report(false);
    cursor = page.nextCursor;
  }
}

/**
 * The calls of the range whose decision was voided (rare: a commit whose acknowledgement was lost). A
 * void follows its decision, so it is looked for from the range's start with no end.
 */
async function voidedCalls(store: Store, o: ReplayTrailOptions): Promise<Set<string>> {
  const out = new Set<string>();
  let cursor: string | undefined;
  for (;;) {
    const page = await store.queryAudit(
      parseAuditQuery({
        type: 'call.voided',
        from: o.from,
        ...(o.agent !== undefined ? { agent: o.agent } : {}),
        limit: 1_000,
        ...(cursor !== undefined ? { cursor } : {}),
      }),
    );
    for (const r of page.records) if (r.event.callId) out.add(r.event.callId);
    if (page.nextCursor === null) return out;
    cursor = page.nextCursor;
  }
}
