import { useState } from 'preact/hooks';
import { ApiError, api } from '../api/api-client.js';
import type { SignedIn } from '../api/api-types.js';

/** Sign-in with a person's API key. The key is sent once; the browser keeps only an HttpOnly cookie. */
export function SignInPage(props: { readonly onSignedIn: (s: SignedIn) => void; readonly reason?: string }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(props.reason);
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
  return (
    <main class="signin">
      <form onSubmit={submit} class="card">
        <h1>
          <span class="logo">◆</span> Warden
        </h1>
        <p class="muted">Sign in with your personal API key (approver, admin or auditor).</p>
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
        <button type="submit" class="primary" disabled={busy || key.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error ? (
          <p class="notice error" role="alert">
            {error}
          </p>
        ) : null}
        <p class="muted small">
          No key yet? An admin runs{' '}
          <code>npm run warden -- keys create --human you@example.com --role approver</code>.
        </p>
      </form>
    </main>
  );
}
