import { type AuditEvent, uuidv7 } from '@warden/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, withClient } from '../../../test-support/postgres-server.js';
import { CHAIN_CHANNEL } from './postgres-listener.js';
import { openPostgresStore, type PostgresStore } from './postgres-store.js';

// Cross-instance push: a commit on one store wakes watchers of another store on the same database.

function event(type: AuditEvent['type'], fields: Partial<AuditEvent> = {}): AuditEvent {
  const callId = uuidv7();
  return {
    id: uuidv7(),
    ts: new Date().toISOString(),
    type,
    actor: { kind: 'human', id: 'alice' },
    agent: 'billing-agent',
    session: 's-1',
    tool: 'stripe.refund',
    callId,
    ...fields,
  };
}

/** Polls `probe` until it holds; a generous deadline that is never a speed claim. */
async function eventually(what: string, probe: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 15 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The store's watch, which openPostgresStore always provides. */
function watchOn(store: PostgresStore): (fn: () => void) => Promise<() => void> {
  const watch = store.watch;
  if (!watch) throw new Error('the store cannot watch');
  return watch;
}

/** A callback that counts its calls. */
function counter(): { fn: () => void; count: number } {
  const c = { count: 0, fn: () => void c.count++ };
  return c;
}

describe('PostgresListener through PostgresStore.watch', () => {
  let url: string;
  let a: PostgresStore;
  let b: PostgresStore;

  /** Backends on this test's database that last ran LISTEN: the listener's dedicated connection. */
  const listeners = () =>
    withClient(url, async (c) => {
      const r = await c.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'`,
      );
      return Number(r.rows[0]?.n);
    });

  beforeAll(async () => {
    url = await createTestDatabase(inject('postgresUrl'), 'listener');
    a = await openPostgresStore(url);
    b = await openPostgresStore(url);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('wakes a watcher on A when B commits an approval or session event, but not for calls alone', async () => {
    const w = counter();
    const failing = () => {
      throw new Error('a watcher that fails');
    };
    const unwatchFailing = await watchOn(a)(failing);
    const unwatch = await watchOn(a)(w.fn);
    try {
      await b.commit([{ events: [event('call.decided')] }, { events: [event('call.decided')] }]);
      await b.commit([{ events: [event('call.completed')] }]);
      await b.commit([{ events: [event('session.paused', { data: { reason: 'test' } })] }]);
      // Notifications arrive in commit order: one for the calls would have come before this one.
      await eventually('the pause announced on A', () => w.count >= 1);
      expect(w.count).toBe(1);

      await b.commit([
        { events: [event('call.decided'), event('approval.requested')] },
        { events: [event('approval.decided')] },
      ]);
      await eventually('the approval announced on A', () => w.count >= 2);
      await b.commit([{ events: [event('grant.added')] }]);
      await eventually('the grant announced on A', () => w.count >= 3);
      // One per transaction, however many units or events in it announce.
      expect(w.count).toBe(3);
    } finally {
      unwatch();
      unwatchFailing();
    }
  });

  it('announces each committing transaction once, with the head it leaves, under contention', async () => {
    const payloads: string[] = [];
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      raw.on('notification', (m) => {
        if (m.channel === CHAIN_CHANNEL) payloads.push(m.payload ?? '');
      });
      await raw.query(`LISTEN ${CHAIN_CHANNEL}`);
      const before = (await a.head()).seq;
      const commits = Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? a : b).commit([
          { events: [event('call.decided'), event('session.paused', { session: `s-${i}` })] },
        ]),
      );
      const results = await Promise.all(commits);
      const heads = results.map((r) => r[0]?.events.at(-1)?.seq as number).sort((x, y) => x - y);
      expect(heads).toEqual(heads.map((_, i) => before + 2 * (i + 1)));
      await eventually('all 20 announced', () => payloads.length >= 20);
      expect(payloads.map(Number)).toEqual(heads);
    } finally {
      await raw.end();
    }
  });

  it('reconnects after its connection is killed, calls every watcher once, and still delivers', async () => {
    const w = counter();
    const unwatch = await watchOn(a)(w.fn);
    try {
      await eventually('one listening connection', async () => (await listeners()) === 1);
      await withClient(url, (c) =>
        c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'`,
        ),
      );
      // The call after the reconnect comes once LISTEN runs again.
      await eventually('the reconnect announced to the watcher', () => w.count >= 1);
      expect(w.count).toBe(1);
      await eventually('one listening connection again', async () => (await listeners()) === 1);
      await b.commit([{ events: [event('session.resumed', { data: { reason: 'test' } })] }]);
      await eventually('a commit after the reconnect', () => w.count >= 2);
      expect(w.count).toBe(2);
    } finally {
      unwatch();
    }
  });

  it('ends the dedicated connection when the last watcher leaves, and opens it again for the next', async () => {
    const watch = watchOn(a);
    await eventually('no listener left by earlier tests', async () => (await listeners()) === 0);
    const first = counter();
    const second = counter();
    const unwatchFirst = await watch(first.fn);
    const unwatchSecond = await watch(second.fn);
    expect(await listeners()).toBe(1);
    unwatchFirst();
    unwatchFirst();
    await b.commit([{ events: [event('session.paused', { data: { reason: 'one left' } })] }]);
    await eventually('the remaining watcher called', () => second.count >= 1);
    expect(first.count).toBe(0);
    expect(await listeners()).toBe(1);

    unwatchSecond();
    await eventually('the connection ended', async () => (await listeners()) === 0);

    const third = counter();
    const unwatchThird = await watch(third.fn);
    expect(await listeners()).toBe(1);
    await b.commit([{ events: [event('session.resumed', { data: { reason: 'back' } })] }]);
    await eventually('a new watcher called', () => third.count >= 1);
    unwatchThird();
    await eventually('the connection ended again', async () => (await listeners()) === 0);
  });

  it('stops listening on close, and refuses to watch after', async () => {
    const c = await openPostgresStore(url);
    const watch = watchOn(c);
    await watch(() => {});
    expect(await listeners()).toBe(1);
    await c.close();
    await eventually('the connection ended on close', async () => (await listeners()) === 0);
    await expect(watch(() => {})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});
