import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { isCalendarDate, type ReportPeriod, type Soc2Report, WardenError } from '@warden/core';
import { gatherSoc2Report, readPublicKeys } from '@warden/engine';
import { type CliIo, EXIT } from '../cli-io.js';
import { progressReporter } from '../cli-progress.js';
import { renderSoc2Html } from '../report/soc2-html.js';
import { renderSoc2Markdown } from '../report/soc2-markdown.js';
import { n, parseCount, parseTimeFlag, shownPath, withStore } from './audit-store.js';

export const REPORT_FORMATS = ['html', 'md', 'both'] as const;

export interface Soc2Options {
  readonly db: string;
  readonly keys?: string;
  readonly from: string;
  readonly to: string;
  readonly out: string;
  readonly format: (typeof REPORT_FORMATS)[number];
  readonly top?: string;
  readonly rows?: string;
  readonly progress?: boolean;
  /** Count from the period's events, not the rollups (an auditor's independent recount). */
  readonly recount?: boolean;
}

/**
 * `warden report soc2`: the SOC 2 evidence report of a period, from the audit trail, as HTML and/or
 * Markdown. Exit 0; 1 when the chain is broken or separation of duties was violated (the report is
 * still written, saying so).
 */
export async function reportSoc2(o: Soc2Options, io: CliIo): Promise<number> {
  const period = reportPeriod(o.from, o.to);
  const targets = reportTargets(o.out, o.format, io);
  const publicKeys = o.keys ? readPublicKeys(resolve(io.cwd, o.keys)) : undefined;
  const top = parseCount('--top', o.top, '10');
  const cap = parseCount('--rows', o.rows, '200');
  const progress = progressReporter(io, { force: o.progress, verb: 'read' });
  const report = await withStore(o.db, io, (store) =>
    gatherSoc2Report(store, {
      period,
      ...(progress ? { onProgress: progress.report } : {}),
      ...(publicKeys ? { publicKeys } : {}),
      ...(top ? { top } : {}),
      ...(cap ? { cap } : {}),
      ...(o.recount ? { recount: true } : {}),
    }),
  );
  progress?.done();
  if (targets.html) writeAtomically(targets.html, renderSoc2Html(report));
  if (targets.md) writeAtomically(targets.md, renderSoc2Markdown(report));
  for (const path of [targets.html, targets.md]) if (path) io.out(`wrote ${shownPath(path, io)}\n`);
  io.out(summary(report));
  const failed = !report.integrity.verify.ok || report.separation.violations.total > 0;
  return failed ? EXIT.failed : EXIT.ok;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The period of `--from` and `--to`: ISO times, dates (UTC days) or ages (7d). `--from` is inclusive;
 * `--to` is exclusive when a time and inclusive of the whole day when a date (`--to 2026-06-30` ends
 * at 2026-07-01T00:00:00Z).
 */
export function reportPeriod(fromText: string, toText: string, now = Date.now()): ReportPeriod {
  const from = parseTimeFlag('--from', fromText, now) as string;
  const t = toText.trim();
  const to =
    DATE.test(t) && isCalendarDate(t)
      ? new Date(Date.parse(`${t}T00:00:00Z`) + 86_400_000).toISOString()
      : (parseTimeFlag('--to', t, now) as string);
  if (Date.parse(from) >= Date.parse(to)) {
    throw new WardenError('QUERY_INVALID', `--from (${fromText}) must be before --to (${toText})`);
  }
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}

/**
 * Where the report goes. One format: `--out` as given. Both: `--out` ending in .html or .md is that
 * file and its sibling with the other extension; any other name gets both extensions added.
 */
export function reportTargets(
  out: string,
  format: Soc2Options['format'],
  io: CliIo,
): { html?: string; md?: string } {
  if (!out.trim()) throw new WardenError('USAGE', '--out must name a file, e.g. --out soc2-2026-q2');
  const path = resolve(io.cwd, out);
  if (format === 'html') return { html: path };
  if (format === 'md') return { md: path };
  const ext = extname(path).toLowerCase();
  const base = ext === '.html' || ext === '.htm' || ext === '.md' ? path.slice(0, -ext.length) : path;
  return {
    html: ext === '.html' || ext === '.htm' ? path : `${base}.html`,
    md: ext === '.md' ? path : `${base}.md`,
  };
}

/** Through a temp file renamed at the end, so a failure never leaves half a report. */
function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.partial-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    // Say it about the file asked for, not the temporary one written first.
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'its folder does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a folder'
            : (err as Error).message.replaceAll(tmp, path);
    throw new WardenError('USAGE', `cannot write ${path}: ${why}`);
  }
}

function summary(r: Soc2Report): string {
  const d = r.decisions;
  const v = r.integrity.verify;
  const s = r.separation;
  const events = r.events.total
    ? `${n(r.events.total)} events (seq ${n(r.events.firstSeq ?? 0)}–${n(r.events.lastSeq ?? 0)})`
    : 'no events';
  const chain = v.ok
    ? `intact (${n(v.checked)} events verified)`
    : `BROKEN at seq ${v.problem?.seq} (${v.problem?.code})`;
  const cover = r.integrity.covering
    ? `signed checkpoint at seq ${n(r.integrity.covering.seq)} covers the period`
    : r.events.total
      ? 'no signed checkpoint covers the period yet (run `warden audit checkpoint`)'
      : 'nothing to cover';
  return [
    `period ${r.period.from} – ${r.period.to}: ${events}`,
    `decisions: ${n(d.allow)} allow, ${n(d.review)} review, ${n(d.block)} block`,
    `approvals decided: ${n(s.decided.total)}; separation-of-duties violations: ${n(s.violations.total)}; self-approvals refused: ${n(s.refused.total)}`,
    `identities: ${n(r.access.identities.unverifiedDecisions.total)} decisions relied on unverified claims; identities refused: ${n(r.access.identities.refusedTotal)}`,
    `budgets exceeded: ${n(r.budgets.exceeded.total)}; breakers tripped: ${n(r.operations.breakerTrips.total)}; sessions paused: ${n(r.budgets.pauses.total)}`,
    `chain: ${chain}; ${cover}`,
    '',
  ].join('\n');
}
