import { type CheckpointBody, signCheckpoint } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import { DIALECTS, decided, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { Engine } from '../engine/engine.js';
import { openEngine } from '../engine/open-engine.js';
import { generateKeyRing } from '../keys/key-ring.js';
import { placeLegalHold, releaseLegalHold } from './retention.js';
import { verifyStore } from './verify-store.js';

describe.each(DIALECTS)('scheduled retention (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine | undefined;
  beforeEach(async () => {
    fx = await freshStore(dialect);
  });
  afterEach(async () => {
    await engine?.close();
    await fx?.dispose();
  });

  it('purges expired events on its own, waits while a legal hold is in place, and the chain verifies', async () => {
    // Five events from 2020, signed at seq 5; then an engine that keeps 400 days.
    const keys = generateKeyRing();
    const old = Array.from({ length: 5 }, (_, i) =>
      decided({ ts: new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString() }),
    );
    const sign = (body: CheckpointBody) => signCheckpoint(body, keys.signingKey);
    const ts = new Date().toISOString();
    await fx.store.commit([{ events: old, checkpoint: { kind: 'on-demand', keyId: keys.keyId, ts, sign } }]);
    const anchor = 5;
    const seed = await testEngine(fx, { keys });
    const hold = await placeLegalHold(seed, { kind: 'human', id: 'counsel' }, 'matter 7');
    await seed.close();

    const errors: string[] = [];
    engine = await openEngine({
      store: fx.store,
      keys,
      policy: testPolicy(),
      retention: { days: 400, everyMs: 20 },
      onError: (e) => errors.push(e.code),
    });
    await new Promise((r) => setTimeout(r, 150));
    expect((await fx.store.oldestEvent())?.seq).toBe(1);
    expect(errors).toEqual([]);

    await releaseLegalHold(engine, { kind: 'human', id: 'counsel' }, hold.id, 'matter closed');
    await expect
      .poll(async () => (await fx.store.oldestEvent())?.seq, { timeout: 5_000 })
      .toBeGreaterThan(anchor);
    expect(await verifyStore(fx.store)).toMatchObject({ ok: true, firstSeq: anchor + 1 });
    expect(errors).toEqual([]);
  });
});
