/**
 * Reviews through `warden hook claude-code` (the real process) against a real `warden serve`: the hook
 * waits for a second person, showing progress on stderr; approved it allows, denied it denies; past its
 * limit it denies with the approval's URL and keeps the request, and the same call retried after the
 * approval goes through and is completed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import { api, warden } from '../../server/test-support/serve-process.js';
import {
  denial,
  eventsOf,
  type HookWorld,
  hook,
  hookEnv,
  postToolUse,
  preToolUse,
  startHook,
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

/** The approval id a waiting hook names on stderr, once it does. */
function waitingFor(err: () => string): Promise<string> {
  return eventually(
    'the hook saying what it waits for',
    () => /waiting for approval (apr_[\w-]+)/.exec(err())?.[1],
  );
}

describe('reviews through warden hook claude-code', () => {
  it('waits for a second person, with progress on stderr; approved (warden approvals approve), the command is allowed', async () => {
    const session = randomUUID();
    const running = startHook(preToolUse(session, 'Bash', { command: 'deploy web --prod' }), hookEnv(w));
    const id = await waitingFor(running.err);
    expect(running.err()).toContain(`shell.exec \`deploy web --prod\` is waiting for approval ${id}`);
    expect(running.err()).toContain(`${w.server.url}/approvals/${id}`);
    expect(running.err()).toContain(`warden approvals approve ${id} --url ${w.server.url}`);
    const vote = await warden(['approvals', 'approve', id, '--url', w.server.url, '--key', w.approver]);
    expect(vote.code, vote.err).toBe(0);
    const done = await running.exited;
    expect(done).toMatchObject({ code: 0, out: '' });
    const decided = await eventsOf(w, session, 'call.decided');
    expect(decided.map((e) => e.decision?.effect)).toEqual(['review', 'allow']);
    expect(decided[1]?.decision?.approvalId).toBe(id);
  });

  it('denied by the approver, the command is denied with who denied it and why', async () => {
    const session = randomUUID();
    const running = startHook(preToolUse(session, 'Bash', { command: 'deploy db' }), hookEnv(w));
    const id = await waitingFor(running.err);
    const r = await api(w.server.url, 'POST', `/v1/approvals/${id}/deny`, {
      key: w.approver,
      body: { reason: 'not during the freeze' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const done = await running.exited;
    expect(done.code).toBe(0);
    expect(denial(done.out)).toContain(
      `Warden did not approve shell.exec \`deploy db\`: request ${id} was denied by lee: not during the freeze`,
    );
    expect((await eventsOf(w, session, 'call.decided')).map((e) => e.decision?.effect)).toEqual(['review']);
  });

  it('past --review-timeout it denies with the approval URL and keeps the request; the same command retried after approval (described anew) is allowed and completed', async () => {
    const session = randomUUID();
    const first = preToolUse(session, 'Bash', { command: 'deploy api', description: 'Deploy the API' });
    const late = await hook(first, hookEnv(w), ['--review-timeout', '1']);
    expect(late.code).toBe(0);
    const reason = denial(late.out) ?? '';
    const id = /request (apr_[\w-]+)/.exec(reason)?.[1] as string;
    expect(reason).toContain(
      `still pending after 1 s. Ask the user to approve it at ${w.server.url}/approvals/${id}`,
    );
    expect(reason).toContain('then retry exactly the same call');
    const pending = await api<{ status: string }>(w.server.url, 'GET', `/v1/approvals/${id}`, {
      key: w.approver,
    });
    expect(pending.body.status).toBe('pending');

    const vote = await api(w.server.url, 'POST', `/v1/approvals/${id}/approve`, {
      key: w.approver,
      body: {},
    });
    expect(vote.status, JSON.stringify(vote.body)).toBe(200);
    // Claude Code retries with a new tool use id; same session, tool and command, the model's
    // description of it (prose, not what runs) worded anew.
    const retry = preToolUse(session, 'Bash', {
      command: 'deploy api',
      description: 'Deploy the API service',
    });
    const allowed = await hook(retry, hookEnv(w), ['--review-timeout', '1']);
    expect(allowed).toMatchObject({ code: 0, out: '' });
    expect(await hook(postToolUse(retry, { stdout: 'deployed', stderr: '' }), hookEnv(w))).toMatchObject({
      code: 0,
    });

    const decided = await eventsOf(w, session, 'call.decided');
    expect(decided.map((e) => e.decision?.effect)).toEqual(['review', 'allow']);
    expect(decided[1]?.decision?.approvalId).toBe(id);
    expect(await eventsOf(w, session, 'approval.used')).toHaveLength(1);
    const [completed] = await eventsOf(w, session, 'call.completed');
    expect(completed).toMatchObject({
      callId: decided[1]?.callId,
      outcome: { status: 'ok', result: { stdout: 'deployed' } },
    });
  });

  it('a retry while the request is still pending waits on the same request instead of opening another', async () => {
    const session = randomUUID();
    const call = { command: 'deploy worker' };
    const late = await hook(preToolUse(session, 'Bash', call), hookEnv(w), ['--review-timeout', '1']);
    const id = /request (apr_[\w-]+)/.exec(denial(late.out) ?? '')?.[1];
    const again = await hook(preToolUse(session, 'Bash', call), hookEnv(w), ['--review-timeout', '1']);
    expect(denial(again.out)).toContain(`request ${id}`);
    expect(again.err).toContain(`waiting for approval ${id}`);
    expect(await eventsOf(w, session, 'approval.requested')).toHaveLength(1);
  });
});
