import { isCalendarDate } from '../config/calendar-date.js';
import { WardenError } from '../errors/warden-error.js';
import { parseDuration } from './duration.js';

/** How far back a replay reads unless told otherwise. */
export const DEFAULT_REPLAY_SINCE = '7d';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A point in time written as an age (`7d`, `12h`, `1h30m`: that long before `now`), an ISO time
 * (`2026-05-01T09:00:00Z`) or a date (`2026-05-01`, midnight UTC), as a UTC ISO string. QUERY_INVALID
 * names `what` otherwise.
 */
export function resolveTime(what: string, text: string, now: number): string {
  const t = text.trim();
  const ago = parseDuration(t);
  if (ago !== undefined) return new Date(now - ago).toISOString();
  if (DATE.test(t) && isCalendarDate(t)) return `${t}T00:00:00.000Z`;
  if (ISO_TIME.test(t) && isCalendarDate(t) && !Number.isNaN(Date.parse(t))) return new Date(t).toISOString();
  throw new WardenError(
    'QUERY_INVALID',
    `${what} "${text}" is not a time: write an age (7d, 12h, 1h30m), an ISO time (2026-05-01T09:00:00Z) or a date (2026-05-01)`,
  );
}

/** The time range a replay reads: since (default 7d ago) up to until (default now), `from` before `to`. */
export function replayWindow(
  range: { readonly since?: string | undefined; readonly until?: string | undefined },
  now: number = Date.now(),
): { from: string; to: string } {
  const from = resolveTime('since', range.since ?? DEFAULT_REPLAY_SINCE, now);
  const to = range.until === undefined ? new Date(now).toISOString() : resolveTime('until', range.until, now);
  if (Date.parse(from) >= Date.parse(to)) {
    throw new WardenError('QUERY_INVALID', `since (${from}) must be before until (${to})`);
  }
  return { from, to };
}
