import { createHash, randomBytes } from 'node:crypto';
import type { AuditEvent } from '@warden/core';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { Engine } from '../engine/engine.js';
import { pauseSession, resumeSession } from '../engine/session-control.js';
import { parseAuditQuery } from '../store/audit-query.js';
import { deriveTaskSigningKey, TASK_TOKEN_AUDIENCE, TASK_TOKEN_ISSUER } from './task-signing-key.js';
import { signTaskToken, type TaskClaims, verifyTaskToken } from './task-token.js';

const POLICY = `
name: task tests
agents:
  planner:
    rules:
      - { id: planner-echo, effect: allow, tools: [echo] }
      - { id: planner-pay, effect: review, tools: [pay] }
  worker:
    rules:
      - { id: worker-echo, effect: allow, tools: [echo] }
  strict-bot:
    identity: { requireTaskToken: true }
    rules:
      - { id: strict-echo, effect: allow, tools: [echo] }
`;

const ALICE = { method: 'oidc' as const, issuer: 'https://idp.example', subject: 'u-1', name: 'alice' };
const BACKEND = { kind: 'service' as const, id: 'backend', keyId: 'key_backend' };

describe.each(DIALECTS)('task tokens (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  beforeEach(async () => {
    fx = await freshStore(dialect);
    engine = await testEngine(fx, { policy: testPolicy(POLICY) });
  });
  afterEach(async () => {
    await engine?.close();
    await fx?.dispose();
  });

  const events = async (input: Record<string, unknown> = {}): Promise<AuditEvent[]> =>
    (await fx.store.queryAudit(parseAuditQuery({ limit: 1000, ...input }))).records.map((r) => r.event);

  it('starts a task: a signed token binding session, agent, initiator, an empty chain; the call takes them from it', async () => {
    const task = await engine.tasks.start({ agent: 'planner', initiator: ALICE }, BACKEND);
    const claims = decodeJwt(task.token);
    expect(decodeProtectedHeader(task.token)).toMatchObject({ alg: 'EdDSA', kid: engine.tasks.keyId });
    expect(claims).toMatchObject({
      iss: TASK_TOKEN_ISSUER,
      aud: TASK_TOKEN_AUDIENCE,
      sub: 'u-1',
      jti: task.tokenId,
      task_id: task.taskId,
      session: task.session,
      agent: 'planner',
      initiator: { method: 'oidc', issuer: ALICE.issuer, subject: 'u-1', name: 'alice' },
      act: { sub: 'planner' },
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);
    expect(await fx.store.getSession(task.session)).toMatchObject({ agent: 'planner', triggeredBy: 'alice' });

    const r = await engine.check(
      { agent: 'planner', tool: 'echo' },
      { taskToken: task.token, keyId: 'key_p' },
    );
    expect(r).toMatchObject({ effect: 'allow', session: task.session });
    const [decided] = await events({ type: 'call.decided' });
    expect(decided).toMatchObject({
      triggeredBy: 'alice',
      identity: {
        agent: { method: 'api_key', keyId: 'key_p' },
        initiator: { method: 'oidc', issuer: ALICE.issuer, subject: 'u-1', name: 'alice' },
        chain: [],
        taskToken: { tokenId: task.tokenId, taskId: task.taskId },
      },
    });
    const [started] = await events({ type: 'task.started' });
    expect(started).toMatchObject({ actor: BACKEND, session: task.session, data: { tokenId: task.tokenId } });
    // An invalid call believes nothing of its body either.
    await engine.check({ agent: 'worker', tool: '', triggeredBy: 'bob' }, { keyId: 'key_w' });
    expect((await events({ type: 'call.decided', decision: 'block' }))[0]?.identity).toEqual({
      agent: { method: 'api_key', keyId: 'key_w' },
    });
    // A plain call records how its identities were (not) verified.
    await engine.check({ agent: 'worker', tool: 'echo', triggeredBy: 'bob' }, { keyId: 'key_w' });
    expect((await events({ type: 'call.decided', agent: 'worker', decision: 'allow' }))[0]?.identity).toEqual(
      {
        agent: { method: 'api_key', keyId: 'key_w' },
        initiator: { method: 'claimed', name: 'bob' },
      },
    );
  });

  it("exchanges the parent's token for a child's whose act claims nest the chain; the child joins the session", async () => {
    const task = await engine.tasks.start({ agent: 'planner', initiator: ALICE }, BACKEND);
    const child = await engine.tasks.exchange(
      { subjectToken: task.token, actor: 'worker' },
      { agent: 'planner', keyId: 'key_p' },
      { kind: 'agent', id: 'planner', keyId: 'key_p' },
    );
    expect(decodeJwt(child.token)).toMatchObject({
      act: { sub: 'worker', act: { sub: 'planner', key_id: 'key_p' } },
      parent_jti: task.tokenId,
      session: task.session,
    });
    expect(child.delegationChain).toEqual(['planner']);
    const r = await engine.check({ agent: 'worker', tool: 'echo' }, { taskToken: child.token });
    expect(r).toMatchObject({ effect: 'allow', session: task.session });
    const decided = (await events({ type: 'call.decided', agent: 'worker' }))[0];
    expect(decided?.delegationChain).toEqual(['planner']);
    expect(decided?.identity?.chain).toEqual([
      { agent: 'planner', method: 'task_token', keyId: 'key_p', tokenId: child.tokenId, taskId: task.taskId },
    ]);
    expect((await events({ type: 'task.delegated' }))[0]).toMatchObject({
      agent: 'worker',
      delegationChain: ['planner'],
      data: { parentTokenId: task.tokenId, tokenId: child.tokenId },
    });
    // Only the holder exchanges, and a chain never loops back.
    await expect(
      engine.tasks.exchange({ subjectToken: task.token, actor: 'x-bot' }, { agent: 'worker' }, BACKEND),
    ).rejects.toMatchObject({ code: 'TASK_TOKEN_INVALID', details: { reason: 'agent' } });
    await expect(
      engine.tasks.exchange({ subjectToken: child.token, actor: 'planner' }, { agent: 'worker' }, BACKEND),
    ).rejects.toMatchObject({ code: 'TASK_TOKEN_INVALID', details: { reason: 'chain' } });
    expect((await events({ type: 'identity.refused' })).map((e) => e.data?.reason)).toEqual([
      'agent',
      'chain',
    ]);
  });

  it('refuses forged, tampered, expired, foreign, replayed and none-signed tokens, and records each', async () => {
    const task = await engine.tasks.start({ agent: 'planner', initiator: ALICE }, BACKEND);
    const key = deriveTaskSigningKey(engine.keys.hmacKey);
    const other = deriveTaskSigningKey(randomBytes(32));
    const base: TaskClaims = await verifyTaskToken(key, task.token);
    const [h, p, s] = task.token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, session: 'elsewhere' })).toString('base64url')}.${s}`;
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', kid: key.kid })).toString('base64url')}.${p}.`;
    const foreign = await new SignJWT({ ...payload })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid })
      .setIssuer('https://evil.example')
      .sign(key.privateKey);
    const cases: [string, string, string][] = [
      ['other key', await signTaskToken(other, base), 'key'],
      ['other key, our kid', await signTaskToken({ ...other, kid: key.kid }, base), 'signature'],
      ['tampered', tampered, 'signature'],
      ['none', unsigned, 'algorithm'],
      ['foreign issuer', foreign, 'issuer'],
      [
        'expired',
        await signTaskToken(key, {
          ...base,
          issuedAt: new Date(Date.now() - 7_200_000),
          expiresAt: new Date(Date.now() - 3_600_000),
        }),
        'expired',
      ],
      [
        'not yet valid',
        await signTaskToken(key, {
          ...base,
          issuedAt: new Date(Date.now() + 600_000),
          expiresAt: new Date(Date.now() + 4_000_000),
        }),
        'not_yet_valid',
      ],
    ];
    for (const [what, token, reason] of cases) {
      const r = await engine.check({ agent: 'planner', tool: 'echo' }, { taskToken: token });
      expect(r, what).toMatchObject({ effect: 'block', code: 'TASK_TOKEN_INVALID' });
      await expect(engine.tasks.inspect(token, 'planner'), what).rejects.toMatchObject({
        details: { reason },
      });
    }
    const replay = await engine.check({ agent: 'worker', tool: 'echo' }, { taskToken: task.token });
    expect(replay).toMatchObject({ effect: 'block', code: 'TASK_TOKEN_INVALID' });
    const refusals = await events({ type: 'identity.refused' });
    expect(refusals.map((e) => e.data?.reason)).toEqual([...cases.map((c) => c[2]), 'agent']);
    // A jti read from a token whose signature did not verify is only claimed, never a tokenId.
    expect(refusals.map((e) => (e.data?.tokenId ? 'verified' : e.data?.claimedTokenId))).toEqual([
      task.tokenId,
      task.tokenId,
      task.tokenId,
      task.tokenId,
      'verified',
      'verified',
      'verified',
      'verified',
    ]);
    expect(refusals.filter((e) => e.data?.tokenId).every((e) => e.data?.tokenId === task.tokenId)).toBe(true);
    const blocked = await events({ type: 'call.decided', decision: 'block' });
    expect(blocked.map((e) => e.decision?.code)).toEqual(Array(cases.length + 1).fill('TASK_TOKEN_INVALID'));
    // Nothing of a presented token is stored, only its jti.
    const all = JSON.stringify(await events());
    for (const [, token] of cases) expect(all).not.toContain(token.split('.')[2] || token.split('.')[1]);
  });

  it('keeps attacker text short and plain in refusals, and a bad token out of sessions the caller does not own', async () => {
    const task = await engine.tasks.start({ agent: 'planner', initiator: ALICE }, BACKEND);
    const [, p] = task.token.split('.') as [string, string, string];
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const junk = `evil\n[audit] approved by admin\u202e${'x'.repeat(5_000)}`;
    const cases = [
      `${b64({ alg: 'EdDSA', kid: junk })}.${b64({ ...payload, jti: 'forged-jti' })}.c2ln`,
      `${b64({ alg: junk, kid: engine.tasks.keyId })}.${p}.c2ln`,
    ];
    for (const token of cases) {
      const r = await engine.check({ agent: 'planner', tool: 'echo' }, { taskToken: token });
      expect(r).toMatchObject({ effect: 'block', code: 'TASK_TOKEN_INVALID' });
      const reason = r.reasons[0] as string;
      expect(reason.length).toBeLessThan(200);
      expect(reason).not.toMatch(/[\n\u202e]/);
    }
    const refused = await events({ type: 'identity.refused' });
    expect(refused.map((e) => [e.data?.tokenId, e.data?.claimedTokenId])).toEqual([
      [undefined, 'forged-jti'],
      [undefined, task.tokenId],
    ]);
    // A bad token aimed at another agent's session is recorded outside it, naming the session it claimed.
    await engine.check({ agent: 'worker', tool: 'echo', session: 'workers-own' });
    const r = await engine.check(
      { agent: 'planner', tool: 'echo', session: 'workers-own' },
      { taskToken: cases[0] as string },
    );
    expect(r).toMatchObject({ effect: 'block', code: 'TASK_TOKEN_INVALID' });
    expect(r.session).not.toBe('workers-own');
    const inWorkers = await events({ session: 'workers-own' });
    expect(inWorkers.map((e) => e.type)).toEqual(['call.decided']);
    expect((await events({ type: 'identity.refused' })).at(-1)).toMatchObject({
      session: r.session,
      data: { claimedSession: 'workers-own', claimedTokenId: 'forged-jti' },
    });
    // Its own session (or a new one) keeps the refusal where it was aimed.
    const own = await engine.check(
      { agent: 'planner', tool: 'echo', session: 'planners-own' },
      { taskToken: cases[0] as string },
    );
    expect(own.session).toBe('planners-own');
  });

  it('blocks a body that disagrees with its token, and a session joined without a token for it', async () => {
    const task = await engine.tasks.start({ agent: 'planner', initiator: ALICE }, BACKEND);
    for (const body of [{ session: 'other' }, { triggeredBy: 'mallory' }, { delegationChain: ['boss'] }]) {
      const r = await engine.check({ agent: 'planner', tool: 'echo', ...body }, { taskToken: task.token });
      expect(r, JSON.stringify(body)).toMatchObject({ effect: 'block', code: 'TASK_TOKEN_MISMATCH' });
    }
    // The token's own values are fine.
    expect(
      await engine.check(
        { agent: 'planner', tool: 'echo', session: task.session, triggeredBy: 'alice' },
        { taskToken: task.token },
      ),
    ).toMatchObject({ effect: 'allow' });
    expect((await events({ type: 'identity.refused' })).map((e) => e.data?.reason)).toEqual([
      'mismatch',
      'mismatch',
      'mismatch',
    ]);

    // Claiming the owner as a parent no longer lets an agent into its session.
    await engine.check({ agent: 'planner', tool: 'echo', session: 'owned' });
    const intruder = await engine.check({
      agent: 'worker',
      tool: 'echo',
      session: 'owned',
      delegationChain: ['planner'],
    });
    expect(intruder).toMatchObject({ effect: 'block', code: 'SESSION_FOREIGN' });
    // Nor into a task's session; not even its own agent without the token.
    const joined = await engine.check({
      agent: 'worker',
      tool: 'echo',
      session: task.session,
      delegationChain: ['planner'],
    });
    expect(joined).toMatchObject({ effect: 'block', code: 'SESSION_FOREIGN' });
    const own = await engine.check({ agent: 'planner', tool: 'echo', session: task.session });
    expect(own).toMatchObject({ effect: 'block', code: 'IDENTITY_REQUIRED' });
    expect(own.reasons[0]).toContain(task.taskId);
  });

  it('requires a token where the policy says so (identity.requireTaskToken)', async () => {
    const claim = await engine.check({ agent: 'strict-bot', tool: 'echo', triggeredBy: 'alice' });
    expect(claim).toMatchObject({ effect: 'block', code: 'IDENTITY_REQUIRED' });
    expect(await engine.check({ agent: 'strict-bot', tool: 'echo' })).toMatchObject({ effect: 'allow' });
    expect(await engine.check({ agent: 'planner', tool: 'echo', triggeredBy: 'alice' })).toMatchObject({
      effect: 'allow',
    });
    const task = await engine.tasks.start({ agent: 'strict-bot', initiator: ALICE }, BACKEND);
    expect(
      await engine.check({ agent: 'strict-bot', tool: 'echo' }, { taskToken: task.token }),
    ).toMatchObject({ effect: 'allow' });
  });

  it("refuses the task's initiator at approval and resume by issuer and subject, under any name", async () => {
    const task = await engine.tasks.start({ agent: 'planner', initiator: ALICE }, BACKEND);
    const held = await engine.check({ agent: 'planner', tool: 'pay' }, { taskToken: task.token });
    expect(held.effect).toBe('review');
    const id = held.approval?.id as string;
    // Alice signed in through the IdP again, under another display name: still the initiator.
    const aliceAgain = {
      kind: 'human' as const,
      id: 'a.smith@corp.example',
      role: 'approver',
      ...pick(ALICE),
    };
    await expect(engine.approvals.vote(id, aliceAgain, 'approve')).rejects.toMatchObject({
      code: 'APPROVAL_SELF_APPROVAL',
      details: { verified: true },
    });
    await pauseSession(engine, task.session, { kind: 'human', id: 'ops' }, 'check');
    await expect(
      resumeSession(engine, task.session, { kind: 'human', id: 'someone-else', ...pick(ALICE) }, 'ok'),
    ).rejects.toMatchObject({ code: 'APPROVAL_SELF_APPROVAL' });
    // Another person of the same IdP (another subject) may decide.
    const bob = { kind: 'human' as const, id: 'bob', role: 'approver', issuer: ALICE.issuer, subject: 'u-2' };
    expect((await engine.approvals.vote(id, bob, 'approve')).status).toBe('approved');
  });

  it('keeps an IdP subject that looks like a card number in the trail, so the initiator is still refused', async () => {
    // An Auth0-style subject whose digits pass the Luhn check: redaction must not erase it from the stake.
    const carded = { ...ALICE, subject: 'twitter|4532015112830366' };
    const task = await engine.tasks.start({ agent: 'planner', initiator: carded }, BACKEND);
    const [started] = await events({ type: 'task.started', session: task.session });
    expect(started?.identity?.initiator?.subject).toBe('twitter|4532015112830366');
    const held = await engine.check({ agent: 'planner', tool: 'pay' }, { taskToken: task.token });
    const voter = { kind: 'human' as const, id: 'someone-else', role: 'approver', ...pick(carded) };
    await expect(engine.approvals.vote(held.approval?.id as string, voter, 'approve')).rejects.toMatchObject({
      code: 'APPROVAL_SELF_APPROVAL',
      details: { verified: true },
    });
  });

  it('knows a person a service key vouches for by issuer and subject: unknown, known by subject, or by email', async () => {
    const ISS = 'https://idp.example';
    const vouched = (subject: string, name: string) => ({
      method: 'api_key' as const,
      subject,
      name,
      keyId: 'key_portal',
    });
    const held = async (initiator: ReturnType<typeof vouched>) => {
      const task = await engine.tasks.start({ agent: 'planner', initiator, idpIssuer: ISS }, BACKEND);
      const r = await engine.check({ agent: 'planner', tool: 'pay' }, { taskToken: task.token });
      expect(r.effect).toBe('review');
      return { task, id: r.approval?.id as string };
    };
    // Unknown to Warden yet: the vouched subject is kept under the configured issuer.
    const a = await held(vouched('u-42', 'Maria Lopez'));
    expect(a.task.initiator).toMatchObject({
      method: 'api_key',
      issuer: ISS,
      subject: 'u-42',
      keyId: 'key_portal',
    });
    const [started] = await events({ type: 'task.started' });
    expect(started?.identity?.initiator).toMatchObject({ issuer: ISS, subject: 'u-42', keyId: 'key_portal' });
    const maria = {
      kind: 'human' as const,
      id: 'maria@acme.example',
      role: 'approver',
      issuer: ISS,
      subject: 'u-42',
    };
    await expect(engine.approvals.vote(a.id, maria, 'approve')).rejects.toMatchObject({
      code: 'APPROVAL_SELF_APPROVAL',
      details: { verified: true },
    });
    // A human API key named as the initiator is refused by name (skeleton), whatever its case.
    const byKey = { kind: 'human' as const, id: 'MARIA LOPEZ', role: 'approver', keyId: 'key_h' };
    await expect(engine.approvals.vote(a.id, byKey, 'approve')).rejects.toMatchObject({
      code: 'APPROVAL_SELF_APPROVAL',
    });
    // Known: she signed in through the IdP (subject u-77); the portal names her by email under its own id.
    const ts = new Date().toISOString();
    const person = {
      issuer: ISS,
      subject: 'u-77',
      name: 'maria@acme.example',
      email: 'maria@acme.example',
      displayName: 'Maria Lopez',
      role: 'approver' as const,
      groups: [],
      approverGroups: [],
      firstSignedInAt: ts,
      lastSignedInAt: ts,
    };
    await fx.store.commit([{ mutations: [{ kind: 'person.upsert', person }], events: [] }]);
    const b = await held(vouched('portal-7', 'maria@acme.example'));
    expect(b.task.initiator).toMatchObject({ issuer: ISS, subject: 'u-77' });
    const renamed = { kind: 'human' as const, id: 'm.lopez', role: 'approver', issuer: ISS, subject: 'u-77' };
    await expect(engine.approvals.vote(b.id, renamed, 'approve')).rejects.toMatchObject({
      code: 'APPROVAL_SELF_APPROVAL',
      details: { verified: true },
    });
    // Someone else of the IdP may decide.
    const bob = { kind: 'human' as const, id: 'bob', role: 'approver', issuer: ISS, subject: 'u-2' };
    expect((await engine.approvals.vote(b.id, bob, 'approve')).status).toBe('approved');
  });

  it('starts one task per ID token, on this instance or another one on the database', async () => {
    const id = `sha256:${createHash('sha256').update('jti\nhttps://idp.example\nj-1').digest('hex')}`;
    const idToken = { id, issuedAt: new Date(Date.now() - 60_000) };
    const first = await engine.tasks.start({ agent: 'planner', initiator: ALICE, idToken }, BACKEND);
    expect((await events({ type: 'task.started' }))[0]?.data).toMatchObject({ idTokenId: id });
    await expect(
      engine.tasks.start({ agent: 'planner', initiator: ALICE, idToken }, BACKEND),
    ).rejects.toMatchObject({ code: 'ID_TOKEN_INVALID', details: { reason: 'replayed' } });
    // Another instance (its own caches) reads it from the trail.
    const other = await testEngine(fx, { policy: testPolicy(POLICY) });
    try {
      await expect(
        other.tasks.start({ agent: 'worker', initiator: ALICE, idToken }, BACKEND),
      ).rejects.toMatchObject({ message: expect.stringContaining(first.taskId) });
      // Two starts with one token at once: one lands.
      const again = {
        id: `sha256:${createHash('sha256').update('token\nx').digest('hex')}`,
        issuedAt: new Date(),
      };
      const both = await Promise.allSettled([
        engine.tasks.start({ agent: 'planner', initiator: ALICE, idToken: again }, BACKEND),
        engine.tasks.start({ agent: 'planner', initiator: ALICE, idToken: again }, BACKEND),
      ]);
      expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it('session.ensure onlyIfNew refuses a session that exists or that another unit of the commit creates', async () => {
    const ts = new Date().toISOString();
    const record = (id: string, agent: string) => ({
      id,
      agent,
      state: 'active' as const,
      stateReason: null,
      triggeredBy: null,
      delegationChain: [],
      createdAt: ts,
      updatedAt: ts,
    });
    const ensure = (id: string, agent: string, onlyIfNew?: boolean) => ({
      events: [],
      mutations: [
        { kind: 'session.ensure' as const, session: record(id, agent), ...(onlyIfNew ? { onlyIfNew } : {}) },
      ],
    });
    await fx.store.commit([ensure('s-1', 'planner', true)]);
    await expect(fx.store.commit([ensure('s-1', 'worker', true)])).rejects.toMatchObject({
      code: 'SESSION_STATE',
      details: { exists: true },
    });
    await fx.store.commit([ensure('s-1', 'worker')]); // a plain ensure stays idempotent
    await expect(
      fx.store.commit([ensure('s-2', 'planner'), ensure('s-2', 'worker', true)]),
    ).rejects.toMatchObject({
      details: { exists: true },
    });
    expect(await fx.store.getSession('s-2')).toBeUndefined();
    expect(await fx.store.getSession('s-1')).toMatchObject({ agent: 'planner' });
  });

  it('starts a task only in a session nobody else creates meanwhile: concurrent starts and calls', async () => {
    for (let round = 0; round < 6; round++) {
      const session = `race-${round}`;
      // Two starts of the same session: exactly one lands.
      const starts = await Promise.allSettled([
        engine.tasks.start({ agent: 'planner', initiator: ALICE, session }, BACKEND),
        engine.tasks.start({ agent: 'worker', initiator: ALICE, session }, BACKEND),
      ]);
      expect(starts.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = starts.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toMatchObject({ code: 'SESSION_STATE' });
      // A start racing a plain call of another agent (or of its own agent without a token): never both in.
      for (const agent of ['worker', 'planner']) {
        const other = `race-${round}-${agent}`;
        const [start, call] = await Promise.allSettled([
          engine.tasks.start({ agent: 'planner', initiator: ALICE, session: other }, BACKEND),
          engine.check({ agent, tool: 'echo', session: other }),
        ]);
        const callIn = call.status === 'fulfilled' && call.value.effect === 'allow';
        expect(
          start.status === 'fulfilled' && callIn,
          `${other}: the task and a tokenless call share it`,
        ).toBe(false);
        const s = await fx.store.getSession(other);
        const taskStarted = (await events({ session: other, type: 'task.started' })).length;
        const allowed = await events({ session: other, type: 'call.decided', decision: 'allow' });
        expect(taskStarted > 0 && allowed.length > 0, other).toBe(false);
        expect(s).toBeDefined();
      }
    }
    // Two agents' first calls into one new session: one of them owns it, the other is refused.
    const calls = await Promise.all([
      engine.check({ agent: 'planner', tool: 'echo', session: 'shared' }),
      engine.check({ agent: 'worker', tool: 'echo', session: 'shared' }),
    ]);
    expect(calls.map((c) => c.effect).sort()).toEqual(['allow', 'block']);
    expect(calls.find((c) => c.effect === 'block')).toMatchObject({ code: 'SESSION_FOREIGN' });
  });
});

function pick(p: { issuer: string; subject: string }) {
  return { issuer: p.issuer, subject: p.subject };
}
