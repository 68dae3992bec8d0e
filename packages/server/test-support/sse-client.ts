/**
 * A small Server-Sent Events client over a real socket, for tests: it keeps every message and comment it
 * parsed, so a test can wait for what it expects and then look at everything that arrived.
 */
import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import type { AuditRecord } from '@warden/core';

/** One dispatched SSE message. */
export interface SseMessage {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

export interface SseOpenOptions {
  /** The bearer key. */
  readonly key?: string;
  /** Sent as the Last-Event-ID header. */
  readonly lastEventId?: string | number;
  readonly headers?: Record<string, string>;
}

/** An open (or ended) event stream. */
export class SseClient {
  readonly status: number;
  readonly contentType: string;
  readonly messages: SseMessage[] = [];
  /** Comment lines without the leading colon, e.g. ' ping'. */
  readonly comments: string[] = [];
  /** The raw body when the answer was not an event stream (an error). */
  body = '';
  /** Resolves when the response ends or the connection closes, whichever comes first. */
  readonly ended: Promise<void>;
  readonly #req: ClientRequest;
  readonly #watchers = new Set<() => void>();
  readonly #records: AuditRecord[] = [];
  #partial = '';
  #fields: { id?: string; event?: string; data: string[] } = { data: [] };
  #lastId: string | undefined;
  #closed = false;

  private constructor(req: ClientRequest, res: IncomingMessage) {
    this.#req = req;
    this.status = res.statusCode ?? 0;
    this.contentType = String(res.headers['content-type'] ?? '');
    const isStream = this.contentType.startsWith('text/event-stream');
    res.setEncoding('utf8');
    this.ended = new Promise<void>((resolve) => {
      const done = () => {
        if (this.#closed) return;
        this.#closed = true;
        resolve();
        this.#notify();
      };
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
      req.on('error', done);
    });
    res.on('data', (chunk: string) => {
      if (isStream) this.#parse(chunk);
      else this.body += chunk;
      this.#notify();
    });
  }

  /** Opens `url` (path and query included); resolves once the response headers arrive, whatever the status. */
  static open(url: string, o: SseOpenOptions = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method: 'GET',
        agent: false,
        headers: {
          accept: 'text/event-stream',
          ...(o.key ? { authorization: `Bearer ${o.key}` } : {}),
          ...(o.lastEventId !== undefined ? { 'last-event-id': String(o.lastEventId) } : {}),
          ...o.headers,
        },
      });
      req.once('error', reject);
      req.once('response', (res) => resolve(new SseClient(req, res)));
      req.end();
    });
  }

  /** True once the connection is gone. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The audit records delivered so far (every message except `error`), each parsed once. */
  records(): readonly AuditRecord[] {
    return this.#records;
  }

  /** The `event: error` payloads delivered so far. */
  errors(): { code: string; message: string }[] {
    return this.messages
      .filter((m) => m.event === 'error')
      .map((m) => (JSON.parse(m.data) as { error: { code: string; message: string } }).error);
  }

  /**
   * Resolves as soon as `ready()` holds; rejects when the stream ends without it, or after `timeoutMs`
   * (a generous deadline, not a speed assertion), naming `what` and what arrived.
   */
  waitFor(ready: (c: SseClient) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.#watchers.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const fail = (why: string) =>
        new Error(
          `${why} waiting for ${what}; got ${this.messages.length} message(s), last: ${JSON.stringify(
            this.messages.at(-1)?.data.slice(0, 300),
          )}${this.body ? `, body: ${this.body.slice(0, 300)}` : ''}`,
        );
      const check = () => {
        if (ready(this)) finish();
        else if (this.#closed) finish(fail('the stream ended'));
      };
      const timer = setTimeout(() => finish(fail(`no luck after ${timeoutMs} ms`)), timeoutMs);
      this.#watchers.add(check);
      check();
    });
  }

  /** Waits for a record with this seq (or a later one). */
  waitForSeq(seq: number, timeoutMs?: number): Promise<void> {
    return this.waitFor((c) => c.records().some((r) => r.seq >= seq), `event seq ${seq}`, timeoutMs);
  }

  /** Drops the connection from this side. */
  close(): void {
    this.#req.destroy();
  }

  #notify(): void {
    for (const watcher of [...this.#watchers]) watcher();
  }

  #parse(chunk: string): void {
    const lines = (this.#partial + chunk).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line === '') {
        this.#dispatch();
        continue;
      }
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1));
        continue;
      }
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'data') this.#fields.data.push(value);
      else if (name === 'event') this.#fields.event = value;
      else if (name === 'id') this.#fields.id = value;
    }
  }

  #dispatch(): void {
    const f = this.#fields;
    this.#fields = { data: [] };
    if (f.id !== undefined) this.#lastId = f.id;
    if (f.data.length === 0) return;
    const message = { id: f.id, event: f.event ?? 'message', data: f.data.join('\n') };
    this.messages.push(message);
    if (message.event !== 'error') this.#records.push(JSON.parse(message.data) as AuditRecord);
  }

  /** The last `id:` seen, as EventSource would send it on reconnect. */
  get lastEventId(): string | undefined {
    return this.#lastId;
  }
}
