import { useState } from 'preact/hooks';
import type { AuditRecord } from '../api/api-types.js';
import { actorLabel, dateTime, duration, json } from '../format.js';
import type { PagedEvents } from '../paged-events.js';
import { actorProof, CallParties, ProofBadge } from './identity-badges.js';

/** What an event decided or how it ended, in a few words. */
export function eventSummary(r: AuditRecord): string {
  const e = r.event;
  if (e.decision) {
    const code = e.decision.code ? ` ${e.decision.code}` : '';
    return `${e.decision.effect}${e.decision.ruleId ? ` · ${e.decision.ruleId}` : ''}${code}`;
  }
  if (e.outcome)
    return `${e.outcome.status}${e.outcome.durationMs !== undefined ? ` · ${duration(e.outcome.durationMs)}` : ''}`;
  const d = e.data ?? {};
  const said = ['outcome', 'reason', 'budgetId', 'breaker', 'approvalId']
    .map((k) => d[k])
    .filter((v) => typeof v === 'string');
  return said.join(' · ');
}

/** One audit event as a table row; a click opens its whole JSON and chain position below it. */
function EventRow(props: { readonly record: AuditRecord }) {
  const [open, setOpen] = useState(false);
  const r = props.record;
  const e = r.event;
  const effect = e.decision?.effect;
  return (
    <>
      <tr class={`event ${open ? 'open' : ''}`} data-seq={r.seq} onClick={() => setOpen(!open)}>
        <td>{r.seq}</td>
        <td title={e.ts}>{dateTime(e.ts)}</td>
        <td>
          <code>{e.type}</code>
        </td>
        <td title={e.actor.keyId ? `${e.actor.kind} · key ${e.actor.keyId}` : e.actor.kind}>
          {actorLabel(e.actor).id}
          <span class="muted" data-actor-kind={e.actor.kind}>
            {' '}
            {actorLabel(e.actor).kind}
          </span>
        </td>
        <td>{e.tool ? <code>{e.tool}</code> : ''}</td>
        <td>
          {effect ? <span class={`pill ${effect}`}>{effect}</span> : null}{' '}
          {eventSummary(r).replace(/^(allow|review|block)( · )?/, '')}
        </td>
        <td>
          <CallParties event={e} />
        </td>
      </tr>
      {open ? (
        <tr class="detail">
          <td colSpan={7}>
            <div class="chain-pos">
              seq {r.seq} · hash <code>{r.hash.slice(0, 16)}…</code> · prev{' '}
              <code>{r.prev.slice(0, 16)}…</code>
            </div>
            <div class="identities">
              by {e.actor.id} <ProofBadge proof={actorProof(e.actor)} />
              {e.agent && e.identity ? (
                <>
                  {' '}
                  · agent {e.agent} <ProofBadge proof={e.identity.agent} />
                </>
              ) : null}
            </div>
            <pre class="json">{json(e)}</pre>
          </td>
        </tr>
      ) : null}
    </>
  );
}

/** A table of audit events, newest first, with a button for older ones. */
export function EventTable(props: {
  readonly events: PagedEvents;
  readonly testId: string;
  readonly empty: string;
}) {
  const e = props.events;
  if (e.records.length === 0) return e.loading ? null : <p class="empty">{props.empty}</p>;
  return (
    <>
      <table class="table events" data-testid={props.testId}>
        <thead>
          <tr>
            <th>#</th>
            <th>Time</th>
            <th>Event</th>
            <th>Who</th>
            <th>Tool</th>
            <th>Decision / outcome</th>
            <th>For · via</th>
          </tr>
        </thead>
        <tbody>
          {e.records.map((r) => (
            <EventRow key={r.seq} record={r} />
          ))}
        </tbody>
      </table>
      {e.hasMore ? (
        <button type="button" class="more" onClick={e.more}>
          Load older events
        </button>
      ) : null}
    </>
  );
}
