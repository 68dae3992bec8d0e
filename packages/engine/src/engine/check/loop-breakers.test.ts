import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { testEngine, testPolicy } from '../../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../../test-support/store-fixtures.js';
import { generateKeyRing } from '../../keys/key-ring.js';
import type { Engine } from '../engine.js';

const POLICY = `
defaults:
  breakers:
    repeat: { max: 3, within: 10m }
agents:
  looper:
    rules: [{ id: any, effect: allow, tools: ['*'] }]
`;

describe.each(DIALECTS)('loop breakers of a session this instance starts (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  const keys = generateKeyRing();
  beforeEach(async () => {
    fx = await freshStore(dialect);
    engine = await testEngine(fx, { keys, policy: testPolicy(POLICY) });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await engine?.close();
    await fx?.dispose();
  });

  const search = (session: string) =>
    engine.check({ agent: 'looper', tool: 'search', args: { q: 'x' }, session });

  it("does not read the session's history back from the trail: its first call started it here", async () => {
    const read = vi.spyOn(fx.store, 'queryAudit');
    await search('s-new');
    await search('s-new');
    await search('s-new');
    // PostgreSQL still reads what other instances decided since its last look; SQLite reads nothing.
    const decisionsRead = read.mock.calls.filter(([q]) => q.type === 'call.decided');
    if (dialect === 'sqlite') expect(decisionsRead).toEqual([]);
    const fourth = await search('s-new');
    // The first call counts: the fourth identical call is the loop.
    expect(fourth).toMatchObject({ effect: 'block', code: 'RUNAWAY_DETECTED' });
    expect(fourth.reasons[0]).toContain('search called 4 times');
  });

  it('judges a session made up for a call without one on its trail when it is called again', async () => {
    const first = await engine.check({ agent: 'looper', tool: 'search', args: { q: 'x' } });
    await search(first.session);
    await search(first.session);
    const fourth = await search(first.session);
    expect(fourth).toMatchObject({ effect: 'block', code: 'RUNAWAY_DETECTED' });
  });

  it('judges a session another instance started on its trail, as before', async () => {
    await search('s-moved');
    await search('s-moved');
    await search('s-moved');
    const other = await testEngine({ ...fx, store: await fx.reopen() }, { keys, policy: testPolicy(POLICY) });
    try {
      const read = vi.spyOn(other.store, 'queryAudit');
      const fourth = await other.check({
        agent: 'looper',
        tool: 'search',
        args: { q: 'x' },
        session: 's-moved',
      });
      expect(read).toHaveBeenCalled();
      expect(fourth).toMatchObject({ effect: 'block', code: 'RUNAWAY_DETECTED' });
    } finally {
      await other.close();
      await other.store.close();
    }
  });
});
