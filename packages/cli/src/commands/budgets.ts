import type { BudgetList, BudgetStatus } from '@warden/api';
import type { BudgetMetric } from '@warden/core';
import { type CliIo, EXIT } from '../cli-io.js';
import { renderTable } from '../table.js';
import { type ApiFlags, apiClient, withQuery } from './api-client.js';

/** One budget counter as GET /v1/budgets answers it. */
export type BudgetStatusView = BudgetStatus;

export interface BudgetsShowOptions extends ApiFlags {
  readonly agent?: string;
  readonly session?: string;
  readonly budget?: string;
  readonly json?: boolean;
}

/** `warden budgets show`: where each budget stands in its current window, as a table with a usage bar. */
export async function budgetsShow(o: BudgetsShowOptions, io: CliIo): Promise<number> {
  const { budgets } = await apiClient(o).get<BudgetList>(
    withQuery('/v1/budgets', { agent: o.agent, session: o.session, budget: o.budget }),
  );
  if (o.json) {
    io.out(`${JSON.stringify({ budgets })}\n`);
    return EXIT.ok;
  }
  if (budgets.length === 0) {
    const of = [
      o.agent && `agent ${o.agent}`,
      o.session && `session ${o.session}`,
      o.budget && `budget ${o.budget}`,
    ]
      .filter(Boolean)
      .join(', ');
    io.err(
      `no budget counters${of ? ` for ${of}` : ''} yet: a counter starts with the first call its budget counts (budgets are set in the policy)\n`,
    );
    return EXIT.ok;
  }
  io.out(`${budgetTable(budgets)}\n`);
  return EXIT.ok;
}

/** The budgets table: budget, scope, window (start in local time), metric, used / limit, bar, reserved, remaining. */
export function budgetTable(budgets: readonly BudgetStatusView[]): string {
  return renderTable(
    ['budget', 'scope', 'window', 'metric', 'used / limit', 'usage', 'reserved', 'remaining'],
    budgets.map((b) => [
      b.budgetId,
      b.scopeKey,
      windowText(b),
      b.metric,
      `${amount(b.used, b.metric)} / ${amount(b.limit, b.metric)}`,
      usageBar(b.ratio),
      amount(b.reserved, b.metric),
      amount(b.remaining, b.metric),
    ]),
    [32, 48, 28, 6, 32, 16, 16, 16],
  );
}

const BAR_CELLS = 10;

/** `████████░░ 80%`: one cell per tenth of the limit, full at or over it; the percent is not capped. */
export function usageBar(ratio: number): string {
  if (!Number.isFinite(ratio)) return '—';
  // The epsilon keeps 0.7 × 10 = 6.999… from losing a cell.
  const full = Math.max(0, Math.min(BAR_CELLS, Math.floor(ratio * BAR_CELLS + 1e-9)));
  return `${'█'.repeat(full)}${'░'.repeat(BAR_CELLS - full)} ${Math.round(ratio * 100)}%`;
}

/** An amount in its metric's unit: `$8.12`, `12,345` tokens or calls. */
export function amount(value: number, metric: BudgetMetric): string {
  if (metric === 'usd') return `${value < 0 ? '-' : ''}$${Math.abs(value).toFixed(2)}`;
  return Math.round(value).toLocaleString('en-US');
}

/** `session`, or the period and when it began in this machine's time: `day from 2026-03-01 00:00`. */
export function windowText(b: Pick<BudgetStatusView, 'window' | 'windowStart'>): string {
  if (b.window === 'session' || b.windowStart === 'session') return 'session';
  return `${b.window} from ${localTime(b.windowStart)}`;
}

/** `YYYY-MM-DD HH:MM` in the local time zone; the ISO text as is when it is not a time. */
export function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
