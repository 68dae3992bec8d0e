import { afterEach, describe, expect, it, vi } from 'vitest';
import { uuidv7 } from './ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The Unix milliseconds in the first 48 bits. */
const msOf = (id: string) => Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

function expectStrictlyIncreasing(ids: readonly string[]): void {
  for (let i = 1; i < ids.length; i++) {
    if (!((ids[i - 1] as string) < (ids[i] as string))) {
      expect.fail(`id ${i} (${ids[i]}) does not sort after id ${i - 1} (${ids[i - 1]})`);
    }
  }
}

describe('uuidv7', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('has the RFC 9562 layout: version 7, variant 10xx, lowercase hex', () => {
    for (let i = 0; i < 1_000; i++) expect(uuidv7()).toMatch(UUID_V7);
  });

  it('carries the current Unix time in milliseconds', () => {
    const before = Date.now();
    const id = uuidv7();
    const after = Date.now();
    expect(msOf(id)).toBeGreaterThanOrEqual(before);
    expect(msOf(id)).toBeLessThanOrEqual(after);
  });

  it('is strictly increasing in string order and unique over 100,000 ids made in a tight loop', () => {
    const ids: string[] = [];
    for (let i = 0; i < 100_000; i++) ids.push(uuidv7());
    expectStrictlyIncreasing(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps increasing while the clock stands still or steps back', () => {
    const now = Date.now() + 60_000;
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now);
    const ids = Array.from({ length: 100 }, () => uuidv7());
    clock.mockReturnValue(now - 5_000);
    ids.push(...Array.from({ length: 100 }, () => uuidv7()));
    clock.mockReturnValue(now + 1);
    ids.push(uuidv7());
    expectStrictlyIncreasing(ids);
    expect(msOf(ids[150] as string)).toBe(now);
    expect(msOf(ids[200] as string)).toBe(now + 1);
  });

  // RFC 9562 §6.2: on counter overflow the timestamp advances instead of wrapping.
  it('keeps increasing past 4096 ids within one millisecond', () => {
    vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 120_000);
    expectStrictlyIncreasing(Array.from({ length: 5_000 }, () => uuidv7()));
  });
});
