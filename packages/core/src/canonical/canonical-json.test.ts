import { describe, expect, it } from 'vitest';
import { canonicalHash, canonicalJson } from './canonical-json.js';

describe('canonicalJson (RFC 8785)', () => {
  it('sorts keys, drops whitespace and undefined, and keeps arrays in order', () => {
    expect(canonicalJson({ b: 1, a: [3, { d: true, c: null }], u: undefined })).toBe(
      '{"a":[3,{"c":null,"d":true}],"b":1}',
    );
  });
  it('formats numbers in ECMAScript shortest form', () => {
    expect(canonicalJson([1.0, 1e21, 0.000001, -0])).toBe('[1,1e+21,0.000001,0]');
  });
  it('sorts keys by UTF-16 code units', () => {
    expect(canonicalJson({ '\u20ac': 1, '\r': 2, '1': 3, a: 4 })).toBe('{"\\r":2,"1":3,"a":4,"€":1}');
  });
  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(/non-finite/);
    expect(() => canonicalJson(() => 1)).toThrow(/function/);
  });
  it('hashes equal values equally whatever the key order', () => {
    expect(canonicalHash({ a: 1, b: 2 })).toBe(canonicalHash({ b: 2, a: 1 }));
    expect(canonicalHash({ a: 1 })).not.toBe(canonicalHash({ a: 2 }));
  });
});
