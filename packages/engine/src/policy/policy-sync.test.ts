import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { Engine } from '../engine/engine.js';
import { generateKeyRing } from '../keys/key-ring.js';
import { syncPolicy } from './policy-sync.js';

const named = (name: string) => testPolicy(`name: ${name}\n`);
const sources = (name: string) => [{ path: 'policy.yaml', text: `name: ${name}\n` }];

describe.each(DIALECTS)('syncPolicy (%s)', (dialect) => {
  let fx: StoreFixture;
  let a: Engine;
  let b: Engine;
  beforeEach(async () => {
    fx = await freshStore(dialect);
    const keys = generateKeyRing();
    a = await testEngine(fx, { keys });
    const second = await fx.reopen();
    b = await testEngine({ ...fx, store: second }, { keys });
  });
  afterEach(async () => {
    await a?.close();
    await b?.close();
    await b?.store.close();
    await fx?.dispose();
  });

  it('follows every stored change on the other instance, a revert to an earlier version included', async () => {
    const syncA = syncPolicy(a, { intervalMs: 60_000 });
    const syncB = syncPolicy(b, { intervalMs: 60_000 });
    try {
      await a.setPolicy(named('p2'), { kind: 'human', id: 'alice' }, sources('p2'));
      await syncB.poll();
      expect(b.policy.name).toBe('p2');
      await b.setPolicy(named('p3'), { kind: 'human', id: 'bob' }, sources('p3'));
      await syncA.poll();
      expect(a.policy.name).toBe('p3');
      // Rolling back to p2 must reach b, which has been on p2 before.
      await a.setPolicy(named('p2'), { kind: 'human', id: 'alice' }, sources('p2'));
      await syncB.poll();
      expect(b.policy.name).toBe('p2');
    } finally {
      syncA.close();
      syncB.close();
    }
  });

  it('reports a stored policy that does not compile once and keeps the one in force', async () => {
    const errors: string[] = [];
    const syncB = syncPolicy(b, { intervalMs: 60_000, onError: (e) => errors.push(e.code) });
    try {
      const before = b.policy.version;
      await a.commit({
        mutations: [
          {
            kind: 'policy.store',
            policy: {
              version: 'bogus',
              name: 'broken',
              mode: 'enforce',
              sources: [{ path: 'p.yaml', text: 'agents: [' }],
              createdAt: new Date().toISOString(),
              createdBy: 'mallory',
            },
          },
        ],
        events: [],
      });
      await syncB.poll();
      await syncB.poll();
      expect(b.policy.version).toBe(before);
      expect(errors).toEqual(['POLICY_INVALID']);
    } finally {
      syncB.close();
    }
  });
});
