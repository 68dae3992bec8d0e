import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceContext, parseTraceparent, traceHeaders } from './trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

describe('parseTraceparent', () => {
  it('reads a version 00 header', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1, traceparent: VALID });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.flags).toBe(0);
    // Surrounding whitespace is HTTP's optional whitespace, not part of the value.
    expect(parseTraceparent(` ${VALID}\t`)?.traceparent).toBe(VALID);
  });

  it.each([
    ['uppercase hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['a version that is not hex', `0g-${TRACE}-${SPAN}-01`],
    ['version 00 with more after it', `${VALID}-extra`],
    ['a short header', VALID.slice(0, 54)],
    ['a short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['non-hex flags', `00-${TRACE}-${SPAN}-0x`],
    ['wrong separators', `00_${TRACE}_${SPAN}_01`],
    ['two headers joined', `${VALID}, ${VALID}`],
    ['a repeated header (array)', [VALID, VALID]],
    ['an empty header', ''],
    ['a number', 42],
    ['nothing', undefined],
  ])('refuses %s', (_why, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it('reads the first four fields of a higher version and sends them onward as version 00', () => {
    const newer = `cc-${TRACE}-${SPAN}-01-what-the-future-holds`;
    // Onward goes checked hex only: a caller's free-form tail never reaches a header or an upstream.
    expect(parseTraceparent(newer)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1, traceparent: VALID });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01-x\r\nX-Evil: 1`)?.traceparent).toBe(VALID);
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01`)?.traceId).toBe(TRACE);
    // After the flags of a newer version comes a dash or nothing.
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01x`)).toBeUndefined();
    // A newer version's header is still bounded.
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01-${'a'.repeat(500)}`)).toBeUndefined();
  });
});

describe('parseTraceContext', () => {
  it('keeps a valid tracestate, joining repeated headers and skipping empty members', () => {
    expect(parseTraceContext(VALID, 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE')?.tracestate).toBe(
      'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    );
    expect(parseTraceContext(VALID, ['a=1', 'tenant@sys=2,,'])?.tracestate).toBe('a=1,tenant@sys=2');
  });

  it('drops a malformed tracestate but keeps the traceparent', () => {
    for (const bad of [
      'no-equals',
      'UPPER=1',
      'a=1,a=2',
      'a=x,b',
      `a=${'v'.repeat(257)}`,
      'a=b=c',
      'a=\u00e9',
    ]) {
      const context = parseTraceContext(VALID, bad);
      expect(context?.traceId).toBe(TRACE);
      expect(context?.tracestate).toBeUndefined();
    }
    const many = Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',');
    expect(parseTraceContext(VALID, many)?.tracestate).toBeUndefined();
    // Megabytes of separators are refused by length, before any splitting.
    expect(parseTraceContext(VALID, `a=1${','.repeat(1_000_000)}`)?.tracestate).toBeUndefined();
  });

  it('ignores tracestate without a valid traceparent', () => {
    expect(parseTraceContext('garbage', 'a=1')).toBeUndefined();
    expect(parseTraceContext(undefined, 'a=1')).toBeUndefined();
  });
});

describe('formatTraceparent and traceHeaders', () => {
  it('formats version 00 and round-trips through the parser', () => {
    const header = formatTraceparent({ traceId: TRACE, spanId: SPAN, flags: 1 });
    expect(header).toBe(VALID);
    expect(parseTraceparent(header)?.spanId).toBe(SPAN);
  });

  it('carries the context onward (a newer version as version 00), tracestate included', () => {
    const newer = `cc-${TRACE}-${SPAN}-01-more`;
    expect(traceHeaders(parseTraceContext(newer, 'a=1'))).toEqual({ traceparent: VALID, tracestate: 'a=1' });
    expect(traceHeaders(parseTraceContext(VALID))).toEqual({ traceparent: VALID });
    expect(traceHeaders(undefined)).toEqual({});
  });
});
