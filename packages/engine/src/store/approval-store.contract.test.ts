import {
  type ApprovalRecord,
  type ApprovalStatus,
  type AuditEvent,
  type ErrorCode,
  isWardenError,
  uuidv7,
} from '@warden/core';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withClient } from '../../test-support/postgres-server.js';
import { DIALECTS, decided, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import { encodeApprovalCursor } from './approval-query.js';
import { encodeSessionCursor } from './session-query.js';
import type { GrantRecord, Mutation, NotificationRecord, Store } from './store.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
/** An ISO timestamp `minutes` after T0 (fixed-width, so text order is time order). */
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

/** An approval request with distinct, valid fields; a pending version 1 unless overridden. */
function approval(over: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id: `apr_${uuidv7()}`,
    callId: uuidv7(),
    version: 1,
    status: 'pending',
    agent: 'billing-agent',
    session: 's-1',
    tool: 'stripe.refund',
    args: { amount: 5000, currency: 'EUR', nested: { list: [1, 2.5, null, true] } },
    argsHmac: 'c'.repeat(64),
    target: null,
    ruleId: 'big-refunds',
    policyVersion: 'b'.repeat(64),
    reasons: ['refunds over 1000 need finance'],
    triggeredBy: 'alice',
    delegationChain: ['planner'],
    requirements: [
      {
        approvers: { roles: ['approver'], principals: [], groups: ['finance'], agents: [] },
        quorum: 1,
        requireEach: [],
        denyThreshold: 1,
        timeoutMs: 3_600_000,
        onTimeout: 'block',
        requireReason: false,
      },
    ],
    groups: { finance: ['carol', 'dave'] },
    requireReason: false,
    onTimeout: 'block',
    createdAt: at(0),
    expiresAt: at(60),
    escalateAt: null,
    escalated: false,
    votes: [],
    decidedAt: null,
    decidedBy: null,
    outcomeReason: null,
    override: false,
    usedAt: null,
    usedByCall: null,
    updatedAt: at(0),
    ...over,
  };
}

/** The next version of `a`: approved by carol. */
function approved(a: ApprovalRecord, by = 'carol'): ApprovalRecord {
  const ts = at(5);
  return {
    ...a,
    version: a.version + 1,
    status: 'approved',
    votes: [...a.votes, { principal: by, kind: 'human', role: 'approver', vote: 'approve', ts, via: 'api' }],
    decidedAt: ts,
    decidedBy: by,
    updatedAt: ts,
  };
}

function grant(over: Partial<GrantRecord> = {}): GrantRecord {
  return {
    id: `grt_${uuidv7()}`,
    agent: 'billing-agent',
    tool: 'stripe.*',
    when: null,
    session: null,
    expiresAt: at(60),
    reason: 'month-end close',
    createdBy: 'carol',
    createdAt: at(0),
    revokedAt: null,
    revokedBy: null,
    ...over,
  };
}

function notification(over: Partial<NotificationRecord> = {}): NotificationRecord {
  return {
    id: `ntf_${uuidv7()}`,
    target: 'slack-finance',
    eventType: 'approval.requested',
    eventId: uuidv7(),
    approvalId: `apr_${uuidv7()}`,
    state: 'pending',
    attempts: 0,
    createdAt: at(0),
    leaseOwner: null,
    leaseUntil: null,
    lastError: null,
    updatedAt: at(0),
    ...over,
  };
}

/** The audit event recording a change to `a`, as the engine would commit it beside the change. */
function eventFor(a: ApprovalRecord, type: AuditEvent['type'] = 'approval.requested'): AuditEvent {
  return decided({
    type,
    callId: a.callId,
    agent: a.agent,
    session: a.session,
    tool: a.tool,
    decision: undefined,
    data: { approvalId: a.id },
  });
}

/** The store contract for approval requests, grants and the outbox, unchanged against both dialects. */
describe.each(DIALECTS)('Store contract: approvals, grants, notifications (%s)', (dialect) => {
  let fx: StoreFixture;
  beforeEach(async () => {
    fx = await freshStore(dialect);
  });
  afterEach(async () => {
    await fx?.dispose();
  });

  const save = (a: ApprovalRecord, expectVersion: number | null, store: Store = fx.store) =>
    store.commit([
      {
        mutations: [{ kind: 'approval.save', approval: a, expectVersion }],
        events: [eventFor(a, expectVersion === null ? 'approval.requested' : 'approval.voted')],
      },
    ]);
  const apply = (mutations: Mutation[], type: AuditEvent['type'] = 'grant.added') =>
    fx.store.commit([{ mutations, events: [decided({ type, decision: undefined })] }]);
  /** Expects the commit to be refused with `code`, its events unwritten. */
  const refused = async (commit: () => Promise<unknown>, code: ErrorCode, message?: RegExp) => {
    const head = await fx.store.head();
    const err = await commit().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isWardenError(err, code), String(err)).toBe(true);
    if (message) expect((err as Error).message).toMatch(message);
    expect(await fx.store.head()).toEqual(head);
  };
  /** A notification row as stored, read past the Store (which has no read for a single row). */
  const notificationRow = async (id: string) => {
    const sql = 'SELECT state, attempts, lease_owner, lease_until, last_error, updated_at FROM notifications';
    if (dialect === 'postgres') {
      return (await withClient(fx.location, (c) => c.query(`${sql} WHERE id = $1`, [id]))).rows[0];
    }
    const db = new Database(fx.location, { readonly: true });
    try {
      return db.prepare(`${sql} WHERE id = ?`).get(id);
    } finally {
      db.close();
    }
  };

  it('stores a request whole and finds it by id and by call id', async () => {
    const a = approval({
      args: { note: 'ünïcødé ✓ 💸', nul: 'a\u0000b', lone: 'x\ud800y', deep: { k: [{ z: 1, a: 2 }] } },
      target: 'acct_42',
      escalateAt: at(30),
    });
    const [r] = await save(a, null);
    expect(r?.events).toHaveLength(1);
    expect(await fx.store.approval(a.id)).toEqual(a);
    expect(await fx.store.approvalByCall(a.callId)).toEqual(a);
    expect(await fx.store.approval('apr_missing')).toBeUndefined();
    expect(await fx.store.approvalByCall('missing')).toBeUndefined();
    // An id holding U+0000 (say, from a URL) finds nothing rather than failing.
    expect(await fx.store.approval('apr_\u0000')).toBeUndefined();
  });

  it('refuses a second request with the same id or for the same call, writing none of its events', async () => {
    const a = approval();
    await save(a, null);
    await refused(() => save({ ...approval(), id: a.id }, null), 'APPROVAL_CONFLICT', /already exists/);
    await refused(
      () => save({ ...approval(), callId: a.callId }, null),
      'APPROVAL_CONFLICT',
      /already exists/,
    );
    await refused(() => save(approval({ version: 2 }), null), 'APPROVAL_CONFLICT', /must be 1/);
    expect(await fx.store.approval(a.id)).toEqual(a);
    expect((await fx.store.listApprovals({ limit: 10 })).approvals).toEqual([a]);
  });

  it('changes a request only over the version it was computed from', async () => {
    const a = approval();
    await save(a, null);
    const v2 = approved(a);
    await save(v2, 1);
    expect(await fx.store.approval(a.id)).toEqual(v2);
    // The query columns move with the body.
    expect((await fx.store.listApprovals({ status: 'approved', limit: 10 })).approvals).toEqual([v2]);
    expect(await fx.store.pendingApprovals()).toBe(0);

    await refused(() => save(approved(a, 'dave'), 1), 'APPROVAL_CONFLICT', /version 2, not 1/);
    await refused(() => save({ ...v2, version: 4 }, 2), 'APPROVAL_CONFLICT', /must be 3/);
    await refused(() => save(approved(approval()), 1), 'APPROVAL_NOT_FOUND');
    expect(await fx.store.approval(a.id)).toEqual(v2);

    const used = { ...v2, version: 3, status: 'used' as const, usedAt: at(6), usedByCall: uuidv7() };
    await save(used, 2);
    expect(await fx.store.approvalByCall(a.callId)).toEqual(used);
  });

  it('lets exactly one of two instances win a race over the same version or the same call', async () => {
    const other = await fx.reopen();
    try {
      for (let round = 0; round < 4; round++) {
        const a = approval();
        await save(a, null);
        const attempts = [approved(a, 'carol'), approved(a, 'dave')];
        const settled = await Promise.allSettled([
          save(attempts[0] as ApprovalRecord, 1),
          save(attempts[1] as ApprovalRecord, 1, other),
        ]);
        const won = settled.flatMap((r, i) => (r.status === 'fulfilled' ? [attempts[i]] : []));
        expect(won).toHaveLength(1);
        for (const r of settled) {
          if (r.status === 'rejected')
            expect(isWardenError(r.reason, 'APPROVAL_CONFLICT'), String(r.reason)).toBe(true);
        }
        expect(await other.approval(a.id)).toEqual(won[0]);

        const callId = uuidv7();
        const twins = [approval({ callId }), approval({ callId })];
        const inserted = await Promise.allSettled([
          save(twins[0] as ApprovalRecord, null),
          save(twins[1] as ApprovalRecord, null, other),
        ]);
        const kept = inserted.flatMap((r, i) => (r.status === 'fulfilled' ? [twins[i]] : []));
        expect(kept).toHaveLength(1);
        expect(await fx.store.approvalByCall(callId)).toEqual(kept[0]);
      }
      // Each round chained: one request and one vote, then one of the twins.
      expect((await fx.store.head()).seq).toBe(4 * 3);
    } finally {
      await other.close();
    }
  });

  it('lists requests newest first, filtered, in pages without gaps or duplicates', async () => {
    const statuses: ApprovalStatus[] = ['pending', 'approved', 'denied'];
    // Many share a created_at, so pages split runs of equal timestamps (ordered by id, descending).
    const all = Array.from({ length: 23 }, (_, i) =>
      approval({
        id: `apr_${String(i).padStart(2, '0')}`,
        status: statuses[i % 3] as ApprovalStatus,
        agent: i % 3 === 0 ? 'ops-agent' : 'billing-agent',
        session: `s-${i % 2}`,
        createdAt: at(Math.floor(i / 4)),
      }),
    );
    await fx.store.commit([
      {
        mutations: all.map((a) => ({ kind: 'approval.save' as const, approval: a, expectVersion: null })),
        events: all.map((a) => eventFor(a)),
      },
    ]);
    const expected = (keep: (a: ApprovalRecord) => boolean) =>
      all
        .filter(keep)
        .sort((a, b) =>
          a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1,
        );
    const pages = async (
      query: { status?: ApprovalStatus; agent?: string; session?: string },
      limit: number,
    ) => {
      const seen: ApprovalRecord[] = [];
      let count = 0;
      let cursor: string | undefined;
      do {
        const page = await fx.store.listApprovals({ ...query, limit, ...(cursor ? { cursor } : {}) });
        seen.push(...page.approvals);
        count += 1;
        cursor = page.nextCursor ?? undefined;
      } while (cursor && count < 100);
      return { seen, count };
    };

    expect((await fx.store.listApprovals({ limit: 100 })).approvals).toEqual(expected(() => true));
    expect(expected(() => true)[0]?.id).toBe('apr_22');
    expect(await pages({}, 4)).toEqual({ seen: expected(() => true), count: 6 });
    expect((await pages({}, 23)).count).toBe(1);
    const pending = expected((a) => a.status === 'pending');
    expect(await pages({ status: 'pending' }, 3)).toEqual({
      seen: pending,
      count: Math.ceil(pending.length / 3),
    });
    const ops = expected((a) => a.agent === 'ops-agent');
    expect(await pages({ agent: 'ops-agent' }, 2)).toEqual({ seen: ops, count: Math.ceil(ops.length / 2) });
    const s1 = expected((a) => a.session === 's-1');
    expect((await pages({ session: 's-1' }, 5)).seen).toEqual(s1);
    const both = expected((a) => a.agent === 'billing-agent' && a.status === 'denied' && a.session === 's-0');
    expect(both.length).toBeGreaterThan(1);
    expect((await pages({ agent: 'billing-agent', status: 'denied', session: 's-0' }, 1)).seen).toEqual(both);
    expect((await fx.store.listApprovals({ agent: 'nobody', limit: 10 })).approvals).toEqual([]);
    // A cursor past the oldest request ends the listing.
    const oldest = expected(() => true).at(-1) as ApprovalRecord;
    expect(
      (await fx.store.listApprovals({ limit: 10, cursor: encodeApprovalCursor(oldest) })).approvals,
    ).toEqual([]);

    for (const cursor of [
      'not a cursor',
      encodeSessionCursor({ updatedAt: at(0), id: 's-1' }),
      Buffer.from('approval:[1,2]').toString('base64url'),
      Buffer.from('approval:{').toString('base64url'),
    ]) {
      await expect(fx.store.listApprovals({ limit: 10, cursor })).rejects.toMatchObject({
        code: 'QUERY_INVALID',
      });
    }
  });

  it('finds pending requests due to expire or escalate, earliest first, and counts the pending', async () => {
    const expiring = approval({ expiresAt: at(10) });
    const escalating = approval({ expiresAt: at(60), escalateAt: at(5) });
    const escalated = approval({ expiresAt: at(60), escalateAt: at(5), escalated: true });
    const escalatedThenExpired = approval({ expiresAt: at(2), escalateAt: at(1), escalated: true });
    const notYet = approval({ expiresAt: at(11), escalateAt: at(10.5) });
    const decidedLate = { ...approved(approval({ expiresAt: at(1) })), version: 1 };
    const all = [expiring, escalating, escalated, escalatedThenExpired, notYet, decidedLate];
    await fx.store.commit(
      all.map((a) => ({
        mutations: [{ kind: 'approval.save' as const, approval: a, expectVersion: null }],
        events: [eventFor(a)],
      })),
    );

    expect(await fx.store.dueApprovals(at(10), 10)).toEqual([escalatedThenExpired, escalating, expiring]);
    expect(await fx.store.dueApprovals(at(10), 2)).toEqual([escalatedThenExpired, escalating]);
    expect(await fx.store.dueApprovals(at(4), 10)).toEqual([escalatedThenExpired]);
    expect(await fx.store.dueApprovals(at(0), 10)).toEqual([]);
    expect(await fx.store.pendingApprovals()).toBe(5);

    // Once escalated, a request is due again only at its expiry.
    const after = { ...escalating, version: 2, escalated: true, updatedAt: at(5) };
    await save(after, 1);
    expect(await fx.store.dueApprovals(at(10), 10)).toEqual([escalatedThenExpired, expiring]);
    expect(await fx.store.dueApprovals(at(60), 10)).toEqual([
      escalatedThenExpired,
      expiring,
      notYet,
      // Due at the same time: by id.
      after,
      escalated,
    ]);
    expect(await fx.store.pendingApprovals()).toBe(5);
  });

  it('adds, lists, finds and revokes grants', async () => {
    const g1 = grant({ createdAt: at(0) });
    const expired = grant({ createdAt: at(1), expiresAt: at(9) });
    const g3 = grant({
      agent: 'ops-agent',
      tool: 'db.read',
      when: 'args.rows < 100',
      session: 's-7',
      reason: 'incident ünï-42',
      createdAt: at(2),
    });
    const g4 = grant({ createdAt: at(3) });
    for (const g of [g1, expired, g3, g4]) await apply([{ kind: 'grant.add', grant: g }]);
    expect(await fx.store.grant(g3.id)).toEqual(g3);
    expect(await fx.store.grant('grt_missing')).toBeUndefined();
    await refused(() => apply([{ kind: 'grant.add', grant: { ...grant(), id: g1.id } }]), 'GRANT_INVALID');

    const revoke = { kind: 'grant.revoke' as const, id: g4.id, by: 'dave', ts: at(4) };
    await apply([revoke], 'grant.revoked');
    const g4r = { ...g4, revokedAt: at(4), revokedBy: 'dave' };
    expect(await fx.store.grant(g4.id)).toEqual(g4r);
    await refused(
      () => apply([{ ...revoke, by: 'erin', ts: at(5) }], 'grant.revoked'),
      'GRANT_INVALID',
      /already revoked at/,
    );
    await refused(() => apply([{ ...revoke, id: 'grt_missing' }], 'grant.revoked'), 'GRANT_NOT_FOUND');
    expect(await fx.store.grant(g4.id)).toEqual(g4r);

    const now = at(9);
    expect(await fx.store.listGrants({ now, limit: 10 })).toEqual([g3, g1]);
    expect(await fx.store.listGrants({ now: at(8), limit: 10 })).toEqual([g3, expired, g1]);
    expect(await fx.store.listGrants({ now, all: true, limit: 10 })).toEqual([g4r, g3, expired, g1]);
    expect(await fx.store.listGrants({ now, all: true, limit: 2 })).toEqual([g4r, g3]);
    expect(await fx.store.listGrants({ now, agent: 'billing-agent', limit: 10 })).toEqual([g1]);
    expect(await fx.store.listGrants({ now, agent: 'billing-agent', all: true, limit: 10 })).toEqual([
      g4r,
      expired,
      g1,
    ]);
    expect(await fx.store.listGrants({ now, agent: 'nobody', all: true, limit: 10 })).toEqual([]);
  });

  it('leases notifications to one owner at a time; only the holder records the outcome', async () => {
    const n1 = notification({ createdAt: at(0) });
    const n2 = notification({ createdAt: at(0.001), target: 'pagerduty' });
    await apply(
      [
        { kind: 'notification.enqueue', notification: n2 },
        { kind: 'notification.enqueue', notification: n1 },
      ],
      'approval.requested',
    );
    const both = ['slack-finance', 'pagerduty'];

    // An instance without these webhooks (say, mid-way through a config change) leaves their rows alone.
    expect(await fx.store.claimNotifications('owner-x', at(1), at(9), 10, ['email-ops'])).toEqual([]);
    expect(await fx.store.claimNotifications('owner-x', at(1), at(9), 10, [])).toEqual([]);
    expect(await notificationRow(n1.id)).toMatchObject({ state: 'pending', lease_owner: null });

    expect(await fx.store.claimNotifications('owner-a', at(1), at(1.5), 1, both)).toEqual([
      { ...n1, leaseOwner: 'owner-a', leaseUntil: at(1.5), updatedAt: at(1) },
    ]);
    expect(await fx.store.claimNotifications('owner-b', at(1.1), at(2), 10, ['pagerduty'])).toEqual([
      { ...n2, leaseOwner: 'owner-b', leaseUntil: at(2), updatedAt: at(1.1) },
    ]);
    expect(await fx.store.claimNotifications('owner-b', at(1.2), at(2), 10, both)).toEqual([]);
    // A's lease runs out (at its end, inclusive): B takes the delivery over.
    expect(await fx.store.claimNotifications('owner-b', at(1.5), at(3), 10, both)).toEqual([
      { ...n1, leaseOwner: 'owner-b', leaseUntil: at(3), updatedAt: at(1.5) },
    ]);

    const finish = (owner: string, state: 'delivered' | 'failed', lastError: string | null) =>
      apply(
        [{ kind: 'notification.finish', id: n1.id, owner, state, attempts: 2, lastError, ts: at(1.7) }],
        'approval.notified',
      );
    // A lost its lease: its outcome is refused, and its approval.notified event is not written.
    await refused(() => finish('owner-a', 'delivered', null), 'APPROVAL_CONFLICT', /lease was lost/);
    expect(await notificationRow(n1.id)).toMatchObject({
      state: 'pending',
      attempts: 0,
      lease_owner: 'owner-b',
      last_error: null,
    });
    await finish('owner-b', 'failed', 'HTTP 500 ✗');
    const finished = {
      state: 'failed',
      attempts: 2,
      lease_owner: null,
      lease_until: null,
      last_error: 'HTTP 500 ✗',
      updated_at: at(1.7),
    };
    expect(await notificationRow(n1.id)).toEqual(finished);
    // A second outcome for a finished row (or for no row at all) is refused the same way.
    await refused(() => finish('owner-b', 'delivered', null), 'APPROVAL_CONFLICT', /lease was lost/);
    expect(await notificationRow(n1.id)).toEqual(finished);
    await refused(
      () =>
        apply(
          [
            {
              kind: 'notification.finish',
              id: 'ntf_missing',
              owner: 'owner-b',
              state: 'delivered',
              attempts: 1,
              lastError: null,
              ts: at(1.8),
            },
          ],
          'approval.notified',
        ),
      'APPROVAL_CONFLICT',
    );
    // A finished row is never claimed again; the other is, once its lease ends.
    expect(
      (await fx.store.claimNotifications('owner-c', at(100), at(101), 10, both)).map((n) => n.id),
    ).toEqual([n2.id]);
  });

  it('never gives the same notification to two instances claiming at once', async () => {
    const other = await fx.reopen();
    try {
      const queued = Array.from({ length: 30 }, (_, i) => notification({ createdAt: at(i / 1000) }));
      await apply(
        queued.map((n) => ({ kind: 'notification.enqueue' as const, notification: n })),
        'approval.requested',
      );
      const drain = async (store: Store, owner: string) => {
        const got: string[] = [];
        for (;;) {
          const batch = await store.claimNotifications(owner, at(1), at(30), 2, ['slack-finance']);
          if (batch.length === 0) return got;
          for (const n of batch) expect(n.leaseOwner).toBe(owner);
          got.push(...batch.map((n) => n.id));
        }
      };
      const [a, b] = await Promise.all([drain(fx.store, 'owner-a'), drain(other, 'owner-b')]);
      const ids = [...a, ...b];
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.sort()).toEqual(queued.map((n) => n.id).sort());
    } finally {
      await other.close();
    }
  });

  it('purges only approval state that ended before the cutoff; a legal hold keeps it all', async () => {
    const before = at(100);
    const gone = {
      approvals: [
        approval({ status: 'denied', updatedAt: at(10) }),
        approval({ status: 'cancelled', updatedAt: at(20) }),
        approval({ status: 'expired', updatedAt: at(99.999) }),
        approval({ status: 'used', updatedAt: at(30) }),
        approval({ status: 'voided', updatedAt: at(30) }),
        // Approved long ago and never used: stale by now.
        approval({ status: 'approved', updatedAt: at(40) }),
      ],
      grants: [
        grant({ expiresAt: at(50) }),
        grant({ expiresAt: at(500), revokedAt: at(30), revokedBy: 'dave' }),
        // Revoked after it had expired: it ended at its expiry.
        grant({ expiresAt: at(50), revokedAt: at(150), revokedBy: 'dave' }),
      ],
      notifications: [
        notification({ state: 'delivered', attempts: 1, updatedAt: at(10) }),
        notification({ state: 'failed', attempts: 6, lastError: 'HTTP 500', updatedAt: at(60) }),
      ],
    };
    const kept = {
      approvals: [
        // Pending stays whatever its age (the sweeper expires it first).
        approval({ updatedAt: at(0) }),
        approval({ status: 'denied', updatedAt: before }),
        approval({ status: 'approved', updatedAt: at(120) }),
      ],
      grants: [
        grant({ expiresAt: at(500) }),
        grant({ expiresAt: before }),
        grant({ expiresAt: at(500), revokedAt: at(120), revokedBy: 'dave' }),
      ],
      notifications: [
        notification({ updatedAt: at(0) }),
        notification({ state: 'delivered', attempts: 1, updatedAt: at(100.001) }),
      ],
    };
    const all = {
      approvals: [...gone.approvals, ...kept.approvals],
      grants: [...gone.grants, ...kept.grants],
      notifications: [...gone.notifications, ...kept.notifications],
    };
    await fx.store.commit([
      {
        mutations: [
          ...all.approvals.map((a) => ({ kind: 'approval.save' as const, approval: a, expectVersion: null })),
          ...all.grants.map((g) => ({ kind: 'grant.add' as const, grant: g })),
          ...all.notifications.map((n) => ({ kind: 'notification.enqueue' as const, notification: n })),
        ],
        events: all.approvals.map((a) => eventFor(a)),
      },
    ]);
    const count = { approvals: 6, grants: 3, notifications: 2, reservations: 0, budgetCounters: 0 };
    const none = { approvals: 0, grants: 0, notifications: 0, reservations: 0, budgetCounters: 0 };
    expect(await fx.store.finishedState(before)).toEqual(count);
    expect(await fx.store.finishedState(at(0))).toEqual(none);
    const present = async () => ({
      approvals: (await Promise.all(all.approvals.map((a) => fx.store.approval(a.id)))).filter((a) => a),
      grants: await fx.store.listGrants({ now: at(0), all: true, limit: 100 }),
      notifications: (await Promise.all(all.notifications.map((n) => notificationRow(n.id)))).filter(
        (n) => n,
      ),
    });
    const everything = await present();
    expect(everything.approvals).toHaveLength(9);
    expect(everything.grants).toHaveLength(6);
    expect(everything.notifications).toHaveLength(4);

    const purge = () => apply([{ kind: 'state.purge', before }], 'retention.purged');
    const hold = { id: 'hold-1', reason: 'matter 7', placedBy: 'counsel', placedAt: at(1) };
    await apply([{ kind: 'legal_hold.place', hold }], 'legal_hold.placed');
    await refused(purge, 'LEGAL_HOLD_ACTIVE');
    expect(await present()).toEqual(everything);
    expect(await fx.store.finishedState(before)).toEqual(count);
    await apply([{ kind: 'legal_hold.release', id: hold.id }], 'legal_hold.released');

    await purge();
    const after = await present();
    expect(after.approvals).toEqual(kept.approvals);
    expect(new Set(after.grants.map((g) => g.id))).toEqual(new Set(kept.grants.map((g) => g.id)));
    expect(after.notifications.map((n) => (n as { state: string }).state)).toEqual(['pending', 'delivered']);
    expect(await fx.store.finishedState(before)).toEqual(none);
    expect(await fx.store.pendingApprovals()).toBe(1);
    // What is left is still claimable: the pending notification was not touched.
    expect(
      (await fx.store.claimNotifications('owner', at(101), at(102), 10, ['slack-finance'])).map((n) => n.id),
    ).toEqual([kept.notifications[0]?.id]);
  });

  it('applies a unit all or nothing: a refused approval or grant change writes nothing', async () => {
    const a = approval();
    const g = grant();
    const n = notification({ approvalId: a.id });
    const head = await fx.store.head();
    const commit = fx.store.commit([
      { events: [decided()] },
      {
        mutations: [
          { kind: 'approval.save', approval: a, expectVersion: null },
          { kind: 'grant.add', grant: g },
          { kind: 'notification.enqueue', notification: n },
          { kind: 'grant.revoke', id: 'grt_missing', by: 'carol', ts: at(1) },
        ],
        events: [eventFor(a), eventFor(a, 'grant.revoked')],
      },
    ]);
    await expect(commit).rejects.toMatchObject({ code: 'GRANT_NOT_FOUND' });
    expect(await fx.store.head()).toEqual(head);
    expect(await fx.store.approval(a.id)).toBeUndefined();
    expect(await fx.store.grant(g.id)).toBeUndefined();
    expect(await fx.store.claimNotifications('owner', at(1), at(2), 10, ['slack-finance'])).toEqual([]);
    expect(await fx.store.pendingApprovals()).toBe(0);
  });
});
