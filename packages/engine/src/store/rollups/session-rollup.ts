import type { AuditEvent } from '@warden/core';
import type { SessionUsage } from '../store.js';
import { dimsKey, type RollupCell, type RollupDelta, type RollupDeriver } from './rollup.js';

/** Per session, all time: calls by effect and what completions reported (GET /v1/sessions/{id}). */
export const SESSION_ROLLUP = 'session';

/** A reported usage figure, or 0 when it is missing or not a finite number (bodies are not re-validated). */
function amount(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/**
 * A decision adds one call under its effect; a completion adds one completion, an error when it failed,
 * and its tokens and cost: the figures `Store.sessionUsage` counts from the session's events.
 */
export const sessionDeriver: RollupDeriver = (e: AuditEvent): readonly RollupDelta[] => {
  if (!e.session) return [];
  const dims = dimsKey(e.session);
  if (e.type === 'call.decided') {
    const effect = e.decision?.effect;
    if (effect !== 'allow' && effect !== 'review' && effect !== 'block') return [];
    return [{ name: SESSION_ROLLUP, bucket: '', dims, metrics: { [effect]: 1 } }];
  }
  if (e.type !== 'call.completed') return [];
  const outcome = e.outcome;
  const metrics: Record<string, number> = {
    completed: 1,
    inputTokens: amount(outcome?.usage?.inputTokens),
    outputTokens: amount(outcome?.usage?.outputTokens),
    costUsd: amount(outcome?.usage?.costUsd),
  };
  if (outcome?.status === 'error') metrics.errors = 1;
  return [{ name: SESSION_ROLLUP, bucket: '', dims, metrics }];
};

/** The rollup query for one session's cell: a primary-key lookup. */
export function sessionRollupQuery(session: string): { name: string; bucket: string; dims: string } {
  return { name: SESSION_ROLLUP, bucket: '', dims: dimsKey(session) };
}

/** A session's usage from its cell (none yet: all zero). */
export function sessionUsageOf(cells: readonly RollupCell[]): SessionUsage {
  const m = (k: string) => cells.reduce((sum, c) => sum + (c.metrics[k] ?? 0), 0);
  return {
    calls: { allow: m('allow'), review: m('review'), block: m('block') },
    completed: m('completed'),
    errors: m('errors'),
    inputTokens: m('inputTokens'),
    outputTokens: m('outputTokens'),
    costUsd: m('costUsd'),
  };
}
