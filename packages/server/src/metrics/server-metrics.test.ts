import { describe, expect, it } from 'vitest';
import { type BudgetUsage, budgetUsageSamples, ServerMetrics } from './server-metrics.js';

const usage = (budgetId: string, scopeKey: string, ratio: number, metric = 'usd'): BudgetUsage => ({
  budgetId,
  scope: scopeKey.split(':')[0] as string,
  scopeKey,
  metric,
  ratio,
});

function metricsWith(rows: () => readonly BudgetUsage[]): ServerMetrics {
  return new ServerMetrics({
    auditHeadSeq: async () => 0,
    deliveredSeq: () => undefined,
    sseConnections: () => 0,
    approvalsPending: async () => 0,
    budgetStatus: async () => rows(),
  });
}

describe('warden_budget_usage_ratio', () => {
  it('has one series per budget and scope instance, sessions folded into their most used one', async () => {
    let rows = [
      usage('daily-spend', 'agent:support-bot', 0.8),
      usage('daily-spend', 'agent:coder', 0.25),
      usage('team-tokens', 'team:finance', 1.1, 'tokens'),
      usage('per-session', 'session:s1', 0.5, 'calls'),
      usage('per-session', 'session:s2', 0.9, 'calls'),
      usage('per-session', 'session:s3', 0.1, 'calls'),
    ];
    const m = metricsWith(() => rows);
    const text = await m.registry.getSingleMetricAsString('warden_budget_usage_ratio');
    const lines = text.split('\n').filter((l) => l.startsWith('warden_budget_usage_ratio{'));
    expect(lines.sort()).toEqual(
      [
        'warden_budget_usage_ratio{budget="daily-spend",scope="agent:support-bot",metric="usd"} 0.8',
        'warden_budget_usage_ratio{budget="daily-spend",scope="agent:coder",metric="usd"} 0.25',
        'warden_budget_usage_ratio{budget="team-tokens",scope="team:finance",metric="tokens"} 1.1',
        'warden_budget_usage_ratio{budget="per-session",scope="session",metric="calls"} 0.9',
      ].sort(),
    );
    // Read at every scrape: a counter whose window ended is gone.
    rows = [usage('daily-spend', 'agent:coder', 0.3)];
    const after = await m.registry.getSingleMetricAsString('warden_budget_usage_ratio');
    expect(after.split('\n').filter((l) => l.startsWith('warden_budget_usage_ratio{'))).toEqual([
      'warden_budget_usage_ratio{budget="daily-spend",scope="agent:coder",metric="usd"} 0.3',
    ]);
  });

  it('keeps at most the limit of series, the most used, and skips ratios that are not numbers', () => {
    const rows = Array.from({ length: 1_000 }, (_, i) => usage('b', `agent:a${i}`, i / 1_000));
    rows.push(usage('b', 'agent:broken', Number.NaN));
    const samples = budgetUsageSamples(rows);
    expect(samples).toHaveLength(500);
    expect(samples[0]).toEqual({ labels: { budget: 'b', scope: 'agent:a999', metric: 'usd' }, value: 0.999 });
    expect(samples.at(-1)?.labels.scope).toBe('agent:a500');
    expect(budgetUsageSamples(rows, 3)).toHaveLength(3);
  });

  it('is empty without a budget source', async () => {
    const m = new ServerMetrics({
      auditHeadSeq: async () => 0,
      deliveredSeq: () => undefined,
      sseConnections: () => 0,
      approvalsPending: async () => 0,
    });
    const text = await m.registry.getSingleMetricAsString('warden_budget_usage_ratio');
    expect(text).not.toContain('warden_budget_usage_ratio{');
  });
});
