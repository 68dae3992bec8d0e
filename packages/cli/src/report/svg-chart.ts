import type { EffectCounts, Granularity } from '@warden/core';
import { escapeHtml } from './html-escape.js';
import { bucketLabel, count } from './report-format.js';

/** One bar: a bucket's start and its decisions. */
export type ChartBucket = { readonly start: string } & EffectCounts;

/** Colours that survive greyscale printing by lightness: allow light, review middle, block dark. */
export const EFFECT_COLOURS = { allow: '#5aa469', review: '#e0a526', block: '#b3261e' } as const;

const W = 900;
const H = 280;
const M = { top: 16, right: 16, bottom: 56, left: 56 };

/**
 * Decisions over time as an inline SVG of stacked bars (allow, review, block), with axes, a legend and
 * a tooltip (<title>) per bar. No script, no external assets: the file prints and opens anywhere.
 */
export function decisionChartSvg(series: readonly ChartBucket[], g: Granularity): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const max = niceMax(Math.max(1, ...series.map((b) => b.allow + b.review + b.block)));
  const step = plotW / Math.max(1, series.length);
  const barW = Math.max(1, step * 0.8);
  const y = (v: number) => M.top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  for (const tick of [0, max / 2, max]) {
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${y(tick)}" y2="${y(tick)}" class="grid"/>`,
      `<text x="${M.left - 6}" y="${y(tick) + 4}" text-anchor="end">${count(tick)}</text>`,
    );
  }
  const every = Math.max(1, Math.ceil(series.length / 10));
  series.forEach((b, i) => {
    parts.push(bar(b, M.left + i * step + (step - barW) / 2, barW, y, g));
    if (i % every !== 0) return;
    const x = M.left + i * step + step / 2;
    parts.push(
      `<text x="${fmt(x)}" y="${H - M.bottom + 16}" text-anchor="middle">${escapeHtml(bucketLabel(b.start, g))}</text>`,
    );
  });
  parts.push(legend());
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title" class="chart">`,
    `<title id="chart-title">Decisions per ${g}: allow, review and block</title>`,
    '<style>text{font:11px system-ui,sans-serif;fill:#333}.grid{stroke:#ddd;stroke-width:1}</style>',
    ...parts,
    '</svg>',
  ].join('\n');
}

function bar(b: ChartBucket, x: number, w: number, y: (v: number) => number, g: Granularity): string {
  const tip = `${bucketLabel(b.start, g)}: ${count(b.allow)} allow, ${count(b.review)} review, ${count(b.block)} block`;
  const rects: string[] = [];
  let base = 0;
  for (const effect of ['allow', 'review', 'block'] as const) {
    const v = b[effect];
    if (v === 0) continue;
    const top = y(base + v);
    rects.push(
      `<rect x="${fmt(x)}" y="${fmt(top)}" width="${fmt(w)}" height="${fmt(y(base) - top)}" fill="${EFFECT_COLOURS[effect]}"/>`,
    );
    base += v;
  }
  return `<g><title>${escapeHtml(tip)}</title>${rects.join('')}</g>`;
}

function legend(): string {
  const items = (['allow', 'review', 'block'] as const).map((effect, i) => {
    const x = M.left + i * 90;
    const yy = H - 18;
    return `<rect x="${x}" y="${yy - 9}" width="10" height="10" fill="${EFFECT_COLOURS[effect]}"/><text x="${x + 14}" y="${yy}">${effect}</text>`;
  });
  return items.join('');
}

/** The axis maximum: 1, 2 or 5 times a power of ten, at least `v`. */
function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}
