import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api/api-client.js';
import type { SignedIn } from '../api/api-types.js';

/** GET /v1/auth/config: how people may sign in to this server. */
interface AuthConfig {
  readonly keySignIn: boolean;
  readonly sso?: { readonly enabled: boolean; readonly loginUrl?: string | null };
}

/** A server from before SSO has no /v1/auth/config: it signs people in with keys only. */
const KEYS_ONLY: AuthConfig = { keySignIn: true, sso: { enabled: false } };

/**
 * Sign-in: "Sign in with SSO" (the company's identity provider, through the server's OIDC login) when the
 * server has it, and the API key form while key sign-in for people is allowed. A key is sent once; the
 * browser keeps only an HttpOnly cookie either way.
 */
export function SignInPage(props: { readonly onSignedIn: (s: SignedIn) => void; readonly reason?: string }) {
  const [config, setConfig] = useState<AuthConfig | undefined>();
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(props.reason ?? ssoErrorOf(location.search));
  useEffect(() => {
    api<AuthConfig>('GET', '/v1/auth/config').then(setConfig, (err: unknown) => {
      setConfig(KEYS_ONLY);
      // Not found is a server from before SSO; anything else is worth saying (the key form still works).
      if (!(err instanceof ApiError && err.status === 404)) {
        setError(err instanceof ApiError ? err.message : String(err));
      }
    });
  }, []);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const s = await api<SignedIn>('POST', '/v1/auth/session', { key: key.trim() });
      setKey('');
      props.onSignedIn(s);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }
  const sso = config?.sso?.enabled === true;
  const keys = config?.keySignIn !== false;
  return (
    <main class="signin">
      <section class="card signin-card">
        <h1>
          <span class="logo">◆</span> Warden
        </h1>
        {error ? (
          <p class="notice error" role="alert">
            {error}
          </p>
        ) : null}
        {!config ? <p class="loading">Loading…</p> : null}
        {sso ? (
          <a class="button primary sso" href={ssoLoginHref(config?.sso?.loginUrl)}>
            Sign in with SSO
          </a>
        ) : null}
        {config && sso && keys ? <p class="muted small or">or with a personal API key</p> : null}
        {config && keys ? (
          <form onSubmit={submit}>
            {sso ? null : (
              <p class="muted">Sign in with your personal API key (approver, admin or auditor).</p>
            )}
            <label>
              API key
              <input
                type="password"
                name="key"
                autocomplete="off"
                placeholder="wdn_…"
                value={key}
                onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)}
                required
              />
            </label>
            <button type="submit" class={sso ? '' : 'primary'} disabled={busy || key.trim() === ''}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
            <p class="muted small">
              No key yet? An admin runs{' '}
              <code>npm run warden -- keys create --human you@example.com --role approver</code>.
            </p>
          </form>
        ) : null}
        {config && !sso && !keys ? (
          <p class="notice error" role="alert">
            This server allows no sign-in for people: key sign-in is off and SSO is not configured.
          </p>
        ) : null}
      </section>
    </main>
  );
}

/**
 * Where "Sign in with SSO" goes: the server's OIDC login, asked to come back to the page the person wanted
 * (the dashboard's home when that was the sign-in page itself).
 */
export function ssoLoginHref(loginUrl: string | null | undefined, here: Location = location): string {
  const back = here.pathname === '/signin' ? '/' : `${here.pathname}${here.search}`;
  const target = new URL(loginUrl || '/v1/auth/oidc/login', here.origin);
  target.searchParams.set('returnTo', back);
  return target.origin === here.origin ? `${target.pathname}${target.search}` : target.toString();
}

/**
 * The readable message of a failed SSO sign-in the server's callback sent back as `/signin?error=…`
 * (`error` a Warden code or an OAuth one, the words in `message`, or OAuth's `error_description`).
 */
export function ssoErrorOf(search: string): string | undefined {
  const q = new URLSearchParams(search);
  const code = q.get('error');
  const text = q.get('message') ?? q.get('error_description');
  if (text) return `Signing in with SSO failed: ${text}`;
  if (!code) return undefined;
  return code === 'access_denied'
    ? 'Signing in with SSO failed: the sign-in was cancelled or denied at your identity provider.'
    : `Signing in with SSO failed (${code}).`;
}
