import { encodeCursor, parseAuditQuery, type Store } from '@warden/engine';
import { SESSION_TTL_MS } from './dashboard-session.js';

/**
 * Dashboard sign-ins that were signed out before they expired. A sign-out is an `auth.signed_out` audit
 * event, so there is no session table: an instance reads the sign-outs of the last session lifetime when
 * it starts, then the new ones (at most every `refreshMs`, only when a cookie arrives), and hears them at
 * once from the audit stream when it is tailing anyway. A copied cookie stops working everywhere.
 */
export class SignedOutSessions {
  readonly #store: Store;
  readonly #refreshMs: number;
  /** Session id → when the sign-in would have expired (after that, the token is refused anyway). */
  readonly #until = new Map<string, number>();
  /** Every sign-out up to this seq has been read. */
  #seenSeq = 0;
  #checkedAt = 0;
  #refreshing: Promise<void> | undefined;

  constructor(store: Store, options: { refreshMs?: number } = {}) {
    this.#store = store;
    this.#refreshMs = options.refreshMs ?? 250;
  }

  /** Reads the sign-outs recorded within the last session lifetime. */
  async start(now = Date.now()): Promise<void> {
    const head = (await this.#store.head()).seq;
    await this.#read({ from: new Date(now - SESSION_TTL_MS).toISOString() }, now);
    this.#seenSeq = Math.max(this.#seenSeq, head);
    this.#checkedAt = now;
  }

  /**
   * Whether a sign-in was signed out, on any instance. Reads the sign-outs recorded since the last look
   * when that was more than `refreshMs` ago; concurrent callers share one read.
   */
  async isSignedOut(sessionId: string, now = Date.now()): Promise<boolean> {
    if (now - this.#checkedAt >= this.#refreshMs) {
      this.#refreshing ??= this.#refresh(now).finally(() => {
        this.#refreshing = undefined;
      });
      await this.#refreshing;
    }
    return this.#until.has(sessionId);
  }

  /** Records a sign-out (made here, or seen in the audit stream). */
  add(sessionId: string, expiresAt: string | undefined, now = Date.now()): void {
    const until = expiresAt ? Date.parse(expiresAt) : now + SESSION_TTL_MS;
    if (!(until > now)) return;
    this.#until.set(sessionId, until);
    if (this.#until.size > 1_000) this.#prune(now);
  }

  /** Adds the sign-out an `auth.signed_out` event's data names. */
  addEvent(data: Record<string, unknown> | undefined, now = Date.now()): void {
    const id = data?.session;
    if (typeof id === 'string')
      this.add(id, typeof data?.expiresAt === 'string' ? data.expiresAt : undefined, now);
  }

  async #refresh(now: number): Promise<void> {
    // The head first: every event up to it is visible to the read that follows, so none is skipped.
    const head = (await this.#store.head()).seq;
    await this.#read({ cursor: encodeCursor(this.#seenSeq) }, now);
    this.#seenSeq = Math.max(this.#seenSeq, head);
    this.#checkedAt = now;
  }

  async #read(where: { from?: string; cursor?: string }, now: number): Promise<void> {
    let cursor = where.cursor;
    do {
      const page = await this.#store.queryAudit(
        parseAuditQuery({
          type: 'auth.signed_out',
          ...(where.from ? { from: where.from } : {}),
          limit: 1_000,
          ...(cursor ? { cursor } : {}),
        }),
      );
      for (const r of page.records) {
        this.addEvent(r.event.data, now);
        this.#seenSeq = Math.max(this.#seenSeq, r.seq);
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  #prune(now: number): void {
    for (const [id, until] of this.#until) if (until <= now) this.#until.delete(id);
  }
}
