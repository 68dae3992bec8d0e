import { WardenError } from '../errors/warden-error.js';

/** A reporting period: events at or after `from` and before `to` (UTC ISO times). */
export interface ReportPeriod {
  readonly from: string;
  readonly to: string;
}

/** How finely decisions are counted over time. */
export type Granularity = 'hour' | 'day' | 'week';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Up to 3 days by the hour, up to 400 days by the day, longer periods by the week (Monday first, UTC). */
export function granularityFor(period: ReportPeriod): Granularity {
  const span = Date.parse(period.to) - Date.parse(period.from);
  if (span <= 3 * DAY) return 'hour';
  if (span <= 400 * DAY) return 'day';
  return 'week';
}

/** The start (UTC ISO) of the bucket holding `ts`. */
export function bucketStart(ts: string, g: Granularity): string {
  const t = Date.parse(ts);
  if (g === 'hour') return new Date(t - (((t % HOUR) + HOUR) % HOUR)).toISOString();
  const day = t - (((t % DAY) + DAY) % DAY);
  if (g === 'day') return new Date(day).toISOString();
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0
  return new Date(day - weekday * DAY).toISOString();
}

/** Every bucket start from the one holding `from` to the one holding the last instant before `to`. */
export function bucketsOf(period: ReportPeriod, g: Granularity): string[] {
  const step = g === 'hour' ? HOUR : g === 'day' ? DAY : 7 * DAY;
  const last = Date.parse(bucketStart(new Date(Date.parse(period.to) - 1).toISOString(), g));
  const out: string[] = [];
  for (let t = Date.parse(bucketStart(period.from, g)); t <= last; t += step) {
    out.push(new Date(t).toISOString());
  }
  return out;
}

/** Checks a period: both ends valid times, `from` before `to`; QUERY_INVALID otherwise. */
export function checkPeriod(period: ReportPeriod): ReportPeriod {
  const from = Date.parse(period.from);
  const to = Date.parse(period.to);
  if (Number.isNaN(from) || Number.isNaN(to)) {
    throw new WardenError('QUERY_INVALID', `the period ${period.from} – ${period.to} is not two valid times`);
  }
  if (from >= to) {
    throw new WardenError(
      'QUERY_INVALID',
      `the period must start before it ends (${period.from} – ${period.to})`,
    );
  }
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}
