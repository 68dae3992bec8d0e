import { type ReplayDecision, type ReplayReport, replayWindow } from '@warden/core';
import { replayTrail } from '@warden/engine';
import { type CliIo, EXIT } from '../cli-io.js';
import { progressReporter } from '../cli-progress.js';
import { renderTable } from '../table.js';
import { n, parseCount, withStore } from './audit-store.js';
import { loadPolicyOrReport } from './load-policy.js';

export interface ReplayCliOptions {
  readonly policy: string;
  readonly db: string;
  readonly since?: string;
  readonly until?: string;
  readonly agent?: string;
  readonly limit?: string;
  readonly json?: boolean;
  readonly progress?: boolean;
}

/**
 * `warden policy replay`: decides the calls recorded in the audit trail again under another policy and
 * reports every one whose decision would change, grouped, with counts. Reads only; exit 0 whether or not
 * anything changes.
 */
export async function policyReplay(o: ReplayCliOptions, io: CliIo): Promise<number> {
  const window = replayWindow({ since: o.since, until: o.until });
  const limit = parseCount('--limit', o.limit, '100000');
  const policy = loadPolicyOrReport([o.policy], io);
  if (!policy) return EXIT.failed;
  const progress = progressReporter(io, { force: o.progress, verb: 'replayed' });
  const report = await withStore(o.db, io, (store) =>
    replayTrail(store, policy, {
      ...window,
      agent: o.agent,
      limit,
      ...(progress ? { onProgress: progress.report } : {}),
    }),
  ).finally(() => progress?.done());
  io.out(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${describeReplay(report)}\n`);
  return EXIT.ok;
}

/** The report as people read it: the window, the totals, a table of the changes, then the notes. */
export function describeReplay(r: ReplayReport): string {
  const t = r.totals;
  const of = r.window.agent ? ` of agent ${r.window.agent}` : '';
  const lines = [
    `replayed under "${r.policy.name}" (${r.policy.version.slice(0, 12)}): calls${of} from ${shortTime(r.window.from)} to ${shortTime(r.window.to)}`,
    `${n(t.recorded)} recorded: ${n(t.replayed)} replayed, ${n(t.unchanged)} unchanged, ${n(t.changed)} changed${transitions(r)}; ${n(t.notCompared)} not compared, ${n(t.uncertain)} uncertain`,
    '',
  ];
  if (r.changes.length === 0) lines.push('no decision would change');
  else {
    lines.push(
      renderTable(
        ['was', 'now', 'calls', 'uncertain', 'first call'],
        r.changes.map((g) => [
          decision(g.from),
          decision(g.to),
          n(g.count),
          n(g.uncertain),
          g.samples[0]?.callId ?? '—',
        ]),
        [40, 40, 12, 12, 36],
      ),
    );
  }
  lines.push('', ...r.notes.map((note) => `- ${note}`));
  if (r.changes.length > 0) lines.push(`- --json lists up to ${r.samplesPerGroup} call ids per group.`);
  return lines.join('\n');
}

function decision(d: ReplayDecision): string {
  return `${d.effect} ${d.ruleId ?? '(default)'}`;
}

function transitions(r: ReplayReport): string {
  if (r.transitions.length === 0) return '';
  return ` (${r.transitions.map((x) => `${x.from}→${x.to} ${n(x.count)}`).join(', ')})`;
}

/** `2026-03-10T12:00:00.000Z` → `2026-03-10 12:00:00Z`. */
function shortTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
