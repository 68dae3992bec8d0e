import { api, query } from '../api/api-client.js';
import type { BudgetList, BudgetStatus, Session, SessionList, SignedIn } from '../api/api-types.js';
import { BudgetBar } from '../components/budget-bar.js';
import { Empty, ErrorNotice } from '../components/notices.js';
import { relative } from '../format.js';
import { useLiveEvents, useLoad, useThrottledReload } from '../hooks.js';
import { linkClick, navigate, type Route } from '../router.js';
import { SessionActions } from './session-actions.js';

const STATES = ['', 'active', 'paused', 'closed'] as const;
const LIVE = [
  'session.created',
  'session.paused',
  'session.resumed',
  'session.closed',
  'call.completed',
  'budget.exceeded',
];

/** Every budget counter that applies to a session: its own, its agent's, and shared ones. */
export function budgetsFor(s: Session, all: readonly BudgetStatus[]): BudgetStatus[] {
  return all.filter((b) => b.scopeKey === `session:${s.id}` || b.scopeKey === `agent:${s.agent}`);
}

/** Sessions, live: paused ones first with their reason and a resume action, then the rest with budget bars. */
export function SessionsPage(props: { readonly me: SignedIn; readonly route: Route }) {
  const state = props.route.params.get('state') ?? '';
  const sessions = useLoad(
    () => api<SessionList>('GET', `/v1/sessions${query({ state, limit: 200 })}`),
    [state],
  );
  const budgets = useLoad(() => api<BudgetList>('GET', '/v1/budgets'), []);
  const reload = useThrottledReload(() => {
    sessions.reload();
    budgets.reload();
  });
  const live = useLiveEvents(LIVE, reload);
  const canAct = props.me.principal.role === 'approver' || props.me.principal.role === 'admin';
  const list = sessions.data?.sessions ?? [];
  const ordered = [...list.filter((s) => s.state === 'paused'), ...list.filter((s) => s.state !== 'paused')];
  return (
    <section>
      <header class="page-head">
        <h1>Sessions</h1>
        <span class={`live ${live ? 'on' : 'off'}`}>{live ? '● live' : '○ reconnecting'}</span>
      </header>
      <nav class="tabs" aria-label="Filter by state">
        {STATES.map((s) => (
          <button
            type="button"
            key={s}
            class={s === state ? 'active' : ''}
            onClick={() => navigate(`/sessions${query({ state: s })}`)}
          >
            {s || 'all'}
          </button>
        ))}
      </nav>
      <ErrorNotice error={sessions.error} what="Loading sessions" />
      {ordered.length === 0 && !sessions.loading ? (
        <Empty>No sessions{state ? ` in state ${state}` : ''} yet.</Empty>
      ) : null}
      <div class="cards">
        {ordered.map((s) => (
          <article key={s.id} class={`card session ${s.state}`} data-session={s.id}>
            <header>
              <h3>
                <a href={`/sessions/${encodeURIComponent(s.id)}`} onClick={linkClick}>
                  {s.id}
                </a>{' '}
                <span class="agent">{s.agent}</span>
              </h3>
              <span class={`pill ${s.state}`}>{s.state}</span>
            </header>
            {s.state === 'paused' ? (
              <p class="notice warn pause-reason">Paused: {s.stateReason ?? 'no reason recorded'}</p>
            ) : null}
            <p class="muted">
              {s.triggeredBy ? `started by ${s.triggeredBy} · ` : ''}active {relative(s.updatedAt)}
            </p>
            {budgetsFor(s, budgets.data?.budgets ?? []).map((b) => (
              <BudgetBar key={b.key} budget={b} />
            ))}
            {s.state === 'paused' ? (
              <SessionActions
                session={s}
                budgets={budgetsFor(s, budgets.data?.budgets ?? [])}
                canAct={canAct}
                onDone={() => {
                  sessions.reload();
                  budgets.reload();
                }}
              />
            ) : null}
          </article>
        ))}
      </div>
    </section>
  );
}
