import { WardenError } from '@warden/core';
import type pg from 'pg';

/**
 * PostgreSQL schema, one entry per version, mirroring the SQLite schema. Never edit a released entry:
 * add one.
 *
 * `body` is the canonical JSON text exactly as hashed (text, never jsonb, which reorders and normalises).
 * The query columns are written by the store from the same event in the same INSERT rather than generated
 * from `body::jsonb`: PostgreSQL cannot turn a string holding U+0000 or a lone surrogate into jsonb, so a
 * generated column would make such an event impossible to record (SQLite records it). Text columns that
 * are compared or sorted use the "C" collation, so they order byte-wise like SQLite, whatever the
 * database's default collation.
 */
export const POSTGRES_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'audit chain, checkpoints, sessions, legal holds, keys',
    sql: `
CREATE TABLE audit_events (
  seq bigint PRIMARY KEY,
  prev text NOT NULL,
  hash text NOT NULL,
  body text NOT NULL,
  ts text COLLATE "C",
  type text COLLATE "C",
  actor text COLLATE "C",
  agent text COLLATE "C",
  session text COLLATE "C",
  tool text COLLATE "C",
  call_id text COLLATE "C",
  effect text COLLATE "C",
  rule_id text COLLATE "C",
  triggered_by text COLLATE "C",
  approvers text[] COLLATE "C"
);
CREATE INDEX audit_events_ts ON audit_events (ts);
CREATE INDEX audit_events_agent ON audit_events (agent, seq);
CREATE INDEX audit_events_session ON audit_events (session, seq);
CREATE UNIQUE INDEX audit_events_call_decided ON audit_events (call_id) WHERE type = 'call.decided';
CREATE UNIQUE INDEX audit_events_call_completed ON audit_events (call_id) WHERE type = 'call.completed';

-- The chain head, locked FOR UPDATE by every commit: the one place all instances queue for the next seq.
CREATE TABLE audit_head (
  id int PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));

-- Set only inside a purging transaction, and cleared before it commits.
CREATE TABLE audit_purge (id int PRIMARY KEY CHECK (id = 1), through_seq bigint);
INSERT INTO audit_purge (id, through_seq) VALUES (1, NULL);

CREATE FUNCTION warden_reject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%', TG_ARGV[0];
END $$;

CREATE FUNCTION warden_audit_events_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.seq > coalesce((SELECT through_seq FROM audit_purge WHERE id = 1), 0) THEN
    RAISE EXCEPTION 'audit events are append-only; only a retention purge removes old events';
  END IF;
  RETURN OLD;
END $$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
FOR EACH ROW EXECUTE FUNCTION warden_reject('audit events are append-only');
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION warden_audit_events_delete();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION warden_reject('audit events are append-only');

CREATE TABLE checkpoints (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  seq bigint NOT NULL,
  kind text NOT NULL,
  signed text NOT NULL
);
CREATE INDEX checkpoints_seq ON checkpoints (seq);
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE OR DELETE ON checkpoints
FOR EACH ROW EXECUTE FUNCTION warden_reject('checkpoints are append-only');
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
FOR EACH STATEMENT EXECUTE FUNCTION warden_reject('checkpoints are append-only');

CREATE TABLE sessions (
  id text COLLATE "C" PRIMARY KEY,
  agent text NOT NULL,
  state text NOT NULL CHECK (state IN ('active', 'paused', 'closed')),
  state_reason text,
  triggered_by text,
  delegation_chain text NOT NULL,
  created_at text NOT NULL,
  updated_at text NOT NULL
);

-- n keeps insertion order among equal timestamps, as SQLite's rowid does.
CREATE TABLE legal_holds (
  n bigint GENERATED ALWAYS AS IDENTITY,
  id text COLLATE "C" PRIMARY KEY,
  reason text NOT NULL,
  placed_by text NOT NULL,
  placed_at text COLLATE "C" NOT NULL
);

CREATE TABLE signing_keys (
  n bigint GENERATED ALWAYS AS IDENTITY,
  key_id text COLLATE "C" PRIMARY KEY,
  pem text NOT NULL,
  registered_at text COLLATE "C" NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'API keys, stored policies, session listing',
    sql: `
-- Keys are revoked, never deleted: the audit trail names them by id. n keeps insertion order among
-- equal timestamps, as SQLite's rowid does.
CREATE TABLE api_keys (
  n bigint GENERATED ALWAYS AS IDENTITY,
  id text COLLATE "C" PRIMARY KEY,
  hash text COLLATE "C" NOT NULL UNIQUE,
  prefix text NOT NULL,
  principal_kind text NOT NULL CHECK (principal_kind IN ('agent', 'human', 'service')),
  principal text NOT NULL,
  role text NOT NULL CHECK (role IN ('agent', 'approver', 'admin', 'auditor')),
  label text,
  created_at text COLLATE "C" NOT NULL,
  created_by text NOT NULL,
  expires_at text,
  revoked_at text,
  revoked_by text
);
CREATE INDEX api_keys_created ON api_keys (created_at, n);

-- n orders stored policies: the highest is in force, even when an older version is stored again. Policies
-- are stored under the chain lock, so n follows commit order.
CREATE TABLE policy_versions (
  n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  version text NOT NULL,
  name text NOT NULL,
  mode text NOT NULL CHECK (mode IN ('enforce', 'monitor')),
  sources text NOT NULL,
  created_at text NOT NULL,
  created_by text NOT NULL
);

-- Session listings compare and sort these columns: byte-wise, like SQLite. A collation change does not
-- rewrite the table.
ALTER TABLE sessions
  ALTER COLUMN state TYPE text COLLATE "C",
  ALTER COLUMN agent TYPE text COLLATE "C",
  ALTER COLUMN updated_at TYPE text COLLATE "C";
-- Most recently updated first, optionally by state or agent, read backwards.
CREATE INDEX sessions_updated ON sessions (updated_at, id);
CREATE INDEX sessions_state_updated ON sessions (state, updated_at, id);
CREATE INDEX sessions_agent_updated ON sessions (agent, updated_at, id);
`,
  },
  {
    version: 3,
    name: 'approval requests, grants, notification outbox',
    sql: `
-- An approval request: the whole record as JSON text in body; the other columns are copies for queries,
-- rewritten with it on every change. version is the compare-and-set guard of every change.
CREATE TABLE approvals (
  id text COLLATE "C" PRIMARY KEY,
  call_id text COLLATE "C" NOT NULL UNIQUE,
  version int NOT NULL,
  status text COLLATE "C" NOT NULL,
  agent text COLLATE "C" NOT NULL,
  session text COLLATE "C" NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  expires_at text COLLATE "C" NOT NULL,
  escalate_at text COLLATE "C",
  escalated boolean NOT NULL,
  updated_at text COLLATE "C" NOT NULL,
  body text NOT NULL
);
-- Listings: newest first, optionally by status, agent or session, read backwards.
CREATE INDEX approvals_created ON approvals (created_at, id);
CREATE INDEX approvals_status_created ON approvals (status, created_at, id);
CREATE INDEX approvals_agent_created ON approvals (agent, created_at, id);
CREATE INDEX approvals_session_created ON approvals (session, created_at, id);
-- The sweeper's due lookups and the pending count read only pending requests.
CREATE INDEX approvals_pending_expires ON approvals (expires_at) WHERE status = 'pending';
CREATE INDEX approvals_pending_escalate ON approvals (escalate_at) WHERE status = 'pending' AND NOT escalated;

-- Grants are revoked, not deleted, while in force; retention removes those that ended before its cutoff.
CREATE TABLE grants (
  id text COLLATE "C" PRIMARY KEY,
  agent text COLLATE "C" NOT NULL,
  tool text NOT NULL,
  cond text,
  session text,
  expires_at text COLLATE "C" NOT NULL,
  reason text NOT NULL,
  created_by text NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  revoked_at text,
  revoked_by text
);
CREATE INDEX grants_agent_expires ON grants (agent, expires_at);
CREATE INDEX grants_created ON grants (created_at, id);

-- The webhook outbox: a row per delivery, claimed under a lease so one instance delivers it at a time.
CREATE TABLE notifications (
  id text COLLATE "C" PRIMARY KEY,
  target text NOT NULL,
  event_type text NOT NULL,
  event_id text NOT NULL,
  approval_id text NOT NULL,
  state text COLLATE "C" NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts int NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  lease_owner text COLLATE "C",
  lease_until text COLLATE "C",
  last_error text,
  updated_at text NOT NULL
);
-- Claims take the oldest pending rows first.
CREATE INDEX notifications_pending ON notifications (created_at, id) WHERE state = 'pending';
`,
  },
];

/** Any constant works: advisory lock keys are per database. This one spells "warden". */
const MIGRATION_LOCK = 0x77617264656e;

/**
 * Brings the schema up to date in one transaction under an advisory lock, so instances starting at once
 * apply each version exactly once and the others wait, then find nothing to do. An up-to-date database
 * is only read, so a read-only one still opens. Refuses (STORE_INVALID) a schema newer than this build.
 * Tests pass a prefix of the list to build a database as an older Warden left it.
 */
export async function migratePostgres(
  client: pg.ClientBase,
  migrations: readonly { version: number; name: string; sql: string }[] = POSTGRES_MIGRATIONS,
): Promise<void> {
  await client.query('BEGIN');
  try {
    // Building an index on a large table may outlast the caps of normal operation, and so may waiting
    // for another instance doing it.
    await client.query("SET LOCAL statement_timeout = '15min'; SET LOCAL lock_timeout = '15min'");
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    const done = await appliedVersions(client);
    const newest = Math.max(0, ...done);
    const known = Math.max(...migrations.map((m) => m.version));
    if (newest > known) {
      throw new WardenError(
        'STORE_INVALID',
        `the database was written by a newer Warden (schema ${newest}); upgrade Warden`,
      );
    }
    const pending = migrations.filter((m) => !done.has(m.version));
    if (pending.length > 0) {
      await client.query(
        'CREATE TABLE IF NOT EXISTS warden_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)',
      );
    }
    for (const m of pending) {
      await client.query(m.sql);
      await client.query('INSERT INTO warden_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

async function appliedVersions(client: pg.ClientBase): Promise<Set<number>> {
  const table = await client.query<{ found: boolean }>(
    "SELECT to_regclass('warden_migrations') IS NOT NULL AS found",
  );
  if (!table.rows[0]?.found) return new Set();
  const rows = await client.query<{ version: number }>('SELECT version FROM warden_migrations');
  return new Set(rows.rows.map((r) => r.version));
}
