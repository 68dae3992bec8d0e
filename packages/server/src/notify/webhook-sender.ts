import { setTimeout as sleep } from 'node:timers/promises';
import type { WebhookFormat } from './webhook-payload.js';
import {
  signWebhook,
  WEBHOOK_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
} from './webhook-signature.js';

/**
 * Where a webhook goes: a configured name, an http(s) URL, optional signing secrets (several while
 * rotating: each signs) and the body format.
 */
export interface WebhookTarget {
  readonly name: string;
  readonly url: string;
  readonly secret?: string | readonly string[];
  readonly format: WebhookFormat;
}

/** One delivery: `id` is sent as webhook-id (the same on every retry), `body` as JSON. */
export interface WebhookPayload {
  readonly id: string;
  readonly body: object;
}

/** What one attempt did; `retryInMs` is set when another attempt follows after that delay. */
export interface DeliveryAttempt {
  readonly attempt: number;
  readonly status?: number;
  readonly error?: string;
  readonly durationMs: number;
  readonly retryInMs?: number;
}

/** Tuning and seams for {@link deliverWebhook}; every field is optional. */
export interface DeliveryOptions {
  /** Default: the global fetch (undici). */
  readonly fetch?: typeof globalThis.fetch;
  /** Per attempt, including reading the response. Default 10 s. */
  readonly timeoutMs?: number;
  /** Default 6. */
  readonly maxAttempts?: number;
  /** Backoff is full jitter: random in [0, min(maxDelayMs, baseDelayMs · 2^(attempt−1))]. Default 500. */
  readonly baseDelayMs?: number;
  /** Caps every wait, including one asked for by Retry-After. Default 30 s. */
  readonly maxDelayMs?: number;
  /** Aborting stops the delivery (e.g. at shutdown); the result says `aborted`. */
  readonly signal?: AbortSignal;
  /** Called after every attempt (for logs and metrics); what it throws is ignored. */
  readonly onAttempt?: (attempt: DeliveryAttempt) => void;
}

/** How a delivery ended; `status` and `error` (a short line, never a stack) are the last attempt's. */
export interface DeliveryResult {
  readonly ok: boolean;
  readonly attempts: number;
  readonly status?: number;
  readonly error?: string;
  readonly durationMs: number;
}

/** Response bodies are read up to this much and dropped, so the connection can be reused or closed. */
const DRAIN_LIMIT = 64 * 1024;

interface AttemptOutcome {
  readonly ok: boolean;
  readonly status?: number;
  readonly error?: string;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
}

/**
 * POSTs `payload.body` as JSON to `target.url` with the Standard Webhooks headers (webhook-id,
 * webhook-timestamp, and webhook-signature when the target has a secret), retrying network
 * errors, timeouts, 408, 429 and 5xx with exponential backoff and full jitter. Never throws.
 */
export async function deliverWebhook(
  target: WebhookTarget,
  payload: WebhookPayload,
  options: DeliveryOptions = {},
): Promise<DeliveryResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 6));
  let attempts = 0;
  let last: AttemptOutcome = { ok: false, retryable: false, error: 'not attempted' };
  try {
    const url = checkUrl(target.url);
    const body = JSON.stringify(payload.body);
    while (attempts < maxAttempts) {
      if (options.signal?.aborted) return { ok: false, attempts, error: 'aborted', durationMs: elapsed() };
      attempts += 1;
      const attemptStart = performance.now();
      const outcome = await attemptOnce(url, target, payload.id, body, options);
      last = outcome;
      const retry = !outcome.ok && outcome.retryable && attempts < maxAttempts;
      const retryInMs = retry ? backoff(attempts, outcome.retryAfterMs, options) : undefined;
      report(options, {
        attempt: attempts,
        ...(outcome.status !== undefined ? { status: outcome.status } : {}),
        ...(outcome.error ? { error: outcome.error } : {}),
        durationMs: Math.round(performance.now() - attemptStart),
        ...(retryInMs !== undefined ? { retryInMs } : {}),
      });
      if (outcome.ok) return { ok: true, attempts, status: outcome.status, durationMs: elapsed() };
      if (retryInMs === undefined) break;
      if (!(await wait(retryInMs, options.signal))) {
        return { ok: false, attempts, status: outcome.status, error: 'aborted', durationMs: elapsed() };
      }
    }
    return { ok: false, attempts, status: last.status, error: last.error, durationMs: elapsed() };
  } catch (err) {
    return { ok: false, attempts, error: oneLine(err), durationMs: elapsed() };
  }
}

async function attemptOnce(
  url: URL,
  target: WebhookTarget,
  id: string,
  body: string,
  options: DeliveryOptions,
): Promise<AttemptOutcome> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'warden-webhooks',
    [WEBHOOK_ID_HEADER]: id,
  };
  // Stamped and signed per attempt: a retry minutes later still falls inside the receiver's tolerance,
  // while the id stays the same so the receiver can drop a duplicate.
  const timestamp = nowSec();
  headers[WEBHOOK_TIMESTAMP_HEADER] = String(timestamp);
  const secrets = typeof target.secret === 'string' ? [target.secret] : (target.secret ?? []);
  if (secrets.length > 0) headers[WEBHOOK_SIGNATURE_HEADER] = signWebhook(secrets, id, timestamp, body);
  try {
    const fetchFn = options.fetch ?? globalThis.fetch;
    // Redirects are not followed: fetch would turn the POST into a GET, and a webhook URL should be final.
    const res = await fetchFn(url, { method: 'POST', headers, body, signal, redirect: 'manual' });
    await drain(res);
    const status = res.status;
    if (status >= 200 && status < 300) return { ok: true, status, retryable: false };
    const retryable = status === 408 || status === 429 || status >= 500;
    const retryAfterMs =
      status === 429 || status === 503 ? parseRetryAfter(res.headers.get('retry-after')) : undefined;
    const note = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
    return { ok: false, status, error: `HTTP ${status}${note}`, retryable, retryAfterMs };
  } catch (err) {
    if (timeout.aborted) return { ok: false, error: `timed out after ${timeoutMs} ms`, retryable: true };
    if (options.signal?.aborted) return { ok: false, error: 'aborted', retryable: false };
    return { ok: false, error: networkError(err), retryable: true };
  }
}

/** Reads at most DRAIN_LIMIT bytes of the body and drops them; a longer body is cancelled. */
async function drain(res: Response): Promise<void> {
  const reader = res.body?.getReader();
  if (!reader) return;
  let read = 0;
  try {
    while (read < DRAIN_LIMIT) {
      const chunk = await reader.read();
      if (chunk.done) return;
      read += chunk.value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The status is what counts; a body that fails or times out half-way changes nothing.
  }
}

function backoff(attempt: number, retryAfterMs: number | undefined, options: DeliveryOptions): number {
  const cap = options.maxDelayMs ?? 30_000;
  if (retryAfterMs !== undefined) return Math.min(cap, retryAfterMs);
  const ceiling = Math.min(cap, (options.baseDelayMs ?? 500) * 2 ** (attempt - 1));
  return Math.floor(Math.random() * ceiling);
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Waits `ms`; false when the signal aborted first. */
async function wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
    return true;
  } catch {
    return false;
  }
}

function checkUrl(raw: string): URL {
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`the webhook URL must be http or https, not ${url.protocol}`);
  }
  return url;
}

function report(options: DeliveryOptions, attempt: DeliveryAttempt): void {
  try {
    options.onAttempt?.(attempt);
  } catch {
    // A failing observer must not change the delivery.
  }
}

/**
 * undici says only "fetch failed"; the cause's code is the useful part (ECONNREFUSED, ENOTFOUND, a TLS
 * code). The raw message is never copied whole: undici puts the whole URL in some (a URL with
 * credentials), and a webhook URL's path can be its secret (Slack), while this text reaches the log, the
 * audit trail and the stored delivery state. Any URL left in the text is cut to its origin.
 */
function networkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]+$/.test(code)) return `network error: ${code}`;
  const detail = typeof cause?.message === 'string' && cause.message ? cause.message : oneLine(err);
  return oneLine(`network error: ${detail}`);
}

/** The first line of an error, at most 200 characters, with every URL in it cut to its origin. */
function oneLine(err: unknown): string {
  const text = typeof err === 'string' ? err : err instanceof Error ? err.message : String(err);
  const line = redactUrls(text.split('\n')[0] ?? '');
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** Replaces each URL in `text` with its origin (no credentials, path or query). */
export function redactUrls(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (raw) => {
    try {
      const origin = new URL(raw).origin;
      return origin === 'null' ? '<url>' : origin;
    } catch {
      return '<url>';
    }
  });
}

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}
