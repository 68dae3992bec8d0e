import { describe, expect, it } from 'vitest';
import type { PolicyVersionRecord } from '../store/store.js';
import { lastFromPolicyFile, POLICY_FILE_ACTOR } from './policy-file-origin.js';

const version = (v: string, createdBy: string): PolicyVersionRecord => ({
  version: v.repeat(64),
  name: 'p',
  mode: 'enforce',
  sources: [{ path: 'p.yaml', text: 'agents: {}\n' }],
  createdAt: '2026-12-07T00:00:00.000Z',
  createdBy,
});

describe('lastFromPolicyFile', () => {
  it('finds the newest version a policy file put in force, past the ones PUT since', () => {
    const history = [
      version('4', 'admin'),
      version('3', 'policy-watcher'),
      version('1', POLICY_FILE_ACTOR.id),
    ];
    expect(lastFromPolicyFile(history)?.version).toBe('3'.repeat(64));
    expect(lastFromPolicyFile(history.slice(2))?.version).toBe('1'.repeat(64));
  });

  it('counts `warden` (the start-up file before policy-file existed) and nothing a key recorded', () => {
    expect(lastFromPolicyFile([version('2', 'ci-bot'), version('1', 'warden')])?.version).toBe(
      '1'.repeat(64),
    );
    expect(lastFromPolicyFile([version('2', 'ci-bot'), version('1', 'admin')])).toBeUndefined();
  });
});
