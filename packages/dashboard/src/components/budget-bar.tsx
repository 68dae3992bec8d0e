import type { BudgetStatus } from '../api/api-types.js';
import { amount } from '../format.js';

/** Where a budget stands: used (solid) and reserved (hatched) against the limit, coloured by how close. */
export function BudgetBar(props: { readonly budget: BudgetStatus }) {
  const b = props.budget;
  const used = Math.min(100, (b.used / (b.limit || 1)) * 100);
  const reserved = Math.min(100 - used, (b.reserved / (b.limit || 1)) * 100);
  const level = b.ratio >= 1 ? 'over' : b.ratio >= 0.8 ? 'near' : 'ok';
  return (
    <div class="budget" data-budget={b.budgetId}>
      <div class="budget-label">
        <strong>{b.budgetId}</strong>
        <span class="muted">
          {b.scopeKey} · {b.metric} · {b.window}
        </span>
        <span class="budget-figures">
          {amount(b.used, b.metric)} / {amount(b.limit, b.metric)}
          {b.reserved > 0 ? ` (+${amount(b.reserved, b.metric)} reserved)` : ''}
        </span>
      </div>
      {/* biome-ignore lint/a11y/useSemanticElements: a <meter> cannot show reserved spending beside used. */}
      <div
        class={`bar bar-${level}`}
        role="meter"
        aria-valuemin={0}
        aria-valuemax={b.limit}
        aria-valuenow={b.used}
        aria-label={`${b.budgetId} ${Math.round(b.ratio * 100)}% used`}
      >
        <span class="bar-used" style={{ width: `${used}%` }} />
        <span class="bar-reserved" style={{ width: `${reserved}%` }} />
      </div>
    </div>
  );
}
