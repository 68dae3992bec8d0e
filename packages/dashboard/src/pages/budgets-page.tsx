import { useState } from 'preact/hooks';
import { api, query } from '../api/api-client.js';
import type { AuditPage, AuditRecord, BudgetList, BudgetStatus, UsageSeries } from '../api/api-types.js';
import { BudgetBar } from '../components/budget-bar.js';
import { LineChart } from '../components/line-chart.js';
import { Empty, ErrorNotice } from '../components/notices.js';
import { amount, relative } from '../format.js';
import { useLiveEvents, useLoad, useThrottledReload } from '../hooks.js';
import { linkClick } from '../router.js';

const RANGES = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const;
const METRICS = { costUsd: 'cost (USD)', tokens: 'tokens', calls: 'calls' } as const;
const ALERT_TYPES = ['budget.alert', 'budget.exceeded', 'breaker.tripped'] as const;

function bucketLabel(iso: string, bucket: 'hour' | 'day'): string {
  const d = new Date(iso);
  return bucket === 'hour'
    ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false })
    : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** Budgets at a glance: usage over time per agent or team, every counter's bar, and the latest alerts. */
export function BudgetsPage() {
  const [range, setRange] = useState<keyof typeof RANGES>('24h');
  const [by, setBy] = useState<'agent' | 'team'>('agent');
  const [metric, setMetric] = useState<keyof typeof METRICS>('calls');
  const usage = useLoad(() => {
    const to = new Date();
    const from = new Date(to.getTime() - RANGES[range]);
    return api<UsageSeries>(
      'GET',
      `/v1/usage${query({ from: from.toISOString(), to: to.toISOString(), by })}`,
    );
  }, [range, by]);
  const budgets = useLoad(() => api<BudgetList>('GET', '/v1/budgets'), []);
  const alerts = useLoad(async () => {
    const pages = await Promise.all(
      ALERT_TYPES.map((type) =>
        api<AuditPage>('GET', `/v1/audit/events${query({ type, order: 'desc', limit: 20 })}`),
      ),
    );
    return pages
      .flatMap((p) => p.records)
      .sort((a, b) => b.seq - a.seq)
      .slice(0, 30);
  }, []);
  const reload = useThrottledReload(() => {
    budgets.reload();
    alerts.reload();
  }, 2_000);
  useLiveEvents(['call.completed', ...ALERT_TYPES, 'budget.raised'], reload);
  const u = usage.data;
  const lines = (u?.lines ?? []).slice(0, 8);
  const scopes = new Map<string, BudgetStatus[]>();
  for (const b of budgets.data?.budgets ?? []) scopes.set(b.scope, [...(scopes.get(b.scope) ?? []), b]);
  return (
    <section>
      <header class="page-head">
        <h1>Budgets</h1>
      </header>
      <div class="toolbar">
        <label>
          Range
          <select
            value={range}
            onChange={(e) => setRange((e.currentTarget as HTMLSelectElement).value as keyof typeof RANGES)}
          >
            {Object.keys(RANGES).map((r) => (
              <option key={r} value={r}>
                last {r}
              </option>
            ))}
          </select>
        </label>
        <label>
          Per
          <select
            value={by}
            onChange={(e) => setBy((e.currentTarget as HTMLSelectElement).value as 'agent' | 'team')}
          >
            <option value="agent">agent</option>
            <option value="team">team</option>
          </select>
        </label>
        <label>
          Show
          <select
            value={metric}
            onChange={(e) => setMetric((e.currentTarget as HTMLSelectElement).value as keyof typeof METRICS)}
          >
            {Object.entries(METRICS).map(([k, label]) => (
              <option key={k} value={k}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNotice error={usage.error} what="Loading usage" />
      {u && lines.length ? (
        <LineChart
          title={`${METRICS[metric]} per ${u.bucket}, per ${by}`}
          labels={u.buckets.map((b) => bucketLabel(b, u.bucket))}
          series={lines.map((l) => ({ name: l.key, values: l[metric] }))}
          format={(v) => amount(v, metric === 'costUsd' ? 'usd' : metric)}
        />
      ) : u ? (
        <Empty>
          No completed calls in the last {range}
          {by === 'team' ? ' by agents in a team' : ''}.
        </Empty>
      ) : null}
      {u?.truncated ? (
        <p class="notice warn">Only the newest 100,000 calls of the range are charted.</p>
      ) : null}
      {u && lines.length ? (
        <table class="table" data-testid="usage-totals">
          <thead>
            <tr>
              <th>{by}</th>
              <th>calls</th>
              <th>tokens</th>
              <th>cost</th>
            </tr>
          </thead>
          <tbody>
            {u.lines.map((l) => (
              <tr key={l.key}>
                <td>{l.key}</td>
                <td>{amount(l.total.calls, 'calls')}</td>
                <td>{amount(l.total.tokens, 'tokens')}</td>
                <td>{amount(l.total.costUsd, 'usd')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <h2>Alerts</h2>
      <ErrorNotice error={alerts.error} what="Loading alerts" />
      {alerts.data?.length === 0 ? <Empty>No budget alerts, breaches or breaker trips yet.</Empty> : null}
      <ul class="alerts" data-testid="alerts">
        {(alerts.data ?? []).map((r) => (
          <li key={r.seq} class={r.event.type.replace('.', '-')}>
            <span class="muted">{relative(r.event.ts)}</span> <code>{r.event.type}</code>{' '}
            {r.event.agent ?? ''}{' '}
            {r.event.session ? (
              <a href={`/sessions/${encodeURIComponent(r.event.session)}`} onClick={linkClick}>
                {r.event.session}
              </a>
            ) : null}{' '}
            {alertText(r)}
          </li>
        ))}
      </ul>
      <h2>Counters in their current window</h2>
      <ErrorNotice error={budgets.error} what="Loading budgets" />
      {budgets.data?.budgets.length === 0 ? <Empty>No budget has been drawn on yet.</Empty> : null}
      {[...scopes.entries()].map(([scope, list]) => (
        <div key={scope} class="scope">
          <h3>{scope}</h3>
          {list.map((b) => (
            <BudgetBar key={b.key} budget={b} />
          ))}
        </div>
      ))}
    </section>
  );
}

function alertText(r: AuditRecord): string {
  const d = r.event.data ?? {};
  const parts = [
    d.budgetId,
    d.breaker,
    d.metric,
    d.reason,
    d.threshold !== undefined ? `${d.threshold}%` : undefined,
  ];
  return parts.filter((p) => typeof p === 'string' || typeof p === 'number').join(' · ');
}
