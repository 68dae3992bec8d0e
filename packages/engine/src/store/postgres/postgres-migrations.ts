import { WardenError } from '@warden/core';
import type pg from 'pg';
import { backfillPostgresRollups } from '../rollups/postgres-rollups.js';
import { MIGRATION_12_SQL } from './postgres-partitioning.js';

/** One schema version: its SQL, and work done after it in the same transaction (a backfill). */
export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly backfill?: (client: pg.ClientBase) => Promise<void>;
}

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
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
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
  {
    version: 4,
    name: 'budget counters, reservations and ledger; event ids; notifications without approvals',
    sql: `
-- One counter per budget, scope instance and window: what is reserved against and settled into. Amounts
-- are numeric, so sums of decimal fractions are exact and used always equals the sum of the ledger.
CREATE TABLE budget_counters (
  key text COLLATE "C" PRIMARY KEY,
  budget_id text COLLATE "C" NOT NULL,
  scope_key text COLLATE "C" NOT NULL,
  metric text NOT NULL CHECK (metric IN ('usd', 'tokens', 'calls')),
  win text NOT NULL CHECK (win IN ('session', 'hour', 'day', 'week', 'month')),
  window_start text COLLATE "C" NOT NULL,
  window_end text COLLATE "C",
  lim numeric NOT NULL,
  limit_override numeric,
  used numeric NOT NULL DEFAULT 0,
  reserved numeric NOT NULL DEFAULT 0,
  -- A percent: the policy allows fractional thresholds (12.5).
  alerted numeric NOT NULL DEFAULT 0,
  updated_at text COLLATE "C" NOT NULL
);
-- Status by scope or budget, the active-window filter and retention (ended windows; idle session ones).
CREATE INDEX budget_counters_scope ON budget_counters (scope_key, window_end);
CREATE INDEX budget_counters_budget ON budget_counters (budget_id, window_end);
CREATE INDEX budget_counters_end ON budget_counters (window_end, updated_at);

-- What an admitted call holds until it settles or its lease runs out; lines is the JSON of its lines.
CREATE TABLE budget_reservations (
  id text COLLATE "C" PRIMARY KEY,
  call_id text NOT NULL,
  session text NOT NULL,
  agent text NOT NULL,
  lines text NOT NULL,
  state text COLLATE "C" NOT NULL CHECK (state IN ('held', 'settled', 'released')),
  created_at text COLLATE "C" NOT NULL,
  lease_until text COLLATE "C" NOT NULL,
  updated_at text COLLATE "C" NOT NULL
);
CREATE INDEX budget_reservations_lease ON budget_reservations (state, lease_until);

-- Every settled amount, one row per line: a counter's used is the sum of its rows.
CREATE TABLE budget_ledger (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  reservation_id text,
  call_id text NOT NULL,
  counter_key text COLLATE "C" NOT NULL,
  metric text NOT NULL,
  amount numeric NOT NULL,
  price_version text,
  ts text NOT NULL
);
CREATE INDEX budget_ledger_counter ON budget_ledger (counter_key);

-- A reservation's lines as the store sends them (snake_case JSON), one row per counter in key order: a
-- counter named twice is reserved the sum of its amounts.
CREATE FUNCTION warden_budget_lines(p_lines text)
RETURNS TABLE (key text, budget_id text, scope_key text, metric text, win text, window_start text,
               window_end text, lim numeric, amount numeric)
LANGUAGE sql IMMUTABLE AS $f$
  SELECT DISTINCT ON (l.key COLLATE "C") l.key, l.budget_id, l.scope_key, l.metric, l.win, l.window_start,
         l.window_end, l.lim, sum(l.amount) OVER (PARTITION BY l.key)
    FROM json_to_recordset(p_lines::json) AS l(key text, budget_id text, scope_key text, metric text,
         win text, window_start text, window_end text, lim numeric, amount numeric)
   ORDER BY l.key COLLATE "C"
$f$;

-- Reserve in one statement: every counter is created or locked one at a time in key order (the order
-- every writer of counters follows, so none deadlocks) and its policy limit and window end refreshed
-- (locked even when unchanged: ON CONFLICT DO UPDATE locks the rows its WHERE skips). Then either the
-- first line in key order that would go over is returned and nothing else is written, or every counter's
-- reserved grows and the reservation is stored as held.
CREATE FUNCTION warden_budget_reserve(p_id text, p_call_id text, p_session text, p_agent text,
    p_lines text, p_stored_lines text, p_created_at text, p_lease_until text, p_ts text)
RETURNS TABLE (refused_key text, refused_used numeric, refused_reserved numeric, refused_limit numeric)
LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO budget_counters AS c (key, budget_id, scope_key, metric, win, window_start, window_end, lim,
      updated_at)
  SELECT l.key, l.budget_id, l.scope_key, l.metric, l.win, l.window_start, l.window_end, l.lim, p_ts
    FROM warden_budget_lines(p_lines) AS l
   ORDER BY l.key COLLATE "C"
  ON CONFLICT (key) DO UPDATE SET lim = EXCLUDED.lim, window_end = EXCLUDED.window_end
   WHERE c.lim <> EXCLUDED.lim OR c.window_end IS DISTINCT FROM EXCLUDED.window_end;
  RETURN QUERY
    SELECT c.key, c.used, c.reserved, coalesce(c.limit_override, c.lim)
      FROM warden_budget_lines(p_lines) AS l JOIN budget_counters AS c ON c.key = l.key
     WHERE c.used + c.reserved + l.amount > coalesce(c.limit_override, c.lim)
        OR (l.amount = 0 AND c.used + c.reserved >= coalesce(c.limit_override, c.lim))
     ORDER BY c.key
     LIMIT 1;
  IF FOUND THEN
    RETURN;
  END IF;
  UPDATE budget_counters AS c SET reserved = c.reserved + l.amount, updated_at = p_ts
    FROM warden_budget_lines(p_lines) AS l
   WHERE c.key = l.key;
  INSERT INTO budget_reservations (id, call_id, session, agent, lines, state, created_at, lease_until,
      updated_at)
  VALUES (p_id, p_call_id, p_session, p_agent, p_stored_lines, 'held', p_created_at, p_lease_until, p_ts);
END
$f$;

-- Locks the counters a commit's budget mutations change, one at a time in key order (as reserve does),
-- creating those given with their line (budget_id set) when missing; the others are only locked.
CREATE FUNCTION warden_budget_lock(p_rows text) RETURNS void
LANGUAGE plpgsql AS $f$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT l.* FROM json_to_recordset(p_rows::json) AS l(key text, budget_id text, scope_key text,
           metric text, win text, window_start text, window_end text, lim numeric, ts text)
     ORDER BY l.key COLLATE "C"
  LOOP
    IF r.budget_id IS NULL THEN
      PERFORM 1 FROM budget_counters WHERE key = r.key FOR UPDATE;
    ELSE
      INSERT INTO budget_counters AS c (key, budget_id, scope_key, metric, win, window_start, window_end,
          lim, updated_at)
      VALUES (r.key, r.budget_id, r.scope_key, r.metric, r.win, r.window_start, r.window_end, r.lim, r.ts)
      ON CONFLICT (key) DO UPDATE SET lim = c.lim WHERE false;
    END IF;
  END LOOP;
END
$f$;

-- The event's own id, for loading one event (the notification dispatcher). Adding a NULLable column
-- rewrites nothing; events recorded before this version keep NULL and are found through their body. The
-- index holds those NULLs too, so that fallback reads only the older events.
ALTER TABLE audit_events ADD COLUMN event_id text COLLATE "C";
CREATE INDEX audit_events_event_id ON audit_events (event_id);

-- Budget alerts and session pauses are notified too, about no approval.
ALTER TABLE notifications ALTER COLUMN approval_id DROP NOT NULL;
`,
  },
  {
    version: 5,
    name: 'audit events by type',
    sql: `
-- Readers of one kind of event (policy replay, the SOC 2 report, usage charts, dashboard sign-outs)
-- walk the chain by type: without this index each of those reads scans every event of its range.
CREATE INDEX audit_events_type ON audit_events (type, seq);
`,
  },
  {
    version: 6,
    name: 'retention purges only under a signed, recorded, append-only permission',
    sql: `
-- As in SQLite's schema 6: audit_purge (a row any writer could set) gives way to audit_purges, append-only,
-- whose rows are accepted only when the database shows a genuine purge (see sqlite-migrations.ts). body
-- is read as json (not jsonb), which accepts every body a store writes.
DROP TRIGGER audit_events_no_delete ON audit_events;
DROP FUNCTION warden_audit_events_delete();
DROP TABLE audit_purge;
CREATE TABLE audit_purges (
  record_seq bigint PRIMARY KEY,
  through_seq bigint NOT NULL,
  purged_at text NOT NULL
);

CREATE FUNCTION warden_audit_purge_check() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  rec audit_events%ROWTYPE;
  anchor text;
BEGIN
  SELECT * INTO rec FROM audit_events WHERE seq = NEW.record_seq;
  IF NOT FOUND OR rec.seq IS DISTINCT FROM (SELECT max(seq) FROM audit_events) OR rec.type <> 'retention.purged'
     OR (rec.body::json -> 'data' ->> 'throughSeq') IS DISTINCT FROM NEW.through_seq::text
     OR NEW.through_seq >= NEW.record_seq THEN
    RAISE EXCEPTION 'a purge needs its retention.purged record as the newest event, naming its through_seq';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM checkpoints c
                  WHERE c.seq = rec.seq AND c.kind = 'purge' AND c.signed::json ->> 'kind' = 'purge'
                    AND c.signed::json ->> 'seq' = rec.seq::text AND c.signed::json ->> 'hash' = rec.hash) THEN
    RAISE EXCEPTION 'a purge needs a purge checkpoint signed over its retention.purged record';
  END IF;
  anchor := rec.body::json -> 'data' ->> 'anchorHash';
  IF NOT EXISTS (SELECT 1 FROM checkpoints c
                  WHERE c.seq = NEW.through_seq AND c.kind <> 'seal' AND c.signed::json ->> 'kind' <> 'seal'
                    AND c.signed::json ->> 'seq' = NEW.through_seq::text AND c.signed::json ->> 'hash' = anchor)
     OR EXISTS (SELECT 1 FROM audit_events a WHERE a.seq = NEW.through_seq AND a.hash IS DISTINCT FROM anchor) THEN
    RAISE EXCEPTION 'a purge must end at a signed checkpoint whose hash its record names';
  END IF;
  IF EXISTS (SELECT 1 FROM legal_holds) THEN
    RAISE EXCEPTION 'a legal hold is in place; nothing is purged';
  END IF;
  RETURN NEW;
END $f$;

CREATE FUNCTION warden_audit_events_delete() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_purges
                  WHERE record_seq = (SELECT max(seq) FROM audit_events) AND OLD.seq <= through_seq) THEN
    RAISE EXCEPTION 'audit events are append-only; only a retention purge removes old events';
  END IF;
  RETURN OLD;
END $f$;

CREATE TRIGGER audit_purges_check BEFORE INSERT ON audit_purges
FOR EACH ROW EXECUTE FUNCTION warden_audit_purge_check();
CREATE TRIGGER audit_purges_no_update BEFORE UPDATE OR DELETE ON audit_purges
FOR EACH ROW EXECUTE FUNCTION warden_reject('purge records are append-only');
CREATE TRIGGER audit_purges_no_truncate BEFORE TRUNCATE ON audit_purges
FOR EACH STATEMENT EXECUTE FUNCTION warden_reject('purge records are append-only');
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION warden_audit_events_delete();
`,
  },
  {
    version: 7,
    name: 'a call ends once: completed or voided',
    sql: `
-- A decision whose caller was answered STORE_UNAVAILABLE is voided once, whichever instance or retry
-- tries again, and a call is either completed or voided, never both, whatever the race between the two.
CREATE UNIQUE INDEX audit_events_call_end ON audit_events (call_id)
  WHERE type IN ('call.completed', 'call.voided');
`,
  },
  {
    version: 8,
    name: 'a reservation charged on expiry is expired, not settled',
    sql: `
-- A reservation the lease sweep charged at its estimate was marked settled, like one a completion settled:
-- a completion could not tell the two apart.
ALTER TABLE budget_reservations DROP CONSTRAINT budget_reservations_state_check,
  ADD CONSTRAINT budget_reservations_state_check CHECK (state IN ('held', 'settled', 'released', 'expired'));
-- Those charged on expiry before: their ledger rows name them and no price table (a settle names one).
-- (One pass over the ledger: it has no index on reservation_id.)
UPDATE budget_reservations SET state = 'expired'
 WHERE state = 'settled'
   AND id IN (SELECT reservation_id FROM budget_ledger WHERE price_version IS NULL AND reservation_id IS NOT NULL);
`,
  },
  {
    version: 9,
    name: 'people who sign in through the identity provider',
    sql: `
-- A person signed in through OpenID Connect, by (issuer, subject): their role and groups as the IdP said
-- at their last sign-in. Requests read them from here, so a group removed in the IdP is gone everywhere
-- at the person's next sign-in. groups and approver_groups are JSON arrays (as text, as in SQLite).
CREATE TABLE people (
  issuer text NOT NULL,
  subject text NOT NULL,
  name text NOT NULL,
  email text,
  display_name text,
  role text CHECK (role IS NULL OR role IN ('approver', 'admin', 'auditor')),
  groups text NOT NULL,
  approver_groups text NOT NULL,
  first_signed_in_at text NOT NULL,
  last_signed_in_at text NOT NULL,
  PRIMARY KEY (issuer, subject)
);
CREATE INDEX people_email ON people (lower(email));
CREATE INDEX people_name ON people (name);
`,
  },
  {
    version: 10,
    name: 'API key permissions',
    sql: `
-- What a key may do beyond its role, as a JSON array: 'initiator' lets a service key start tasks for a
-- person it vouches for. Keys made before hold none.
ALTER TABLE api_keys ADD COLUMN permissions text NOT NULL DEFAULT '[]';
`,
  },
  {
    version: 11,
    name: 'rollups: sums maintained in the commit of the events they summarise',
    sql: `
-- Derived data: every commit adds its events' deltas (rollups/derivers.ts) to the cells they fall in, in
-- the same transaction, so usage charts and session figures read a few rows instead of the trail. Only
-- the commit path and this backfill write it; verification never reads it. A retention purge keeps it:
-- the sums of purged hours outlive their events. Keys compare bytewise ("C"): buckets order as text.
CREATE TABLE rollups (
  name text COLLATE "C" NOT NULL,
  bucket text COLLATE "C" NOT NULL,
  dims text COLLATE "C" NOT NULL,
  metric text COLLATE "C" NOT NULL,
  value double precision NOT NULL,
  PRIMARY KEY (name, bucket, dims, metric)
);
`,
    backfill: (client) => backfillPostgresRollups(client),
  },
  {
    version: 12,
    name: 'audit events partitioned by month; one decision and one end per call in audit_calls',
    sql: MIGRATION_12_SQL,
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
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
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
      await m.backfill?.(client);
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
