import { useState } from 'preact/hooks';
import { ApiError, api } from '../api/api-client.js';
import type { PolicyVersion, ReplayReport } from '../api/api-types.js';
import { Empty } from '../components/notices.js';
import { dateTime } from '../format.js';
import { policyInput, policyText } from '../policy-sources.js';

type ReplayDecision = ReplayReport['changes'][number]['from'];

const rule = (d: ReplayDecision) => `${d.effect} · ${d.ruleId ?? 'default'}`;

/**
 * Replay: edit a candidate policy and see, before applying it, every recorded call whose decision would
 * change. Pure evaluation on the server: nothing is written.
 */
export function ReplayPanel(props: { readonly current: PolicyVersion }) {
  const [text, setText] = useState(() => policyText(props.current));
  const [since, setSince] = useState('7d');
  const [busy, setBusy] = useState(false);
  const [report, setReport] = useState<ReplayReport>();
  const [problem, setProblem] = useState<{ message: string; lines: string[] }>();
  const multi = props.current.sources.length > 1;
  async function run() {
    setBusy(true);
    setProblem(undefined);
    try {
      setReport(await api<ReplayReport>('POST', '/v1/policy/replay', { policy: policyInput(text), since }));
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(0, 'CLIENT', String(err));
      const diags = (e.details.diagnostics as { message: string; line?: number }[] | undefined) ?? [];
      setProblem({
        message: e.message,
        lines: diags.map((d) => `${d.line ? `line ${d.line}: ` : ''}${d.message}`),
      });
      setReport(undefined);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div class="replay">
      <h2>Replay a change</h2>
      <p class="muted">
        Edit the policy below and replay the recorded calls under it: every call whose decision would change
        is listed, grouped by rule. Nothing is applied and nothing is written.
        {multi
          ? ' The policy in force has several files: each starts at its "# ── file" line; keep those lines.'
          : ''}
      </p>
      <textarea
        name="policy"
        rows={16}
        spellcheck={false}
        value={text}
        onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
      />
      <div class="toolbar">
        <label>
          Calls from the last
          <select value={since} onChange={(e) => setSince((e.currentTarget as HTMLSelectElement).value)}>
            <option value="24h">24 hours</option>
            <option value="7d">7 days</option>
            <option value="30d">30 days</option>
            <option value="90d">90 days</option>
          </select>
        </label>
        <button type="button" class="primary" disabled={busy} onClick={run}>
          {busy ? 'Replaying…' : 'Replay'}
        </button>
      </div>
      {problem ? (
        <div class="notice error" role="alert">
          {problem.message}
          {problem.lines.length ? (
            <ul>
              {problem.lines.map((l) => (
                <li key={l}>{l}</li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
      {report ? <ReplayResult report={report} /> : null}
    </div>
  );
}

function ReplayResult(props: { readonly report: ReplayReport }) {
  const r = props.report;
  const t = r.totals;
  return (
    <div class="replay-result" data-testid="replay-result">
      <p>
        <strong>{t.changed.toLocaleString('en-US')}</strong> of {t.replayed.toLocaleString('en-US')} recorded
        calls would be decided differently ({t.effectChanged} change effect),{' '}
        {t.unchanged.toLocaleString('en-US')} unchanged
        {t.notCompared ? `, ${t.notCompared} not compared (decided by the engine, not the policy)` : ''}.
        Window: {dateTime(r.window.from)} – {dateTime(r.window.to)}
        {r.complete ? '' : ' (stopped at the limit: not the whole window)'}.
      </p>
      {r.transitions.length ? (
        <p class="transitions">
          {r.transitions.map((x) => (
            <span key={`${x.from}-${x.to}`} class="transition">
              <span class={`pill ${x.from}`}>{x.from}</span> → <span class={`pill ${x.to}`}>{x.to}</span>{' '}
              {x.count}
            </span>
          ))}
        </p>
      ) : null}
      {r.changes.length === 0 ? (
        <Empty>No recorded call would be decided differently.</Empty>
      ) : (
        <table class="table">
          <thead>
            <tr>
              <th>Was</th>
              <th>Would be</th>
              <th>Calls</th>
              <th>Examples</th>
            </tr>
          </thead>
          <tbody>
            {r.changes.map((c) => (
              <tr key={`${rule(c.from)}>${rule(c.to)}`}>
                <td>
                  <span class={`pill ${c.from.effect}`}>{c.from.effect}</span>{' '}
                  <code>{c.from.ruleId ?? 'default'}</code>
                </td>
                <td>
                  <span class={`pill ${c.to.effect}`}>{c.to.effect}</span>{' '}
                  <code>{c.to.ruleId ?? 'default'}</code>
                </td>
                <td>
                  {c.count}
                  {c.uncertain ? <span class="muted"> ({c.uncertain} uncertain)</span> : null}
                </td>
                <td class="samples">
                  {c.samples.slice(0, 5).map((s) => (
                    <div key={s.callId}>
                      <code>{s.tool}</code> by {s.agent} · {dateTime(s.ts)}
                      {s.uncertain ? ' · uncertain' : ''}
                    </div>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.notes.length ? (
        <details>
          <summary>How calls were compared</summary>
          <ul>
            {r.notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        </details>
      ) : null}
    </div>
  );
}
