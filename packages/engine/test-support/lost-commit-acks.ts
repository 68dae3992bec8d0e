/**
 * Makes PostgreSQL lose the acknowledgement of commits that landed, on demand and deterministically: with
 * a synchronous standby that never comes, COMMIT makes the transaction durable locally and then waits for
 * the standby; terminating the waiting backend fails the COMMIT on the client although the transaction
 * committed ("The transaction has already committed locally"). Only commits holding a `call.decided`
 * event wait; everything else commits as usual.
 */
import { withClient } from './postgres-server.js';

/** The database's name in its URL. */
function dbName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

/**
 * Lets commits on `dbUrl` skip the standby unless they ask for it. Call before anything connects to the
 * database: sessions read the setting when they start.
 */
export async function commitLocallyByDefault(serverUrl: string, dbUrl: string): Promise<void> {
  await withClient(serverUrl, (c) =>
    c.query(`ALTER DATABASE "${dbName(dbUrl)}" SET synchronous_commit = local`),
  );
}

/** From now on, commits that record a decision land and then wait; `cutOff` fails them on the client. */
export async function holdDecisionCommits(serverUrl: string, dbUrl: string): Promise<LostAcks> {
  await withClient(dbUrl, (c) =>
    c.query(`
      CREATE FUNCTION warden_test_wait_for_standby() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM set_config('synchronous_commit', 'on', true); RETURN NULL; END $$;
      CREATE TRIGGER warden_test_wait AFTER INSERT ON audit_events FOR EACH ROW
        WHEN (NEW.type = 'call.decided') EXECUTE FUNCTION warden_test_wait_for_standby();`),
  );
  await setStandby(serverUrl, dbUrl, 'warden_never');
  return {
    async cutOff() {
      const r = await withClient(dbUrl, (c) =>
        c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"),
      );
      return r.rowCount ?? 0;
    },
    async release() {
      await withClient(dbUrl, (c) =>
        c.query(
          'DROP TRIGGER warden_test_wait ON audit_events; DROP FUNCTION warden_test_wait_for_standby()',
        ),
      );
      await setStandby(serverUrl, dbUrl, '');
    },
  };
}

/** Handle on the held commits. */
export interface LostAcks {
  /** Terminates every backend waiting for the standby: their commits landed, their clients see an error. */
  cutOff(): Promise<number>;
  /** Commits behave normally again. */
  release(): Promise<void>;
}

async function setStandby(serverUrl: string, dbUrl: string, names: string): Promise<void> {
  await withClient(serverUrl, async (c) => {
    await c.query(`ALTER SYSTEM SET synchronous_standby_names = '${names}'`);
    await c.query('SELECT pg_reload_conf()');
  });
  // pg_reload_conf() only signals; a new session showing the value proves the reload happened.
  for (;;) {
    const shown = await withClient(dbUrl, (c) => c.query('SHOW synchronous_standby_names'));
    if (shown.rows[0]?.synchronous_standby_names === names) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
