import { redactStored } from '../audit/redaction.js';
import { placeholder } from '../audit/secret-patterns.js';
import { WardenError } from '../errors/warden-error.js';
import type { BudgetLine, BudgetMetric } from './budget-line.js';
import type { BudgetPolicy, CompiledBudget } from './budget-policy.js';
import { windowSpan } from './budget-window.js';
import { costOf, type PriceTable, priceOf } from './price-table.js';

/** The call as budgets see it. */
export interface MeteredCall {
  readonly agent: string;
  readonly session: string;
  readonly tool: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** What a call consumed or may consume. */
export interface Consumption {
  readonly model?: string;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly cachedTokens?: number;
  readonly costUsd?: number;
  /**
   * Usage already spent and reported after the fact (the SDK's `recordUsage`): nothing to reserve, so an
   * all-zero estimate is taken at its word instead of as the default.
   */
  readonly spent?: boolean;
  /**
   * Why the input cost cannot be bounded before the call runs (a request field naming stored context, a
   * server-side tool): a tokens or USD budget refuses it (ESTIMATE_UNBOUNDED) rather than reserve a guess.
   */
  readonly unbounded?: string;
}

/**
 * The budgets a call draws on, each as the counter of its scope and current window (amount 0). `fields`
 * are the policy's extra secret field names: a tag budget's label value is redacted with them.
 */
export function budgetLines(
  policy: BudgetPolicy,
  call: MeteredCall,
  now: number,
  fields?: readonly string[],
): BudgetLine[] {
  const lines: BudgetLine[] = [];
  for (const b of policy.forAgent(call.agent).budgets) {
    if (b.tools && !b.tools(call.tool)) continue;
    const scopeKey = scopeKeyOf(b, call, fields);
    if (scopeKey === undefined) continue;
    const span = b.window === 'session' ? undefined : windowSpan(b.window, now, policy.timeZone);
    const windowStart = span ? new Date(span.start).toISOString() : 'session';
    lines.push({
      key: `${b.id}|${scopeKey}|${windowStart}`,
      budgetId: b.id,
      scopeKey,
      metric: b.metric,
      window: b.window,
      windowStart,
      windowEnd: span ? new Date(span.end).toISOString() : null,
      limit: b.limit,
      amount: 0,
    });
  }
  return lines.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function scopeKeyOf(
  b: CompiledBudget,
  call: MeteredCall,
  fields: readonly string[] | undefined,
): string | undefined {
  switch (b.scope) {
    case 'session':
      return `session:${call.session}`;
    case 'agent':
      return `agent:${call.agent}`;
    case 'team':
      return `team:${b.team}`;
    case 'global':
      return 'global';
    case 'tag': {
      // A call without the label is outside every scope of this budget.
      const labels = call.labels;
      const v = b.tag !== undefined && labels && Object.hasOwn(labels, b.tag) ? labels[b.tag] : undefined;
      return v === undefined ? undefined : `tag:${b.tag}=${storedLabel(b.tag as string, v, fields)}`;
    }
  }
}

/**
 * A label value as the audit trail stores it: redacted the way an event's `labels` are (a secret-named label
 * whole, secrets in the text), because the scope key is stored in budget tables the commit path's redaction
 * never sees (reservations are written directly). Distinct secrets then share one counter: stricter, never
 * looser. Idempotent, so lines rebuilt from a stored (redacted) event find the same counter.
 */
function storedLabel(tag: string, value: string, fields: readonly string[] | undefined): string {
  const r = redactStored({ [tag]: value }, fields);
  if (r.redactions.length === 0) return value;
  const v = Object.values(r.value as Record<string, unknown>)[0];
  return typeof v === 'string' ? v : placeholder('field');
}

/**
 * The USD cost of a consumption: as reported, else priced from the table. Undefined when it names a
 * model the table does not know and reports no cost; 0 when there is nothing to price.
 */
export function usdOf(c: Consumption, prices: PriceTable): number | undefined {
  if (c.costUsd !== undefined) return c.costUsd;
  if (c.model === undefined) return 0;
  const price = priceOf(prices, c.model);
  return price ? costOf(price, c) : undefined;
}

/** The amount of `metric` a consumption stands for; a call is one call. */
export function amountOf(metric: BudgetMetric, c: Consumption, prices: PriceTable): number | undefined {
  if (metric === 'calls') return 1;
  if (metric === 'tokens') return (c.inputTokens ?? 0) + (c.outputTokens ?? 0);
  return usdOf(c, prices);
}

/** What an estimate that names no tokens and no cost is taken to be, in input tokens. */
export const DEFAULT_TOKEN_ESTIMATE = 4_096;

/**
 * The lines with what to reserve for an estimate. A USD budget cannot count a model it cannot price:
 * PRICE_UNKNOWN, rather than letting the spend through as free. An estimate naming no tokens and no cost
 * (or naming only zeros) is taken as `defaultTokens` input tokens: reserved at 0, any number of such calls
 * would be admitted at once, each free to spend without bound (how far a budget can go over is bounded by
 * what is reserved). Only usage already `spent` reserves nothing. An `unbounded` estimate is refused by a
 * tokens or USD budget: ESTIMATE_UNBOUNDED.
 */
export function reserveAmounts(
  lines: readonly BudgetLine[],
  estimate: Consumption,
  prices: PriceTable,
  defaultTokens = DEFAULT_TOKEN_ESTIMATE,
): BudgetLine[] {
  if (estimate.unbounded !== undefined) {
    const line = lines.find((l) => l.metric !== 'calls');
    if (line) throw estimateUnbounded(estimate.unbounded, line.budgetId);
  }
  const named =
    estimate.spent === true ||
    (estimate.inputTokens ?? 0) > 0 ||
    (estimate.outputTokens ?? 0) > 0 ||
    (estimate.costUsd ?? 0) > 0;
  const e = named ? estimate : { ...estimate, inputTokens: defaultTokens };
  return lines.map((l) => {
    const amount = amountOf(l.metric, e, prices);
    if (amount === undefined) throw priceUnknown(estimate.model ?? '', l.budgetId, prices.version);
    return { ...l, amount };
  });
}

/**
 * The lines with what to settle for actual usage. An unpriceable model is charged what was reserved for
 * it (the call already ran: counting it as free would hide the spend).
 */
export function settleAmounts(
  lines: readonly BudgetLine[],
  usage: Consumption,
  prices: PriceTable,
  reserved: ReadonlyMap<string, number>,
): BudgetLine[] {
  return lines.map((l) => ({ ...l, amount: amountOf(l.metric, usage, prices) ?? reserved.get(l.key) ?? 0 }));
}

export function estimateUnbounded(why: string, budgetId: string): WardenError {
  return new WardenError(
    'ESTIMATE_UNBOUNDED',
    `budget ${budgetId} counts tokens or US dollars, but this call's cost cannot be bounded before it runs: ${why}`,
    { budgetId, reason: why },
  );
}

export function priceUnknown(model: string, budgetId: string, version: string): WardenError {
  return new WardenError(
    'PRICE_UNKNOWN',
    `budget ${budgetId} counts US dollars, but model "${model}" has no price in table ${version}; add it to the prices setting of the server configuration (or report costUsd)`,
    { model, budgetId, priceVersion: version },
  );
}
