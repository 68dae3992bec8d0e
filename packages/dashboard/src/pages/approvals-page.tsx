import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, query } from '../api/api-client.js';
import type { Approval, ApprovalList, SignedIn } from '../api/api-types.js';
import { Empty, ErrorNotice } from '../components/notices.js';
import { dateTime, json, relative, timeLeft } from '../format.js';
import { useLiveEvents, useLoad, useNow, useThrottledReload } from '../hooks.js';
import { refusalText } from '../refusals.js';
import { linkClick } from '../router.js';

const LIVE_TYPES = [
  'approval.requested',
  'approval.voted',
  'approval.decided',
  'approval.escalated',
  'approval.refused',
];

/** The approvals inbox: pending requests, live, each decided in one or two clicks; then the recent decisions. */
export function ApprovalsPage(props: { readonly me: SignedIn; readonly focus?: string | undefined }) {
  const pending = useLoad(
    () => api<ApprovalList>('GET', `/v1/approvals${query({ status: 'pending', limit: 200 })}`),
    [],
  );
  const recent = useLoad(() => api<ApprovalList>('GET', `/v1/approvals${query({ limit: 100 })}`), []);
  const focused = useLoad(
    () =>
      props.focus
        ? api<Approval>('GET', `/v1/approvals/${encodeURIComponent(props.focus)}`)
        : Promise.resolve(undefined),
    [props.focus],
  );
  const live = useLiveEvents(
    LIVE_TYPES,
    // A decision should show at once; a burst of requests is drawn once.
    useThrottledReload(() => {
      pending.reload();
      recent.reload();
      if (props.focus) focused.reload();
    }, 250),
  );
  const canVote = props.me.principal.role === 'approver' || props.me.principal.role === 'admin';
  const loaded = pending.data?.approvals ?? [];
  // A linked request that is pending but not among the loaded ones is shown first anyway.
  const f = focused.data;
  const list = f && f.status === 'pending' && !loaded.some((a) => a.id === f.id) ? [f, ...loaded] : loaded;
  // The newest 100 requests by creation, less the pending ones: the latest decisions, at most 30.
  const decided = (recent.data?.approvals ?? []).filter((a) => a.status !== 'pending').slice(0, 30);
  return (
    <section>
      <header class="page-head">
        <h1>
          Approvals <span class="count">{list.length} pending</span>
        </h1>
        <span class={`live ${live ? 'on' : 'off'}`}>{live ? '● live' : '○ reconnecting'}</span>
      </header>
      {canVote ? null : (
        <p class="notice">
          You are signed in as an {props.me.principal.role}: you can see requests but not decide them.
        </p>
      )}
      <ErrorNotice error={pending.error} what="Loading pending requests" />
      <ErrorNotice error={focused.error} what={`Request ${props.focus ?? ''}`} />
      {focused.data && focused.data.status !== 'pending' ? (
        <p class="notice" data-testid="focused-decided">
          Request {focused.data.id} ({focused.data.agent} → <code>{focused.data.tool}</code>) is already
          decided: <Outcome approval={focused.data} />
          {focused.data.decidedBy ? ` by ${focused.data.decidedBy}` : ''}
          {focused.data.outcomeReason ? ` (${focused.data.outcomeReason})` : ''}.
        </p>
      ) : null}
      {list.length === 0 && !pending.loading ? <Empty>Nothing is waiting for a decision.</Empty> : null}
      <div class="cards">
        {list.map((a) => (
          <ApprovalCard
            key={a.id}
            approval={a}
            focused={a.id === props.focus}
            canVote={canVote}
            me={props.me.principal.id}
            admin={props.me.principal.role === 'admin'}
            onDone={() => {
              pending.reload();
              recent.reload();
            }}
          />
        ))}
      </div>
      <h2>Recently decided</h2>
      {decided.length === 0 ? (
        <Empty>No decisions yet.</Empty>
      ) : (
        <table class="table" data-testid="decided">
          <thead>
            <tr>
              <th>Decided</th>
              <th>Outcome</th>
              <th>Agent</th>
              <th>Tool</th>
              <th>By</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {decided.map((a) => (
              <tr key={a.id}>
                <td title={a.decidedAt ?? ''}>{a.decidedAt ? relative(a.decidedAt) : '—'}</td>
                <td>
                  <Outcome approval={a} />
                </td>
                <td>{a.agent}</td>
                <td>
                  <code>{a.tool}</code>
                </td>
                <td>{a.decidedBy ?? (a.status === 'expired' ? 'timeout' : '—')}</td>
                <td>{a.outcomeReason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ApprovalCard(props: {
  readonly approval: Approval;
  readonly focused: boolean;
  readonly canVote: boolean;
  readonly me: string;
  readonly admin: boolean;
  readonly onDone: () => void;
}) {
  const a = props.approval;
  const now = useNow();
  const card = useRef<HTMLElement>(null);
  // A notification link opens the inbox at one request: bring it into view once.
  useEffect(() => {
    if (props.focused) card.current?.scrollIntoView({ block: 'center' });
  }, [props.focused]);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<string | undefined>();
  // An admin refused as an approver (not in the rule's group, or the quorum needs others) may override.
  const [canOverride, setCanOverride] = useState(false);
  const mine = a.votes.some((v) => v.principal.toLowerCase() === props.me.toLowerCase());
  const stake =
    a.triggeredBy?.toLowerCase() === props.me.toLowerCase()
      ? `You started this task (${a.triggeredBy}), so separation of duties means someone else must decide it.`
      : undefined;
  async function vote(kind: 'approve' | 'deny') {
    if (a.requireReason && reason.trim() === '') {
      setRefusal('This rule requires a reason with every decision. Write one first.');
      return;
    }
    setBusy(true);
    setRefusal(undefined);
    try {
      await api(
        'POST',
        `/v1/approvals/${encodeURIComponent(a.id)}/${kind}`,
        reason.trim() ? { reason: reason.trim() } : {},
      );
      props.onDone();
    } catch (err) {
      setRefusal(err instanceof ApiError ? refusalText(err) : String(err));
      const code = err instanceof ApiError ? err.code : '';
      setCanOverride(props.admin && (code === 'APPROVAL_NOT_ELIGIBLE' || code === 'APPROVAL_ALREADY_VOTED'));
    } finally {
      setBusy(false);
    }
  }
  async function override(decision: 'approve' | 'deny') {
    if (reason.trim() === '') {
      setRefusal('An override needs a reason: it is recorded with your name in the audit trail.');
      return;
    }
    setBusy(true);
    try {
      await api('POST', `/v1/approvals/${encodeURIComponent(a.id)}/override`, {
        decision,
        reason: reason.trim(),
      });
      props.onDone();
    } catch (err) {
      setRefusal(err instanceof ApiError ? refusalText(err) : String(err));
    } finally {
      setBusy(false);
    }
  }
  const left = timeLeft(a.expiresAt, now);
  return (
    <article class={`card approval ${props.focused ? 'focused' : ''}`} data-approval={a.id} ref={card}>
      <header>
        <h3>
          <span class="agent">{a.agent}</span> wants to call <code>{a.tool}</code>
          {a.target ? (
            <>
              {' '}
              on <code>{a.target}</code>
            </>
          ) : null}
        </h3>
        <span
          class={`time-left ${Date.parse(a.expiresAt) - now < 60_000 ? 'urgent' : ''}`}
          title={`expires ${dateTime(a.expiresAt)}`}
        >
          {left === 'expired' ? 'expired' : `${left} left`}
          {a.onTimeout === 'allow' ? ' (then allowed)' : ' (then blocked)'}
        </span>
      </header>
      <dl class="facts">
        <div>
          <dt>Why review</dt>
          <dd>
            {a.ruleId ? (
              <>
                rule <code>{a.ruleId}</code>:{' '}
              </>
            ) : null}
            {a.reasons.join('; ') || 'the policy asks a human first'}
          </dd>
        </div>
        <div>
          <dt>Started by</dt>
          <dd>{a.triggeredBy ?? 'not stated by the agent'}</dd>
        </div>
        {a.delegationChain.length > 0 ? (
          <div>
            <dt>Delegated by</dt>
            <dd>{a.delegationChain.join(' → ')}</dd>
          </div>
        ) : null}
        <div>
          <dt>Session</dt>
          <dd>
            <a href={`/sessions/${encodeURIComponent(a.session)}`} onClick={linkClick}>
              {a.session}
            </a>{' '}
            · requested {relative(a.createdAt, now)}
          </dd>
        </div>
      </dl>
      <details open>
        <summary>
          Arguments (redacted as stored){a.argsFlags?.length ? ` — ${a.argsFlags.join(', ')}` : ''}
        </summary>
        <pre class="json">{json(a.args)}</pre>
      </details>
      <div class="quorum">
        {a.progress.map((p, i) => (
          <span
            key={i}
            class="quorum-step"
            title={p.missingGroups.length ? `still needs: ${p.missingGroups.join(', ')}` : ''}
          >
            {p.approvals} of {p.quorum} approval{p.quorum === 1 ? '' : 's'}
            {p.missingGroups.length ? ` · needs ${p.missingGroups.join(', ')}` : ''}
            {p.denials > 0 ? ` · ${p.denials} denial${p.denials === 1 ? '' : 's'}` : ''}
          </span>
        ))}
        {a.votes.map((v) => (
          <span key={`${v.principal}-${v.ts}`} class={`vote ${v.vote}`}>
            {v.principal} {v.vote === 'approve' ? 'approved' : 'denied'}
            {v.reason ? `: ${v.reason}` : ''}
          </span>
        ))}
      </div>
      {props.canVote ? (
        <div class="actions">
          {stake ? <p class="notice warn">{stake}</p> : null}
          <input
            type="text"
            name="reason"
            placeholder={a.requireReason ? 'Reason (required)' : 'Reason (optional)'}
            value={reason}
            onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)}
            maxLength={2000}
            aria-label="Reason"
          />
          <button type="button" class="approve" disabled={busy || mine} onClick={() => vote('approve')}>
            Approve
          </button>
          <button type="button" class="deny" disabled={busy || mine} onClick={() => vote('deny')}>
            Deny
          </button>
          {mine ? <span class="muted">You have voted; waiting for the others.</span> : null}
        </div>
      ) : null}
      {refusal ? (
        <p class="notice error refusal" role="alert">
          {refusal}
        </p>
      ) : null}
      {canOverride ? (
        <div class="actions override">
          <span class="muted">
            As an admin you can decide alone instead: an override, with a reason, always audited.
          </span>
          <button type="button" class="approve" disabled={busy} onClick={() => override('approve')}>
            Override: approve
          </button>
          <button type="button" class="deny" disabled={busy} onClick={() => override('deny')}>
            Override: deny
          </button>
        </div>
      ) : null}
    </article>
  );
}

/** How a request ended: a used approval was approved and then ran; a voided one was approved and withdrawn. */
function Outcome(props: { readonly approval: Approval }) {
  const a = props.approval;
  const [pill, note] =
    a.status === 'used'
      ? ['approved', ' · used']
      : a.status === 'voided'
        ? ['approved', ' · voided']
        : [a.status, ''];
  return (
    <>
      <span class={`pill ${pill}`}>{pill}</span>
      {note}
      {a.override ? ' (override)' : ''}
    </>
  );
}
