import { describe, expect, it } from 'vitest';
import { actorLabel } from './format.js';

describe('actorLabel', () => {
  it('names the kind of every actor, so Warden, a person and a service never read alike', () => {
    expect(actorLabel({ kind: 'system', id: 'warden' })).toEqual({ id: 'warden', kind: '(system)' });
    expect(actorLabel({ kind: 'human', id: 'tom' })).toEqual({ id: 'tom', kind: '(human)' });
    expect(actorLabel({ kind: 'service', id: 'warden' })).toEqual({ id: 'warden', kind: '(service)' });
    expect(actorLabel({ kind: 'agent', id: 'support-bot' })).toEqual({ id: 'support-bot', kind: '(agent)' });
  });
});
