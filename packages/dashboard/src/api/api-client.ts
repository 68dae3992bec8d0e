/** A refusal from the API: its stable code, message and details, as `{error: {code, message, details}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Refusals that mean the person's sign-in no longer works, whatever the page asked for. */
const SIGN_IN_GONE = new Set(['UNAUTHENTICATED', 'SSO_DENIED', 'SSO_REQUIRED']);

let csrfToken: string | null = null;
let onSignedOut: ((reason: string) => void) | undefined;

/**
 * Called when any request finds the sign-in gone (expired, key revoked): the app goes back to the sign-in
 * page instead of showing an error on every panel.
 */
export function onSessionEnded(handler: ((reason: string) => void) | undefined): void {
  onSignedOut = handler;
}

/** Remembers the session's CSRF token; every request that changes something sends it. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/**
 * Calls the API with the sign-in cookie (same origin). Errors come back as ApiError with the server's
 * code, never as a bare HTTP status; a network failure says so.
 */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'warden-client': 'dashboard' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-warden-csrf'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The Warden server cannot be reached. Is it running?');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError(
      res.status,
      'BAD_RESPONSE',
      `The server answered ${res.status} with something that is not JSON.`,
    );
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
      ?.error;
    const err = new ApiError(
      res.status,
      e?.code ?? 'HTTP_ERROR',
      e?.message ?? `HTTP ${res.status}`,
      e?.details ?? {},
    );
    // The sign-in endpoints answer for themselves; anywhere else a 401 means the sign-in is gone, as does
    // SSO_DENIED (the IdP's groups no longer give this person a role) or SSO_REQUIRED (key sign-in was
    // switched off).
    if (SIGN_IN_GONE.has(err.code) && path !== '/v1/auth/session') onSignedOut?.(err.message);
    throw err;
  }
  return json as T;
}

/** A query string from the set values of an object. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
