import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, onSessionEnded, setCsrfToken } from './api/api-client.js';
import type { ApprovalList, SignedIn } from './api/api-types.js';
import { useLiveEvents, useLoad } from './hooks.js';
import { ApprovalsPage } from './pages/approvals-page.js';
import { AuditPage } from './pages/audit-page.js';
import { BudgetsPage } from './pages/budgets-page.js';
import { PolicyPage } from './pages/policy-page.js';
import { SessionDetailPage } from './pages/session-detail-page.js';
import { SessionsPage } from './pages/sessions-page.js';
import { SignInPage } from './pages/signin-page.js';
import { linkClick, navigate, type Route, useRoute } from './router.js';

type Auth = { state: 'checking' } | { state: 'out'; reason?: string } | { state: 'in'; me: SignedIn };

/** The dashboard: who is signed in decides between the sign-in page and the pages their role may see. */
export function App() {
  const [auth, setAuth] = useState<Auth>({ state: 'checking' });
  const route = useRoute();
  useEffect(() => {
    onSessionEnded((reason) => {
      setCsrfToken(null);
      setAuth({ state: 'out', reason: `You are signed out: ${reason}` });
    });
    return () => onSessionEnded(undefined);
  }, []);
  useEffect(() => {
    api<SignedIn>('GET', '/v1/auth/session').then(
      (me) => {
        setCsrfToken(me.csrfToken);
        setAuth({ state: 'in', me });
      },
      (err: unknown) =>
        setAuth({
          state: 'out',
          ...(err instanceof ApiError && err.code !== 'UNAUTHENTICATED' ? { reason: err.message } : {}),
        }),
    );
  }, []);
  if (auth.state === 'checking') return <p class="loading">Loading…</p>;
  if (auth.state === 'out') {
    return (
      <SignInPage
        {...(auth.reason ? { reason: auth.reason } : {})}
        onSignedIn={(me) => {
          setCsrfToken(me.csrfToken);
          setAuth({ state: 'in', me });
          if (route.path === '/signin') navigate('/', { replace: true });
        }}
      />
    );
  }
  return (
    <Shell
      me={auth.me}
      route={route}
      onSignOut={async () => {
        await api('DELETE', '/v1/auth/session').catch(() => undefined);
        setCsrfToken(null);
        setAuth({ state: 'out' });
      }}
    />
  );
}

const NAV = [
  ['/approvals', 'Approvals'],
  ['/sessions', 'Sessions'],
  ['/audit', 'Audit'],
  ['/budgets', 'Budgets'],
  ['/policy', 'Policy'],
] as const;

function Shell(props: { readonly me: SignedIn; readonly route: Route; readonly onSignOut: () => void }) {
  const { me, route } = props;
  const pending = useLoad(() => api<ApprovalList>('GET', '/v1/approvals?status=pending&limit=500'), []);
  useLiveEvents(['approval.requested', 'approval.decided'], pending.reload);
  const count = pending.data?.approvals.length ?? 0;
  const section = route.path === '/' ? '/approvals' : `/${route.path.split('/')[1] ?? ''}`;
  return (
    <div class="shell">
      <nav class="top" aria-label="Main">
        <a class="brand" href="/approvals" onClick={linkClick}>
          <span class="logo">◆</span> Warden
        </a>
        {NAV.map(([href, label]) => (
          <a key={href} href={href} onClick={linkClick} class={section === href ? 'active' : ''}>
            {label}
            {href === '/approvals' && count > 0 ? <span class="badge">{count}</span> : null}
          </a>
        ))}
        <span class="who">
          <span class="person">{personLabel(me)}</span> <span class="pill role">{me.principal.role}</span>
          {viaSso(me) ? <span class="pill via">via SSO</span> : null}
          <button type="button" class="link" onClick={props.onSignOut}>
            Sign out
          </button>
        </span>
      </nav>
      <main class="page">
        <Page me={me} route={route} />
      </main>
    </div>
  );
}

/** What a person's sign-in may say beyond the key fields (an SSO sign-in names its issuer and the person). */
type PersonFields = { readonly issuer?: string; readonly displayName?: string };

/** "Lee Park (lee@acme.example)" for an SSO person with a display name; else the principal id. */
function personLabel(me: SignedIn): string {
  const p = me.principal as SignedIn['principal'] & PersonFields;
  return p.displayName && p.displayName !== p.id ? `${p.displayName} (${p.id})` : p.id;
}

/** Signed in through the identity provider: the principal names an issuer, or its sign-in id is an SSO one. */
function viaSso(me: SignedIn): boolean {
  const p = me.principal as SignedIn['principal'] & PersonFields;
  return Boolean(p.issuer) || p.keyId.startsWith('sso_');
}

function Page(props: { readonly me: SignedIn; readonly route: Route }) {
  const { me, route } = props;
  const [, section, id] = route.path.split('/');
  switch (section) {
    case '':
    case 'signin':
    case 'approvals':
      return (
        <ApprovalsPage me={me} focus={section === 'approvals' && id ? decodeURIComponent(id) : undefined} />
      );
    case 'sessions':
      return id ? (
        <SessionDetailPage me={me} id={decodeURIComponent(id)} />
      ) : (
        <SessionsPage me={me} route={route} />
      );
    case 'audit':
      return <AuditPage me={me} route={route} />;
    case 'budgets':
      return <BudgetsPage />;
    case 'policy':
      return <PolicyPage />;
    default:
      return <p class="notice">There is no page at {route.path}.</p>;
  }
}
