import type { BreakerSettings } from './budget-policy.js';

/** One call of a session as the loop detectors see it. */
export interface CallTrace {
  readonly tool: string;
  /** Fingerprint of the canonical arguments: equal arguments, equal fingerprint. */
  readonly argsHmac: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

/** Tokens settled at one moment. */
export interface BurnSample {
  readonly at: number;
  readonly tokens: number;
}

export type BreakerName = 'repeat' | 'pingPong' | 'rate' | 'tokenBurn';

/** A tripped breaker: which one and, in words, why. */
export interface Trip {
  readonly breaker: BreakerName;
  readonly reason: string;
  readonly detail: Readonly<Record<string, number | string>>;
}

/**
 * The longest loop (calls per turn) the repeat breaker is sure to see when history is cut by count: in
 * A, B, C, A, B, C… each call comes back every third call, so its `max` earlier copies lie within the
 * last max × 3 calls.
 */
export const REPEAT_LOOP_SPAN = 10;

/**
 * How many past calls a session must keep for these settings to be judged: every call of a repeat loop
 * up to REPEAT_LOOP_SPAN calls long, every round of a ping-pong and every call of the last minute.
 */
export function historyNeeded(s: BreakerSettings): number {
  return Math.min(
    10_000,
    Math.max((s.repeat?.max ?? 0) * REPEAT_LOOP_SPAN, (s.pingPong?.cycles ?? 0) * 2, s.rate?.perMinute ?? 0) +
      1,
  );
}

const mins = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`);

/**
 * Whether `next` makes the session a runaway, given its earlier calls (oldest first). Checked before
 * `next` runs, so a loop of identical calls is stopped at call max + 1.
 */
export function detectRunaway(
  history: readonly CallTrace[],
  next: CallTrace,
  s: BreakerSettings,
): Trip | undefined {
  if (s.repeat) {
    const { max, withinMs } = s.repeat;
    let same = 1;
    for (const h of history)
      if (h.at > next.at - withinMs && h.tool === next.tool && h.argsHmac === next.argsHmac) same++;
    if (same > max) {
      return {
        breaker: 'repeat',
        reason: `runaway loop: ${next.tool} called ${same} times with the same arguments within ${mins(withinMs)} (limit ${max})`,
        detail: { tool: next.tool, count: same, max, withinMs },
      };
    }
  }
  if (s.pingPong) {
    const { cycles, withinMs } = s.pingPong;
    const recent = [...history.filter((h) => h.at > next.at - withinMs), next];
    const sig = (c: CallTrace) => `${c.tool}\u0000${c.argsHmac}`;
    const a = sig(next);
    const b = recent.length > 1 ? sig(recent[recent.length - 2] as CallTrace) : a;
    let run = 1;
    if (b !== a) {
      for (let i = recent.length - 2; i >= 0; i--) {
        const want = (recent.length - 1 - i) % 2 === 1 ? b : a;
        if (sig(recent[i] as CallTrace) !== want) break;
        run++;
      }
    }
    if (b !== a && Math.floor(run / 2) >= cycles) {
      const other = recent[recent.length - 2] as CallTrace;
      return {
        breaker: 'pingPong',
        reason: `runaway loop: ${other.tool} and ${next.tool} alternated ${Math.floor(run / 2)} times with the same arguments within ${mins(withinMs)} (the breaker trips at ${cycles})`,
        detail: { a: other.tool, b: next.tool, cycles: Math.floor(run / 2), withinMs },
      };
    }
  }
  if (s.rate) {
    const { perMinute } = s.rate;
    let n = 1;
    for (const h of history) if (h.at > next.at - 60_000) n++;
    if (n > perMinute) {
      return {
        breaker: 'rate',
        reason: `runaway loop: ${n} calls in the last minute (limit ${perMinute} per minute)`,
        detail: { count: n, perMinute },
      };
    }
  }
  return undefined;
}

/** Whether the tokens settled over the burn window run far above the expected rate. */
export function detectBurn(
  samples: readonly BurnSample[],
  now: number,
  s: BreakerSettings,
): Trip | undefined {
  if (!s.tokenBurn) return undefined;
  const { expectedPerMinute, factor, overMs } = s.tokenBurn;
  let tokens = 0;
  for (const x of samples) if (x.at > now - overMs) tokens += x.tokens;
  const allowed = expectedPerMinute * factor * (overMs / 60_000);
  if (tokens <= allowed) return undefined;
  return {
    breaker: 'tokenBurn',
    reason: `runaway token burn: ${tokens} tokens in ${mins(overMs)}, over ${factor}× the expected ${expectedPerMinute} per minute`,
    detail: { tokens, overMs, expectedPerMinute, factor },
  };
}
