import {
  type AuditRecord,
  countedIdentities,
  type EffectCounts,
  IDENTITY_LIMITS,
  type IdentityCount,
  identityKey,
  type ProofMethod,
  proofDetail,
  type ReportPeriod,
  SOC2_LIMITS,
  type Soc2Counts,
} from '@warden/core';
import { dimsKey, dimsParts, hourBucket, type RollupCell } from '../store/rollups/rollup.js';
import { ROLE_METRIC, SOC2_ROLLUPS, soc2Deriver } from '../store/rollups/soc2-rollup.js';
import type { Store } from '../store/store.js';
import { auditPages } from './audit-pages.js';

const HOUR = 3_600_000;

/** The period's counts, and the ranges holding its review decisions (which the report lists). */
export interface Soc2CountsRead {
  readonly counts: Soc2Counts;
  readonly reviewRanges: readonly ReportPeriod[];
}

/**
 * Everything Soc2ReportBuilder.push counts over the period's events, from the SOC 2 rollups
 * (soc2-rollup.ts) of its whole UTC hours, plus its partial hours at either end read event by event
 * through the same deriver. An hour at or before the oldest stored event is read event by event too:
 * a retention purge keeps the cells of the events it removes. Where an identity is first seen (its
 * name, detail, roles in order and first seq), the hour of its first cell is read. Undefined when the
 * counts would not equal the builder's: rollups not kept for every event (see `complete`), more
 * identities or blocked names than the builder tracks.
 */
export async function readSoc2Counts(
  store: Store,
  period: ReportPeriod,
  pageSize: number,
): Promise<Soc2CountsRead | undefined> {
  if (!(await complete(store))) return undefined;
  const from = Date.parse(period.from);
  const to = Date.parse(period.to);
  const oldest = await store.oldestEvent();
  if (!oldest) return undefined;
  const oldestMs = Date.parse(oldest.ts);
  let fullFrom = Math.ceil(from / HOUR) * HOUR;
  if (oldestMs >= from) fullFrom = Math.max(fullFrom, Math.floor(oldestMs / HOUR) * HOUR + HOUR);
  const fullTo = Math.floor(to / HOUR) * HOUR;
  const sums = new Soc2Sums();
  const seen = new FirstSeen();
  const scanned = new Set<string>();
  const scan = async (a: number, b: number): Promise<void> => {
    for await (const r of auditPages(store, { from: iso(a), to: iso(b) }, pageSize)) {
      for (const d of soc2Deriver(r.event)) sums.add(d);
      seen.visit(r);
      scanned.add(hourBucket(r.event.ts));
    }
  };
  if (fullFrom >= fullTo) {
    await scan(from, to);
  } else {
    if (from < fullFrom) await scan(from, fullFrom);
    if (fullTo < to) await scan(fullTo, to);
    const range = { from: hourBucket(iso(fullFrom)), to: hourBucket(iso(fullTo)) };
    for (const name of Object.values(SOC2_ROLLUPS)) {
      if (name === SOC2_ROLLUPS.chained) continue;
      for (const cell of await store.rollups({ name, ...range })) sums.add(cell);
    }
  }
  if (sums.identities.size > IDENTITY_LIMITS.identities) return undefined;
  if (sums.blockedByAgent.size >= SOC2_LIMITS.tallyKeys - 1) return undefined;
  if (sums.blockedByRule.size >= SOC2_LIMITS.tallyKeys - 1) return undefined;
  // The hours where an identity, or one of its roles, is first seen, not read yet.
  const firstHours = new Set<string>();
  for (const id of sums.identities.values()) {
    for (const bucket of id.roles.values()) if (!scanned.has(bucket)) firstHours.add(bucket);
  }
  for (const bucket of [...firstHours].sort()) {
    const start = Date.parse(`${bucket}:00:00.000Z`);
    for await (const r of auditPages(store, { from: iso(start), to: iso(start + HOUR) }, pageSize)) {
      seen.visit(r);
    }
  }
  const bounds = await seqBounds(store, period);
  return {
    counts: {
      total: sum(sums.byType.values()),
      ...bounds,
      byType: sums.byType,
      decisions: sums.decisions,
      blockedByAgent: sums.blockedByAgent,
      blockedByRule: sums.blockedByRule,
      methods: sums.methods,
      identities: seen.rows(sums.identities),
    },
    reviewRanges: reviewRanges(sums.decisions, period),
  };
}

/**
 * Whether the SOC 2 rollups hold every event ever chained: their all-time count is the head's seq (read
 * before and after it, so a commit in between cannot make a short count look whole). Not so on a
 * database whose trail was purged before the rollups were backfilled, or whose rollups were kept by a
 * version without this deriver: then the report recounts.
 */
async function complete(store: Store): Promise<boolean> {
  const before = await store.head();
  const [cell] = await store.rollups({ name: SOC2_ROLLUPS.chained, bucket: '', dims: dimsKey() });
  const after = await store.head();
  return before.seq === after.seq && (cell?.metrics.n ?? 0) === after.seq;
}

/** The seq of the period's first and last events (two one-row reads). */
async function seqBounds(
  store: Store,
  period: ReportPeriod,
): Promise<{ firstSeq: number | null; lastSeq: number | null }> {
  const one = async (order: 'asc' | 'desc') => {
    for await (const r of auditPages(store, { ...period, order }, 1)) return r.seq;
    return null;
  };
  return { firstSeq: await one('asc'), lastSeq: await one('desc') };
}

/** The hours holding review decisions, joined where consecutive and clipped to the period. */
function reviewRanges(decisions: ReadonlyMap<string, EffectCounts>, period: ReportPeriod): ReportPeriod[] {
  const starts = [...decisions]
    .filter(([, n]) => n.review > 0)
    .map(([hour]) => Date.parse(hour))
    .sort((a, b) => a - b);
  const out: { from: number; to: number }[] = [];
  for (const s of starts) {
    const last = out.at(-1);
    if (last && last.to === s) last.to = s + HOUR;
    else out.push({ from: s, to: s + HOUR });
  }
  const lo = Date.parse(period.from);
  const hi = Date.parse(period.to);
  return out.map((r) => ({ from: iso(Math.max(r.from, lo)), to: iso(Math.min(r.to, hi)) }));
}

type Sums = { events: number; decisions: number };
type IdentitySums = Sums & { roles: Map<string, string> };

/** The cells of the period summed per figure; an identity's roles map to the first hour seen in. */
class Soc2Sums {
  readonly byType = new Map<string, number>();
  readonly decisions = new Map<string, { allow: number; review: number; block: number }>();
  readonly blockedByAgent = new Map<string, number>();
  readonly blockedByRule = new Map<string, number>();
  readonly methods = new Map<ProofMethod, Sums>();
  readonly identities = new Map<string, IdentitySums>();

  add(cell: RollupCell): void {
    const [first = '', second = ''] = dimsParts(cell.dims);
    const m = cell.metrics;
    switch (cell.name) {
      case SOC2_ROLLUPS.types:
        bump(this.byType, first, m.n ?? 0);
        return;
      case SOC2_ROLLUPS.decisions: {
        const hour = `${cell.bucket}:00:00.000Z`;
        const row = this.decisions.get(hour) ?? { allow: 0, review: 0, block: 0 };
        if (first === 'allow' || first === 'review' || first === 'block') row[first] += m.n ?? 0;
        this.decisions.set(hour, row);
        return;
      }
      case SOC2_ROLLUPS.blocked:
        bump(this.blockedByAgent, first, m.n ?? 0);
        bump(this.blockedByRule, second, m.n ?? 0);
        return;
      case SOC2_ROLLUPS.methods: {
        const row = this.methods.get(first as ProofMethod) ?? { events: 0, decisions: 0 };
        row.events += m.events ?? 0;
        row.decisions += m.decisions ?? 0;
        this.methods.set(first as ProofMethod, row);
        return;
      }
      case SOC2_ROLLUPS.identities: {
        const row = this.identities.get(first) ?? { events: 0, decisions: 0, roles: new Map() };
        row.events += m.events ?? 0;
        row.decisions += m.decisions ?? 0;
        for (const [metric, n] of Object.entries(m)) {
          if (!metric.startsWith(ROLE_METRIC) || n <= 0) continue;
          const role = metric.slice(ROLE_METRIC.length);
          const was = row.roles.get(role);
          if (was === undefined || cell.bucket < was) row.roles.set(role, cell.bucket);
        }
        this.identities.set(first, row);
        return;
      }
    }
  }
}

/** Where one identity was first seen: (seq, place in the event's identities), as the tally orders. */
type Place = readonly [seq: number, pos: number];
const before = (a: Place, b: Place): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

/** The first sighting of each identity and of each of its roles, from events read in any order. */
class FirstSeen {
  readonly #first = new Map<
    string,
    { at: Place; method: ProofMethod; name: string; detail: string; roles: Map<string, Place> }
  >();

  visit(r: AuditRecord): void {
    countedIdentities(r.event).forEach((id, pos) => {
      const at: Place = [r.seq, pos];
      const key = identityKey(id);
      let entry = this.#first.get(key);
      if (!entry || before(at, entry.at)) {
        const method = id.proof.method;
        const detail = method === 'api_key' || method === 'oidc' ? proofDetail(id.proof) : '';
        entry = { at, method, name: id.name, detail, roles: entry?.roles ?? new Map() };
        this.#first.set(key, entry);
      }
      const was = entry.roles.get(id.role);
      if (!was || before(at, was)) entry.roles.set(id.role, at);
    });
  }

  /** The identities' rows, in the order first seen. */
  rows(sums: ReadonlyMap<string, IdentitySums>): IdentityCount[] {
    const rows = [...sums].map(([key, s]) => {
      const f = this.#first.get(key);
      if (!f) throw new Error(`the first event of identity ${JSON.stringify(key)} was not read`);
      const roles = [...f.roles].sort(([, a], [, b]) => (before(a, b) ? -1 : 1)).map(([role]) => role);
      const row: IdentityCount = {
        key,
        method: f.method,
        name: f.name,
        detail: f.detail,
        roles,
        events: s.events,
        decisions: s.decisions,
        firstSeq: f.at[0],
      };
      return { row, at: f.at };
    });
    rows.sort((a, b) => (before(a.at, b.at) ? -1 : 1));
    return rows.map((r) => r.row);
  }
}

function bump(m: Map<string, number>, key: string, n: number): void {
  m.set(key, (m.get(key) ?? 0) + n);
}

function sum(values: Iterable<number>): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

const iso = (ms: number): string => new Date(ms).toISOString();
