import { describe, expect, it } from 'vitest';
import { isCalendarDate } from './calendar-date.js';

describe('isCalendarDate', () => {
  it.each([
    ['2026-02-28', true],
    ['2028-02-29', true],
    ['2026-02-29', false],
    ['2026-02-30', false],
    ['2026-13-01', false],
    ['2026-00-10', false],
    ['2026-12-31T23:59:59Z', true],
    ['2026-04-31T10:00:00Z', false],
    ['yesterday', false],
  ])('%s → %s', (text, ok) => {
    expect(isCalendarDate(text)).toBe(ok);
  });
});
