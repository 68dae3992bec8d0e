import { describe, expect, it } from 'vitest';
import { AuditEventSchema } from './audit-event.js';
import {
  keyActor,
  RESERVED_PRINCIPAL_NAMES,
  reservedPrincipalName,
  SYSTEM_ACTOR_IDS,
  systemActor,
  systemActorProblem,
  WARDEN_ACTOR,
} from './system-actor.js';

const body = (actor: unknown) => ({
  id: 'e1',
  ts: '2026-12-07T00:00:00.000Z',
  type: 'session.paused',
  actor,
});

describe('actors', () => {
  it('accept the bodies older versions wrote: no keyId, a service recorded as system', () => {
    for (const actor of [
      { kind: 'system', id: 'warden' },
      { kind: 'system', id: 'ci-bot' },
      { kind: 'human', id: 'lee' },
      { kind: 'agent', id: 'support-bot' },
    ]) {
      expect(AuditEventSchema.safeParse(body(actor)).success).toBe(true);
    }
  });

  it('accept a key actor of every kind with its key id', () => {
    for (const kind of ['agent', 'human', 'service'] as const) {
      const actor = keyActor({ kind, id: 'x', keyId: 'key_1' });
      expect(actor).toEqual({ kind, id: 'x', keyId: 'key_1' });
      expect(AuditEventSchema.safeParse(body(actor)).success).toBe(true);
    }
  });

  it('refuse a system actor with a key: system is Warden itself, which acts with none', () => {
    const r = AuditEventSchema.safeParse(body({ kind: 'system', id: 'warden', keyId: 'key_1' }));
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['actor', 'keyId']);
    expect(AuditEventSchema.safeParse(body(WARDEN_ACTOR)).success).toBe(true);
  });
});

describe('system actors', () => {
  it("are Warden's own ids only: any other system id is refused for new events", () => {
    for (const id of SYSTEM_ACTOR_IDS) expect(systemActorProblem(systemActor(id)), id).toBeUndefined();
    expect(systemActorProblem({ kind: 'system', id: 'budget' })).toContain('not "budget"');
    expect(systemActorProblem({ kind: 'human', id: 'budget' })).toBeUndefined();
    expect(WARDEN_ACTOR).toEqual({ kind: 'system', id: 'warden' });
  });
});

describe('reserved principal names', () => {
  it('are every id Warden records its own acts under, and system, from the one list', () => {
    expect(RESERVED_PRINCIPAL_NAMES).toEqual([
      'warden',
      'policy-file',
      'policy-watcher',
      'retention',
      'warden-demo',
      'system',
    ]);
    for (const id of SYSTEM_ACTOR_IDS) expect(reservedPrincipalName(id), id).toBe(id);
    for (const name of [
      'Retention',
      'POLICY-WATCHER',
      'warden-dem\u043e',
      'retenti0n',
      'p\u043elicy-watcher',
    ]) {
      expect(reservedPrincipalName(name), name).toBeDefined();
    }
  });

  it('catch ASCII letter pairs that read as one letter: vv as w, cl as d, rn as m', () => {
    expect(reservedPrincipalName('vvarden')).toBe('warden');
    expect(reservedPrincipalName('VVarden')).toBe('warden');
    expect(reservedPrincipalName('warclen')).toBe('warden');
    expect(reservedPrincipalName('vvarclen-demo')).toBe('warden-demo');
    expect(reservedPrincipalName('systern')).toBe('system');
    // A different letter is not a look-alike: wardem reads as wardem.
    expect(reservedPrincipalName('wardem')).toBeUndefined();
  });

  it('are warden and system, in any case and as look-alikes', () => {
    for (const name of [
      'warden',
      'Warden',
      'WARDEN',
      'w\u0430rden',
      'system',
      'SYSTEM',
      'systern',
      '\u0455ystem',
    ]) {
      expect(reservedPrincipalName(name), name).toBeDefined();
    }
    expect(reservedPrincipalName('systern')).toBe('system');
  });

  it('leave other names alone, including ones that merely contain them', () => {
    for (const name of [
      'admin',
      'ci-bot',
      'warden-ci',
      'systems',
      'wardens',
      'support-bot',
      'tom',
      'clara',
      'vv-bot',
      'retained',
    ]) {
      expect(reservedPrincipalName(name), name).toBeUndefined();
    }
  });
});
