import type { Soc2Report } from '@warden/core';
import { escapeHtml } from './html-escape.js';
import { type Block, type Cell, cellText, type Tone } from './report-blocks.js';
import { count } from './report-format.js';
import { soc2Document } from './soc2-document.js';
import { decisionChartSvg } from './svg-chart.js';

/**
 * The report as one self-contained HTML file: inline CSS (print-friendly) and an inline SVG chart, no
 * script and no external asset. Every piece of event data is escaped.
 */
export function renderSoc2Html(r: Soc2Report): string {
  const body = soc2Document(r)
    .map((b) => block(b, r))
    .join('\n');
  const title = `Warden SOC 2 evidence report ${r.period.from.slice(0, 10)} to ${r.period.to.slice(0, 10)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1f;margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 12px}h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #1d1d1f;padding-bottom:4px}
h3{font-size:15px;margin:20px 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:12.5px}
th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{white-space:nowrap}td:first-child{white-space:nowrap}
th{background:#f2f2f2}tbody tr:nth-child(even){background:#fafafa}
table.facts{width:auto}table.facts th{width:16em}
.callout{border-left:6px solid;padding:8px 12px;margin:8px 0;font-weight:600}
.ok{border-color:#2e7d32;background:#edf7ee}.warn{border-color:#b26a00;background:#fff6e5}.bad{border-color:#b3261e;background:#fdecea;color:#7f1d1d}
td.ok{color:#1b5e20;font-weight:600;background:none}td.bad{color:#b3261e;font-weight:700;background:#fdecea}td.warn{color:#8a5300;background:none}
.more,.empty{color:#555;font-style:italic;margin:4px 0 10px}
pre{background:#f5f5f5;padding:10px;overflow-x:auto;font-size:12px;white-space:pre-wrap}
svg.chart{width:100%;height:auto;max-width:900px}
@media print{main{padding:0;max-width:none}h2{break-after:avoid}h3{break-after:avoid}tr,.callout,svg{break-inside:avoid}
.ok,.warn,.bad,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
`;

function block(b: Block, r: Soc2Report): string {
  const e = escapeHtml;
  switch (b.kind) {
    case 'heading':
      return `<h${b.level}${b.id ? ` id="${e(b.id)}"` : ''}>${e(b.text)}</h${b.level}>`;
    case 'para':
      return `<p>${e(b.text)}</p>`;
    case 'callout':
      return `<div class="callout ${b.tone}" role="${b.tone === 'bad' ? 'alert' : 'note'}">${e(b.text)}</div>`;
    case 'facts':
      return `<table class="facts"><tbody>${b.rows.map(([k, v]) => `<tr><th scope="row">${e(k)}</th><td>${e(v)}</td></tr>`).join('')}</tbody></table>`;
    case 'table':
      return table(b);
    case 'chart':
      return `<figure>${decisionChartSvg(r.decisions.series, r.granularity)}</figure>`;
    case 'code':
      return `<pre>${e(b.lines.join('\n'))}</pre>`;
  }
}

function table(b: Extract<Block, { kind: 'table' }>): string {
  if (b.rows.length === 0) return b.empty ? `<p class="empty">${escapeHtml(b.empty)}</p>` : '';
  const head = `<thead><tr>${b.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>`;
  const rows = b.rows.map((row) => `<tr>${row.map(cell).join('')}</tr>`).join('\n');
  const more = b.more > 0 ? `<p class="more">… and ${count(b.more)} more (see the audit trail)</p>` : '';
  return `<table>${head}<tbody>\n${rows}\n</tbody></table>${more}`;
}

function cell(c: Cell): string {
  const tone: Tone | undefined = typeof c === 'string' ? undefined : c.tone;
  return `<td${tone ? ` class="${tone}"` : ''}>${escapeHtml(cellText(c))}</td>`;
}
