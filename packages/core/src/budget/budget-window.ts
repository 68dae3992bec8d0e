import type { BudgetWindow } from './budget-line.js';

/** One calendar window: [start, end) as epoch milliseconds. */
export interface WindowSpan {
  readonly start: number;
  readonly end: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Whether `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'short',
    });
    formatters.set(tz, f);
  }
  return f;
}

interface LocalTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** 0 = Monday … 6 = Sunday. */
  readonly weekday: number;
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function local(tz: string, t: number): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(tz).formatToParts(new Date(t))) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS.indexOf(parts.weekday ?? ''),
  };
}

/** The local calendar date as a sortable number (yyyymmdd). */
function dateNumber(l: LocalTime): number {
  return l.year * 10_000 + l.month * 100 + l.day;
}

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * The first second at or after `lo` whose local date is at least `date`. Local dates never go backwards
 * as time moves on (DST shifts move the clock by under a day), so a binary search finds the exact local
 * midnight — or, where a zone skips midnight, the first instant of the day that exists. Seconds, not
 * minutes: historical offsets (local mean time) are not whole minutes, and a span must contain `t`.
 */
function firstSecondOf(tz: string, date: number, lo: number, hi: number): number {
  let a = Math.floor(lo / SECOND);
  let b = Math.ceil(hi / SECOND);
  while (a < b) {
    const mid = Math.floor((a + b) / 2);
    if (dateNumber(local(tz, mid * SECOND)) >= date) b = mid;
    else a = mid + 1;
  }
  return a * SECOND;
}

/** The zone's UTC offset at `t` (whole seconds), in milliseconds. */
function offsetAt(tz: string, t: number): number {
  const s = Math.floor(t / SECOND) * SECOND;
  const l = local(tz, s);
  return Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second) - s;
}

/** The first second in (lo, hi] whose offset differs from the offset at `lo` (zones change it once an hour at most). */
function offsetChange(tz: string, lo: number, hi: number): number {
  const before = offsetAt(tz, lo);
  let a = Math.floor(lo / SECOND) + 1;
  let b = Math.floor(hi / SECOND);
  while (a < b) {
    const mid = Math.floor((a + b) / 2);
    if (offsetAt(tz, mid * SECOND) !== before) b = mid;
    else a = mid + 1;
  }
  return a * SECOND;
}

/**
 * The local hour around `t`: from the last full local hour to the next. In the hour a clock is set back
 * by an hour, the repeated local hour is two windows (they start at different instants). Where the
 * offset changes by half an hour (Australia/Lord_Howe) the local hours overlap in UTC, so the window is
 * cut at the change: windows must partition time, or the same instant would fall in two counters.
 */
function hourSpan(tz: string, t: number, l: LocalTime): WindowSpan {
  const floor = Math.floor(t / SECOND) * SECOND - (l.minute * 60 + l.second) * SECOND;
  let start = floor;
  let end = floor + HOUR;
  const here = offsetAt(tz, t);
  if (offsetAt(tz, floor) !== here) start = offsetChange(tz, floor, t);
  if (offsetAt(tz, end - SECOND) !== here) end = offsetChange(tz, t, end - SECOND);
  return { start, end };
}

function addDays(year: number, month: number, day: number, days: number): number {
  const d = new Date(Date.UTC(year, month - 1, day + days));
  return d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

function computeSpan(window: Exclude<BudgetWindow, 'session'>, t: number, tz: string): WindowSpan {
  const l = local(tz, t);
  if (window === 'hour') return hourSpan(tz, t, l);
  let first: number;
  let next: number;
  if (window === 'day') {
    first = dateNumber(l);
    next = addDays(l.year, l.month, l.day, 1);
  } else if (window === 'week') {
    first = addDays(l.year, l.month, l.day, -l.weekday);
    next = addDays(l.year, l.month, l.day, 7 - l.weekday);
  } else {
    first = l.year * 10_000 + l.month * 100 + 1;
    next = l.month === 12 ? (l.year + 1) * 10_000 + 101 : l.year * 10_000 + (l.month + 1) * 100 + 1;
  }
  const span = window === 'month' ? 32 * DAY : window === 'week' ? 8 * DAY : 2 * DAY;
  const start = firstSecondOf(tz, first, t - span, t + SECOND);
  const end = firstSecondOf(tz, next, t, t + span + DAY);
  return { start, end };
}

const cache = new Map<string, WindowSpan>();

/**
 * The calendar window of kind `window` that contains instant `t`, in time zone `tz`: a local hour, day,
 * week (Monday first) or month, with its exact UTC bounds, so a day in a DST change lasts 23 or 25 hours.
 * The last span per zone and kind is cached: a call inside it costs one comparison.
 */
export function windowSpan(window: Exclude<BudgetWindow, 'session'>, t: number, tz: string): WindowSpan {
  const key = `${tz}|${window}`;
  const hit = cache.get(key);
  if (hit && t >= hit.start && t < hit.end) return hit;
  const span = computeSpan(window, t, tz);
  if (cache.size > 1_000) cache.clear();
  cache.set(key, span);
  return span;
}
