import type { KeyObject } from 'node:crypto';
import {
  type AgentRules,
  type AuditRecord,
  type CheckpointRow,
  checkPeriod,
  IDENTITY_LIMITS,
  policyAgentRules,
  type ReportPeriod,
  SOC2_CONTEXT_TYPES,
  SOC2_LIMITS,
  SOC2_RARE_TYPES,
  type Soc2Limits,
  type Soc2Report,
  Soc2ReportBuilder,
} from '@warden/core';
import { verifyStore } from '../audit/verify-store.js';
import { compileStored } from '../policy/policy-sync.js';
import type { Store } from '../store/store.js';
import { auditPages as pages } from './audit-pages.js';
import { readSoc2Counts } from './soc2-counts-read.js';

export interface Soc2GatherOptions extends Soc2Limits {
  readonly period: ReportPeriod;
  /** Keys trusted to have signed the checkpoints; default: the keys registered in the database. */
  readonly publicKeys?: readonly KeyObject[];
  /** Events read per page (default 5,000): memory stays bounded whatever the period's size. */
  readonly pageSize?: number;
  readonly now?: () => Date;
  /** Called as the period's events are read, with how many so far (for progress). */
  readonly onProgress?: (read: number) => void;
  /**
   * Count every figure from the period's events one by one (as an auditor would), not from the
   * rollups: the same report, slower. Default false.
   */
  readonly recount?: boolean;
}

/** Stored policy versions searched for the one in force at the period's end. */
const POLICY_HISTORY = 500;

/**
 * Gathers the SOC 2 evidence report from a store: the context events up to the period's end; the
 * period's counts from the SOC 2 rollups (soc2-counts-read.ts) and its events of the types the report
 * lists (SOC2_RARE_TYPES, review decisions, the resumptions of paused sessions) by indexed reads, or
 * with `recount` (or beyond the builder's limits) every event of the period (`ts` at or after `from`,
 * before `to`: what `warden audit query --from --to` returns) streamed page by page into the pure
 * builder; then the whole chain verified, the checkpoint covering the period, and the rules of the
 * policy in force at its end. Both ways give the same report. Reads only.
 */
export async function gatherSoc2Report(store: Store, o: Soc2GatherOptions): Promise<Soc2Report> {
  const pageSize = o.pageSize ?? 5_000;
  const fast = o.recount ? undefined : await fromRollups(store, o, pageSize);
  const builder = fast ?? (await recount(store, o, pageSize));
  // Approvals decided in the period on requests made before it: how their requests were verified.
  for (const callId of builder.requestsToLookUp) {
    for await (const r of pages(store, { callId, type: 'call.decided' }, pageSize)) builder.request(r);
  }
  const verify = await verifyStore(store, o.publicKeys ? { publicKeys: o.publicKeys } : {});
  const { firstSeq, lastSeq } = builder.seqRange;
  const checkpoints = await checkpointFacts(store, firstSeq, lastSeq, verify.firstSeq ?? 1);
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

/** A builder with the context read in. */
async function withContext(store: Store, o: Soc2GatherOptions, pageSize: number): Promise<Soc2ReportBuilder> {
  const builder = new Soc2ReportBuilder(o.period, o);
  for (const type of SOC2_CONTEXT_TYPES) {
    for await (const r of pages(store, { type, to: builder.period.to }, pageSize)) builder.context(r);
  }
  return builder;
}

/** Every event of the period pushed into the builder, one by one. */
async function recount(store: Store, o: Soc2GatherOptions, pageSize: number): Promise<Soc2ReportBuilder> {
  const builder = await withContext(store, o, pageSize);
  const { from, to } = builder.period;
  let read = 0;
  for await (const r of pages(store, { from, to }, pageSize)) {
    builder.push(r);
    if (++read % pageSize === 0) o.onProgress?.(read);
  }
  o.onProgress?.(read);
  return builder;
}

/**
 * The period's counts from the rollups, then its events of the types the report lists, read by type
 * and fed in chain order. Undefined (recount instead) where the builder would have stopped tracking:
 * more identities, blocked names, reviews, approvals or pauses than it remembers.
 */
async function fromRollups(
  store: Store,
  o: Soc2GatherOptions,
  pageSize: number,
): Promise<Soc2ReportBuilder | undefined> {
  const period = checkPeriod(o.period);
  const read = await readSoc2Counts(store, period, pageSize);
  if (!read) return undefined;
  const n = (type: string) => read.counts.byType.get(type) ?? 0;
  let reviews = 0;
  for (const d of read.counts.decisions.values()) reviews += d.review;
  if (reviews >= IDENTITY_LIMITS.reviews) return undefined;
  if (n('approval.decided') >= IDENTITY_LIMITS.lookups) return undefined;
  if (n('session.paused') >= SOC2_LIMITS.tracked) return undefined;
  const rare = new Map<number, AuditRecord>();
  const paused = new Set<string>();
  for (const type of SOC2_RARE_TYPES) {
    if (n(type) === 0) continue;
    for await (const r of pages(store, { ...period, type }, pageSize)) {
      rare.set(r.seq, r);
      if (type === 'session.paused') paused.add(r.event.session ?? '');
    }
  }
  for (const range of read.reviewRanges) {
    for await (const r of pages(store, { ...range, type: 'call.decided', decision: 'review' }, pageSize)) {
      rare.set(r.seq, r);
    }
  }
  if (paused.has('')) return undefined; // a pause without a session: resolved by no lookup
  for (const session of paused) {
    for (const type of ['session.resumed', 'session.closed'] as const) {
      for await (const r of pages(store, { ...period, session, type }, pageSize)) rare.set(r.seq, r);
    }
  }
  const builder = await withContext(store, o, pageSize);
  builder.counts(read.counts);
  for (const seq of [...rare.keys()].sort((a, b) => a - b)) builder.rare(rare.get(seq) as AuditRecord);
  o.onProgress?.(read.counts.total);
  return builder;
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
