import type { SignedIn } from '@warden/api';
import { formatDuration, isWardenError, WardenError } from '@warden/core';
import { type CliIo, EXIT } from '../cli-io.js';
import {
  type ApiFlags,
  apiClient,
  baseUrl,
  requestJson,
  type SignInTokens,
  savedFrom,
} from './api-client.js';
import { loadSignIn, type SignedInPerson, saveSignIn, serverKey } from './credentials.js';

/** GET /v1/auth/config: how people may sign in to this server. */
interface AuthConfig {
  readonly keySignIn: boolean;
  readonly sso?: { readonly enabled: boolean; readonly loginUrl?: string | null };
}

/** POST /v1/auth/device: the code the person confirms at their identity provider. */
interface DeviceStart {
  readonly deviceCode: string;
  readonly userCode: string;
  readonly verificationUri: string;
  readonly verificationUriComplete?: string;
  readonly expiresIn: number;
  readonly interval?: number;
}

/** POST /v1/auth/device/token while the person has not finished (or has been asked to poll slower). */
interface DevicePending {
  readonly status: 'pending' | 'slow_down';
  readonly interval?: number;
}

export interface LoginOptions {
  readonly url: string;
}

/** RFC 8628 §3.5: without an interval from the server, poll every 5 s; `slow_down` adds 5 s for good. */
const DEFAULT_INTERVAL_S = 5;
const SLOW_DOWN_S = 5;

/** Injected for tests: the clock the polling sleeps on. */
export interface LoginDeps {
  readonly sleep?: (ms: number) => Promise<void>;
  readonly fetchImpl?: typeof fetch;
}

/**
 * `warden login`: signs a person in through the server's device authorization grant (the server is the
 * relying party and holds the client secret; the CLI never sees the IdP's tokens). Prints where to go and
 * the code to confirm, polls until the person has, saves the server's tokens and says who signed in.
 */
export async function login(o: LoginOptions, io: CliIo, deps: LoginDeps = {}): Promise<number> {
  const base = baseUrl(o.url);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const req = (method: 'GET' | 'POST', path: string, body?: unknown) =>
    requestJson(base, o.url, method, path, {
      ...(body === undefined ? {} : { body }),
      ...(deps.fetchImpl ? { fetchImpl: deps.fetchImpl } : {}),
    });

  const config = (await req('GET', '/v1/auth/config').catch((err: unknown) => {
    if (isWardenError(err) && err.details.status === 404) throw noSso(o.url, 'it has no /v1/auth/config');
    throw err;
  })) as AuthConfig;
  if (!config.sso?.enabled) throw noSso(o.url, 'no `auth.oidc` in its configuration');

  const start = (await req('POST', '/v1/auth/device', {})) as DeviceStart;
  const deadline = Date.now() + start.expiresIn * 1000;
  io.err(
    `To sign in to ${serverKey(o.url)}, open\n  ${start.verificationUri}\nand enter the code\n  ${start.userCode}\n` +
      (start.verificationUriComplete
        ? `(or open ${start.verificationUriComplete} , which fills it in)\n`
        : '') +
      `The code expires in ${formatDuration(Math.ceil(start.expiresIn) * 1000)}.\n`,
  );

  let interval = Math.max(1, start.interval ?? DEFAULT_INTERVAL_S);
  const tty = io.errIsTty === true;
  let tokens: SignInTokens | undefined;
  if (!tty) io.err('waiting for you to confirm in the browser…\n');
  while (!tokens) {
    const left = deadline - Date.now();
    if (left <= 0) throw expired(o.url);
    if (tty)
      io.err(
        `\rwaiting for you to confirm in the browser… ${formatDuration(Math.ceil(left / 1000) * 1000)} left `,
      );
    await sleep(Math.min(interval * 1000, left));
    const answer = (await req('POST', '/v1/auth/device/token', { deviceCode: start.deviceCode }).catch(
      (err: unknown) => {
        if (tty) io.err('\n');
        throw deviceRefusal(o.url, err);
      },
    )) as DevicePending | SignInTokens;
    if (answer.status === 'ok') tokens = answer;
    else if (answer.status === 'slow_down') interval = Math.max(interval + SLOW_DOWN_S, answer.interval ?? 0);
    else if (answer.interval) interval = Math.max(1, answer.interval);
  }
  if (tty) io.err('\n');
  const path = saveSignIn(o.url, savedFrom(tokens));
  io.out(`signed in to ${serverKey(o.url)} as ${who(tokens.principal)}\n`);
  io.err(`saved to ${path}\n`);
  return EXIT.ok;
}

/**
 * `warden logout`: signs the saved access token out on the server (DELETE /v1/auth/session, so it stops
 * working on every instance at once rather than lapsing within the hour), then forgets the sign-in. A
 * server that cannot be reached is said, and the sign-in is forgotten all the same.
 */
export async function logout(o: LoginOptions, io: CliIo, deps: LoginDeps = {}): Promise<number> {
  const saved = loadSignIn(o.url);
  if (!saved) {
    io.err(`not signed in to ${serverKey(o.url)}\n`);
    return EXIT.ok;
  }
  try {
    await requestJson(baseUrl(o.url), o.url, 'DELETE', '/v1/auth/session', {
      bearer: saved.accessToken,
      ...(deps.fetchImpl ? { fetchImpl: deps.fetchImpl } : {}),
    });
  } catch (err) {
    // Already expired or signed out: nothing left to end on the server.
    if (!(isWardenError(err) && err.code === 'UNAUTHENTICATED')) {
      const why = err instanceof Error ? err.message : String(err);
      io.err(`could not sign the token out on the server (${why}); it lapses at ${saved.expiresAt}\n`);
    }
  }
  saveSignIn(o.url, undefined);
  io.out(`signed out of ${serverKey(o.url)} (was ${who(saved.principal)})\n`);
  return EXIT.ok;
}

/** `warden whoami`: asks the server who the key or the saved sign-in is (renewing the sign-in if due). */
export async function whoami(o: ApiFlags & { readonly json?: boolean }, io: CliIo): Promise<number> {
  const me = await apiClient(o).get<SignedIn>('/v1/auth/session');
  if (o.json) {
    io.out(`${JSON.stringify(me)}\n`);
    return EXIT.ok;
  }
  const saved = o.key?.trim() ? undefined : loadSignIn(o.url);
  const via = saved ? `signed in via SSO (${saved.principal.issuer ?? 'OIDC'})` : 'API key';
  io.out(`${me.principal.id}  role ${me.principal.role}  ${via}  at ${serverKey(o.url)}\n`);
  return EXIT.ok;
}

/** "lee@acme.example (Lee Park), role approver" — who the server says signed in. */
export function who(p: SignedInPerson): string {
  const name = p.displayName && p.displayName !== p.id ? ` (${p.displayName})` : '';
  return `${p.id}${name}, role ${p.role ?? 'none'}`;
}

function noSso(url: string, why: string): WardenError {
  return new WardenError(
    'USAGE',
    `the Warden server at ${serverKey(url)} does not offer SSO sign-in (${why}): use an API key (--key or WARDEN_KEY) instead, or ask its admin to configure \`auth.oidc\``,
  );
}

function expired(url: string): WardenError {
  return new WardenError(
    'UNAUTHENTICATED',
    `the sign-in code expired before it was confirmed: run \`warden login --url ${serverKey(url)}\` again`,
  );
}

/**
 * The server refused the device code: the IdP said it expired or was denied (SSO_DENIED with the IdP's
 * OAuth error as details.reason), or the person may not use Warden (the message says why).
 */
function deviceRefusal(url: string, err: unknown): unknown {
  if (!isWardenError(err) || typeof err.details.status !== 'number' || err.details.status >= 500) return err;
  const reason = typeof err.details.reason === 'string' ? err.details.reason : '';
  if (reason === 'expired_token' || /expired/i.test(err.message)) return expired(url);
  const denied = reason === 'access_denied' || /denied/i.test(err.message);
  return new WardenError(
    err.code,
    denied
      ? `the sign-in was denied at the identity provider (${err.message}); run \`warden login --url ${serverKey(url)}\` to try again`
      : `the sign-in was refused: ${err.message}`,
    err.details,
  );
}
