import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';

/** A deep copy of a JSON value whose objects have their keys inserted in a shuffled order. */
function shuffled(v: unknown, rand: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => shuffled(x, rand));
  if (v === null || typeof v !== 'object') return v;
  const entries = Object.entries(v);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [entries[i], entries[j]] = [entries[j] as [string, unknown], entries[i] as [string, unknown]];
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of entries) Object.defineProperty(out, k, { value: shuffled(x, rand), enumerable: true });
  return out;
}

describe('canonicalJson properties', () => {
  it('is a fixed point: canonicalising its own output parsed back changes nothing', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const c = canonicalJson(v);
        expect(canonicalJson(JSON.parse(c))).toBe(c);
      }),
      { numRuns: 1_000 },
    );
  });

  it('round-trips the value (with -0 read as 0)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 1_000 },
    );
  });

  it('does not depend on key insertion order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (v, seed) => {
        expect(canonicalJson(shuffled(v, mulberry32(seed)))).toBe(canonicalJson(v));
      }),
      { numRuns: 1_000 },
    );
  });

  it('writes one level of keys in UTF-16 code unit order with no whitespace', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), fc.integer()), (o) => {
        const sorted = Object.keys(o).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const expected = `{${sorted.map((k) => `${JSON.stringify(k)}:${o[k]}`).join(',')}}`;
        expect(canonicalJson(o)).toBe(expected);
      }),
    );
  });

  it('sorts integer-like keys as strings, unlike JSON.stringify', () => {
    const o = { b: 1, 10: 2, 9: 3, '': 4, '\u{1F600}': 5, '\uFFFF': 6 };
    expect(canonicalJson(o)).toBe('{"":4,"10":2,"9":3,"b":1,"\u{1F600}":5,"\uFFFF":6}');
  });

  it('writes finite numbers in their shortest round-tripping form', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const s = canonicalJson(x);
        expect(Number(s)).toBe(x === 0 ? 0 : x);
        expect(s).toBe(Object.is(x, -0) ? '0' : String(x));
      }),
    );
  });
});

/** A small seeded PRNG, so a failing shuffle replays with the property's seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
