import { describe, expect, it } from 'vitest';
import { type CallTrace, detectBurn, detectRunaway, historyNeeded, REPEAT_LOOP_SPAN } from './breakers.js';
import { type BreakerSettings, DEFAULT_BREAKERS } from './budget-policy.js';

const T0 = Date.parse('2026-05-01T10:00:00Z');
const SEC = 1000;

/** Calls `spec` (tool or tool:args) one second apart, starting at T0. */
function trace(...specs: string[]): CallTrace[] {
  return specs.map((s, i) => {
    const [tool, args = 'same'] = s.split(':');
    return { tool: tool as string, argsHmac: args, at: T0 + i * SEC };
  });
}

/** The number of the first call (1-based) that trips, feeding the calls one by one as the engine does. */
function tripsAt(calls: readonly CallTrace[], s: BreakerSettings): number | undefined {
  for (let i = 0; i < calls.length; i++) {
    if (detectRunaway(calls.slice(0, i), calls[i] as CallTrace, s)) return i + 1;
  }
  return undefined;
}

describe('repeat', () => {
  const s: BreakerSettings = { repeat: { max: 3, withinMs: 60 * SEC } };

  it('trips exactly at call max + 1 of the same tool with the same arguments', () => {
    const calls = trace('a', 'a', 'a', 'a', 'a');
    expect(tripsAt(calls.slice(0, 3), s)).toBeUndefined();
    expect(tripsAt(calls, s)).toBe(4);
    const trip = detectRunaway(calls.slice(0, 3), calls[3] as CallTrace, s);
    expect(trip).toEqual({
      breaker: 'repeat',
      reason: 'runaway loop: a called 4 times with the same arguments within 1m (limit 3)',
      detail: { tool: 'a', count: 4, max: 3, withinMs: 60_000 },
    });
  });

  it('counts same calls among others, in any order', () => {
    expect(tripsAt(trace('a', 'b', 'a', 'c', 'a', 'b', 'a'), s)).toBe(7);
  });

  it('different arguments, or the same arguments to another tool, do not count', () => {
    expect(tripsAt(trace('a:1', 'a:2', 'a:3', 'a:4', 'a:5', 'a:6'), s)).toBeUndefined();
    expect(tripsAt(trace('a:1', 'b:1', 'c:1', 'd:1', 'e:1'), s)).toBeUndefined();
  });

  it('only calls within the window count', () => {
    const spaced = [0, 20, 40, 61].map((sec) => ({ tool: 'a', argsHmac: 'x', at: T0 + sec * SEC }));
    // At 61 s the call at 0 s is out of the window: 20, 40, 61 make three.
    expect(tripsAt(spaced, s)).toBeUndefined();
    const tight = [0, 20, 40, 59].map((sec) => ({ tool: 'a', argsHmac: 'x', at: T0 + sec * SEC }));
    expect(tripsAt(tight, s)).toBe(4);
    // A call exactly `within` ago is out.
    const edge = [0, 20, 40, 60].map((sec) => ({ tool: 'a', argsHmac: 'x', at: T0 + sec * SEC }));
    expect(tripsAt(edge, s)).toBeUndefined();
  });

  it('with max 1 the second identical call trips', () => {
    expect(tripsAt(trace('a', 'a'), { repeat: { max: 1, withinMs: 60 * SEC } })).toBe(2);
  });
});

describe('pingPong', () => {
  const s: BreakerSettings = { pingPong: { cycles: 3, withinMs: 60 * SEC } };

  it('trips when the alternation reaches `cycles` rounds, not before', () => {
    // Rounds: AB, AB, AB: the sixth call completes the third.
    const calls = trace('a', 'b', 'a', 'b', 'a', 'b', 'a');
    expect(tripsAt(calls.slice(0, 5), s)).toBeUndefined();
    expect(tripsAt(calls, s)).toBe(6);
    expect(detectRunaway(calls.slice(0, 5), calls[5] as CallTrace, s)).toEqual({
      breaker: 'pingPong',
      reason:
        'runaway loop: a and b alternated 3 times with the same arguments within 1m (the breaker trips at 3)',
      detail: { a: 'a', b: 'b', cycles: 3, withinMs: 60_000 },
    });
  });

  it('counts only the alternating tail: earlier calls do not help', () => {
    expect(tripsAt(trace('c', 'd', 'a', 'b', 'a', 'b', 'a', 'b'), s)).toBe(8);
    expect(tripsAt(trace('b', 'b', 'a', 'b', 'a', 'b'), s)).toBeUndefined();
    expect(tripsAt(trace('b', 'b', 'a', 'b', 'a', 'b', 'a'), s)).toBe(7);
  });

  it('does not trip for the same call over and over (AAAA) or three calls taking turns (ABAC…)', () => {
    expect(tripsAt(trace('a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'), s)).toBeUndefined();
    expect(tripsAt(trace('a', 'b', 'a', 'c', 'a', 'b', 'a', 'c', 'a', 'b'), s)).toBeUndefined();
    expect(tripsAt(trace('a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c'), s)).toBeUndefined();
  });

  it('tells calls apart by their arguments', () => {
    expect(tripsAt(trace('a:1', 'a:2', 'a:1', 'a:2', 'a:1', 'a:2'), s)).toBe(6);
    expect(tripsAt(trace('a:1', 'b:1', 'a:2', 'b:1', 'a:3', 'b:1'), s)).toBeUndefined();
  });

  it('only calls within the window count', () => {
    const calls = trace('a', 'b', 'a', 'b', 'a', 'b').map((c, i) => ({ ...c, at: T0 + i * 15 * SEC }));
    // The sixth call comes 75 s after the first: the window holds the last four calls, two rounds.
    expect(tripsAt(calls, s)).toBeUndefined();
    expect(tripsAt(calls, { pingPong: { cycles: 3, withinMs: 80 * SEC } })).toBe(6);
  });
});

describe('rate', () => {
  const s: BreakerSettings = { rate: { perMinute: 5 } };

  it('trips at call perMinute + 1 within 60 seconds, whatever the calls are', () => {
    const calls = trace('a:1', 'b:2', 'c:3', 'd:4', 'e:5', 'f:6');
    expect(tripsAt(calls.slice(0, 5), s)).toBeUndefined();
    expect(tripsAt(calls, s)).toBe(6);
    expect(detectRunaway(calls.slice(0, 5), calls[5] as CallTrace, s)).toMatchObject({
      breaker: 'rate',
      detail: { count: 6, perMinute: 5 },
    });
  });

  it('does not trip when the calls are spread over more than a minute', () => {
    const calls = trace('a:1', 'b:2', 'c:3', 'd:4', 'e:5', 'f:6').map((c, i) => ({
      ...c,
      at: T0 + i * 12 * SEC,
    }));
    expect(tripsAt(calls, s)).toBeUndefined();
  });
});

describe('detectRunaway with every breaker', () => {
  it('reports repeat before pingPong before rate, and nothing with every breaker off', () => {
    const all: BreakerSettings = {
      repeat: { max: 2, withinMs: 60 * SEC },
      pingPong: { cycles: 2, withinMs: 60 * SEC },
      rate: { perMinute: 3 },
    };
    const [a, b, c, d] = trace('a', 'b', 'a', 'b');
    expect(detectRunaway([a, b, c] as CallTrace[], d as CallTrace, all)?.breaker).toBe('pingPong');
    expect(
      detectRunaway([a, b, c] as CallTrace[], { ...(a as CallTrace), at: T0 + 4 * SEC }, all)?.breaker,
    ).toBe('repeat');
    expect(
      detectRunaway(trace('x:1', 'x:2', 'x:3'), trace('x:1', 'x:2', 'x:3', 'x:4')[3] as CallTrace, all)
        ?.breaker,
    ).toBe('rate');
    expect(detectRunaway(trace('a', 'a', 'a', 'a', 'a'), trace('a')[0] as CallTrace, {})).toBeUndefined();
  });

  it('the default breakers leave an ordinary session alone', () => {
    const calls = Array.from({ length: 200 }, (_, i) => ({
      tool: `t${i % 7}`,
      argsHmac: `h${i}`,
      at: T0 + i * 2 * SEC,
    }));
    expect(tripsAt(calls, DEFAULT_BREAKERS)).toBeUndefined();
  });
});

describe('detectBurn', () => {
  const s: BreakerSettings = { tokenBurn: { expectedPerMinute: 1000, factor: 10, overMs: 5 * 60 * SEC } };
  const now = T0 + 10 * 60 * SEC;

  it('trips only above factor × expected × minutes in the window', () => {
    // Allowed: 1000 × 10 × 5 = 50,000 tokens in 5 minutes.
    expect(detectBurn([{ at: now - 1000, tokens: 50_000 }], now, s)).toBeUndefined();
    expect(
      detectBurn(
        [
          { at: now - 1000, tokens: 30_000 },
          { at: now, tokens: 20_001 },
        ],
        now,
        s,
      ),
    ).toEqual({
      breaker: 'tokenBurn',
      reason: 'runaway token burn: 50001 tokens in 5m, over 10× the expected 1000 per minute',
      detail: { tokens: 50_001, overMs: 300_000, expectedPerMinute: 1000, factor: 10 },
    });
  });

  it('ignores samples older than the window, and one exactly at its start', () => {
    const samples = [
      { at: now - 5 * 60 * SEC, tokens: 40_000 },
      { at: now - 6 * 60 * SEC, tokens: 40_000 },
      { at: now - 60 * SEC, tokens: 40_000 },
    ];
    expect(detectBurn(samples, now, s)).toBeUndefined();
    expect(detectBurn(samples, now - 1, s)?.detail.tokens).toBe(80_000);
  });

  it('is off without tokenBurn settings', () => {
    expect(detectBurn([{ at: now, tokens: 1e9 }], now, {})).toBeUndefined();
  });

  it('a short window in seconds reads as such', () => {
    const trip = detectBurn([{ at: now, tokens: 100 }], now, {
      tokenBurn: { expectedPerMinute: 10, factor: 1, overMs: 90 * SEC },
    });
    expect(trip?.reason).toContain('100 tokens in 90s');
  });
});

describe('historyNeeded', () => {
  it('keeps enough calls for the largest breaker, plus the call being judged', () => {
    expect(historyNeeded(DEFAULT_BREAKERS)).toBe(121);
    expect(historyNeeded({ repeat: { max: 30, withinMs: 1 }, rate: { perMinute: 10 } })).toBe(
      30 * REPEAT_LOOP_SPAN + 1,
    );
    expect(historyNeeded({ pingPong: { cycles: 8, withinMs: 1 } })).toBe(17);
    expect(historyNeeded({ rate: { perMinute: 500 } })).toBe(501);
    expect(historyNeeded({})).toBe(1);
    expect(historyNeeded({ rate: { perMinute: 1_000_000 } })).toBe(10_000);
  });

  it('is enough: judging with the last historyNeeded − 1 calls only gives the same answer', () => {
    const s: BreakerSettings = {
      repeat: { max: 4, withinMs: 3600 * SEC },
      pingPong: { cycles: 3, withinMs: 3600 * SEC },
      rate: { perMinute: 8 },
    };
    const n = historyNeeded(s) - 1;
    // Loops of 1 to 10 calls after unrelated ones, 10 s apart (under the rate limit).
    for (let len = 1; len <= 10; len++) {
      const noise = Array.from({ length: 50 }, (_, i) => `n${i}:x`);
      const loop = Array.from({ length: 6 * len }, (_, i) => `t${i % len}:y`);
      const calls = trace(...noise, ...loop).map((c, i) => ({ ...c, at: T0 + i * 10 * SEC }));
      const full = tripsAt(calls, s);
      expect(full, `loop of ${len}`).toBeDefined();
      // Up to the call that trips (the session is paused then, so later calls are never judged).
      for (let i = 0; i < (full as number); i++) {
        const past = calls.slice(0, i);
        const next = calls[i] as CallTrace;
        expect(detectRunaway(past.slice(-n), next, s)).toEqual(detectRunaway(past, next, s));
      }
    }
  });

  it('the repeat breaker catches a three-call loop with the rate breaker off', () => {
    const s: BreakerSettings = { repeat: { max: 5, withinMs: 600 * SEC } };
    const calls = trace(...Array.from({ length: 30 }, (_, i) => `t${i % 3}:z`));
    const n = historyNeeded(s) - 1;
    const cut = calls.findIndex((c, i) => detectRunaway(calls.slice(0, i).slice(-n), c, s) !== undefined);
    expect(cut + 1).toBe(16); // t0 for the sixth time
  });
});
