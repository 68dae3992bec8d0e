import type { Capped, EventRef, Granularity, TopList } from '@warden/core';

/** Formatting shared by the report's sections. */

/** 12345 → `12,345`. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** `1 event`, `2 events`. */
export function plural(n: number, what: string): string {
  return `${count(n)} ${what}${n === 1 ? '' : 's'}`;
}

/** An ISO time as `2026-05-01 14:03:07Z` (seconds are enough to find the event; its seq is exact). */
export function time(ts: string | null | undefined): string {
  if (!ts) return '—';
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(ts);
  return m ? `${m[1]} ${m[2]}Z` : ts;
}

/** A policy version hash, shortened as git shortens commits. */
export function version(v: string | null | undefined): string {
  return v ? v.slice(0, 12) : '—';
}

/** A value or a dash. */
export function or(v: string | number | null | undefined): string {
  return v === null || v === undefined || v === '' ? '—' : String(v);
}

/** The seq and time columns every event row starts with. */
export function refCells(r: EventRef): string[] {
  return [String(r.seq), time(r.ts)];
}

/** How many rows a capped list left out. */
export function more<T>(c: Capped<T>): number {
  return c.total - c.items.length;
}

/** Rows of a top list, plus one for the rest. */
export function topRows(t: TopList): string[][] {
  const rows = t.rows.map((r) => [r.key, count(r.count)]);
  if (t.otherKeys > 0) rows.push([`${plural(t.otherKeys, 'other name')}`, count(t.otherCount)]);
  return rows;
}

/** A bucket's label: `2026-05-01 14:00`, `2026-05-01`, or `week of 2026-04-27`. */
export function bucketLabel(start: string, g: Granularity): string {
  if (g === 'hour') return `${start.slice(0, 10)} ${start.slice(11, 16)}`;
  if (g === 'day') return start.slice(0, 10);
  return `week of ${start.slice(0, 10)}`;
}
