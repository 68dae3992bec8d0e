/**
 * Whether the date an ISO date or time starts with is a real day. `Date.parse` rolls impossible days
 * over (2026-02-30 becomes March 2nd) or gives up (2026-13-45), and a wrong period in an evidence
 * report or a replay must be refused, not silently shifted.
 */
export function isCalendarDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}
