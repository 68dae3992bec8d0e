import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Sources the gauges read at scrape time. */
export interface MetricSources {
  readonly auditHeadSeq: () => Promise<number>;
  /** The last seq live streams have been given, or undefined when none is listening. */
  readonly deliveredSeq: () => number | undefined;
  readonly sseConnections: () => number;
  /** Pending approval requests (filled in by the approvals capability; 0 until it exists). */
  readonly approvalsPending: () => Promise<number>;
  /** Budget counters in their current window (engine.budgets.status({})); none when absent. */
  readonly budgetStatus?: () => Promise<readonly BudgetUsage[]>;
}

/** The part of a budget counter's status the usage gauge reads. */
export interface BudgetUsage {
  readonly budgetId: string;
  readonly scope: string;
  readonly scopeKey: string;
  readonly metric: string;
  readonly ratio: number;
}

/** The most series warden_budget_usage_ratio exposes: the most used ones are kept. */
export const MAX_BUDGET_SERIES = 500;

/**
 * One sample per budget and scope instance (`agent:support-bot`, `team:finance`, `global`, a tag value),
 * at most MAX_BUDGET_SERIES, the most used first. Session budgets would make a series per session, so they
 * are folded into one `scope="session"` sample per budget: the most used session's ratio.
 */
export function budgetUsageSamples(
  rows: readonly BudgetUsage[],
  max = MAX_BUDGET_SERIES,
): { labels: { budget: string; scope: string; metric: string }; value: number }[] {
  const samples = new Map<
    string,
    { labels: { budget: string; scope: string; metric: string }; value: number }
  >();
  for (const r of rows) {
    if (!Number.isFinite(r.ratio)) continue;
    const scope = r.scope === 'session' ? 'session' : r.scopeKey;
    const id = JSON.stringify([r.budgetId, scope, r.metric]);
    const seen = samples.get(id);
    if (!seen || seen.value < r.ratio) {
      samples.set(id, { labels: { budget: r.budgetId, scope, metric: r.metric }, value: r.ratio });
    }
  }
  return [...samples.values()].sort((a, b) => b.value - a.value).slice(0, max);
}

/**
 * The Prometheus metrics of one instance, on a registry of its own (never the global one, so two servers
 * in one process do not collide). Label values are bounded: effects, rule ids of the policy, route
 * patterns and status classes.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly decisions: Counter<'effect' | 'rule' | 'code'>;
  readonly checkSeconds: Histogram<'effect'>;
  readonly completions: Counter<'status'>;
  readonly httpSeconds: Histogram<'route' | 'method' | 'status'>;
  readonly budgetUsage: Gauge<'budget' | 'scope' | 'metric'>;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'warden_' });
    this.decisions = new Counter({
      name: 'warden_decisions_total',
      help: 'Tool-call decisions by effect, deciding rule and engine code.',
      labelNames: ['effect', 'rule', 'code'],
      registers,
    });
    this.checkSeconds = new Histogram({
      name: 'warden_check_duration_seconds',
      help: 'Time to decide a call and make its audit event durable.',
      labelNames: ['effect'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.completions = new Counter({
      name: 'warden_completions_total',
      help: 'Completed calls by outcome status.',
      labelNames: ['status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'warden_http_request_duration_seconds',
      help: 'HTTP request latency by route pattern, method and status.',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.budgetUsage = new Gauge({
      name: 'warden_budget_usage_ratio',
      help: `Used fraction (used / limit) of each budget in its current window, by budget id, scope (session budgets: the most used session) and metric; at most ${MAX_BUDGET_SERIES} series, the most used.`,
      labelNames: ['budget', 'scope', 'metric'],
      registers,
      async collect() {
        if (!sources.budgetStatus) return;
        const samples = budgetUsageSamples(await sources.budgetStatus());
        // Rebuilt at every scrape: a window that ended or a budget removed from the policy disappears.
        this.reset();
        for (const s of samples) this.set(s.labels, s.value);
      },
    });
    new Gauge({
      name: 'warden_approvals_pending',
      help: 'Approval requests waiting for a decision.',
      registers,
      async collect() {
        this.set(await sources.approvalsPending());
      },
    });
    new Gauge({
      name: 'warden_audit_head_seq',
      help: 'The sequence number of the newest audit event.',
      registers,
      async collect() {
        this.set(await sources.auditHeadSeq());
      },
    });
    new Gauge({
      name: 'warden_audit_lag_events',
      help: "Audit events written but not yet delivered to this instance's live streams (0 when none is open).",
      registers,
      async collect() {
        const delivered = sources.deliveredSeq();
        this.set(delivered === undefined ? 0 : Math.max(0, (await sources.auditHeadSeq()) - delivered));
      },
    });
    new Gauge({
      name: 'warden_sse_connections',
      help: 'Open live event streams.',
      registers,
      collect() {
        this.set(sources.sseConnections());
      },
    });
  }
}
