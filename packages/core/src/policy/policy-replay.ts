/**
 * Policy replay: the recorded calls of the audit trail decided again under another policy, to see what a
 * rule change would have done before making it. Pure and streaming: calls are added one at a time,
 * every one is counted, and only a few examples per group are kept, so memory does not grow with the
 * trail.
 */
import type { AuditEvent } from '../audit/audit-event.js';
import type { ToolCall } from './call.js';
import type { CompiledPolicy } from './compiled-policy.js';
import { type Candidate, candidatesFor, evaluate, planFor } from './policy-evaluator.js';
import { EFFECTS, type Effect } from './policy-schema.js';
import type { ReplayChange, ReplayDecision, ReplayReport, ReplaySample } from './replay-report.js';

/** Examples kept per group of changed calls unless told otherwise. */
export const DEFAULT_REPLAY_SAMPLES = 20;

/** What the calls were read from, echoed in the report. */
export interface ReplayWindow {
  readonly from: string;
  readonly to: string;
  readonly agent: string | null;
}

/** Where the recorded calls came from, and how many examples to keep per group. */
export interface ReplayOptions {
  readonly window: ReplayWindow;
  readonly samplesPerGroup?: number;
}

/**
 * What a recorded decision can be compared by. A `code` means the engine decided without the policy
 * (a paused session, an invalid call) or over it (a loop breaker, a budget, an approval that no longer
 * fits): the policy's own answer was not recorded, so there is nothing to compare. A grant lifts only the
 * default block, so a call it let through is compared as that block.
 */
export type RecordedBasis =
  | { readonly kind: 'policy'; readonly decision: ReplayDecision; readonly viaGrant: boolean }
  | { readonly kind: 'engine'; readonly code: string };

/** How a recorded `call.decided` event is compared (see {@link RecordedBasis}). */
/** The code under which approved calls going ahead are counted (not compared: their review is). */
export const REDEEMED = 'APPROVAL_REDEEMED';

export function recordedBasis(event: AuditEvent): RecordedBasis {
  const d = event.decision;
  if (d === undefined || event.tool === undefined || event.agent === undefined) {
    return { kind: 'engine', code: d?.code ?? 'INCOMPLETE' };
  }
  if (d.code !== undefined) return { kind: 'engine', code: d.code };
  // A call let through by its approval is the same call as the review decision recorded before it,
  // which is compared: counting it again would report one refund as two.
  if (d.approvalId !== undefined && d.effect === 'allow') return { kind: 'engine', code: REDEEMED };
  if (d.grantId !== undefined)
    return { kind: 'policy', decision: { effect: 'block', ruleId: null }, viaGrant: true };
  return { kind: 'policy', decision: { effect: d.policyEffect, ruleId: d.ruleId }, viaGrant: false };
}

/** The call a `call.decided` event records, as the policy saw it, at the time it was decided. */
export function recordedCall(event: AuditEvent): ToolCall {
  const args = event.args;
  return {
    agent: event.agent as string,
    tool: event.tool as string,
    args:
      typeof args === 'object' && args !== null && !Array.isArray(args)
        ? (args as Record<string, unknown>)
        : {},
    ...(event.session !== undefined ? { session: event.session } : {}),
    ...(event.target !== undefined ? { target: event.target } : {}),
    ...(event.labels !== undefined ? { labels: event.labels } : {}),
    ...(event.triggeredBy !== undefined ? { triggeredBy: event.triggeredBy } : {}),
    ...(event.delegationChain !== undefined ? { delegationChain: event.delegationChain } : {}),
    now: new Date(event.ts),
  };
}

/**
 * What of the call was stored other than it was: secrets redacted, values capped or cut. `args` is the
 * set of top-level argument names touched, or `all` when that is not known (a capped value, a quoted key).
 */
interface Altered {
  readonly args: ReadonlySet<string> | 'all';
  readonly target: boolean;
}

const TOP_KEY = /^args\.([A-Za-z_$][\w$]*)/;
/** Redactions a value lists at most (see redaction.ts); more were made but not listed. */
const MAX_REPORTED = 1000;

function alteredParts(event: AuditEvent): Altered {
  // Flags are not attributed to args or target; either may be the one that was capped.
  if ((event.flags?.length ?? 0) > 0) return { args: 'all', target: event.target !== undefined };
  // Redactions past the reported ones are not listed: any argument may be among them.
  let args: Set<string> | 'all' = (event.redactions?.length ?? 0) >= MAX_REPORTED ? 'all' : new Set();
  let target = false;
  for (const { path } of event.redactions ?? []) {
    if (path === 'target') target = true;
    else if (path === 'args' || path.startsWith('args[')) args = 'all';
    else if (args !== 'all' && path.startsWith('args.')) {
      const key = TOP_KEY.exec(path)?.[1];
      if (key === undefined) args = 'all';
      else args.add(key);
    }
  }
  return { args, target };
}

const ARGS_USE = /\bargs\b(\s*\.\s*\??\s*([A-Za-z_]\w*)(\s*\()?)?/g;
const READS_TARGET = /\btarget\b/;

/**
 * Whether a CEL condition may read one of the altered arguments: it names one (`args.token`,
 * `args.?token`) or uses `args` in a way that can reach any key (`args["k"]`, `args.exists(…)`, `size(args)`).
 */
function readsArgs(source: string, altered: Altered['args']): boolean {
  if (altered !== 'all' && altered.size === 0) return false;
  for (const m of source.matchAll(ARGS_USE)) {
    const key = m[2];
    if (key === undefined || m[3] !== undefined || altered === 'all' || altered.has(key)) return true;
  }
  return false;
}

/** Whether deciding among `candidates` may read a part that was altered before it was stored. */
function readsAltered(candidates: readonly Candidate[], altered: Altered): boolean {
  if (altered.args !== 'all' && altered.args.size === 0 && !altered.target) return false;
  for (const c of candidates) {
    const conditions = [c.when, ...(c.targets ?? []).map((t) => t.when)];
    for (const w of conditions) {
      if (!w) continue;
      if (readsArgs(w.source, altered.args)) return true;
      if (altered.target && READS_TARGET.test(w.source)) return true;
    }
    if (altered.target && c.targets?.some((t) => t.matchTarget !== undefined)) return true;
  }
  return false;
}

interface Group {
  readonly from: ReplayDecision;
  readonly to: ReplayDecision;
  count: number;
  uncertain: number;
  readonly samples: ReplaySample[];
}

/** Replays recorded calls under one policy and tallies what would change; see the module comment. */
export class PolicyReplayer {
  readonly #policy: CompiledPolicy;
  readonly #window: ReplayWindow;
  readonly #samples: number;
  readonly #groups = new Map<string, Group>();
  readonly #notCompared = new Map<string, number>();
  #recorded = 0;
  #replayed = 0;
  #uncertain = 0;
  #viaGrant = 0;
  #monitored = 0;
  /** Replayed calls by agents the new policy does not name (only its `*` section applies), by agent. */
  readonly #unnamed = new Map<string, number>();

  constructor(policy: CompiledPolicy, options: ReplayOptions) {
    this.#policy = policy;
    this.#window = options.window;
    this.#samples = options.samplesPerGroup ?? DEFAULT_REPLAY_SAMPLES;
  }

  /**
   * Replays one recorded event; events other than `call.decided` are ignored. A `voided` decision (its
   * caller was answered STORE_UNAVAILABLE, see `call.voided`) is not compared: it never took effect.
   */
  add(event: AuditEvent, voided = false): void {
    if (event.type !== 'call.decided') return;
    this.#recorded++;
    const basis = voided ? ({ kind: 'engine', code: 'VOIDED' } as const) : recordedBasis(event);
    if (basis.kind === 'engine') {
      this.#notCompared.set(basis.code, (this.#notCompared.get(basis.code) ?? 0) + 1);
      return;
    }
    this.#replayed++;
    if (basis.viaGrant) this.#viaGrant++;
    if (event.decision?.mode === 'monitor') this.#monitored++;
    const call = recordedCall(event);
    if (
      !this.#policy.plans.has(call.agent) &&
      (this.#unnamed.size < 1_000 || this.#unnamed.has(call.agent))
    ) {
      this.#unnamed.set(call.agent, (this.#unnamed.get(call.agent) ?? 0) + 1);
    }
    const decision = evaluate(this.#policy, call);
    const now: ReplayDecision = { effect: decision.policyEffect, ruleId: decision.ruleId };
    const candidates = candidatesFor(planFor(this.#policy, call.agent), call.tool);
    const uncertain = readsAltered(candidates, alteredParts(event));
    if (uncertain) this.#uncertain++;
    const was = basis.decision;
    if (was.effect === now.effect && was.ruleId === now.ruleId) return;
    const key = JSON.stringify([was.effect, was.ruleId, now.effect, now.ruleId]);
    let group = this.#groups.get(key);
    if (!group) {
      group = { from: was, to: now, count: 0, uncertain: 0, samples: [] };
      this.#groups.set(key, group);
    }
    group.count++;
    if (uncertain) group.uncertain++;
    if (group.samples.length < this.#samples) {
      group.samples.push({
        callId: event.callId ?? event.id,
        ts: event.ts,
        agent: call.agent,
        tool: call.tool,
        uncertain,
        viaGrant: basis.viaGrant,
      });
    }
  }

  /** The report so far; `complete: false` says the caller stopped reading before the end of the window. */
  report(complete = true): ReplayReport {
    const changes: ReplayChange[] = [...this.#groups.values()].sort(byGroup).map((g) => ({
      from: g.from,
      to: g.to,
      count: g.count,
      uncertain: g.uncertain,
      samples: [...g.samples],
    }));
    const changed = changes.reduce((n, g) => n + g.count, 0);
    const transitions = new Map<string, { from: Effect; to: Effect; count: number }>();
    for (const g of changes) {
      const k = `${g.from.effect}>${g.to.effect}`;
      const t = transitions.get(k) ?? { from: g.from.effect, to: g.to.effect, count: 0 };
      t.count += g.count;
      transitions.set(k, t);
    }
    const notCompared = [...this.#notCompared]
      .map(([code, count]) => ({ code, count }))
      .sort(byCountThen('code'));
    const totals = {
      recorded: this.#recorded,
      replayed: this.#replayed,
      unchanged: this.#replayed - changed,
      changed,
      effectChanged: changes.filter((g) => g.from.effect !== g.to.effect).reduce((n, g) => n + g.count, 0),
      uncertain: this.#uncertain,
      viaGrant: this.#viaGrant,
      notCompared: this.#recorded - this.#replayed,
    };
    return {
      policy: { name: this.#policy.name, version: this.#policy.version, mode: this.#policy.mode },
      window: { ...this.#window },
      totals,
      transitions: [...transitions.values()].sort(
        (a, b) => b.count - a.count || rank(a.from) - rank(b.from) || rank(a.to) - rank(b.to),
      ),
      notCompared,
      changes,
      samplesPerGroup: this.#samples,
      complete,
      notes: this.#notes(totals, notCompared, complete),
    };
  }

  #notes(
    totals: ReplayReport['totals'],
    notCompared: ReplayReport['notCompared'],
    complete: boolean,
  ): string[] {
    const notes = [
      "Compared per call: the policy's recorded decision (its effect and deciding rule, null for the default) with the new policy's, evaluated on the stored call with now = the time it was recorded.",
    ];
    if (this.#monitored > 0 || this.#policy.mode === 'monitor') {
      notes.push(
        `Monitor mode: compared by what the policy decided (policyEffect), not by the allow the caller got (${this.#monitored} recorded in monitor mode).`,
      );
    }
    if (totals.viaGrant > 0) {
      notes.push(
        `${totals.viaGrant} call(s) ran under a grant. Grants are not part of the policy and lift only its default block, so these are compared as that block (no rule); whether a grant would still apply is not replayed.`,
      );
    }
    const redeemed = notCompared.find((c) => c.code === REDEEMED)?.count ?? 0;
    if (redeemed > 0) {
      notes.push(
        `${redeemed} call(s) went ahead on an approval (${REDEEMED}): each is compared once, by the review decision recorded when it was held.`,
      );
    }
    const engine = notCompared.filter((c) => c.code !== REDEEMED);
    if (engine.length > 0) {
      const codes = engine.map((c) => `${c.code} ${c.count}`).join(', ');
      const count = engine.reduce((n, c) => n + c.count, 0);
      notes.push(
        `${count} call(s) were decided by the engine without or over the policy (${codes}); the policy's own decision was not recorded, so they are not compared.`,
      );
    }
    if (this.#unnamed.size > 0) {
      const names = [...this.#unnamed].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      const total = names.reduce((n, [, c]) => n + c, 0);
      const shown = names.slice(0, 5).map(([agent, c]) => `${agent} ${c}`);
      notes.push(
        `${total} replayed call(s) were by agents the new policy does not name (${shown.join(', ')}${names.length > 5 ? ', …' : ''}): only its "*" rules and its default apply to them. Is this the policy those agents run under?`,
      );
    }
    if (totals.uncertain > 0) {
      notes.push(
        `${totals.uncertain} replayed call(s) are uncertain: the new policy's decision reads arguments or a target that were stored redacted ([REDACTED:…]) or capped, so it may differ on the real values.`,
      );
    }
    if (!complete) notes.push('The read stopped at the limit: later calls of the window were not replayed.');
    return notes;
  }
}

/** Replays `events` (any order the caller wants reported in; trail order is expected) under `policy`. */
export function replayEvents(
  policy: CompiledPolicy,
  events: Iterable<AuditEvent>,
  options: ReplayOptions,
): ReplayReport {
  const replayer = new PolicyReplayer(policy, options);
  for (const e of events) replayer.add(e);
  return replayer.report();
}

const rank = (e: Effect) => EFFECTS.indexOf(e);
const ruleKey = (r: string | null) => r ?? '';

function byGroup(a: Group, b: Group): number {
  return (
    b.count - a.count ||
    rank(a.from.effect) - rank(b.from.effect) ||
    rank(a.to.effect) - rank(b.to.effect) ||
    compareText(ruleKey(a.from.ruleId), ruleKey(b.from.ruleId)) ||
    compareText(ruleKey(a.to.ruleId), ruleKey(b.to.ruleId))
  );
}

function byCountThen<K extends string>(key: K) {
  return (a: Record<K, string> & { count: number }, b: Record<K, string> & { count: number }) =>
    b.count - a.count || compareText(a[key], b[key]);
}

/** Code-point order: the same on every machine, unlike localeCompare. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
