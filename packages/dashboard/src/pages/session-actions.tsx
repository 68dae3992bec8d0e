import { useState } from 'preact/hooks';
import { ApiError, api } from '../api/api-client.js';
import type { BudgetStatus, Session } from '../api/api-types.js';
import { refusalText } from '../refusals.js';

/**
 * Resume (or pause) a session, with the reason the audit trail records. A resume can raise the session
 * budgets that stopped it, for their current window.
 */
export function SessionActions(props: {
  readonly session: Session;
  readonly budgets: readonly BudgetStatus[];
  readonly canAct: boolean;
  readonly onDone: () => void;
}) {
  const s = props.session;
  const [reason, setReason] = useState('');
  const [raise, setRaise] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<string>();
  if (!props.canAct || s.state === 'closed') return null;
  // Every session budget can be raised, not only full ones: a reservation that did not fit pauses a
  // session whose budget is not used up yet.
  const raisable = props.budgets.filter((b) => b.scope === 'session');
  async function act(kind: 'pause' | 'resume') {
    if (reason.trim() === '') {
      setRefusal(`Say why you ${kind} it: the reason goes into the audit trail.`);
      return;
    }
    const raised = Object.entries(raise)
      .filter(([, v]) => v.trim() !== '')
      .map(([budget, v]) => ({ budget, limit: Number(v) }));
    if (raised.some((r) => !(r.limit > 0))) {
      setRefusal('A raised limit must be a positive number.');
      return;
    }
    setBusy(true);
    setRefusal(undefined);
    try {
      await api('POST', `/v1/sessions/${encodeURIComponent(s.id)}/${kind}`, {
        reason: reason.trim(),
        ...(kind === 'resume' && raised.length ? { raise: raised } : {}),
      });
      setReason('');
      setRaise({});
      props.onDone();
    } catch (err) {
      setRefusal(err instanceof ApiError ? refusalText(err) : String(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div class="actions session-actions">
      <input
        type="text"
        name="reason"
        placeholder={s.state === 'paused' ? 'Why resume it? (recorded)' : 'Why pause it? (recorded)'}
        value={reason}
        maxLength={2000}
        aria-label="Reason"
        onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)}
      />
      {s.state === 'paused'
        ? raisable.map((b) => (
            <label key={b.budgetId} class="raise">
              raise <code>{b.budgetId}</code> to
              <input
                type="number"
                min="0"
                step="any"
                placeholder={String(b.limit)}
                value={raise[b.budgetId] ?? ''}
                onInput={(e) =>
                  setRaise({ ...raise, [b.budgetId]: (e.currentTarget as HTMLInputElement).value })
                }
              />
            </label>
          ))
        : null}
      {s.state === 'paused' ? (
        <button type="button" class="approve" disabled={busy} onClick={() => act('resume')}>
          Resume
        </button>
      ) : (
        <button type="button" class="deny" disabled={busy} onClick={() => act('pause')}>
          Pause
        </button>
      )}
      {refusal ? (
        <p class="notice error refusal" role="alert">
          {refusal}
        </p>
      ) : null}
    </div>
  );
}
