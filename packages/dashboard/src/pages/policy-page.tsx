import { useState } from 'preact/hooks';
import { api } from '../api/api-client.js';
import type { PolicyValidation, PolicyVersion, PolicyVersionList } from '../api/api-types.js';
import { Empty, ErrorNotice } from '../components/notices.js';
import { dateTime, relative } from '../format.js';
import { useLoad } from '../hooks.js';
import { hunks, lineDiff } from '../line-diff.js';
import { policyText } from '../policy-sources.js';
import { ReplayPanel } from './policy-replay.js';

/** The policy: the version in force, its history with diffs, lint results, and replay of a candidate. */
export function PolicyPage() {
  const current = useLoad(() => api<PolicyVersion>('GET', '/v1/policy'), []);
  const history = useLoad(() => api<PolicyVersionList>('GET', '/v1/policy/versions?limit=50'), []);
  const sources = current.data?.sources;
  const lint = useLoad(
    async () => (sources ? api<PolicyValidation>('POST', '/v1/policy/validate', { sources }) : undefined),
    [current.data?.version],
  );
  const [selected, setSelected] = useState<number>(0);
  const versions = history.data?.versions ?? [];
  const c = current.data;
  return (
    <section>
      <header class="page-head">
        <h1>Policy</h1>
        {c ? (
          <span class="muted" data-testid="policy-version">
            <strong>{c.name}</strong> · version <code>{c.version.slice(0, 12)}</code> · {c.mode} · since{' '}
            {relative(c.createdAt)} by {c.createdBy}
          </span>
        ) : null}
      </header>
      <ErrorNotice error={current.error} what="Loading the policy" />
      <h2>Lint</h2>
      <ErrorNotice error={lint.error} what="Linting" />
      {lint.data ? (
        lint.data.diagnostics.length === 0 ? (
          <p class="notice ok">No problems found.</p>
        ) : (
          <ul class="diagnostics" data-testid="lint">
            {lint.data.diagnostics.map((d, i) => (
              <li key={i} class={d.severity}>
                <span class={`pill ${d.severity === 'error' ? 'block' : 'review'}`}>{d.severity}</span>{' '}
                <code>{d.code}</code> {d.file ? `${d.file}${d.line ? `:${d.line}` : ''} ` : ''}
                {d.message}
              </li>
            ))}
          </ul>
        )
      ) : null}
      <h2>History</h2>
      <ErrorNotice error={history.error} what="Loading the history" />
      {versions.length === 0 && !history.loading ? <Empty>No stored versions yet.</Empty> : null}
      <div class="history">
        <ol class="versions">
          {versions.map((v, i) => (
            <li key={`${v.version}-${v.createdAt}`}>
              <button type="button" class={i === selected ? 'active' : ''} onClick={() => setSelected(i)}>
                <code>{v.version.slice(0, 12)}</code> {dateTime(v.createdAt)} · {v.createdBy}
                {i === 0 ? ' (in force)' : ''}
              </button>
            </li>
          ))}
        </ol>
        {versions[selected] ? (
          <VersionDiff after={versions[selected]} before={versions[selected + 1]} />
        ) : null}
      </div>
      {c ? <ReplayPanel current={c} /> : null}
    </section>
  );
}

function VersionDiff(props: { readonly after: PolicyVersion; readonly before: PolicyVersion | undefined }) {
  if (!props.before) {
    return (
      <div class="diff">
        <p class="muted">The first stored version:</p>
        <pre class="json">{policyText(props.after)}</pre>
      </div>
    );
  }
  const diff = lineDiff(policyText(props.before), policyText(props.after));
  if (!diff) return <p class="notice">These versions are too large to diff here; compare them with git.</p>;
  const shown = hunks(diff);
  return (
    <div class="diff" data-testid="policy-diff">
      <p class="muted">
        Changes from <code>{props.before.version.slice(0, 12)}</code> to{' '}
        <code>{props.after.version.slice(0, 12)}</code> by {props.after.createdBy}:
      </p>
      {shown.length === 0 ? <Empty>The texts are the same (only the order of files changed).</Empty> : null}
      <pre class="diff-lines">
        {shown.map((l, i) =>
          l === null ? (
            <span key={i} class="gap">
              ⋯{'\n'}
            </span>
          ) : (
            <span key={i} class={l.kind === '+' ? 'add' : l.kind === '-' ? 'del' : 'same'}>
              {l.kind} {l.text}
              {'\n'}
            </span>
          ),
        )}
      </pre>
    </div>
  );
}
