import type { WardenError } from '@warden/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.js';
import { openEngine } from '../src/engine/open-engine.js';
import { generateKeyRing } from '../src/keys/key-ring.js';
import { openStore } from '../src/store/open-store.js';
import { testPolicy } from '../test-support/engine-fixtures.js';
import { commitLocallyByDefault, holdDecisionCommits } from '../test-support/lost-commit-acks.js';
import {
  createTestDatabase,
  type PostgresServer,
  startPostgres,
  withClient,
} from '../test-support/postgres-server.js';

const POLICY = `
name: doubts after a crash
agents:
  worker:
    rules:
      - { id: any, effect: allow, tools: ['*'] }
`;

/**
 * A commit in doubt when PostgreSQL crashed, whose transaction never reached the WAL: after recovery its
 * transaction id is given to the next transaction, so txid_status answers for that one. The PostgreSQL
 * loaded test (unanswered-decisions.test.ts) met this as decisions left pending for good.
 */
describe('a commit in doubt whose transaction PostgreSQL lost in a crash (PostgreSQL)', () => {
  let server: PostgresServer;
  let url: string;
  beforeAll(async () => {
    server = await startPostgres();
    url = await createTestDatabase(server.url, 'doubtcrash');
  }, 120_000);
  afterAll(async () => {
    await server?.destroy();
  });

  it('is settled as never landed although its transaction id now names a committed transaction', {
    timeout: 120_000,
  }, async () => {
    // A transaction cut off by an immediate stop before anything of it was flushed.
    const lost = new pg.Client({ connectionString: url });
    lost.on('error', () => undefined);
    await lost.connect();
    await lost.query('CREATE TABLE scratch (x int)');
    await lost.query('BEGIN');
    const xid = (await lost.query<{ xid: string }>('SELECT txid_current()::text AS xid')).rows[0]
      ?.xid as string;
    await lost.query('INSERT INTO scratch VALUES (1)');
    await server.stop('immediate');
    await lost.end().catch(() => undefined);
    await server.start();
    // The next transaction gets the same id and commits.
    const reused = await withClient(url, async (c) => {
      await c.query('INSERT INTO scratch VALUES (2)');
      return (await c.query('SELECT txid_status($1::bigint) AS s', [xid])).rows[0]?.s;
    });
    expect(reused, 'precondition: the lost transaction id was reused by a committed one').toBe('committed');

    const errors: WardenError[] = [];
    const engine: Engine = await openEngine({
      store: await openStore(url),
      keys: generateKeyRing(),
      policy: testPolicy(POLICY),
      closeStore: true,
      onError: (e) => errors.push(e),
    });
    try {
      engine.unanswered.track('call-lost', { xid });
      engine.unanswered.stop();
      await engine.unanswered.resolve(true);
      expect(engine.unanswered.unresolved()).toEqual([]);
      expect(engine.unanswered.voided).toBe(0);
      // Only the report that the commit went unacknowledged; nothing failed while settling it.
      expect(errors.map((e) => e.message)).toEqual([
        "the commit of call call-lost's decision was not acknowledged; it is voided if it landed",
      ]);
    } finally {
      await engine.close();
    }
  });

  it('a commit that landed but is still held back by the synchronous standby counts as in progress', {
    timeout: 120_000,
  }, async () => {
    // 'committed' means every later read sees the transaction, so a decision missing under it never landed:
    // one that landed but is not visible yet must never pass for committed.
    const heldUrl = await createTestDatabase(server.url, 'doubtheld');
    await commitLocallyByDefault(server.url, heldUrl);
    const engine: Engine = await openEngine({
      store: await openStore(heldUrl),
      keys: generateKeyRing(),
      policy: testPolicy(POLICY),
      closeStore: true,
    });
    try {
      const acks = await holdDecisionCommits(server.url, heldUrl);
      const answer = engine.check({ agent: 'worker', tool: 'echo', args: {} });
      let xid: string | undefined;
      while (xid === undefined) {
        const rows = await withClient(heldUrl, (c) =>
          c.query<{ xid: string }>(
            "SELECT backend_xid::text AS xid FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
          ),
        );
        xid = rows.rows[0]?.xid;
        if (xid === undefined) await new Promise((r) => setTimeout(r, 20));
      }
      expect(await engine.store.commitOutcome?.({ xid })).toBe('in-progress');
      expect(await acks.cutOff()).toBe(1);
      expect((await answer).code).toBe('STORE_UNAVAILABLE');
      expect(await engine.store.commitOutcome?.({ xid })).toBe('committed');
      engine.unanswered.stop();
      await engine.unanswered.resolve(true);
      expect(engine.unanswered.size).toBe(0);
      expect(engine.unanswered.voided).toBe(1);
      await acks.release();
    } finally {
      await engine.close();
    }
  });
});
