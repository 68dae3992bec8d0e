import { describe, expect, it } from 'vitest';
import type { BudgetWindow } from './budget-line.js';
import { isTimeZone, windowSpan } from './budget-window.js';

type Calendar = Exclude<BudgetWindow, 'session'>;

const at = (iso: string) => Date.parse(iso);
const HOUR = 3_600_000;

/** The span as ISO strings and its length in hours, for readable expectations. */
function span(window: Calendar, iso: string, tz: string) {
  const s = windowSpan(window, at(iso), tz);
  return {
    start: new Date(s.start).toISOString(),
    end: new Date(s.end).toISOString(),
    hours: (s.end - s.start) / HOUR,
  };
}

/** Every span met walking from `from` to `to` in `step` ms: each must hold its instant and touch the next. */
function walk(window: Calendar, tz: string, from: number, to: number, step: number) {
  const spans: { start: number; end: number }[] = [];
  for (let t = from; t < to; t += step) {
    const s = windowSpan(window, t, tz);
    expect(s.start <= t && t < s.end, `${new Date(t).toISOString()} in its span`).toBe(true);
    const last = spans.at(-1);
    if (!last || last.start !== s.start) {
      if (last) expect(s.start, `span after ${new Date(last.start).toISOString()}`).toBe(last.end);
      spans.push({ start: s.start, end: s.end });
    }
  }
  return spans;
}

describe('windowSpan: days across daylight-saving changes', () => {
  it('Berlin spring forward: 2026-03-29 lasts 23 hours', () => {
    expect(span('day', '2026-03-29T12:00:00Z', 'Europe/Berlin')).toEqual({
      start: '2026-03-28T23:00:00.000Z',
      end: '2026-03-29T22:00:00.000Z',
      hours: 23,
    });
    // The days either side are ordinary and touch it.
    expect(span('day', '2026-03-28T22:59:59.999Z', 'Europe/Berlin')).toMatchObject({
      start: '2026-03-27T23:00:00.000Z',
      end: '2026-03-28T23:00:00.000Z',
    });
    expect(span('day', '2026-03-29T22:00:00Z', 'Europe/Berlin')).toMatchObject({
      start: '2026-03-29T22:00:00.000Z',
      end: '2026-03-30T22:00:00.000Z',
      hours: 24,
    });
  });

  it('Berlin fall back: 2026-10-25 lasts 25 hours', () => {
    expect(span('day', '2026-10-25T12:00:00Z', 'Europe/Berlin')).toEqual({
      start: '2026-10-24T22:00:00.000Z',
      end: '2026-10-25T23:00:00.000Z',
      hours: 25,
    });
  });

  it('New York: 2026-03-08 lasts 23 hours, 2026-11-01 lasts 25', () => {
    expect(span('day', '2026-03-08T12:00:00Z', 'America/New_York')).toEqual({
      start: '2026-03-08T05:00:00.000Z',
      end: '2026-03-09T04:00:00.000Z',
      hours: 23,
    });
    expect(span('day', '2026-11-01T12:00:00Z', 'America/New_York')).toEqual({
      start: '2026-11-01T04:00:00.000Z',
      end: '2026-11-02T05:00:00.000Z',
      hours: 25,
    });
  });

  it('a zone that skips midnight starts the day at the first instant that exists', () => {
    // Chile moves from 24:00 on Saturday to 01:00 on Sunday: 2026-09-06 begins at 01:00 -03.
    expect(span('day', '2026-09-06T12:00:00Z', 'America/Santiago')).toEqual({
      start: '2026-09-06T04:00:00.000Z',
      end: '2026-09-07T03:00:00.000Z',
      hours: 23,
    });
    expect(span('day', '2026-09-06T03:59:59Z', 'America/Santiago')).toMatchObject({
      start: '2026-09-05T04:00:00.000Z',
      end: '2026-09-06T04:00:00.000Z',
      hours: 24,
    });
    // Cuba skips 00:00–01:00 too (2026-03-08 begins at 01:00 CDT).
    expect(span('day', '2026-03-08T12:00:00Z', 'America/Havana')).toEqual({
      start: '2026-03-08T05:00:00.000Z',
      end: '2026-03-09T04:00:00.000Z',
      hours: 23,
    });
  });

  it('a half-hour zone: Asia/Kolkata days begin at 18:30 UTC', () => {
    expect(span('day', '2026-06-15T10:45:00Z', 'Asia/Kolkata')).toEqual({
      start: '2026-06-14T18:30:00.000Z',
      end: '2026-06-15T18:30:00.000Z',
      hours: 24,
    });
  });

  it('a skipped calendar day (Samoa 2011-12-30) leaves no gap: the 29th ends where the 31st begins', () => {
    expect(span('day', '2011-12-29T12:00:00Z', 'Pacific/Apia')).toEqual({
      start: '2011-12-29T10:00:00.000Z',
      end: '2011-12-30T10:00:00.000Z',
      hours: 24,
    });
    expect(span('day', '2011-12-30T10:00:00Z', 'Pacific/Apia').start).toBe('2011-12-30T10:00:00.000Z');
    expect(span('week', '2011-12-29T12:00:00Z', 'Pacific/Apia').hours).toBe(6 * 24);
  });

  it('days partition time through a whole year in Berlin', () => {
    const spans = walk(
      'day',
      'Europe/Berlin',
      at('2026-01-01T00:00:00Z'),
      at('2027-01-01T00:00:00Z'),
      5 * HOUR,
    );
    expect(spans.map((s) => (s.end - s.start) / HOUR).sort()).toEqual([
      23,
      ...Array<number>(spans.length - 2).fill(24),
      25,
    ]);
  });
});

describe('windowSpan: hours', () => {
  it('the repeated hour on fall back is two distinct windows (Berlin 2026-10-25, 02:00–03:00 twice)', () => {
    const first = span('hour', '2026-10-25T00:30:00Z', 'Europe/Berlin'); // 02:30 CEST
    const second = span('hour', '2026-10-25T01:30:00Z', 'Europe/Berlin'); // 02:30 CET
    expect(first).toEqual({ start: '2026-10-25T00:00:00.000Z', end: '2026-10-25T01:00:00.000Z', hours: 1 });
    expect(second).toEqual({ start: '2026-10-25T01:00:00.000Z', end: '2026-10-25T02:00:00.000Z', hours: 1 });
  });

  it('New York: the skipped hour does not exist and the repeated 01:00 hour is two windows', () => {
    // 2026-03-08 01:59:59 EST is followed by 03:00 EDT (07:00Z).
    expect(span('hour', '2026-03-08T06:59:59Z', 'America/New_York')).toMatchObject({
      start: '2026-03-08T06:00:00.000Z',
      end: '2026-03-08T07:00:00.000Z',
    });
    expect(span('hour', '2026-03-08T07:00:00Z', 'America/New_York')).toMatchObject({
      start: '2026-03-08T07:00:00.000Z',
      end: '2026-03-08T08:00:00.000Z',
    });
    expect(span('hour', '2026-11-01T05:30:00Z', 'America/New_York').start).toBe('2026-11-01T05:00:00.000Z');
    expect(span('hour', '2026-11-01T06:30:00Z', 'America/New_York').start).toBe('2026-11-01T06:00:00.000Z');
  });

  it('a +05:30 zone: Kolkata hours start at half past the UTC hour', () => {
    expect(span('hour', '2026-06-15T10:45:30.250Z', 'Asia/Kolkata')).toEqual({
      start: '2026-06-15T10:30:00.000Z',
      end: '2026-06-15T11:30:00.000Z',
      hours: 1,
    });
    expect(span('hour', '2026-06-15T10:29:59.999Z', 'Asia/Kolkata').start).toBe('2026-06-15T09:30:00.000Z');
  });

  it('hours partition both DST days in Berlin and New York, minute by minute', () => {
    for (const [tz, day] of [
      ['Europe/Berlin', '2026-03-28T20:00:00Z'],
      ['Europe/Berlin', '2026-10-24T20:00:00Z'],
      ['America/New_York', '2026-03-08T00:00:00Z'],
      ['America/New_York', '2026-10-31T23:00:00Z'],
    ] as const) {
      const spans = walk('hour', tz, at(day), at(day) + 12 * HOUR, 60_000);
      expect(spans.every((s) => s.end - s.start === HOUR)).toBe(true);
    }
  });

  it('a half-hour DST shift (Australia/Lord_Howe) still cuts time into non-overlapping hours', () => {
    // 2026-04-05 02:00 +11 → 01:30 +10:30 (at 15:00Z); 2026-10-04 02:00 +10:30 → 02:30 +11 (at 15:30Z).
    const back = walk(
      'hour',
      'Australia/Lord_Howe',
      at('2026-04-04T12:00:00Z'),
      at('2026-04-04T18:00:00Z'),
      60_000,
    );
    expect(back.map((s) => new Date(s.start).toISOString().slice(11, 16))).toEqual([
      '12:00',
      '13:00',
      '14:00',
      '15:00', // 01:30 +10:30: the rest of the local hour after the change
      '15:30',
      '16:30',
      '17:30',
    ]);
    const fwd = walk(
      'hour',
      'Australia/Lord_Howe',
      at('2026-10-03T13:00:00Z'),
      at('2026-10-03T18:00:00Z'),
      60_000,
    );
    expect(fwd.map((s) => new Date(s.start).toISOString().slice(11, 16))).toEqual([
      '12:30',
      '13:30',
      '14:30',
      '15:30', // 02:30 +11: half an hour until 03:00
      '16:00',
      '17:00',
    ]);
  });
});

describe('windowSpan: weeks and months', () => {
  it('weeks start on Monday at local midnight, and a DST week is 167 or 169 hours', () => {
    // 2026-03-29 is a Sunday.
    expect(span('week', '2026-03-29T12:00:00Z', 'Europe/Berlin')).toEqual({
      start: '2026-03-22T23:00:00.000Z',
      end: '2026-03-29T22:00:00.000Z',
      hours: 167,
    });
    expect(span('week', '2026-10-25T12:00:00Z', 'Europe/Berlin')).toEqual({
      start: '2026-10-18T22:00:00.000Z',
      end: '2026-10-25T23:00:00.000Z',
      hours: 169,
    });
    // Sunday 23:59 local and Monday 00:00 local are in different weeks.
    expect(span('week', '2026-06-14T21:59:59Z', 'Europe/Berlin').end).toBe('2026-06-14T22:00:00.000Z');
    expect(span('week', '2026-06-14T22:00:00Z', 'Europe/Berlin')).toMatchObject({
      start: '2026-06-14T22:00:00.000Z',
      hours: 168,
    });
    expect(new Date(at('2026-06-15T00:00:00Z')).getUTCDay()).toBe(1);
  });

  it('months follow the local calendar, including the turn of the year', () => {
    expect(span('month', '2026-03-15T12:00:00Z', 'Europe/Berlin')).toEqual({
      start: '2026-02-28T23:00:00.000Z',
      end: '2026-03-31T22:00:00.000Z',
      hours: 31 * 24 - 1,
    });
    // 2026-12-31 23:30 in New York is still December; 2027-01-01 00:00 is January.
    expect(span('month', '2027-01-01T04:30:00Z', 'America/New_York')).toMatchObject({
      start: '2026-12-01T05:00:00.000Z',
      end: '2027-01-01T05:00:00.000Z',
    });
    expect(span('month', '2027-01-01T05:00:00Z', 'America/New_York')).toMatchObject({
      start: '2027-01-01T05:00:00.000Z',
      end: '2027-02-01T05:00:00.000Z',
    });
    expect(span('month', '2026-12-31T23:59:59.999Z', 'UTC')).toMatchObject({
      start: '2026-12-01T00:00:00.000Z',
      end: '2027-01-01T00:00:00.000Z',
    });
    expect(span('month', '2028-02-10T00:00:00Z', 'UTC').hours).toBe(29 * 24);
  });

  it('weeks and months partition two years in New York', () => {
    const from = at('2026-01-01T00:00:00Z');
    const to = at('2028-01-01T00:00:00Z');
    expect(walk('week', 'America/New_York', from, to, 7 * HOUR).length).toBeGreaterThanOrEqual(104);
    expect(walk('month', 'America/New_York', from, to, 7 * HOUR)).toHaveLength(25);
  });
});

describe('windowSpan: the cache', () => {
  const kinds: Calendar[] = ['hour', 'day', 'week', 'month'];
  const zones = ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'];

  it('gives the same span for an instant whatever was asked before, forward or backward in time', () => {
    // Three days around a DST change of Europe and the US (late October) and of Lord Howe (both ways).
    for (const [tz, base] of zones.flatMap((tz) =>
      ['2026-10-24T00:00:00Z', '2026-10-02T12:00:00Z', '2026-04-03T12:00:00Z'].map(
        (b) => [tz, at(b)] as const,
      ),
    )) {
      const instants = Array.from({ length: 400 }, (_, i) => base + i * 11 * 60_000 + (i % 7) * 997);
      for (const kind of kinds) {
        const forward = instants.map((t) => windowSpan(kind, t, tz));
        expect(
          forward.every((s, i) => s.start <= (instants[i] as number) && (instants[i] as number) < s.end),
        ).toBe(true);
        const backward = [...instants].reverse().map((t) => windowSpan(kind, t, tz));
        // A shuffled order (deterministic) crosses windows in both directions.
        const order = instants.map((_, i) => (i * 173) % instants.length);
        for (const i of order) expect(windowSpan(kind, instants[i] as number, tz)).toEqual(forward[i]);
        expect(backward.reverse()).toEqual(forward);
      }
    }
  });

  it('keeps zones and kinds apart', () => {
    const t = at('2026-06-15T10:45:00Z');
    expect(windowSpan('day', t, 'UTC').start).toBe(at('2026-06-15T00:00:00Z'));
    expect(windowSpan('day', t, 'Asia/Kolkata').start).toBe(at('2026-06-14T18:30:00Z'));
    expect(windowSpan('hour', t, 'UTC').start).toBe(at('2026-06-15T10:00:00Z'));
    expect(windowSpan('day', t, 'UTC').start).toBe(at('2026-06-15T00:00:00Z'));
  });
});

describe('isTimeZone', () => {
  it.each([
    ['UTC', true],
    ['Europe/Berlin', true],
    ['America/New_York', true],
    ['Asia/Kolkata', true],
    ['Mars/Olympus_Mons', false],
    ['Europe/Berln', false],
    ['', false],
  ])('%j: %s', (tz, ok) => {
    expect(isTimeZone(tz)).toBe(ok);
  });
});
