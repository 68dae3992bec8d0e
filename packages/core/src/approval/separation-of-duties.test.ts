import { describe, expect, it } from 'vitest';
import { WardenError } from '../errors/warden-error.js';
import { normalName, type Stake, samePrincipal, selfApproval, stakeholders } from './separation-of-duties.js';

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
