import type { BurnSample, CallTrace } from '@warden/core';

/** A call the history holds, with its id, so a call read back from the audit trail is not held twice. */
export interface SeenCall extends CallTrace {
  readonly callId: string;
}

interface Entry {
  traces: SeenCall[];
  /** The seq of the newest decision of the session read from the audit trail (0: none yet). */
  lastSeq: number;
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
  seed(session: string, since: string, traces: readonly SeenCall[], lastSeq: number): void {
    const e = this.#entry(session, since);
    if (e.since !== since) {
      // What the session burnt before its last pause or resume does not count against it after.
      const from = Date.parse(since);
      e.burns = e.burns.filter((b) => b.at >= from);
      e.since = since;
      e.traces = [];
      e.lastSeq = 0;
    }
    this.merge(session, traces, lastSeq, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  }

  /** The seq of the newest decision of the session this history has read from the audit trail. */
  lastSeq(session: string): number {
    return this.#sessions.get(session)?.lastSeq ?? 0;
  }

  /**
   * Adds calls read from the audit trail (other instances' among them) that the history does not hold
   * yet, in time order, and remembers how far it has read.
   */
  merge(session: string, seen: readonly SeenCall[], lastSeq: number, keep: number, maxAgeMs: number): void {
    const e = this.#entry(session, '');
    e.lastSeq = Math.max(e.lastSeq, lastSeq);
    const held = new Set(e.traces.map((t) => t.callId));
    const fresh = seen.filter((t) => !held.has(t.callId));
    if (fresh.length === 0) return;
    e.traces.push(...fresh);
    e.traces.sort((a, b) => a.at - b.at);
    const newest = (e.traces[e.traces.length - 1] as SeenCall).at;
    trim(e, keep, newest - maxAgeMs);
  }

  /** The session's calls, oldest first. */
  traces(session: string): readonly CallTrace[] {
    return this.#sessions.get(session)?.traces ?? [];
  }

  /** Records a call, keeping at most `keep` (and nothing older than `maxAgeMs`). */
  push(session: string, trace: SeenCall, keep: number, maxAgeMs: number): void {
    const e = this.#entry(session, '');
    e.traces.push(trace);
    trim(e, keep, trace.at - maxAgeMs);
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
      e = { traces: [], lastSeq: 0, burns: [], since };
      if (this.#sessions.size >= this.#maxSessions) {
        const oldest = this.#sessions.keys().next().value;
        if (oldest !== undefined) this.#sessions.delete(oldest);
      }
    }
    this.#sessions.set(session, e);
    return e;
  }
}

/** Drops the oldest calls beyond `keep`, and every call at or before `cutoff`. */
function trim(e: Entry, keep: number, cutoff: number): void {
  let drop = Math.max(0, e.traces.length - keep);
  while (drop < e.traces.length && (e.traces[drop] as SeenCall).at <= cutoff) drop++;
  if (drop > 0) e.traces.splice(0, drop);
}
