import { api } from '../api/api-client.js';
import type { SessionDetail, SignedIn } from '../api/api-types.js';
import { BudgetBar } from '../components/budget-bar.js';
import { ErrorNotice } from '../components/notices.js';
import { amount, dateTime } from '../format.js';
import { useLiveEvents, useLoad, useThrottledReload } from '../hooks.js';
import { usePagedEvents } from '../paged-events.js';
import { linkClick } from '../router.js';
import { EventTable } from './audit-rows.js';
import { SessionActions } from './session-actions.js';

const LIVE = [
  'call.decided',
  'call.completed',
  'session.paused',
  'session.resumed',
  'session.closed',
  'budget.exceeded',
  'budget.raised',
  'budget.expired',
  'breaker.tripped',
];

/** One session: state, usage, every budget it draws on, actions, and the timeline of everything it did. */
export function SessionDetailPage(props: { readonly me: SignedIn; readonly id: string }) {
  const detail = useLoad(
    () => api<SessionDetail>('GET', `/v1/sessions/${encodeURIComponent(props.id)}`),
    [props.id],
  );
  const timeline = usePagedEvents({ session: props.id });
  const reload = useThrottledReload(() => {
    detail.reload();
    timeline.refresh();
  });
  useLiveEvents(LIVE, reload, { session: props.id });
  const canAct = props.me.principal.role === 'approver' || props.me.principal.role === 'admin';
  const d = detail.data;
  return (
    <section>
      <header class="page-head">
        <h1>
          <a href="/sessions" onClick={linkClick}>
            Sessions
          </a>{' '}
          / {props.id}
        </h1>
        {d ? <span class={`pill ${d.session.state}`}>{d.session.state}</span> : null}
      </header>
      <ErrorNotice error={detail.error} what="Loading the session" />
      {d ? (
        <>
          {d.session.state === 'paused' ? (
            <p class="notice warn pause-reason">Paused: {d.session.stateReason ?? 'no reason recorded'}</p>
          ) : null}
          <dl class="facts grid">
            <div>
              <dt>Agent</dt>
              <dd>{d.session.agent}</dd>
            </div>
            <div>
              <dt>Started by</dt>
              <dd>{d.session.triggeredBy ?? '—'}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>{dateTime(d.session.createdAt)}</dd>
            </div>
            <div>
              <dt>Calls</dt>
              <dd>
                {d.usage.calls.allow} allowed · {d.usage.calls.review} reviewed · {d.usage.calls.block}{' '}
                blocked
              </dd>
            </div>
            <div>
              <dt>Tokens</dt>
              <dd>{amount(d.usage.inputTokens + d.usage.outputTokens, 'tokens')}</dd>
            </div>
            <div>
              <dt>Cost</dt>
              <dd>{amount(d.usage.costUsd, 'usd')}</dd>
            </div>
          </dl>
          {d.budgets.map((b) => (
            <BudgetBar key={b.key} budget={b} />
          ))}
          <SessionActions
            session={d.session}
            budgets={d.budgets}
            canAct={canAct}
            onDone={() => {
              detail.reload();
              timeline.refresh();
            }}
          />
        </>
      ) : null}
      <h2>Timeline</h2>
      <ErrorNotice error={timeline.error} what="Loading the timeline" />
      <EventTable events={timeline} testId="timeline" empty="Nothing recorded in this session yet." />
    </section>
  );
}
