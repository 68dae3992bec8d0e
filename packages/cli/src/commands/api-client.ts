import { ERROR_CODES, type ErrorCode, isWardenError, WardenError } from '@warden/core';
import { loadSignIn, type SavedSignIn, type SignedInPerson, saveSignIn, serverKey } from './credentials.js';

/** Where `warden serve` listens unless told otherwise. */
export const DEFAULT_URL = 'http://127.0.0.1:7400';

/** The flags every API command takes: the server (`--url`, WARDEN_URL) and the caller's key (`--key`, WARDEN_KEY). */
export interface ApiFlags {
  readonly url: string;
  readonly key?: string;
}

/** A JSON client of one Warden server, authenticated as one key's principal or a saved sign-in's person. */
export interface ApiClient {
  readonly url: string;
  get<T>(path: string, o?: { timeoutMs?: number }): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

/** How long a plain request may take; long-polls add their own wait to this. */
const REQUEST_TIMEOUT_MS = 30_000;

/** A saved access token this close to its end is renewed first, so it does not lapse mid-request. */
const RENEW_BEFORE_MS = 60_000;

/**
 * A client for the Warden HTTP API. Votes and grants go through the server rather than the database so
 * they are cast by the principal of an authenticated key, never by a name the caller declares.
 * Without a key it uses the sign-in `warden login` saved for this server, renewing it when it is near
 * its end (and once more if the server says it has ended) and saving the renewed one.
 */
export function apiClient(flags: ApiFlags, fetchImpl: typeof fetch = fetch): ApiClient {
  const key = flags.key?.trim();
  let signIn = key ? undefined : loadSignIn(flags.url);
  if (!key && !signIn) {
    throw new WardenError(
      'USAGE',
      `set --key or WARDEN_KEY (an approver or admin key from \`warden keys create --human NAME --role approver\`), or sign in with \`warden login --url ${flags.url}\``,
    );
  }
  const base = baseUrl(flags.url);
  const renew = async () => {
    signIn = await refreshSignIn(flags.url, signIn as SavedSignIn, fetchImpl);
    return signIn.accessToken;
  };
  const bearer = async () => {
    if (key) return key;
    const saved = signIn as SavedSignIn;
    return Date.parse(saved.expiresAt) - Date.now() > RENEW_BEFORE_MS ? saved.accessToken : renew();
  };
  const call = async <T>(method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number) => {
    const send = async (token: string) =>
      (await requestJson(base, flags.url, method, path, { body, bearer: token, timeoutMs, fetchImpl })) as T;
    try {
      return await send(await bearer());
    } catch (err) {
      // The server ended the token early (signed out elsewhere, restarted with new keys): renew once.
      if (!signIn || !isWardenError(err) || err.code !== 'UNAUTHENTICATED') throw err;
      return send(await renew());
    }
  };
  return {
    url: flags.url,
    get: (path, o = {}) => call('GET', path, undefined, REQUEST_TIMEOUT_MS + (o.timeoutMs ?? 0)),
    // A POST always carries a JSON body: the server refuses an empty one declared as JSON.
    post: (path, body = {}) => call('POST', path, body, REQUEST_TIMEOUT_MS),
  };
}

/** What the server answers a finished device sign-in and a refresh with. */
export interface SignInTokens {
  readonly status: 'ok';
  readonly accessToken: string;
  readonly refreshToken?: string;
  readonly expiresAt: string;
  readonly principal: SignedInPerson;
}

/** The saved form of a server's token answer (a refresh that rotates nothing keeps the old refresh token). */
export function savedFrom(tokens: SignInTokens, previousRefresh?: string): SavedSignIn {
  const refreshToken = tokens.refreshToken ?? previousRefresh;
  if (typeof tokens.accessToken !== 'string' || !refreshToken || Number.isNaN(Date.parse(tokens.expiresAt))) {
    throw new WardenError(
      'INTERNAL',
      'the server answered the sign-in without an access token, refresh token and expiry',
    );
  }
  return {
    accessToken: tokens.accessToken,
    refreshToken,
    expiresAt: tokens.expiresAt,
    principal: tokens.principal,
    savedAt: new Date().toISOString(),
  };
}

/**
 * Renews a saved sign-in with POST /v1/auth/refresh and saves the result. Another `warden` process may
 * have renewed it already (a refresh token may be good for one use only), so the file is read again first.
 * A refusal says to sign in again: the person's IdP session or access has ended.
 */
export async function refreshSignIn(
  url: string,
  current: SavedSignIn,
  fetchImpl: typeof fetch = fetch,
): Promise<SavedSignIn> {
  const latest = loadSignIn(url);
  if (
    latest &&
    latest.accessToken !== current.accessToken &&
    Date.parse(latest.expiresAt) - Date.now() > RENEW_BEFORE_MS
  ) {
    return latest;
  }
  const refreshToken = (latest ?? current).refreshToken;
  let tokens: SignInTokens;
  try {
    tokens = (await requestJson(baseUrl(url), url, 'POST', '/v1/auth/refresh', {
      body: { refreshToken },
      timeoutMs: REQUEST_TIMEOUT_MS,
      fetchImpl,
    })) as SignInTokens;
  } catch (err) {
    if (isWardenError(err) && typeof err.details.status === 'number' && err.details.status < 500) {
      throw new WardenError(
        'UNAUTHENTICATED',
        `your sign-in to ${serverKey(url)} has ended and could not be renewed (${err.message}): run \`warden login --url ${serverKey(url)}\` again`,
        { ...err.details, refreshCode: err.code },
      );
    }
    throw err;
  }
  const renewed = savedFrom(tokens, refreshToken);
  saveSignIn(url, renewed);
  return renewed;
}

/**
 * One JSON request to the server at `base`; `bearer` authenticates it (none for the public sign-in routes).
 * A refusal becomes the server's WardenError; a server that cannot be reached says so.
 */
export async function requestJson(
  base: URL,
  url: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  o: { body?: unknown; bearer?: string; timeoutMs?: number; fetchImpl?: typeof fetch },
): Promise<unknown> {
  const target = new URL(path.replace(/^\//, ''), base);
  const timeoutMs = o.timeoutMs ?? REQUEST_TIMEOUT_MS;
  let res: Response;
  try {
    res = await (o.fetchImpl ?? fetch)(target, {
      method,
      headers: {
        ...(o.bearer ? { authorization: `Bearer ${o.bearer}` } : {}),
        'warden-client': 'cli',
        accept: 'application/json',
        ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw unreachable(url, err, timeoutMs);
  }
  return parse(res, url);
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

/** The server's URL as a base for relative API paths; a bad --url is a usage error naming it. */
export function baseUrl(url: string): URL {
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
  // No Content: a success with nothing to say (a sign-out).
  if (res.status === 204) return undefined;
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
  const hint = code === 'UNAUTHENTICATED' ? ' (check --key or WARDEN_KEY, or run `warden login`)' : '';
  throw new WardenError(code, `${error.message}${hint}`, {
    ...(details as Record<string, unknown>),
    ...(known ? {} : { serverCode: error.code }),
    status: res.status,
  });
}
