import { type AuditEvent, type AuditEventType, isWardenError, WardenError } from '@warden/core';
import type { CommitOutcome, CommitResult, CommitUnit, Mutation, Store } from '../store/store.js';
import type { CommitDoubt } from '../store/store-errors.js';

/** Why a decision is voided, as the `call.voided` event states it. */
export const VOID_REASON =
  'the caller was answered STORE_UNAVAILABLE: the database did not acknowledge the commit of this decision, which landed anyway, so the call must not run';

/** How often decisions in doubt are looked at again while some remain (also after commits, at most this often). */
const RETRY_MS = 1_000;
/** A decision that cannot be voided this many times (for a reason other than the store being down) is given up, loudly. */
const MAX_ATTEMPTS = 10;

/** What resolving needs from the engine: a narrow seam, not the whole Engine. */
export interface UnansweredSeams {
  readonly store: Pick<Store, 'findCall' | 'commitOutcome' | 'reservation' | 'approval'>;
  readonly commit: (unit: CommitUnit) => Promise<CommitResult>;
  /** An event written by Warden itself. */
  readonly event: (type: AuditEventType, fields: Partial<AuditEvent>) => AuditEvent;
  /** Withdraws an approval request the voided decision opened (no one was told its id). */
  readonly cancelApproval: (id: string, reason: string) => Promise<unknown>;
  readonly onError: (err: WardenError) => void;
}

/**
 * Decisions whose commit went unacknowledged (the database stopped or the connection broke during
 * COMMIT): the caller was answered STORE_UNAVAILABLE, yet the decision may have landed. Once the
 * database can tell (PostgreSQL's txid_status of the transaction, then the trail itself), each one that
 * landed gets a chained `call.voided` event, so the trail never says a call was allowed that its caller
 * was told was blocked. Kept in memory: if this process dies first, those decisions stay unvoided (each
 * was reported through onError when it went into doubt, naming the call).
 */
export class UnansweredDecisions {
  readonly #seams: UnansweredSeams;
  /** Call id → the doubt of the commit that carried its decision (one doubt is shared by a batch). */
  readonly #pending = new Map<string, CommitDoubt>();
  /** Failed attempts per call id, for reasons other than the store being unavailable. */
  readonly #failures = new Map<string, number>();
  /** Passes per call id that found no decision in the trail although it may have landed. */
  readonly #misses = new Map<string, number>();
  /** Passes per call id that found its commit still in progress (or not visible yet). */
  readonly #waits = new Map<string, number>();
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastPass = 0;
  /** How many decisions this engine has voided. */
  voided = 0;

  constructor(seams: UnansweredSeams) {
    this.#seams = seams;
  }

  /** How many decisions are still in doubt. */
  get size(): number {
    return this.#pending.size;
  }

  /** Remembers a decision whose caller is being answered STORE_UNAVAILABLE although it may have landed. */
  track(callId: string, doubt: CommitDoubt): void {
    this.#pending.set(callId, doubt);
    this.#seams.onError(
      new WardenError(
        'STORE_UNAVAILABLE',
        `the commit of call ${callId}'s decision was not acknowledged; it is voided if it landed`,
        { callId },
      ),
    );
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.resolve(true), RETRY_MS);
      this.#timer.unref();
    }
  }

  /**
   * Resolves every decision the database can now tell about; one pass at a time, never throws. Unless
   * `now`, a pass starts at most once per RETRY_MS, so a busy instance does not ask after every commit.
   */
  resolve(now = false): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    if (this.#running) return this.#running;
    if (!now && Date.now() - this.#lastPass < RETRY_MS) return Promise.resolve();
    this.#lastPass = Date.now();
    this.#running = this.#pass()
      .catch((err) => {
        // Still unavailable: the next commit or the timer tries again.
        if (!isWardenError(err, 'STORE_UNAVAILABLE')) this.#seams.onError(asWardenError(err));
      })
      .finally(() => {
        this.#running = undefined;
        if (this.#pending.size === 0) this.stop();
      });
    return this.#running;
  }

  /** Stops the retry timer (at close); `unresolved()` then names what is still in doubt. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Whether this call's decision is still in doubt here (its caller was answered STORE_UNAVAILABLE). */
  has(callId: string): boolean {
    return this.#pending.has(callId);
  }

  /** The call ids still in doubt. */
  unresolved(): string[] {
    return [...this.#pending.keys()];
  }

  async #pass(): Promise<void> {
    const outcomes = new Map<CommitDoubt, CommitOutcome>();
    for (const [callId, doubt] of [...this.#pending]) {
      let outcome = outcomes.get(doubt);
      if (outcome === undefined) {
        outcome = await this.#outcome(doubt);
        outcomes.set(doubt, outcome);
      }
      // The transaction may still commit, or is not visible yet: reading the trail now could miss it.
      if (outcome === 'in-progress') {
        this.#stillRunning(callId);
        continue;
      }
      // Whatever the status said, the trail decides: a transaction id can be reused after a crash.
      let found: boolean;
      try {
        found = await this.#settle(callId, outcome);
      } catch (err) {
        if (isWardenError(err, 'STORE_UNAVAILABLE')) throw err;
        this.#giveUpAfter(callId, asWardenError(err));
        continue;
      }
      if (!found && this.#keepLooking(callId, outcome)) continue;
      this.#pending.delete(callId);
      this.#failures.delete(callId);
      this.#misses.delete(callId);
      this.#waits.delete(callId);
    }
  }

  /**
   * How the commit ended, as the store tells (a store that cannot be asked: the trail alone answers). A
   * store error other than being unavailable is reported and the trail answers too, so one doubt whose
   * question fails cannot keep every other one pending.
   */
  async #outcome(doubt: CommitDoubt): Promise<CommitOutcome> {
    if (!this.#seams.store.commitOutcome) return 'unknown';
    try {
      return await this.#seams.store.commitOutcome(doubt);
    } catch (err) {
      if (isWardenError(err, 'STORE_UNAVAILABLE')) throw err;
      this.#seams.onError(asWardenError(err));
      return 'unknown';
    }
  }

  /**
   * The commit is still running, or committed but not visible yet (a synchronous standby holds it back):
   * it may yet land, so it stays pending, and is said so once if that lasts.
   */
  #stillRunning(callId: string): void {
    const looks = (this.#waits.get(callId) ?? 0) + 1;
    this.#waits.set(callId, looks);
    if (looks !== MAX_ATTEMPTS) return;
    this.#seams.onError(
      new WardenError(
        'STORE_UNAVAILABLE',
        `the commit of call ${callId}'s decision is still in progress or not visible after ${looks} looks; it is voided once it lands`,
        { callId },
      ),
    );
  }

  /**
   * No decision in the trail. Aborted: it never landed, done. Committed: the store saw the transaction
   * committed and visible, so the decision is not in it: its transaction id was lost in a crash and given
   * to another transaction; done. Unknown: look again a bounded number of times, then give up loudly.
   */
  #keepLooking(callId: string, outcome: CommitOutcome): boolean {
    if (outcome === 'aborted' || outcome === 'committed') return false;
    const misses = (this.#misses.get(callId) ?? 0) + 1;
    this.#misses.set(callId, misses);
    if (misses < MAX_ATTEMPTS) return true;
    this.#seams.onError(
      new WardenError(
        'STORE_UNAVAILABLE',
        `gave up looking for the decision of call ${callId} after ${misses} looks (its commit's outcome is ${outcome}); if it landed, the trail says it was decided although its caller was answered STORE_UNAVAILABLE`,
        { callId },
      ),
    );
    return false;
  }

  /** Reports a failure to void; after MAX_ATTEMPTS the call is dropped, named in the last report. */
  #giveUpAfter(callId: string, err: WardenError): void {
    const attempts = (this.#failures.get(callId) ?? 0) + 1;
    this.#failures.set(callId, attempts);
    if (attempts < MAX_ATTEMPTS) {
      this.#seams.onError(err);
      return;
    }
    this.#pending.delete(callId);
    this.#failures.delete(callId);
    this.#misses.delete(callId);
    this.#waits.delete(callId);
    this.#seams.onError(
      new WardenError(
        err.code,
        `gave up voiding the decision of call ${callId} after ${attempts} attempts (${err.message}); its caller was answered STORE_UNAVAILABLE`,
        { callId },
      ),
    );
  }

  /** Voids the call's decision if it is in the trail and not voided yet; false when it is not in the trail. */
  async #settle(callId: string, outcome: CommitOutcome): Promise<boolean> {
    const found = await this.#seams.store.findCall(callId);
    if (!found.decided) return false;
    if (found.voided) return true;
    const decided = found.decided;
    const d = decided.event.decision;
    const reservationId = d?.reservationId;
    const held = reservationId ? await this.#seams.store.reservation(reservationId) : undefined;
    const release = reservationId !== undefined && held?.state === 'held';
    const about = {
      agent: decided.event.agent,
      session: decided.event.session,
      ...(decided.event.tool ? { tool: decided.event.tool } : {}),
      callId,
    };
    const unit = (releasing: boolean): CommitUnit => {
      const voided = this.#seams.event('call.voided', {
        ...about,
        data: {
          voidedSeq: decided.seq,
          voidedHash: decided.hash,
          voidedEventId: decided.event.id,
          decidedAt: decided.event.ts,
          effect: d?.effect ?? null,
          code: d?.code ?? null,
          approvalId: d?.approvalId ?? null,
          reservationId: reservationId ?? null,
          reservationReleased: releasing,
          commitStatus: outcome,
          reason: VOID_REASON,
        },
      });
      if (!releasing || !held) return { events: [voided] };
      const released = this.#seams.event('budget.released', {
        ...about,
        data: { reservationId, reason: `call ${callId} was voided` },
      });
      // Released as if its lease had ended now: the mutation releases only leases that have ended.
      const mutation: Mutation = { kind: 'budget.release', ids: [held.id], now: held.leaseUntil };
      return { events: [voided, released], mutations: [mutation] };
    };
    try {
      await this.#seams.commit(unit(release));
    } catch (err) {
      if (!release || !isWardenError(err, 'BUDGET_CONFLICT')) {
        await this.#ended(callId, err);
        return true;
      }
      // Released meanwhile by the lease sweep: void without releasing.
      try {
        await this.#seams.commit(unit(false));
      } catch (again) {
        await this.#ended(callId, again);
        return true;
      }
    }
    this.voided += 1;
    await this.#withdrawApproval(callId, d?.effect, d?.approvalId);
    return true;
  }

  /**
   * The void was refused because the call already ended (the database allows one completion or void per
   * call): voided by another pass, or completed by an agent that ran it although it was told
   * STORE_UNAVAILABLE, which is reported. Anything else is rethrown.
   */
  async #ended(callId: string, err: unknown): Promise<void> {
    if (!isWardenError(err, 'CALL_VOIDED') && !isWardenError(err, 'CALL_ALREADY_COMPLETED')) throw err;
    const now = await this.#seams.store.findCall(callId);
    if (now.voided || !now.completed) return;
    this.#seams.onError(
      new WardenError(
        'CALL_ALREADY_COMPLETED',
        `call ${callId} was completed although its caller was answered STORE_UNAVAILABLE; its decision is not voided`,
        { callId },
      ),
    );
  }

  /** A review the caller never heard of opened a request nobody will redeem: withdraw it. */
  async #withdrawApproval(callId: string, effect: string | undefined, approvalId: string | undefined) {
    if (effect !== 'review' || !approvalId) return;
    const a = await this.#seams.store.approval(approvalId);
    // Only the request this call opened; one it merely presented belongs to an earlier call.
    if (!a || a.callId !== callId) return;
    try {
      await this.#seams.cancelApproval(approvalId, `call ${callId} was voided: ${VOID_REASON}`);
    } catch (err) {
      // Denied, expired or used already: nothing to withdraw.
      if (!isWardenError(err, 'APPROVAL_DECIDED')) throw err;
    }
  }
}

function asWardenError(err: unknown): WardenError {
  return isWardenError(err) ? err : new WardenError('INTERNAL', String(err));
}
