import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gatherSoc2Report, generateKeyRing, parseAuditQuery } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testEngine } from '../../engine/test-support/engine-fixtures.js';
import { HOSTILE_REASON, SOC2_PERIOD, seedSoc2 } from '../../engine/test-support/soc2-seed.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../engine/test-support/store-fixtures.js';
import { tempDir } from '../test/audit-fixtures.js';
import { run } from '../test/cli-run.js';
import { reportPeriod, reportTargets } from './commands/report-soc2.js';

describe.each(DIALECTS)('warden report soc2 (%s)', (dialect) => {
  let fx: StoreFixture;
  let dir: string;
  const keys = generateKeyRing();

  beforeAll(async () => {
    fx = await freshStore(dialect);
    dir = tempDir();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-03-02T07:00:00Z'));
    const engine = await testEngine(fx, { keys });
    try {
      await seedSoc2(engine, (ms) => vi.setSystemTime(ms));
    } finally {
      vi.useRealTimers();
      await engine.close();
    }
    writeFileSync(join(dir, 'signer.pub.pem'), keys.publicPem);
  });
  afterAll(async () => {
    await fx?.dispose();
  });

  it('writes FILE.html and FILE.md for a date-only period, whose --to day is included', async () => {
    const r = await run(
      ['report', 'soc2', '--db', fx.location, '--from', '2026-03-03', '--to', '2026-03-03', '--out', 'q1'],
      dir,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^wrote q1\.html\nwrote q1\.md\n/);
    const blocked = await fx.store.queryAudit(
      parseAuditQuery({ ...SOC2_PERIOD, type: 'call.decided', decision: 'block', limit: 1000 }),
    );
    expect(r.out).toContain(`block`);
    expect(r.out).toMatch(new RegExp(`, ${blocked.records.length} block\\n`));
    expect(r.out).toContain('separation-of-duties violations: 0');
    expect(r.out).toMatch(
      /chain: intact \(\d+ events verified\); signed checkpoint at seq \d+ covers the period/,
    );
    const html = readFileSync(join(dir, 'q1.html'), 'utf8');
    const md = readFileSync(join(dir, 'q1.md'), 'utf8');
    expect(html).toContain('2026-03-03 00:00:00Z to 2026-03-04 00:00:00Z');
    expect(html).toContain('<svg');
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;');
    expect(md).toContain('&lt;script&gt;');
    expect(md).not.toContain(HOSTILE_REASON);
  });

  it('the report is the same as the gathered model: one format, FILE as given, --keys trusted', async () => {
    const r = await run(
      [
        'report',
        'soc2',
        '--db',
        fx.location,
        '--from',
        SOC2_PERIOD.from,
        '--to',
        SOC2_PERIOD.to,
        '--format',
        'md',
        '--out',
        'evidence.txt',
        '--keys',
        'signer.pub.pem',
      ],
      dir,
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^wrote evidence\.txt\n/);
    expect(existsSync(join(dir, 'evidence.txt.html'))).toBe(false);
    const model = await gatherSoc2Report(fx.store, { period: SOC2_PERIOD });
    const md = readFileSync(join(dir, 'evidence.txt'), 'utf8');
    expect(md).toContain(`| Decisions: blocked | ${model.decisions.block} |`);
    expect(md).toContain(`| Approvals decided | ${model.separation.decided.total} |`);
    expect(md).toContain('the public key(s) given with --keys');
  });

  it('exit 1 when the trusted key did not sign the checkpoints; usage errors name the flag', async () => {
    writeFileSync(join(dir, 'other.pub.pem'), generateKeyRing().publicPem);
    const r = await run(
      [
        'report',
        'soc2',
        '--db',
        fx.location,
        '--from',
        '2026-03-03',
        '--to',
        '2026-03-03',
        '--out',
        'x',
        '--keys',
        'other.pub.pem',
      ],
      dir,
    );
    expect(r.code).toBe(1);
    expect(r.out).toContain('chain: BROKEN');
    expect(readFileSync(join(dir, 'x.html'), 'utf8')).toContain('AUDIT CHAIN BROKEN');
    const bad = await run(
      ['report', 'soc2', '--db', fx.location, '--from', '2026-03-05', '--to', '2026-03-04', '--out', 'y'],
      dir,
    );
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--from (2026-03-05) must be before --to (2026-03-04)');
    const nowhere = await run(
      [
        'report',
        'soc2',
        '--db',
        fx.location,
        '--from',
        '2026-03-03',
        '--to',
        '2026-03-03',
        '--out',
        'no/such/r',
      ],
      dir,
    );
    expect(nowhere.code).toBe(2);
    expect(nowhere.err).toMatch(/cannot write .*no\/such\/r\.html: its folder does not exist/);
    expect(nowhere.err).not.toContain('partial');
  });
});

describe('report period and targets', () => {
  const io = { out: () => {}, err: () => {}, cwd: '/r' };
  it('refuses days that do not exist instead of shifting the period', () => {
    for (const [from, to] of [
      ['2026-02-30', '2026-03-31'],
      ['2026-13-45', '2026-12-31'],
      ['2026-01-01', '2026-04-31'],
      ['2026-02-29T10:00:00Z', '2026-03-01'],
    ] as const) {
      expect(() => reportPeriod(from, to)).toThrow(/is not a time/);
    }
  });
  it('a date --to includes its day; a time --to is excluded', () => {
    expect(reportPeriod('2026-03-01', '2026-03-31')).toEqual({
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-04-01T00:00:00.000Z',
    });
    expect(reportPeriod('2026-03-01T10:00:00+02:00', '2026-03-01T12:00:00Z').from).toBe(
      '2026-03-01T08:00:00.000Z',
    );
  });
  it('both formats: FILE.html and FILE.md, or the sibling of a .html or .md name', () => {
    expect(reportTargets('out/q1', 'both', io)).toEqual({ html: '/r/out/q1.html', md: '/r/out/q1.md' });
    expect(reportTargets('q1.html', 'both', io)).toEqual({ html: '/r/q1.html', md: '/r/q1.md' });
    expect(reportTargets('q1.md', 'both', io)).toEqual({ html: '/r/q1.html', md: '/r/q1.md' });
    expect(reportTargets('q1.html', 'md', io)).toEqual({ md: '/r/q1.html' });
  });
});
