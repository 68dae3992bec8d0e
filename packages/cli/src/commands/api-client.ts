import { ERROR_CODES, type ErrorCode, WardenError } from '@warden/core';

/** Where `warden serve` listens unless told otherwise. */
export const DEFAULT_URL = 'http://127.0.0.1:7400';

/** The flags every API command takes: the server (`--url`, WARDEN_URL) and the caller's key (`--key`, WARDEN_KEY). */
export interface ApiFlags {
  readonly url: string;
  readonly key?: string;
}

/** A JSON client of one Warden server, authenticated as one key's principal. */
export interface ApiClient {
  readonly url: string;
  get<T>(path: string, o?: { timeoutMs?: number }): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

/** How long a plain request may take; long-polls add their own wait to this. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * A client for the Warden HTTP API. Votes and grants go through the server rather than the database so
 * they are cast by the principal of an authenticated key, never by a name the caller declares.
 */
export function apiClient(flags: ApiFlags, fetchImpl: typeof fetch = fetch): ApiClient {
  const key = flags.key?.trim();
  if (!key) {
    throw new WardenError(
      'USAGE',
      'set --key or WARDEN_KEY (an approver or admin key from `warden keys create --human NAME --role approver`)',
    );
  }
  const base = baseUrl(flags.url);
  const call = async <T>(method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number) => {
    const target = new URL(path.replace(/^\//, ''), base);
    let res: Response;
    try {
      res = await fetchImpl(target, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          'warden-client': 'cli',
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw unreachable(flags.url, err, timeoutMs);
    }
    return (await parse(res, flags.url)) as T;
  };
  return {
    url: flags.url,
    get: (path, o = {}) => call('GET', path, undefined, REQUEST_TIMEOUT_MS + (o.timeoutMs ?? 0)),
    // A POST always carries a JSON body: the server refuses an empty one declared as JSON.
    post: (path, body = {}) => call('POST', path, body, REQUEST_TIMEOUT_MS),
  };
}

/** `path?name=value&…`, leaving out unset values. */
export function withQuery(
  path: string,
  query: Record<string, string | number | boolean | undefined>,
): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

function baseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new WardenError('USAGE', `--url "${url}" is not a URL (e.g. ${DEFAULT_URL})`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new WardenError('USAGE', `--url "${url}" must start with http:// or https://`);
  }
  // A trailing slash makes relative paths land under a prefix (a server behind a proxy path).
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u;
}

function unreachable(url: string, err: unknown, timeoutMs: number): WardenError {
  const e = err as { name?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError') {
    return new WardenError(
      'USAGE',
      `the Warden server at ${url} did not answer within ${Math.round(timeoutMs / 1000)}s`,
    );
  }
  const why = e?.cause?.code ? ` (${e.cause.code})` : '';
  return new WardenError(
    'USAGE',
    `cannot reach a Warden server at ${url}${why}: is \`warden serve\` running there? Set --url or WARDEN_URL`,
  );
}

async function parse(res: Response, url: string): Promise<unknown> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (res.ok) {
    if (body === undefined) {
      throw new WardenError('INTERNAL', `the server at ${url} answered without JSON; is it a Warden server?`);
    }
    return body;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } })?.error;
  if (!error || typeof error.message !== 'string') {
    throw new WardenError(
      'INTERNAL',
      `the server at ${url} answered HTTP ${res.status} without a Warden error; is it a Warden server?`,
    );
  }
  const known = typeof error.code === 'string' && Object.hasOwn(ERROR_CODES, error.code);
  const details = (typeof error.details === 'object' && error.details) || {};
  // A code from a newer server is kept in the details; its message still says what went wrong.
  const code = (known ? error.code : 'INTERNAL') as ErrorCode;
  const hint = code === 'UNAUTHENTICATED' ? ' (check --key or WARDEN_KEY)' : '';
  throw new WardenError(code, `${error.message}${hint}`, {
    ...(details as Record<string, unknown>),
    ...(known ? {} : { serverCode: error.code }),
    status: res.status,
  });
}
