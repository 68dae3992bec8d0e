import { type AuditEvent, blockCause, countedIdentities, identityKey, type ProofMethod } from '@warden/core';
import { dimsKey, hourBucket, type RollupDelta, type RollupDeriver } from './rollup.js';

/**
 * The SOC 2 report's counts over every event, per UTC hour, so `warden report soc2` reads a few cells
 * per hour instead of the period's events (see report/soc2-counts-read.ts). Each is exactly what
 * Soc2ReportBuilder.push counts for the same events.
 */
export const SOC2_ROLLUPS = {
  /**
   * Every event chained, all time (bucket ''): equal to the head's seq exactly when the rollups were kept
   * (or backfilled) for every event, so a reader can tell they are complete.
   */
  chained: 'soc2.chained',
  /** Events per type: dims [type], metric n. */
  types: 'soc2.types',
  /** Decisions per effect: dims [effect], metric n. */
  decisions: 'soc2.decisions',
  /** Blocked decisions per agent and cause: dims [agent or '(none)', cause], metric n. */
  blocked: 'soc2.blocked',
  /** Events per proof method they name: dims [method], metrics events, decisions. */
  methods: 'soc2.methods',
  /** Events per identity (identityKey): dims [key], metrics events, decisions, and `role:<role>` 1 per event. */
  identities: 'soc2.identities',
} as const;

/** The metric of an identity cell counting the events it stood in `role` in. */
export const ROLE_METRIC = 'role:';

/**
 * What one event adds to the SOC 2 report's hourly cells (pure: the event alone). Zero metrics are
 * left out: each metric is a row the commit upserts.
 */
export const soc2Deriver: RollupDeriver = (e: AuditEvent): readonly RollupDelta[] => {
  const bucket = hourBucket(e.ts);
  const out: RollupDelta[] = [
    { name: SOC2_ROLLUPS.chained, bucket: '', dims: dimsKey(), metrics: { n: 1 } },
    { name: SOC2_ROLLUPS.types, bucket, dims: dimsKey(e.type), metrics: { n: 1 } },
  ];
  const effect = e.type === 'call.decided' ? e.decision?.effect : undefined;
  if (effect) {
    out.push({ name: SOC2_ROLLUPS.decisions, bucket, dims: dimsKey(effect), metrics: { n: 1 } });
    if (effect === 'block') {
      const dims = dimsKey(e.agent ?? '(none)', blockCause(e));
      out.push({ name: SOC2_ROLLUPS.blocked, bucket, dims, metrics: { n: 1 } });
    }
  }
  const decision = e.type === 'call.decided' || e.type === 'approval.decided';
  const counted = (): Record<string, number> => (decision ? { events: 1, decisions: 1 } : { events: 1 });
  const methods = new Set<ProofMethod>();
  const roles = new Map<string, Record<string, number>>();
  for (const id of countedIdentities(e)) {
    methods.add(id.proof.method);
    const key = identityKey(id);
    let metrics = roles.get(key);
    if (!metrics) {
      metrics = counted();
      roles.set(key, metrics);
    }
    metrics[`${ROLE_METRIC}${id.role}`] = 1;
  }
  for (const m of methods) {
    out.push({
      name: SOC2_ROLLUPS.methods,
      bucket,
      dims: dimsKey(m),
      metrics: counted(),
    });
  }
  for (const [key, metrics] of roles) {
    out.push({ name: SOC2_ROLLUPS.identities, bucket, dims: dimsKey(key), metrics });
  }
  return out;
};
