import type { Soc2Report } from '@warden/core';
import { type Block, type Cell, cellText } from './report-blocks.js';
import { bucketLabel, count } from './report-format.js';
import { soc2Document } from './soc2-document.js';

/**
 * The report as Markdown (GitHub-flavoured tables). Event data is escaped so that it can neither
 * break a table nor become markup, links or HTML when the file is rendered.
 */
export function renderSoc2Markdown(r: Soc2Report): string {
  return `${soc2Document(r)
    .map((b) => block(b, r))
    .filter((s) => s !== '')
    .join('\n\n')}\n`;
}

/** Escapes Markdown and inline HTML: `<script>` comes out as `&lt;script&gt;`, `|` cannot end a cell. */
export function escapeMarkdown(text: string): string {
  return (
    text
      .replace(/\s+/g, ' ')
      .replaceAll('&', '&amp;')
      .replaceAll('<', '&lt;')
      .replaceAll('>', '&gt;')
      .replace(/([\\`*[\]|#!~])/g, '\\$1')
      // An underscore inside a word (key_019…, BUDGET_EXCEEDED) cannot start emphasis in GFM: left as is.
      .replace(/(?<![\p{L}\p{N}])_|_(?![\p{L}\p{N}])/gu, '\\_')
  );
}

const MARKS = { ok: '✓ ', warn: '⚠ ', bad: '✗ ' } as const;

function block(b: Block, r: Soc2Report): string {
  const e = escapeMarkdown;
  switch (b.kind) {
    case 'heading':
      return `${'#'.repeat(b.level)} ${e(b.text)}`;
    case 'para':
      return e(b.text);
    case 'callout':
      return `> **${MARKS[b.tone]}${e(b.text)}**`;
    case 'facts':
      return table(
        ['', ''],
        b.rows.map(([k, v]) => [`**${e(k)}**`, e(v)]),
      );
    case 'table': {
      if (b.rows.length === 0) return b.empty ? `_${e(b.empty)}_` : '';
      const rows = b.rows.map((row) => row.map(cell));
      const more = b.more > 0 ? `\n\n_… and ${count(b.more)} more (see the audit trail)_` : '';
      return `${table(b.header.map(e), rows)}${more}`;
    }
    case 'chart':
      return chart(r);
    case 'code':
      return `\`\`\`sh\n${b.lines.map((l) => l.replaceAll('`', "'")).join('\n')}\n\`\`\``;
  }
}

function cell(c: Cell): string {
  const text = escapeMarkdown(cellText(c));
  return typeof c === 'string'
    ? text
    : c.tone === 'bad'
      ? `**${MARKS.bad}${text}**`
      : `${MARKS[c.tone]}${text}`;
}

/** Pre-escaped cells as a GitHub table. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Decisions per bucket as a table; buckets without decisions are left out (the HTML chart shows them). */
function chart(r: Soc2Report): string {
  const rows = r.decisions.series
    .filter((b) => b.allow + b.review + b.block > 0)
    .map((b) => [
      bucketLabel(b.start, r.granularity),
      count(b.allow),
      count(b.review),
      count(b.block),
      count(b.allow + b.review + b.block),
    ]);
  if (rows.length === 0) return '_No decisions in the period._';
  const head = [r.granularity === 'week' ? 'Week' : r.granularity === 'day' ? 'Day (UTC)' : 'Hour (UTC)'];
  const note = `_${r.granularity === 'hour' ? 'Hours' : r.granularity === 'day' ? 'Days' : 'Weeks'} without decisions are left out._`;
  return `${table([...head, 'Allow', 'Review', 'Block', 'Total'], rows)}\n\n${note}`;
}
