import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Sources the gauges read at scrape time. */
export interface MetricSources {
  readonly auditHeadSeq: () => Promise<number>;
  /** The last seq live streams have been given, or undefined when none is listening. */
  readonly deliveredSeq: () => number | undefined;
  readonly sseConnections: () => number;
  /** Pending approval requests (filled in by the approvals capability; 0 until it exists). */
  readonly approvalsPending: () => Promise<number>;
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
  readonly budgetUsage: Gauge<'scope' | 'metric'>;

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
      help: 'Used fraction of each budget (filled in by the budgets capability).',
      labelNames: ['scope', 'metric'],
      registers,
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
