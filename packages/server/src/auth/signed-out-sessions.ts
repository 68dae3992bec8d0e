import { parseAuditQuery, type Store } from '@warden/engine';
import { SESSION_TTL_MS } from './dashboard-session.js';

/**
 * Dashboard sign-ins that were signed out before they expired. A sign-out is an `auth.signed_out` audit
 * event, so every instance learns it from the audit stream it already follows, and a starting instance
 * reads the ones of the last session lifetime: no table, and a copied cookie stops working everywhere.
 */
export class SignedOutSessions {
  /** Session id → when the sign-in would have expired (after that, the token is refused anyway). */
  readonly #until = new Map<string, number>();

  /** Records a sign-out seen in the audit trail (from this instance or another). */
  add(sessionId: string, expiresAt: string | undefined, now = Date.now()): void {
    const until = expiresAt ? Date.parse(expiresAt) : now + SESSION_TTL_MS;
    if (!(until > now)) return;
    this.#until.set(sessionId, until);
    if (this.#until.size > 1_000) this.#prune(now);
  }

  /** Whether a sign-in was signed out. */
  has(sessionId: string): boolean {
    return this.#until.has(sessionId);
  }

  /** Reads the sign-outs recorded within the last session lifetime (at start). */
  async load(store: Store, now = Date.now()): Promise<void> {
    const from = new Date(now - SESSION_TTL_MS).toISOString();
    let cursor: string | undefined;
    do {
      const page = await store.queryAudit(
        parseAuditQuery({ type: 'auth.signed_out', from, limit: 1_000, ...(cursor ? { cursor } : {}) }),
      );
      for (const r of page.records) this.addEvent(r.event.data, now);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  /** Adds the sign-out an `auth.signed_out` event's data names. */
  addEvent(data: Record<string, unknown> | undefined, now = Date.now()): void {
    const id = data?.session;
    if (typeof id === 'string')
      this.add(id, typeof data?.expiresAt === 'string' ? data.expiresAt : undefined, now);
  }

  #prune(now: number): void {
    for (const [id, until] of this.#until) if (until <= now) this.#until.delete(id);
  }
}
