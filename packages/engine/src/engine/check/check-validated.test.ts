import { ToolCallSchema } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { testEngine } from '../../../test-support/engine-fixtures.js';
import { freshStore, type StoreFixture } from '../../../test-support/store-fixtures.js';
import { verifyStore } from '../../audit/verify-store.js';
import { parseAuditQuery } from '../../store/audit-query.js';
import type { Engine } from '../engine.js';

describe('engine.checkValidated: a call its caller already validated', () => {
  let fx: StoreFixture;
  let engine: Engine;
  beforeEach(async () => {
    fx = await freshStore('sqlite');
    engine = await testEngine(fx);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await engine?.close();
    await fx?.dispose();
  });

  const decided = async () =>
    (await fx.store.queryAudit(parseAuditQuery({ type: 'call.decided', limit: 100 }))).records.map(
      (r) => r.event,
    );

  it('is decided and recorded as check decides it, without parsing the call again', async () => {
    const body = {
      agent: 'billing-agent',
      tool: 'stripe.refund',
      args: { amount: 50, customerSsn: '123-45-6789' },
      session: 's1',
    };
    const viaCheck = await engine.check(body);
    const parse = vi.spyOn(ToolCallSchema, 'safeParse');
    const viaValidated = await engine.checkValidated(ToolCallSchema.parse(body));
    expect(parse).not.toHaveBeenCalled();
    const strip = (r: object) => ({ ...r, callId: undefined, auditSeq: undefined });
    expect(strip(viaValidated)).toEqual(strip(viaCheck));
    expect(viaValidated).toMatchObject({ effect: 'allow', ruleId: 'refunds-small', session: 's1' });
    const [a, b] = await decided();
    const same = (e: object) => ({ ...e, id: undefined, ts: undefined, callId: undefined });
    expect(same(b as object)).toEqual(same(a as object));
    // The secret field is redacted and the fingerprint is of the real arguments, as on the checked path.
    expect(b?.args).toEqual({ amount: 50, customerSsn: '[REDACTED:field]' });
    expect(b?.argsHmac).toBe(a?.argsHmac);
    expect((await verifyStore(fx.store)).ok).toBe(true);
  });

  it('leaves validation to check for bodies from outside: an invalid body is still CALL_INVALID', async () => {
    const parse = vi.spyOn(ToolCallSchema, 'safeParse');
    const r = await engine.check({ agent: 'a b', tool: 'x' });
    expect(parse).toHaveBeenCalled();
    expect(r).toMatchObject({ effect: 'block', code: 'CALL_INVALID' });
    expect(r.auditSeq).toBeGreaterThan(0);
  });
});
