import { writeFileSync } from 'node:fs';
import type { Soc2Report } from '@warden/core';
import { gatherSoc2Report } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testEngine } from '../../../engine/test-support/engine-fixtures.js';
import { HOSTILE_REASON, SOC2_PERIOD, seedSoc2 } from '../../../engine/test-support/soc2-seed.js';
import { freshStore, type StoreFixture } from '../../../engine/test-support/store-fixtures.js';
import { renderSoc2Html } from './soc2-html.js';
import { escapeMarkdown, renderSoc2Markdown } from './soc2-markdown.js';
import { decisionChartSvg } from './svg-chart.js';

describe('rendering the SOC 2 report', () => {
  let fx: StoreFixture;
  let report: Soc2Report;
  let html: string;
  let md: string;

  beforeAll(async () => {
    fx = await freshStore('sqlite');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-03-02T07:00:00Z'));
    const engine = await testEngine(fx);
    try {
      await seedSoc2(engine, (ms) => vi.setSystemTime(ms));
    } finally {
      vi.useRealTimers();
      await engine.close();
    }
    report = await gatherSoc2Report(fx.store, { period: SOC2_PERIOD });
    html = renderSoc2Html(report);
    md = renderSoc2Markdown(report);
    // WARDEN_SOC2_SAMPLE=/tmp/soc2-sample writes the seeded report for a person to look at.
    const sample = process.env.WARDEN_SOC2_SAMPLE;
    if (sample) {
      writeFileSync(`${sample}.html`, html);
      writeFileSync(`${sample}.md`, md);
    }
  });
  afterAll(async () => {
    await fx?.dispose();
  });

  it('escapes event data: a <script> in a reason is text in both formats', () => {
    expect(report.access.grantsAdded.items.some((g) => g.reason === HOSTILE_REASON)).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; | pipes');
    expect(md).not.toMatch(/<script/i);
    expect(md).toContain('&lt;script&gt;alert("x")&lt;/script&gt; &amp; \\| pipes');
    expect(escapeMarkdown('[click](javascript:x) *b* `c`')).toBe('\\[click\\](javascript:x) \\*b\\* \\`c\\`');
  });

  it('HTML: self-contained, an inline SVG chart, the figures and the verdicts', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/\s(src|href)=/i);
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(html).toContain('@media print');
    expect(html).toContain(`<td>Decisions: blocked</td><td>${report.decisions.block}</td>`);
    expect(html).toContain(`<td>Approvals decided</td><td>${report.separation.decided.total}</td>`);
    expect(html).toContain('Separation of duties held');
    expect(html).toContain(`Signed checkpoint at seq ${report.integrity.covering?.seq}`);
    expect(html).toContain('resumed by human:ann');
    expect(html).toContain('still paused at the end of the period');
    expect(html).toContain('<td>olga</td><td>approver</td><td>left the team</td>');
    for (const h of [
      'CC6 Logical access',
      'CC7 System operations',
      'Separation of duties',
      'Budget incidents',
      'Audit chain integrity',
    ]) {
      expect(html).toContain(`>${h}</h2>`);
    }
  });

  it('Markdown: tables with the same figures, decisions per hour', () => {
    expect(md).toContain(`| Decisions: allowed | ${report.decisions.allow} |`);
    expect(md).toContain(`| Self-approval attempts refused | ${report.separation.refused.total} |`);
    expect(md).toContain('| Hour (UTC) | Allow | Review | Block | Total |');
    const rows = report.decisions.series.filter((b) => b.allow + b.review + b.block > 0);
    for (const b of rows)
      expect(md).toContain(`| ${b.start.slice(0, 10)} ${b.start.slice(11, 16)} | ${b.allow} |`);
    expect(md).toContain('✓ yes');
    expect(md).toContain('## CC6 Logical access');
  });

  it('a violation is flagged loudly in both formats', () => {
    const bad: Soc2Report = {
      ...report,
      separation: {
        ...report.separation,
        violations: {
          items: [
            {
              seq: 9,
              ts: report.period.from,
              by: 'human:alice',
              type: 'approval.decided',
              approvalId: 'apr_x',
              principal: 'alice',
              requester: 'bot, alice',
            },
          ],
          total: 1,
        },
      },
    };
    expect(renderSoc2Html(bad)).toContain(
      '<div class="callout bad" role="alert">SEPARATION OF DUTIES VIOLATED 1 time',
    );
    expect(renderSoc2Markdown(bad)).toContain('> **✗ SEPARATION OF DUTIES VIOLATED 1 time');
  });

  it('the chart: one stacked bar per bucket with a tooltip, labels escaped', () => {
    const svg = decisionChartSvg(
      [
        { start: '2026-05-01T00:00:00.000Z', allow: 3, review: 1, block: 2 },
        { start: '2026-05-02T00:00:00.000Z', allow: 0, review: 0, block: 0 },
      ],
      'day',
    );
    expect(svg.match(/<rect /g)?.length).toBe(3 + 3); // three bars' segments + three legend swatches
    expect(svg).toContain('<title>2026-05-01: 3 allow, 1 review, 2 block</title>');
    expect(svg).toContain('>2026-05-02</text>');
  });
});
