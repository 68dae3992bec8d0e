import { setTimeout as sleep } from 'node:timers/promises';
import { parseRetryAfter, redactUrls } from './webhook-sender.js';

/** What one Web API call came to. Slack answers HTTP 200 with `ok: false` and an `error` for most failures. */
export interface SlackCallResult {
  readonly ok: boolean;
  /** The HTTP status, when an answer came. */
  readonly status?: number;
  /** The parsed answer (`ok: true` and the method's fields), when `ok`. */
  readonly body?: Record<string, unknown>;
  /** Slack's error word (`invalid_auth`, `channel_not_found`…) or what went wrong on the way. */
  readonly error?: string;
  /** Whether trying again later can help (rate limits, Slack's own failures, the network). */
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
}

/** Slack's `error` words that mean "try later", not "this request is wrong". */
const RETRYABLE_ERRORS = new Set([
  'ratelimited',
  'rate_limited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

/** Answers are read up to this much: every answer used here is small. */
const ANSWER_LIMIT = 1024 * 1024;

/**
 * A small client of Slack's Web API (https://slack.com/api/<method>): the bot token as a Bearer header,
 * JSON bodies for the chat methods and form-encoded ones for users.info (its only content type). Never
 * throws; retries are the caller's ({@link callWithRetries}).
 */
export class SlackApi {
  readonly #baseUrl: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: { baseUrl: string; token: string; timeoutMs?: number }) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** One call of `method` with `args`; `form` sends them form-encoded (strings only). */
  async call(
    method: string,
    args: Record<string, unknown>,
    options: { form?: boolean; signal?: AbortSignal } = {},
  ): Promise<SlackCallResult> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const body = options.form
      ? new URLSearchParams(Object.entries(args).map(([k, v]): [string, string] => [k, String(v)])).toString()
      : JSON.stringify(args);
    const contentType = options.form
      ? 'application/x-www-form-urlencoded'
      : 'application/json; charset=utf-8';
    let res: Response;
    try {
      res = await fetch(`${this.#baseUrl}/${method}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': contentType },
        body,
        signal,
        redirect: 'manual',
      });
    } catch (err) {
      if (timeout.aborted)
        return { ok: false, error: `timed out after ${this.#timeoutMs} ms`, retryable: true };
      if (options.signal?.aborted) return { ok: false, error: 'aborted', retryable: false };
      return { ok: false, error: networkError(err), retryable: true };
    }
    const status = res.status;
    const text = await readCapped(res);
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      return {
        ok: false,
        status,
        error: 'ratelimited',
        retryable: true,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    if (status >= 500) return { ok: false, status, error: `HTTP ${status}`, retryable: true };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, status, error: `HTTP ${status}, not a Web API answer`, retryable: false };
    }
    const answer = parsed as { ok?: unknown; error?: unknown } | null;
    if (answer?.ok === true)
      return { ok: true, status, body: answer as Record<string, unknown>, retryable: false };
    const error = typeof answer?.error === 'string' ? answer.error : `HTTP ${status}, ok is not true`;
    return { ok: false, status, error, retryable: RETRYABLE_ERRORS.has(error) };
  }
}

/** Tuning of {@link callWithRetries}. */
export interface RetryOptions {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly signal?: AbortSignal;
}

/**
 * Calls until it succeeds, fails for good, or `maxAttempts` are spent; waits with full-jitter backoff
 * (or Slack's Retry-After, capped at 30 s) between attempts, as webhook deliveries do.
 */
export async function callWithRetries(
  api: SlackApi,
  method: string,
  args: Record<string, unknown>,
  options: RetryOptions,
): Promise<SlackCallResult & { attempts: number }> {
  let attempts = 0;
  for (;;) {
    attempts += 1;
    const r = await api.call(method, args, options.signal ? { signal: options.signal } : {});
    if (r.ok || !r.retryable || attempts >= options.maxAttempts) return { ...r, attempts };
    const ceiling = Math.min(30_000, options.baseDelayMs * 2 ** (attempts - 1));
    const delay = Math.min(30_000, r.retryAfterMs ?? Math.floor(Math.random() * ceiling));
    try {
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : {});
    } catch {
      return { ok: false, error: 'aborted', retryable: false, attempts };
    }
  }
}

async function readCapped(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < ANSWER_LIMIT) {
      const chunk = await reader.read();
      if (chunk.done) break;
      chunks.push(chunk.value);
      size += chunk.value.byteLength;
    }
    if (size >= ANSWER_LIMIT) await reader.cancel();
  } catch {
    // A body that breaks off is read as what arrived; the JSON parse says the rest.
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The network failure's code (ECONNREFUSED…), never a whole message: it can carry the URL. */
function networkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } })?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code && /^[A-Z0-9_]+$/.test(code)) return `network error: ${code}`;
  const text = err instanceof Error ? err.message : String(err);
  return redactUrls(`network error: ${text.split('\n')[0] ?? ''}`).slice(0, 200);
}
