import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from './audit-event.js';
import { redactEvent } from './event-redaction.js';
import { needsRedaction, redactStored, redactValue } from './redaction.js';

const SECRET = 'sk-live-CANARY0123456789abcdefXYZ';
const HMAC = 'a'.repeat(64);

const base = (extra: Partial<AuditEvent>): AuditEvent => ({
  id: '01890a5d-ac96-774b-bcce-b302099a8057',
  ts: '2026-12-07T15:00:00.000Z',
  type: 'call.decided',
  actor: { kind: 'agent', id: 'bot' },
  ...extra,
});

describe('redactEvent', () => {
  it('redacts every field, at any depth, keys included, and says where', () => {
    const event = base({
      labels: { token: SECRET, team: 'ops' },
      decision: {
        effect: 'allow',
        policyEffect: 'allow',
        mode: 'enforce',
        ruleId: null,
        matchedRuleIds: [],
        reasons: [`granted: ${SECRET}`],
      },
      outcome: { status: 'error', error: 'login failed: password=hunter2' },
      data: { reason: `because ${SECRET}`, nested: [{ [`k ${SECRET}`]: 1 }] },
      argsHmac: HMAC,
      flags: ['truncated'],
      redactions: [{ path: 'args.password', kind: 'field' }],
    });
    const safe = redactEvent(event);
    expect(JSON.stringify(safe)).not.toContain(SECRET);
    expect(JSON.stringify(safe)).not.toContain('hunter2');
    expect(safe.labels).toEqual({ token: '[REDACTED:field]', team: 'ops' });
    expect(safe.outcome?.error).toBe('login failed: password=[REDACTED:password]');
    expect(safe.redactions?.map((r) => r.path)).toEqual([
      'args.password',
      'labels.token',
      'decision.reasons[0]',
      'outcome.error',
      'data.reason',
      'data.nested[0]["k [REDACTED:api_key]"]',
    ]);
    // What must stay exact does.
    expect(safe).toMatchObject({ id: event.id, ts: event.ts, type: event.type, argsHmac: HMAC });
    expect(safe.flags).toEqual(['truncated']);
    // The caller's event is not changed.
    expect(event.labels?.token).toBe(SECRET);
  });

  it('returns the event itself when there is nothing to remove', () => {
    const event = base({ labels: { team: 'ops' }, data: { reason: 'ticket 42' } });
    expect(redactEvent(event)).toBe(event);
  });

  it('scans a structural field that does not have its structural shape', () => {
    const safe = redactEvent(base({ argsHmac: SECRET }));
    expect(safe.argsHmac).toBe('[REDACTED:api_key]');
  });

  it('keeps verified identifiers of their exact shape (a Luhn-valid IdP subject) and scans names and claims', () => {
    const KEY = 'key_01a2526d-5c7b-7000-b73a-fa1a21db9115';
    const identity = {
      agent: { method: 'api_key' as const, keyId: KEY },
      initiator: {
        method: 'oidc' as const,
        issuer: 'https://acme.auth0.example/',
        subject: 'twitter|4532015112830366',
        name: 'card 4532015112830366',
      },
      chain: [{ method: 'claimed' as const, agent: 'helper', subject: '4532015112830366' }],
      taskToken: {
        tokenId: '01a2526d-61d9-7000-80b6-19c0d5b1a3c4',
        taskId: `task_01a2526d-61d9-7000-80b6-19c0d5b1a3c4`,
      },
    };
    const safe = redactEvent(base({ identity, labels: { token: SECRET } }));
    expect(safe.identity?.initiator).toMatchObject({
      issuer: 'https://acme.auth0.example/',
      subject: 'twitter|4532015112830366',
      name: 'card [REDACTED:card_number]',
    });
    expect(safe.identity?.agent).toEqual({ method: 'api_key', keyId: KEY });
    expect(safe.identity?.taskToken).toEqual(identity.taskToken);
    // A claimed identity is whatever the caller wrote: scanned whole.
    expect(safe.identity?.chain?.[0]?.subject).toBe('[REDACTED:card_number]');
    // Not of the shape (an issuer with a query, a subject with a space): scanned.
    const odd = redactEvent(
      base({
        identity: {
          agent: { method: 'api_key', keyId: SECRET },
          initiator: { method: 'oidc', issuer: `https://idp.example/?k=${SECRET}`, subject: `a ${SECRET}` },
        },
      }),
    );
    expect(JSON.stringify(odd)).not.toContain(SECRET);
  });

  it('applies the policy fields on top of the defaults', () => {
    expect(redactEvent(base({ labels: { ssn: '123-45-6789' } }), ['ssn']).labels).toEqual({
      ssn: '[REDACTED:field]',
    });
  });

  it('does not walk arguments redactValue already produced, and walks any other value', () => {
    const args = redactValue({ path: '/tmp/x', password: 'hunter2' }).value;
    const safe = redactEvent(base({ args, labels: { token: SECRET } }));
    expect(safe.args).toBe(args);
    const copy = { ...(args as object), note: SECRET };
    expect(JSON.stringify(redactEvent(base({ args: copy })).args)).not.toContain(SECRET);
  });
});

describe('needsRedaction', () => {
  it('never says false when redactStored would change something (unusual values may say true)', () => {
    const shapes = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.constantFrom(SECRET, 'password=hunter2', { token: 'x' }, 4111111111111111, 'ok \ud800', [
        new Date(0),
      ]),
    );
    fc.assert(
      fc.property(fc.array(shapes, { maxLength: 4 }), fc.dictionary(fc.string(), shapes), (list, dict) => {
        for (const v of [list, dict]) {
          const r = redactStored(v);
          if (r.redactions.length > 0 || r.flags.length > 0) expect(needsRedaction(v)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('says false for plain JSON with nothing to remove', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => {
        const r = redactStored(v);
        expect(needsRedaction(v)).toBe(r.redactions.length > 0 || r.flags.length > 0);
      }),
      { numRuns: 500 },
    );
  });
});

describe('arguments redacted under another field list', () => {
  it('are walked again when the commit redacts with fields the event build did not have', () => {
    // Built under a policy without `customerSsn`; committed after a policy that lists it took over.
    const args = redactValue({ customerSsn: '123-45-6789', amount: 5 }).value;
    expect(needsRedaction({ args }, ['customerSsn'])).toBe(true);
    const out = redactEvent(base({ args }), ['customerSsn']);
    expect(out.args).toEqual({ customerSsn: '[REDACTED:field]', amount: 5 });
    expect(out.redactions).toEqual([{ path: 'args.customerSsn', kind: 'field' }]);
  });

  it('are trusted when the lists match (same names in another order or case)', () => {
    const args = redactValue({ customerSsn: '123-45-6789' }, { fields: ['customer_ssn', 'Iban'] }).value;
    expect(args).toEqual({ customerSsn: '[REDACTED:field]' });
    expect(redactStored({ args }, ['iban', 'CustomerSsn']).value).toEqual({ args });
    expect((redactStored({ args }, ['iban', 'CustomerSsn']).value as { args: unknown }).args).toBe(args);
  });
});

describe('the redactions record is kept unscanned only in its own shape', () => {
  it.each([
    ['a second key other than kind', [{ path: 'args.x', note: SECRET }]],
    ['a kind that is no secret kind', [{ path: 'args.x', kind: SECRET }]],
    ['a path that is not text', [{ path: { text: SECRET }, kind: 'field' }]],
  ])('%s is scanned', (_, redactions) => {
    const out = redactEvent(base({ redactions } as unknown as Partial<AuditEvent>));
    expect(JSON.stringify(out)).not.toContain(SECRET);
  });

  it('Warden-shaped entries stay exactly as written', () => {
    const redactions = [{ path: 'args.token', kind: 'field' as const }];
    const event = base({ redactions });
    expect(redactEvent(event)).toBe(event);
  });
});
