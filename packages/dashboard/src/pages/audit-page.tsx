import { useEffect, useState } from 'preact/hooks';
import { api, query } from '../api/api-client.js';
import type { CheckpointList, SignedIn, VerifyReport } from '../api/api-types.js';
import { ErrorNotice } from '../components/notices.js';
import { dateTime } from '../format.js';
import { useLoad } from '../hooks.js';
import { usePagedEvents } from '../paged-events.js';
import { navigate, type Route } from '../router.js';
import { EventTable } from './audit-rows.js';

/** The filters, as they appear in the page's URL (so a filtered view can be shared). */
const FILTERS = [
  'from',
  'to',
  'agent',
  'session',
  'tool',
  'decision',
  'type',
  'triggeredBy',
  'approver',
  'actor',
] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

function filtersOf(route: Route): Filters {
  const f: Filters = {};
  for (const k of FILTERS) {
    const v = route.params.get(k);
    if (v) f[k] = v;
  }
  return f;
}

/** datetime-local values are local time; the API wants ISO with an offset. */
function toIso(local: string | undefined): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The audit explorer: filters, newest first, event detail, chain verification and exports. */
export function AuditPage(props: { readonly me: SignedIn; readonly route: Route }) {
  const filters = filtersOf(props.route);
  const events = usePagedEvents({ ...filters, from: toIso(filters.from), to: toIso(filters.to) });
  const auditor = props.me.principal.role === 'admin' || props.me.principal.role === 'auditor';
  return (
    <section>
      <header class="page-head">
        <h1>Audit trail</h1>
        {auditor ? (
          <ChainStatus />
        ) : (
          <span class="muted">Chain verification and exports: admins and auditors.</span>
        )}
      </header>
      <FilterForm filters={filters} />
      {auditor ? <Exports filters={filters} /> : null}
      <ErrorNotice error={events.error} what="Querying the audit trail" />
      <EventTable events={events} testId="audit-results" empty="No events match these filters." />
    </section>
  );
}

function FilterForm(props: { readonly filters: Filters }) {
  const [draft, setDraft] = useState<Filters>(props.filters);
  useEffect(() => setDraft(props.filters), [JSON.stringify(props.filters)]);
  const field = (k: keyof Filters, label: string, time = false) => (
    <label>
      {label}
      <input
        name={k}
        // The attribute types want one literal per element; both of these are plain inputs.
        type={(time ? 'datetime-local' : 'text') as 'text'}
        value={draft[k] ?? ''}
        onInput={(e) => setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value })}
      />
    </label>
  );
  return (
    <form
      class="filters"
      onSubmit={(e) => {
        e.preventDefault();
        navigate(`/audit${query(draft)}`);
      }}
    >
      {field('from', 'From', true)}
      {field('to', 'To', true)}
      {field('agent', 'Agent')}
      {field('session', 'Session')}
      {field('tool', 'Tool')}
      <label>
        Decision
        <select
          name="decision"
          value={draft.decision ?? ''}
          onChange={(e) => setDraft({ ...draft, decision: (e.currentTarget as HTMLSelectElement).value })}
        >
          <option value="">any</option>
          <option value="allow">allow</option>
          <option value="review">review</option>
          <option value="block">block</option>
        </select>
      </label>
      {field('type', 'Event type')}
      {field('triggeredBy', 'Started by (human)')}
      {field('approver', 'Approver (human)')}
      {field('actor', 'Done by')}
      <div class="filter-buttons">
        <button type="submit" class="primary">
          Filter
        </button>
        <button type="button" onClick={() => navigate('/audit')}>
          Clear
        </button>
      </div>
    </form>
  );
}

/** Whether the stored chain verifies, and the latest signed checkpoint. */
function ChainStatus() {
  const verify = useLoad(() => api<VerifyReport>('GET', '/v1/audit/verify'), []);
  const cps = useLoad(() => api<CheckpointList>('GET', '/v1/audit/checkpoints'), []);
  const latest = cps.data?.checkpoints.filter((c) => c.kind !== 'seal').at(-1);
  const v = verify.data;
  return (
    <div class="chain-status" data-testid="chain-status">
      {verify.loading && !v ? <span>Verifying the chain…</span> : null}
      {v ? (
        v.ok ? (
          <span class="pill ok">chain verified · {v.checked.toLocaleString('en-US')} events</span>
        ) : (
          <span class="pill block">
            chain BROKEN at seq {v.problem?.seq}: {v.problem?.message}
          </span>
        )
      ) : null}
      <ErrorNotice error={verify.error} what="Verifying" />
      {latest ? (
        <span class="muted" title={`signature ${latest.signature}`}>
          latest signed checkpoint: seq {latest.seq} · {dateTime(latest.ts)} · key {latest.keyId}
          {v && v.unsignedTail > 0 ? ` · ${v.unsignedTail} newer events not yet signed` : ''}
        </span>
      ) : cps.data ? (
        <span class="muted">no signed checkpoint yet</span>
      ) : null}
      <ErrorNotice error={cps.error} what="Reading checkpoints" />
      <button type="button" onClick={verify.reload}>
        Verify again
      </button>
    </div>
  );
}

/** Download links: the server streams a verified export; the browser saves it with its file name. */
function Exports(props: { readonly filters: Filters }) {
  const range = query({ from: toIso(props.filters.from), to: toIso(props.filters.to) }).replace(/^\?/, '&');
  return (
    <div class="exports">
      Export {props.filters.from || props.filters.to ? 'this time range' : 'the whole trail'}:
      {(['jsonl', 'csv', 'ocsf'] as const).map((f) => (
        <a key={f} class="button" href={`/v1/audit/export?format=${f}${range}`} download>
          {f.toUpperCase()}
        </a>
      ))}
    </div>
  );
}
