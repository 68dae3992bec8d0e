import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testEngine } from '../../engine/test-support/engine-fixtures.js';
import { busyHours } from '../../engine/test-support/soc2-busy.js';
import { seedSoc2 } from '../../engine/test-support/soc2-seed.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../engine/test-support/store-fixtures.js';
import { warden } from '../../server/test-support/serve-process.js';
import { tempDir } from './audit-fixtures.js';

/** The report without its "Generated" line (the only figure that differs between two runs). */
const withoutGenerated = (md: string) =>
  md
    .split('\n')
    .filter((l) => !/generated/i.test(l))
    .join('\n');

/**
 * `warden report soc2` (the built CLI, a process of its own) on a database a real engine wrote: the
 * report counted from the rollups is the one `--recount` counts from every event, byte for byte.
 */
describe.each(DIALECTS)('warden report soc2 from rollups, as a process (%s)', (dialect) => {
  let fx: StoreFixture;
  let dir: string;

  beforeAll(async () => {
    fx = await freshStore(dialect);
    dir = tempDir();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-03-02T07:00:00Z'));
    const engine = await testEngine(fx);
    try {
      await seedSoc2(engine, (ms) => vi.setSystemTime(ms));
      await busyHours(engine, Date.parse('2026-03-05T06:40:00Z'), (ms) => vi.setSystemTime(ms));
    } finally {
      vi.useRealTimers();
      await engine.close();
    }
  });
  afterAll(async () => {
    await fx?.dispose();
  });

  it.each([
    ['whole days', '2026-03-01', '2026-03-06'],
    ['partial hours', '2026-03-05T07:13:00Z', '2026-03-05T10:41:30Z'],
  ])('over %s: the same report as --recount', async (_, from, to) => {
    const out = (name: string) => join(dir, `${name}.md`);
    const args = ['report', 'soc2', '--db', fx.location, '--from', from, '--to', to, '--format', 'md'];
    const fast = await warden([...args, '--out', out('fast')]);
    const recount = await warden([...args, '--out', out('recount'), '--recount']);
    expect(fast.err).toBe('');
    expect(recount.err).toBe('');
    expect(fast.code).toBe(recount.code);
    expect(fast.out.replace('fast.md', 'recount.md')).toBe(recount.out);
    const md = readFileSync(out('fast'), 'utf8');
    expect(md).toMatch(/\| Decisions: blocked \| [1-9]\d* \|/);
    expect(withoutGenerated(md)).toBe(withoutGenerated(readFileSync(out('recount'), 'utf8')));
  });

  it('reads the rollups unless --recount: a cell altered by hand shows in the one, not the other', async () => {
    const cell = `name = 'soc2.types' AND bucket = '2026-03-05T08' AND dims = '["call.decided"]' AND metric = 'n'`;
    const args = ['report', 'soc2', '--db', fx.location, '--from', '2026-03-05', '--to', '2026-03-05'];
    const events = (r: { out: string }) => /: ([\d,]+) events/.exec(r.out)?.[1];
    const honest = events(await warden([...args, '--out', join(dir, 'honest')]));
    await fx.plain(`UPDATE rollups SET value = value + 1000 WHERE ${cell}`);
    try {
      const fast = await warden([...args, '--out', join(dir, 'altered')]);
      const recount = await warden([...args, '--out', join(dir, 'recounted'), '--recount']);
      expect(honest).toMatch(/^\d/);
      expect(events(recount)).toBe(honest);
      expect(Number(events(fast)?.replaceAll(',', ''))).toBe(Number(honest?.replaceAll(',', '')) + 1000);
    } finally {
      await fx.plain(`UPDATE rollups SET value = value - 1000 WHERE ${cell}`);
    }
  });
});
