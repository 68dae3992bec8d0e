import type { KeyObject } from 'node:crypto';
import {
  type AgentRules,
  type AuditRecord,
  type CheckpointRow,
  policyAgentRules,
  type ReportPeriod,
  SOC2_CONTEXT_TYPES,
  type Soc2Limits,
  type Soc2Report,
  Soc2ReportBuilder,
} from '@warden/core';
import { verifyStore } from '../audit/verify-store.js';
import { compileStored } from '../policy/policy-sync.js';
import { type AuditQueryInput, parseAuditQuery } from '../store/audit-query.js';
import type { Store } from '../store/store.js';

export interface Soc2GatherOptions extends Soc2Limits {
  readonly period: ReportPeriod;
  /** Keys trusted to have signed the checkpoints; default: the keys registered in the database. */
  readonly publicKeys?: readonly KeyObject[];
  /** Events read per page (default 5,000): memory stays bounded whatever the period's size. */
  readonly pageSize?: number;
  readonly now?: () => Date;
  /** Called as the period's events are read, with how many so far (for progress). */
  readonly onProgress?: (read: number) => void;
}

/** Stored policy versions searched for the one in force at the period's end. */
const POLICY_HISTORY = 500;

/**
 * Gathers the SOC 2 evidence report from a store: the context events up to the period's end and the
 * events of the period (`ts` at or after `from`, before `to`: what `warden audit query --from --to`
 * returns), streamed page by page into the pure builder; then the whole chain verified, the
 * checkpoint covering the period, and the rules of the policy in force at its end. Reads only.
 */
export async function gatherSoc2Report(store: Store, o: Soc2GatherOptions): Promise<Soc2Report> {
  const builder = new Soc2ReportBuilder(o.period, o);
  const { from, to } = builder.period;
  const pageSize = o.pageSize ?? 5_000;
  for (const type of SOC2_CONTEXT_TYPES) {
    for await (const r of pages(store, { type, to }, pageSize)) builder.context(r);
  }
  let first: number | null = null;
  let last: number | null = null;
  let read = 0;
  for await (const r of pages(store, { from, to }, pageSize)) {
    first ??= r.seq;
    last = r.seq;
    builder.push(r);
    if (++read % pageSize === 0) o.onProgress?.(read);
  }
  o.onProgress?.(read);
  // Approvals decided in the period on requests made before it: how their requests were verified.
  for (const callId of builder.requestsToLookUp) {
    for await (const r of pages(store, { callId, type: 'call.decided' }, pageSize)) builder.request(r);
  }
  const verify = await verifyStore(store, o.publicKeys ? { publicKeys: o.publicKeys } : {});
  const checkpoints = await checkpointFacts(store, first, last, verify.firstSeq ?? 1);
  const policy = await policyFacts(store, builder.policyVersionAtEnd);
  return builder.finish({
    generatedAt: (o.now?.() ?? new Date()).toISOString(),
    source: { dialect: store.dialect, location: store.location },
    verify,
    trustedKeys: o.publicKeys ? 'file' : 'database',
    ...checkpoints,
    policyAgents: policy.agents,
    ...(policy.note ? { policyNote: policy.note } : {}),
  });
}

/** Every record a query matches, oldest first, one page at a time. */
async function* pages(store: Store, q: AuditQueryInput, limit: number): AsyncGenerator<AuditRecord> {
  let cursor: string | undefined;
  do {
    const page = await store.queryAudit(parseAuditQuery({ ...q, limit, ...(cursor ? { cursor } : {}) }));
    yield* page.records;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}

/**
 * The first signed checkpoint at or after the period's last event vouches for every event of the
 * period (each hash chains all before it); also how many were signed inside the period.
 */
async function checkpointFacts(
  store: Store,
  first: number | null,
  last: number | null,
  chainStart: number,
): Promise<{ covering: CheckpointRow | null; checkpointsInPeriod: number }> {
  if (first === null || last === null) return { covering: null, checkpointsInPeriod: 0 };
  const signed = (await store.checkpoints({ fromSeq: first })).filter((c) => c.kind !== 'seal');
  const inPeriod = signed.filter((c) => c.seq <= last).length;
  const after = signed.filter((c) => c.seq >= last).sort((a, b) => a.seq - b.seq)[0];
  if (!after) return { covering: null, checkpointsInPeriod: inPeriod };
  const covering: CheckpointRow = {
    seq: after.seq,
    fromSeq: chainStart,
    ts: after.ts,
    kind: after.kind,
    keyId: after.keyId,
    hash: after.hash,
  };
  return { covering, checkpointsInPeriod: inPeriod };
}

/** The rules per agent of the stored text of `version`, or why they cannot be listed. */
async function policyFacts(
  store: Store,
  version: string | null,
): Promise<{ agents: AgentRules[] | null; note?: string }> {
  if (version === null) {
    return { agents: null, note: 'no policy.changed event up to the end of the period' };
  }
  const record = (await store.policyHistory(POLICY_HISTORY)).find((p) => p.version === version);
  if (!record) {
    return {
      agents: null,
      note: `the text of policy ${version.slice(0, 12)} is not stored in the database (set without its source, or older than the last ${POLICY_HISTORY} versions)`,
    };
  }
  try {
    return { agents: policyAgentRules(compileStored(record)) };
  } catch (err) {
    return {
      agents: null,
      note: `the stored text of the policy no longer compiles: ${(err as Error).message}`,
    };
  }
}
