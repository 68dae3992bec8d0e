/**
 * The hook's state folder is writable by anything running as the user (a `make` or `npm test` the
 * policy allows). A record forged there — filed under one command's key but naming another command's
 * approval and arguments — must not let the first command run on the second's approval: through the
 * real `warden hook claude-code` process against a real `warden serve`.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../../server/test-support/serve-process.js';
import { callKey } from '../src/hook/hook-decision.js';
import type { HookCall } from '../src/hook/hook-reasons.js';
import { HookState } from '../src/hook/hook-state.js';
import { toWardenCall } from '../src/hook/warden-call.js';
import {
  denial,
  eventsOf,
  type HookWorld,
  hook,
  hookEnv,
  preToolUse,
  startHookWorld,
  stopHookWorld,
} from './hook-fixtures.js';

let w: HookWorld;

beforeAll(async () => {
  w = await startHookWorld();
}, 90_000);

afterAll(async () => {
  await stopHookWorld(w);
});

describe('a forged approval record in the hook state folder', () => {
  it("is dropped: the command it is filed under is checked afresh (blocked), not redeemed with another command's approval", async () => {
    const session = randomUUID();
    const ctx = { assistant: 'claude-code', sessionId: session, cwd: '/tmp', projectDir: '/tmp' } as const;
    const keyOf = (command: string) =>
      callKey(toWardenCall({ kind: 'shell', command }, ctx, '/nonexistent') as HookCall);

    // A person approves `deploy api`; its request is remembered for a retry.
    const held = await hook(preToolUse(session, 'Bash', { command: 'deploy api' }), hookEnv(w), [
      '--review-timeout',
      '1',
    ]);
    const id = /request (apr_[\w-]+)/.exec(denial(held.out) ?? '')?.[1] as string;
    expect(id, held.out).toBeDefined();
    const vote = await api(w.server.url, 'POST', `/v1/approvals/${id}/approve`, {
      key: w.approver,
      body: {},
    });
    expect(vote.status, JSON.stringify(vote.body)).toBe(200);

    // Something running as the user files that record under `rm -rf build` (which the policy blocks).
    const state = new HookState(join(w.dir, 'state', 'warden', 'hooks'), 'claude-code', session);
    const approved = state.pending(keyOf('deploy api'));
    expect(approved?.approvalId).toBe(id);
    state.savePending(keyOf('rm -rf build'), approved as NonNullable<typeof approved>);

    const forged = await hook(preToolUse(session, 'Bash', { command: 'rm -rf build' }), hookEnv(w));
    expect(forged.code).toBe(0);
    expect(denial(forged.out)).toContain('deleting files is not allowed here');
    expect(state.pending(keyOf('rm -rf build'))).toBeUndefined();
    // The approval was not spent on the forgery: `deploy api` itself still redeems it.
    const decided = await eventsOf(w, session, 'call.decided');
    expect(decided.map((e) => [e.decision?.effect, e.decision?.approvalId ?? null])).toEqual([
      ['review', id],
      ['block', null],
    ]);
    const retry = await hook(preToolUse(session, 'Bash', { command: 'deploy api' }), hookEnv(w));
    expect(retry).toMatchObject({ code: 0, out: '' });
  });
});
