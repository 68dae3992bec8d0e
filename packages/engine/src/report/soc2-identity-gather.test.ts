import type { Soc2Report } from '@warden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEngine } from '../../test-support/engine-fixtures.js';
import { type IdentitySeed, SEED_ISSUER, seedIdentities } from '../../test-support/identity-seed.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import { verifyStore } from '../audit/verify-store.js';
import type { Engine } from '../engine/engine.js';
import { gatherSoc2Report } from './soc2-gather.js';

describe.each(DIALECTS)('CC6 identities gathered from a database (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  let seed: IdentitySeed;
  let report: Soc2Report;

  beforeAll(async () => {
    fx = await freshStore(dialect);
    engine = await testEngine(fx);
    seed = await seedIdentities(engine);
    const now = Date.now();
    const period = {
      from: new Date(now - 3 * 3_600_000).toISOString(),
      to: new Date(now + 3_600_000).toISOString(),
    };
    // A small page size: the identities are tallied across pages.
    report = await gatherSoc2Report(fx.store, { period, pageSize: 3 });
  });
  afterAll(async () => {
    await engine?.close();
    await fx?.dispose();
  });

  it('the seeded events with identity are in a chain that verifies', async () => {
    expect((await verifyStore(fx.store)).ok).toBe(true);
    expect(report.events.byType['identity.refused']).toBe(3);
  });

  it('lists identities by how they were verified, with events and decisions', () => {
    const s = report.access.identities;
    const row = (method: string, name: string) =>
      s.identities.items.find((i) => i.method === method && i.name === name);
    expect(row('oidc', 'alice@acme.example')).toMatchObject({
      detail: `${SEED_ISSUER} u-alice`,
      roles: ['initiator'],
    });
    expect(row('oidc', 'lee@acme.example')).toMatchObject({ detail: `${SEED_ISSUER} u-lee`, decisions: 1 });
    expect(row('task_token', 'planner')).toMatchObject({ roles: ['delegate'], decisions: 1 });
    expect(row('api_key', 'lee')).toMatchObject({ detail: 'key_lee', roles: ['actor'] });
    expect(row('claimed', 'alice')).toMatchObject({ roles: ['initiator'] });
    expect(row('claimed', 'planner')).toMatchObject({ roles: ['delegate'] });
    // The agent called with its key on both reviews (and was refused with it three times).
    expect(row('api_key', 'billing-agent')?.decisions).toBe(2);
    expect(s.byMethod.find((m) => m.method === 'claimed')?.identities).toBe(2);
  });

  it('flags the claimed review and its approval, not the verified ones', () => {
    const flagged = report.access.identities.unverifiedDecisions;
    expect(flagged.items.map((d) => [d.type, d.decided, d.approvalId, d.claimed.join(', '), d.from])).toEqual(
      [
        ['call.decided', 'review', seed.claimedApproval, 'initiator alice, delegate planner', 'event'],
        [
          'approval.decided',
          'approved',
          seed.claimedApproval,
          'initiator alice, delegate planner',
          'request',
        ],
      ],
    );
    expect(flagged.total).toBe(2);
  });

  it('an approval decided in the period on a verified request made before it is not flagged', async () => {
    const now = Date.now();
    const period = {
      from: new Date(now - 3_600_000).toISOString(),
      to: new Date(now + 3_600_000).toISOString(),
    };
    const late = await gatherSoc2Report(fx.store, { period });
    // The verified request is outside this period (its identity rows with it), its approval inside.
    expect(late.access.identities.identities.items.some((i) => i.name === 'alice@acme.example')).toBe(false);
    expect(late.separation.decided.items.map((a) => a.approvalId)).toContain(seed.verifiedApproval);
    expect(late.access.identities.unverifiedDecisions.items.map((d) => d.approvalId)).toEqual([
      seed.claimedApproval,
      seed.claimedApproval,
    ]);
  });

  it('counts identity refusals by code and reason, and role changes', () => {
    const s = report.access.identities;
    expect(s.refusedTotal).toBe(3);
    expect(s.refused.rows).toEqual([
      { key: 'TASK_TOKEN_INVALID: expired', count: 2 },
      { key: 'TASK_TOKEN_MISMATCH: the body names another session', count: 1 },
    ]);
    expect(s.rolesChanged).toBe(1);
  });
});
