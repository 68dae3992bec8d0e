import type { ServerResponse } from 'node:http';
import type { AuditRecord } from '@warden/core';
import type { Store } from '@warden/engine';
import type { Principal } from '../auth/principal.js';
import type { EventHub } from './event-hub.js';

/** A slow client whose unsent output passes this is dropped; it can resume with Last-Event-ID. */
const MAX_BUFFERED_BYTES = 1 << 20;
/** Live events held while a resuming client catches up (bytes of event bodies); beyond, it is dropped. */
const MAX_PENDING_BYTES = 8 << 20;

/** Which events a stream wants. */
export interface StreamFilter {
  readonly types?: ReadonlySet<string>;
  readonly agent?: string;
  readonly session?: string;
  readonly tool?: string;
  readonly decision?: string;
}

function matches(f: StreamFilter, r: AuditRecord): boolean {
  const e = r.event;
  return (
    (!f.types || f.types.has(e.type)) &&
    (f.agent === undefined || e.agent === f.agent) &&
    (f.session === undefined || e.session === f.session) &&
    (f.tool === undefined || e.tool === f.tool) &&
    (f.decision === undefined || e.decision?.effect === f.decision)
  );
}

/**
 * One Server-Sent Events connection. It registers with the hub first and holds live events while it
 * replays the stored ones after Last-Event-ID, so nothing between the two is lost or sent twice.
 */
export class SseStream {
  readonly principal: Principal;
  readonly #raw: ServerResponse;
  readonly #filter: StreamFilter;
  readonly #onClose: (s: SseStream) => void;
  #unsubscribe: (() => void) | undefined;
  #pending: AuditRecord[] | undefined = [];
  #pendingBytes = 0;
  #sentSeq = 0;
  #closed = false;

  constructor(
    raw: ServerResponse,
    o: { principal: Principal; filter: StreamFilter; onClose: (s: SseStream) => void },
  ) {
    this.principal = o.principal;
    this.#raw = raw;
    this.#filter = o.filter;
    this.#onClose = o.onClose;
    raw.on('close', () => this.close());
    raw.on('error', () => this.close());
  }

  /**
   * Subscribes, replays the stored events after `afterSeq` (default: none, start from now), then goes
   * live. Live events arriving during the replay are held and deduplicated by seq.
   */
  async start(
    hub: EventHub,
    store: Store,
    afterSeq: number | undefined,
    keyStillValid: () => Promise<boolean>,
  ): Promise<void> {
    const unsubscribe = await hub.subscribe({ deliver: (r, bytes) => this.#deliver(r, bytes) });
    if (this.#closed) return unsubscribe();
    this.#unsubscribe = unsubscribe;
    // Checked after subscribing: a revocation committed before this point is in the database, and one
    // committed after it reaches this stream through the hub, so none can slip between the two.
    if (!(await keyStillValid().catch(() => false))) {
      this.close('the API key is revoked or expired', 'UNAUTHENTICATED');
      return;
    }
    const upTo = hub.lastSeq;
    this.#sentSeq = Math.min(afterSeq ?? upTo, upTo);
    this.#write('retry: 2000\n\n');
    try {
      while (!this.#closed && this.#sentSeq < upTo) {
        const rows = await store.readChain(this.#sentSeq, Math.min(500, upTo - this.#sentSeq));
        if (rows.length === 0) break;
        for (const row of rows) {
          const record = { seq: row.seq, prev: row.prev, hash: row.hash, event: JSON.parse(row.body) };
          if (!this.#send(record)) await this.#drained();
        }
      }
    } catch {
      this.close('the audit store could not be read; reconnect to resume');
      return;
    }
    const pending = this.#pending ?? [];
    this.#pending = undefined;
    this.#pendingBytes = 0;
    for (const r of pending) this.#deliver(r, 0);
  }

  /** A comment line: keeps proxies from timing the connection out and detects dead peers. */
  heartbeat(): void {
    this.#write(': ping\n\n');
  }

  /** Ends the stream, telling the client why when there is a reason. */
  close(reason?: string, code = 'STREAM_CLOSED'): void {
    if (this.#closed) return;
    if (reason)
      this.#write(`event: error\ndata: ${JSON.stringify({ error: { code, message: reason } })}\n\n`);
    this.#closed = true;
    this.#pending = undefined;
    this.#unsubscribe?.();
    this.#onClose(this);
    this.#raw.end();
    // A client that is not reading would never take the rest, and the socket would hold it for as long
    // as the client likes: free both now.
    if (this.#raw.writableLength > 64 * 1024) this.#raw.destroy();
  }

  #deliver(r: AuditRecord, bytes: number): void {
    if (this.#closed) return;
    if (this.#pending) {
      this.#pendingBytes += bytes;
      if (this.#pendingBytes > MAX_PENDING_BYTES) {
        this.close('fell too far behind; reconnect with Last-Event-ID');
        this.#raw.destroy();
      } else this.#pending.push(r);
      return;
    }
    this.#send(r);
    if (this.#raw.writableLength > MAX_BUFFERED_BYTES) {
      this.close('the client is not reading fast enough; reconnect with Last-Event-ID');
      // Ending is not enough: a client that does not read never takes the rest, and the socket would keep
      // its backlog (megabytes) for as long as the client likes. Free both now.
      this.#raw.destroy();
    }
  }

  /** Writes one record unless already sent or filtered out; false when the socket wants a pause. */
  #send(r: AuditRecord): boolean {
    if (r.seq <= this.#sentSeq) return true;
    this.#sentSeq = r.seq;
    if (!matches(this.#filter, r)) return true;
    return this.#write(`id: ${r.seq}\nevent: ${r.event.type}\ndata: ${JSON.stringify(r)}\n\n`);
  }

  #write(chunk: string): boolean {
    if (this.#closed || this.#raw.destroyed) return true;
    return this.#raw.write(chunk);
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve();
      const done = () => {
        this.#raw.off('drain', done);
        this.#raw.off('close', done);
        resolve();
      };
      this.#raw.on('drain', done);
      this.#raw.on('close', done);
    });
  }
}

/** Every open stream: heartbeats, limits, closing on revocation and on shutdown. */
export class SseRegistry {
  readonly #streams = new Set<SseStream>();
  readonly #timer: NodeJS.Timeout;
  readonly #keyValid: (keyId: string) => Promise<boolean>;

  /**
   * `keyValid` asks the database whether a key is still good; each heartbeat asks it once per key with
   * streams open, so a revocation the hub did not see still ends them within a heartbeat.
   */
  constructor(heartbeatMs: number, keyValid: (keyId: string) => Promise<boolean>) {
    this.#keyValid = keyValid;
    this.#timer = setInterval(() => void this.#beat(), heartbeatMs);
    this.#timer.unref();
  }

  get size(): number {
    return this.#streams.size;
  }

  add(s: SseStream): void {
    this.#streams.add(s);
  }

  remove(s: SseStream): void {
    this.#streams.delete(s);
  }

  /** How many streams are open with a key. */
  countKey(keyId: string): number {
    let n = 0;
    for (const s of this.#streams) if (s.principal.keyId === keyId) n++;
    return n;
  }

  /** Closes the streams of one dashboard sign-in (it was signed out). */
  closeSession(sessionId: string): void {
    for (const s of this.#streams) {
      if (s.principal.sessionId === sessionId) s.close('signed out of the dashboard', 'UNAUTHENTICATED');
    }
  }

  /** Closes every stream opened with a key (it was revoked). */
  closeKey(keyId: string): void {
    for (const s of this.#streams) {
      if (s.principal.keyId === keyId) s.close('the API key was revoked', 'UNAUTHENTICATED');
    }
  }

  closeAll(reason: string): void {
    clearInterval(this.#timer);
    for (const s of this.#streams) s.close(reason, 'SHUTTING_DOWN');
  }

  async #beat(): Promise<void> {
    for (const s of this.#streams) s.heartbeat();
    const keys = new Set([...this.#streams].map((s) => s.principal.keyId));
    for (const keyId of keys) {
      if (await this.#keyValid(keyId).catch(() => true)) continue;
      for (const s of this.#streams) {
        if (s.principal.keyId === keyId) s.close('the API key is revoked or expired', 'UNAUTHENTICATED');
      }
    }
  }
}
