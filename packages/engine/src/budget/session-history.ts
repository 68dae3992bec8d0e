import type { BurnSample, CallTrace } from '@warden/core';

interface Entry {
  traces: CallTrace[];
  burns: BurnSample[];
  /** The session's updatedAt when the history was started: a pause or resume since starts it afresh. */
  since: string;
}

/**
 * The recent calls and token burn of the sessions this instance serves, for the loop detectors. Kept in
 * memory (the detectors run on every call; a database read each time would double its cost) and seeded
 * from the audit trail the first time an instance sees a session, so a restart or a session that moves
 * between instances is still judged on its recent past. Bounded: least recently used sessions go first.
 */
export class SessionHistory {
  readonly #sessions = new Map<string, Entry>();
  readonly #maxSessions: number;

  constructor(maxSessions = 10_000) {
    this.#maxSessions = maxSessions;
  }

  /**
   * Whether the history of `session` is current: held, and started after the session's last state
   * change (`since`, its updatedAt). A resumed session is judged only on what it did after the resume.
   */
  current(session: string, since: string): boolean {
    return this.#sessions.get(session)?.since === since;
  }

  /** Starts the session's history afresh from `traces` (oldest first), as of state change `since`. */
  seed(session: string, since: string, traces: readonly CallTrace[]): void {
    const e = this.#entry(session, since);
    if (e.since !== since) {
      // What the session burnt before its last pause or resume does not count against it after.
      const from = Date.parse(since);
      e.burns = e.burns.filter((b) => b.at >= from);
      e.since = since;
      e.traces = [];
    }
    if (e.traces.length === 0) e.traces.push(...traces);
  }

  /** The session's calls, oldest first. */
  traces(session: string): readonly CallTrace[] {
    return this.#sessions.get(session)?.traces ?? [];
  }

  /** Records a call, keeping at most `keep` (and nothing older than `maxAgeMs`). */
  push(session: string, trace: CallTrace, keep: number, maxAgeMs: number): void {
    const e = this.#entry(session, '');
    e.traces.push(trace);
    const cutoff = trace.at - maxAgeMs;
    let drop = Math.max(0, e.traces.length - keep);
    while (drop < e.traces.length && (e.traces[drop] as CallTrace).at <= cutoff) drop++;
    if (drop > 0) e.traces.splice(0, drop);
  }

  /** Records settled tokens; returns the samples still inside `maxAgeMs`. */
  burn(session: string, sample: BurnSample, maxAgeMs: number): readonly BurnSample[] {
    const e = this.#entry(session, '');
    e.burns.push(sample);
    const cutoff = sample.at - maxAgeMs;
    while (e.burns.length > 0 && (e.burns[0] as BurnSample).at <= cutoff) e.burns.shift();
    if (e.burns.length > 10_000) e.burns.splice(0, e.burns.length - 10_000);
    return e.burns;
  }

  /** Forgets a session (it was paused: its history must not trip it again the moment it resumes). */
  forget(session: string): void {
    this.#sessions.delete(session);
  }

  #entry(session: string, since: string): Entry {
    let e = this.#sessions.get(session);
    if (e) {
      // Re-insert: Map order is recency order.
      this.#sessions.delete(session);
    } else {
      e = { traces: [], burns: [], since };
      if (this.#sessions.size >= this.#maxSessions) {
        const oldest = this.#sessions.keys().next().value;
        if (oldest !== undefined) this.#sessions.delete(oldest);
      }
    }
    this.#sessions.set(session, e);
    return e;
  }
}
