import { describe, expect, it } from 'vitest';
import { WardenError } from '../errors/warden-error.js';
import {
  dutyForms,
  identityKeys,
  normalName,
  type Stake,
  sameDutyName,
  samePrincipal,
  selfApproval,
  stakeholders,
} from './separation-of-duties.js';

const STAKE: Stake = {
  agent: 'support-bot',
  triggeredBy: 'Tina',
  delegationChain: ['planner-bot', 'router-bot'],
};

describe('principal names', () => {
  it('compare case-insensitively', () => {
    expect(samePrincipal('Alice', 'alice')).toBe(true);
    expect(samePrincipal('ALICE', 'aLiCe')).toBe(true);
  });

  it('ignore surrounding spaces of every kind, but not inner ones', () => {
    for (const padded of [' alice', 'alice ', '\talice\n', '\u00a0alice\u00a0', '\u3000alice\u2003']) {
      expect(samePrincipal(padded, 'alice')).toBe(true);
    }
    expect(samePrincipal('al ice', 'alice')).toBe(false);
  });

  it('ignore Unicode compatibility forms (NFKC): full-width letters, ligatures, composed accents', () => {
    expect(samePrincipal('\uff21\uff4c\uff49\uff43\uff45', 'alice')).toBe(true); // Ａｌｉｃｅ
    expect(samePrincipal('\ufb01nance-bot', 'finance-bot')).toBe(true); // ﬁ ligature
    expect(samePrincipal('Jose\u0301', 'jos\u00e9')).toBe(true); // decomposed vs composed é
    expect(samePrincipal('\u212a\u00e5re', 'kåre')).toBe(true); // KELVIN SIGN K
  });

  it('keep different people different', () => {
    expect(samePrincipal('alice', 'alicia')).toBe(false);
    expect(samePrincipal('alice', 'alice2')).toBe(false);
    expect(samePrincipal('', 'alice')).toBe(false);
  });

  it('normalName gives the comparable form', () => {
    expect(normalName('  \uff21lice ')).toBe('alice');
    expect(normalName('Bob')).toBe('bob');
    expect(normalName('   ')).toBe('');
  });
});

describe('stakeholders', () => {
  it('lists the agent, the human who triggered the task and the whole delegation chain, normalized', () => {
    expect(stakeholders(STAKE).sort()).toEqual(['planner-bot', 'router-bot', 'support-bot', 'tina']);
  });

  it('drops a missing trigger and blank names', () => {
    expect(stakeholders({ agent: 'bot', triggeredBy: null, delegationChain: ['', '  '] })).toEqual(['bot']);
    expect(stakeholders({ agent: 'bot', triggeredBy: '  ', delegationChain: [] })).toEqual(['bot']);
  });

  it('merges several stakes without duplicates, whatever the spelling', () => {
    const session: Stake = { agent: 'SUPPORT-BOT', triggeredBy: ' tina ', delegationChain: ['Ops-Lead'] };
    expect(stakeholders(STAKE, session).sort()).toEqual([
      'ops-lead',
      'planner-bot',
      'router-bot',
      'support-bot',
      'tina',
    ]);
  });

  it('is empty for no stakes', () => {
    expect(stakeholders()).toEqual([]);
  });
});

describe('selfApproval', () => {
  it('lets someone without a stake decide', () => {
    expect(selfApproval({ id: 'alice' }, 'approve', STAKE)).toBeUndefined();
    expect(selfApproval({ id: 'helper-bot' }, 'approve', STAKE)).toBeUndefined();
  });

  it('refuses the requesting agent', () => {
    const err = selfApproval({ id: 'support-bot' }, 'approve', STAKE);
    expect(err).toBeInstanceOf(WardenError);
    expect(err?.code).toBe('APPROVAL_SELF_APPROVAL');
    expect(err?.message).toContain('is the requesting agent');
    expect(err?.message).toContain('cannot approve');
    expect(err?.details).toEqual({ principal: 'support-bot' });
  });

  it('refuses the human who triggered the task', () => {
    const err = selfApproval({ id: 'tina' }, 'resume', STAKE);
    expect(err?.code).toBe('APPROVAL_SELF_APPROVAL');
    expect(err?.message).toContain('triggered the task');
    expect(err?.message).toContain('cannot resume');
  });

  it('refuses every agent in the delegation chain', () => {
    for (const id of ['planner-bot', 'router-bot']) {
      const err = selfApproval({ id }, 'deny', STAKE);
      expect(err?.code).toBe('APPROVAL_SELF_APPROVAL');
      expect(err?.message).toContain('is in the delegation chain');
    }
  });

  it('sees through case, spaces and compatibility forms', () => {
    for (const id of ['SUPPORT-BOT', ' Tina ', '\uff54ina', 'Planner-Bot\u3000', '\u00a0router-bot']) {
      expect(selfApproval({ id }, 'approve', STAKE)?.code).toBe('APPROVAL_SELF_APPROVAL');
    }
  });

  it('counts extra stakes (the session’s agent, trigger and chain) too', () => {
    const session: Stake = { agent: 'session-bot', triggeredBy: 'sam', delegationChain: ['outer-bot'] };
    for (const id of ['session-bot', 'Sam', 'outer-bot']) {
      expect(selfApproval({ id }, 'approve', STAKE)).toBeUndefined();
      expect(selfApproval({ id }, 'approve', STAKE, session)?.code).toBe('APPROVAL_SELF_APPROVAL');
    }
  });

  it('never matches a blank id against a stake with a blank trigger', () => {
    const stake: Stake = { agent: 'bot', triggeredBy: '', delegationChain: [' '] };
    expect(selfApproval({ id: '' }, 'approve', stake)).toBeUndefined();
    expect(selfApproval({ id: '  ' }, 'approve', stake)).toBeUndefined();
  });

  it('refuses nobody when there is no stake', () => {
    expect(selfApproval({ id: 'support-bot' }, 'approve')).toBeUndefined();
  });
});

describe('look-alike names (UTS #39 skeleton, marks removed)', () => {
  const tom: Stake = { agent: 'support-bot', triggeredBy: 'tom', delegationChain: [] };
  const LOOKALIKES: readonly [string, string][] = [
    ['t\u043em', 'Cyrillic о'],
    ['t\u03bfm', 'Greek ο'],
    ['\u0422om', 'Cyrillic capital Т'],
    ['\u0422\u041e\u041c', 'all Cyrillic capitals'],
    ['to\u0301m', 'combining acute'],
    ['tom\u0301', 'trailing combining acute'],
    ['t\u00f2m', 'precomposed ò'],
    ['t\u0336o\u0336m\u0336', 'combining overlay on every letter'],
    ['\uff54\uff4f\uff4d', 'fullwidth'],
    ['t\u200bo\u200dm', 'zero-width space and joiner'],
    ['TOM', 'upper case'],
    ['T\u039fM', 'mixed Latin and Greek capitals'],
    ['t0m', 'digit zero'],
  ];

  it('are one person both ways round, so a look-alike trigger cannot let tom decide', () => {
    for (const [name, what] of LOOKALIKES) {
      expect(sameDutyName(name, 'tom'), what).toBe(true);
      const asTrigger: Stake = { ...tom, triggeredBy: name };
      expect(selfApproval({ id: 'tom' }, 'approve', asTrigger)?.code, what).toBe('APPROVAL_SELF_APPROVAL');
      expect(selfApproval({ id: name }, 'approve', tom)?.code, what).toBe('APPROVAL_SELF_APPROVAL');
    }
  });

  it('catch look-alike agents and delegation chains too', () => {
    const stake: Stake = { agent: '\u0455upport-bot', triggeredBy: null, delegationChain: ['pl\u0430nner'] };
    expect(selfApproval({ id: 'support-bot' }, 'approve', stake)?.message).toContain('requesting agent');
    expect(selfApproval({ id: 'planner' }, 'approve', stake)?.message).toContain('delegation chain');
  });

  it('keep ordinary different names apart', () => {
    for (const [a, b] of [
      ['tom', 'tim'],
      ['alice', 'alicia'],
      ['bob', 'rob'],
      ['anna', 'hanna'],
      ['li', 'lu'],
    ] as const) {
      expect(sameDutyName(a, b), `${a}/${b}`).toBe(false);
      expect(selfApproval({ id: a }, 'approve', { ...tom, triggeredBy: b })).toBeUndefined();
    }
  });

  it('join names UTS #39 calls confusable even in plain ASCII (rn and m): refusing, never admitting', () => {
    expect(sameDutyName('tom', 'torn')).toBe(true);
    expect(selfApproval({ id: 'torn' }, 'approve', tom)?.code).toBe('APPROVAL_SELF_APPROVAL');
  });

  it('dutyForms are stable, and a name of marks and invisibles alone is no one', () => {
    expect(dutyForms('t\u043em')).toEqual(dutyForms('tom'));
    const [tina] = dutyForms('Tina') as [string];
    expect(dutyForms(tina)).toEqual([tina]);
    expect(stakeholders({ agent: 'bot', triggeredBy: '\u0301\u200b', delegationChain: [] })).toEqual(
      dutyForms('bot'),
    );
    expect(sameDutyName('\u0301', '\u200b')).toBe(false);
  });

  it('see through blanks that are not spaces: Braille blank, Hangul fillers, C1 controls, every space', () => {
    for (const [name, what] of [
      ['tom\u2800', 'Braille pattern blank'],
      ['t\u2800om', 'inner Braille pattern blank'],
      ['tom\u0085', 'C1 control NEL'],
      ['to\u0080m', 'C1 control PAD'],
      ['tom\u0007', 'C0 control BEL'],
      ['to\u007fm', 'DEL'],
      ['tom\u3164', 'Hangul filler'],
      ['tom\uffa0', 'halfwidth Hangul filler'],
      ['\u115ftom\u1160', 'Hangul choseong and jungseong fillers'],
      ['t om', 'inner space'],
      ['t\u00a0o\u3000m', 'no-break and ideographic spaces'],
      ['to\u202em', 'right-to-left override'],
      ['tom\u2028', 'line separator'],
      ['tom\ue000', 'private use'],
    ] as const) {
      expect(sameDutyName(name, 'tom'), what).toBe(true);
      expect(selfApproval({ id: 'tom' }, 'approve', { ...tom, triggeredBy: name })?.code, what).toBe(
        'APPROVAL_SELF_APPROVAL',
      );
    }
    expect(sameDutyName('\u2800\u0085', '\u3164')).toBe(false);
  });

  it('still refuses a plain Tina as before', () => {
    expect(sameDutyName('Tina', 'tina')).toBe(true);
    expect(sameDutyName('Ian', 'ian')).toBe(true);
  });
});

describe('separation of duties over verified identities', () => {
  const IDP = 'https://idp.example';
  const task: Stake = {
    agent: 'planner',
    triggeredBy: 'alice',
    delegationChain: ['router'],
    identities: identityKeys({ issuer: IDP, subject: 'u-1' }).concat(identityKeys({ keyId: 'key_router' })),
  };

  it('refuses the initiator by issuer and subject under any name, and a chain agent by its key id', () => {
    const err = selfApproval({ id: 'Someone Else', issuer: IDP, subject: 'u-1' }, 'decide it', task);
    expect(err?.code).toBe('APPROVAL_SELF_APPROVAL');
    expect(err?.details).toMatchObject({ verified: true });
    expect(selfApproval({ id: 'renamed-bot', keyId: 'key_router' }, 'decide it', task)?.code).toBe(
      'APPROVAL_SELF_APPROVAL',
    );
  });

  it('lets another subject of the same issuer, or the same subject of another issuer, decide', () => {
    expect(selfApproval({ id: 'bob', issuer: IDP, subject: 'u-2' }, 'decide it', task)).toBeUndefined();
    expect(
      selfApproval({ id: 'bob', issuer: 'https://other.example', subject: 'u-1' }, 'decide it', task),
    ).toBeUndefined();
  });

  it('keeps the legacy name comparison: a look-alike of the initiator is still refused', () => {
    expect(selfApproval({ id: 'аlice', issuer: IDP, subject: 'u-9' }, 'decide it', task)?.code).toBe(
      'APPROVAL_SELF_APPROVAL',
    );
  });
});
