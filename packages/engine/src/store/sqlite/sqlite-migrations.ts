import type Database from 'better-sqlite3';
import { backfillSqliteRollups } from '../rollups/sqlite-rollups.js';

/** One schema version: its SQL, and work done after it in the same transaction (a backfill). */
export interface SqliteMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly backfill?: (db: Database.Database) => void;
}

/**
 * SQLite schema, one entry per version; applied in order inside BEGIN IMMEDIATE, so several processes
 * opening the same file at once apply each version exactly once. Never edit a released entry: add one.
 *
 * The audit table stores the canonical body exactly as hashed. The query columns are written from the
 * same event in the same INSERT (generated columns re-parsed the JSON once per index and halved the
 * append rate); the append-only triggers keep them from being edited afterwards.
 */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'audit chain, checkpoints, sessions, legal holds, keys',
    sql: `
CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY,
  prev TEXT NOT NULL,
  hash TEXT NOT NULL,
  body TEXT NOT NULL,
  ts TEXT NOT NULL,
  type TEXT NOT NULL,
  actor TEXT NOT NULL,
  agent TEXT,
  session TEXT,
  tool TEXT,
  call_id TEXT,
  effect TEXT,
  rule_id TEXT,
  triggered_by TEXT
);
CREATE INDEX audit_events_ts ON audit_events (ts);
CREATE INDEX audit_events_agent ON audit_events (agent, seq);
CREATE INDEX audit_events_session ON audit_events (session, seq);
-- One index finds a call's events and allows one decision and one completion per call.
CREATE UNIQUE INDEX audit_events_call ON audit_events (call_id, type)
  WHERE call_id IS NOT NULL AND type IN ('call.decided', 'call.completed');

CREATE TABLE audit_purge (id INTEGER PRIMARY KEY CHECK (id = 1), through_seq INTEGER);
INSERT INTO audit_purge (id, through_seq) VALUES (1, NULL);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > coalesce((SELECT through_seq FROM audit_purge WHERE id = 1), 0)
BEGIN SELECT RAISE(ABORT, 'audit events are append-only; only a retention purge removes old events'); END;

CREATE TABLE checkpoints (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  signed TEXT NOT NULL
);
CREATE INDEX checkpoints_seq ON checkpoints (seq);
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;

CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'paused', 'closed')),
  state_reason TEXT,
  triggered_by TEXT,
  delegation_chain TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE legal_holds (
  id TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  placed_by TEXT NOT NULL,
  placed_at TEXT NOT NULL
);

CREATE TABLE signing_keys (
  key_id TEXT PRIMARY KEY,
  pem TEXT NOT NULL,
  registered_at TEXT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'API keys, stored policies, session listing',
    sql: `
-- Keys are revoked, never deleted: the audit trail names them by id.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  principal_kind TEXT NOT NULL CHECK (principal_kind IN ('agent', 'human', 'service')),
  principal TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('agent', 'approver', 'admin', 'auditor')),
  label TEXT,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  expires_at TEXT,
  revoked_at TEXT,
  revoked_by TEXT
);
-- Listing order: created_at, then insertion order (the rowid every index entry carries).
CREATE INDEX api_keys_created ON api_keys (created_at);

-- n orders stored policies: the highest is in force, even when an older version is stored again.
CREATE TABLE policy_versions (
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  version TEXT NOT NULL,
  name TEXT NOT NULL,
  mode TEXT NOT NULL CHECK (mode IN ('enforce', 'monitor')),
  sources TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL
);

-- Session listings: most recently updated first, optionally by state or agent, read backwards.
CREATE INDEX sessions_updated ON sessions (updated_at, id);
CREATE INDEX sessions_state_updated ON sessions (state, updated_at, id);
CREATE INDEX sessions_agent_updated ON sessions (agent, updated_at, id);
`,
  },
  {
    version: 3,
    name: 'approval requests, grants, notification outbox',
    sql: `
-- An approval request: the whole record as JSON in body; the other columns are copies for queries,
-- rewritten with it on every change. version is the compare-and-set guard of every change.
CREATE TABLE approvals (
  id TEXT PRIMARY KEY,
  call_id TEXT NOT NULL UNIQUE,
  version INTEGER NOT NULL,
  status TEXT NOT NULL,
  agent TEXT NOT NULL,
  session TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  escalate_at TEXT,
  escalated INTEGER NOT NULL CHECK (escalated IN (0, 1)),
  updated_at TEXT NOT NULL,
  body TEXT NOT NULL
);
-- Listings: newest first, optionally by status, agent or session, read backwards.
CREATE INDEX approvals_created ON approvals (created_at, id);
CREATE INDEX approvals_status_created ON approvals (status, created_at, id);
CREATE INDEX approvals_agent_created ON approvals (agent, created_at, id);
CREATE INDEX approvals_session_created ON approvals (session, created_at, id);
-- The sweeper's due lookups and the pending count read only pending requests.
CREATE INDEX approvals_pending_expires ON approvals (expires_at) WHERE status = 'pending';
CREATE INDEX approvals_pending_escalate ON approvals (escalate_at) WHERE status = 'pending' AND escalated = 0;

-- Grants are revoked, not deleted, while in force; retention removes those that ended before its cutoff.
CREATE TABLE grants (
  id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  tool TEXT NOT NULL,
  cond TEXT,
  session TEXT,
  expires_at TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT,
  revoked_by TEXT
);
CREATE INDEX grants_agent_expires ON grants (agent, expires_at);
CREATE INDEX grants_created ON grants (created_at, id);

-- The webhook outbox: a row per delivery, claimed under a lease so one instance delivers it at a time.
CREATE TABLE notifications (
  id TEXT PRIMARY KEY,
  target TEXT NOT NULL,
  event_type TEXT NOT NULL,
  event_id TEXT NOT NULL,
  approval_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  lease_owner TEXT,
  lease_until TEXT,
  last_error TEXT,
  updated_at TEXT NOT NULL
);
-- Claims take the oldest pending rows first.
CREATE INDEX notifications_pending ON notifications (created_at, id) WHERE state = 'pending';
`,
  },
  {
    version: 4,
    name: 'budget counters, reservations and ledger; event ids; notifications without approvals',
    sql: `
-- One counter per budget, scope instance and window: what is reserved against and settled into.
-- Amounts are REAL: sums of decimal fractions drift in the last bits, so the store compares and reports
-- them rounded to 1e-9 (budget-rows.ts); PostgreSQL keeps them exact in numeric.
CREATE TABLE budget_counters (
  key TEXT PRIMARY KEY,
  budget_id TEXT NOT NULL,
  scope_key TEXT NOT NULL,
  metric TEXT NOT NULL CHECK (metric IN ('usd', 'tokens', 'calls')),
  win TEXT NOT NULL CHECK (win IN ('session', 'hour', 'day', 'week', 'month')),
  window_start TEXT NOT NULL,
  window_end TEXT,
  lim REAL NOT NULL,
  limit_override REAL,
  used REAL NOT NULL DEFAULT 0,
  reserved REAL NOT NULL DEFAULT 0,
  -- A percent: the policy allows fractional thresholds (12.5).
  alerted REAL NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL
);
-- Status by scope or budget, the active-window filter and retention (ended windows; idle session ones).
CREATE INDEX budget_counters_scope ON budget_counters (scope_key, window_end);
CREATE INDEX budget_counters_budget ON budget_counters (budget_id, window_end);
CREATE INDEX budget_counters_end ON budget_counters (window_end, updated_at);

-- What an admitted call holds until it settles or its lease runs out; lines is the JSON of its lines.
CREATE TABLE budget_reservations (
  id TEXT PRIMARY KEY,
  call_id TEXT NOT NULL,
  session TEXT NOT NULL,
  agent TEXT NOT NULL,
  lines TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('held', 'settled', 'released')),
  created_at TEXT NOT NULL,
  lease_until TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX budget_reservations_lease ON budget_reservations (state, lease_until);

-- Every settled amount, one row per line: a counter's used is the sum of its rows.
CREATE TABLE budget_ledger (
  id INTEGER PRIMARY KEY,
  reservation_id TEXT,
  call_id TEXT NOT NULL,
  counter_key TEXT NOT NULL,
  metric TEXT NOT NULL,
  amount REAL NOT NULL,
  price_version TEXT,
  ts TEXT NOT NULL
);
CREATE INDEX budget_ledger_counter ON budget_ledger (counter_key);

-- The event's own id, for loading one event (the notification dispatcher). Adding a column rewrites
-- nothing; events recorded before this version keep NULL and are found through their body. The index
-- holds those NULLs too, so that fallback reads only the older events.
ALTER TABLE audit_events ADD COLUMN event_id TEXT;
CREATE INDEX audit_events_event_id ON audit_events (event_id);

-- Budget alerts and session pauses are notified too, about no approval: approval_id becomes NULLable,
-- which SQLite can only do by rebuilding the table.
CREATE TABLE notifications_v4 (
  id TEXT PRIMARY KEY,
  target TEXT NOT NULL,
  event_type TEXT NOT NULL,
  event_id TEXT NOT NULL,
  approval_id TEXT,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  lease_owner TEXT,
  lease_until TEXT,
  last_error TEXT,
  updated_at TEXT NOT NULL
);
INSERT INTO notifications_v4 (id, target, event_type, event_id, approval_id, state, attempts, created_at,
    lease_owner, lease_until, last_error, updated_at)
  SELECT id, target, event_type, event_id, approval_id, state, attempts, created_at,
    lease_owner, lease_until, last_error, updated_at FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_v4 RENAME TO notifications;
CREATE INDEX notifications_pending ON notifications (created_at, id) WHERE state = 'pending';
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
-- Before 6, a DELETE of events was let through up to audit_purge.through_seq, a row any writer could set.
-- Now a purge is a row of audit_purges, which is append-only and accepted only when the database itself
-- shows a genuine purge: its retention.purged record is the newest event, names the range, and is
-- covered by a purge checkpoint (signed only in a purge's commit) at exactly its seq and hash; the range
-- ends at a non-seal checkpoint whose hash the record names; no legal hold is in place. A DELETE of an
-- event passes only at or below the through_seq of the purge whose record is still the newest event, so
-- a permission dies with the next event. SQL cannot check the Ed25519 signature: a forged purge
-- checkpoint gets past this, but it cannot be removed and audit verify rejects it (CHECKPOINT_SIGNATURE).
DROP TRIGGER audit_events_no_delete;
DROP TABLE audit_purge;
CREATE TABLE audit_purges (
  record_seq INTEGER PRIMARY KEY,
  through_seq INTEGER NOT NULL,
  purged_at TEXT NOT NULL
);
CREATE TRIGGER audit_purges_check BEFORE INSERT ON audit_purges
BEGIN
  SELECT RAISE(ABORT, 'purge records are append-only')
   WHERE EXISTS (SELECT 1 FROM audit_purges WHERE record_seq = NEW.record_seq);
  SELECT RAISE(ABORT, 'a purge needs its retention.purged record as the newest event, naming its through_seq')
   WHERE NEW.record_seq IS NOT (SELECT max(seq) FROM audit_events)
      OR NOT EXISTS (SELECT 1 FROM audit_events WHERE seq = NEW.record_seq AND type = 'retention.purged'
                     AND json_extract(body, '$.data.throughSeq') = NEW.through_seq)
      OR NEW.through_seq >= NEW.record_seq;
  SELECT RAISE(ABORT, 'a purge needs a purge checkpoint signed over its retention.purged record')
   WHERE NOT EXISTS (SELECT 1 FROM checkpoints c JOIN audit_events e ON e.seq = NEW.record_seq
                     WHERE c.seq = NEW.record_seq AND c.kind = 'purge'
                       AND json_extract(c.signed, '$.kind') = 'purge'
                       AND json_extract(c.signed, '$.seq') = e.seq AND json_extract(c.signed, '$.hash') = e.hash);
  SELECT RAISE(ABORT, 'a purge must end at a signed checkpoint whose hash its record names')
   WHERE NOT EXISTS (SELECT 1 FROM checkpoints c JOIN audit_events e ON e.seq = NEW.record_seq
                     WHERE c.seq = NEW.through_seq AND c.kind <> 'seal' AND json_extract(c.signed, '$.kind') <> 'seal'
                       AND json_extract(c.signed, '$.seq') = NEW.through_seq
                       AND json_extract(c.signed, '$.hash') = json_extract(e.body, '$.data.anchorHash'))
      OR EXISTS (SELECT 1 FROM audit_events a JOIN audit_events e ON e.seq = NEW.record_seq
                 WHERE a.seq = NEW.through_seq AND a.hash IS NOT json_extract(e.body, '$.data.anchorHash'));
  SELECT RAISE(ABORT, 'a legal hold is in place; nothing is purged') WHERE EXISTS (SELECT 1 FROM legal_holds);
END;
CREATE TRIGGER audit_purges_no_update BEFORE UPDATE ON audit_purges
BEGIN SELECT RAISE(ABORT, 'purge records are append-only'); END;
CREATE TRIGGER audit_purges_no_delete BEFORE DELETE ON audit_purges
BEGIN SELECT RAISE(ABORT, 'purge records are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_purges
                 WHERE record_seq = (SELECT max(seq) FROM audit_events) AND OLD.seq <= through_seq)
BEGIN SELECT RAISE(ABORT, 'audit events are append-only; only a retention purge removes old events'); END;

-- INSERT OR REPLACE deletes the row it conflicts with without firing delete triggers (unless a connection
-- turns recursive_triggers on): refuse one that would replace a checkpoint. Not on audit_events: any
-- BEFORE INSERT trigger there, even one that does nothing, cost a third of the append rate; a replaced
-- event breaks the chain, which verification names (HASH_MISMATCH, SEQUENCE_GAP, CHECKPOINT_MISMATCH).
CREATE TRIGGER checkpoints_no_replace BEFORE INSERT ON checkpoints
WHEN EXISTS (SELECT 1 FROM checkpoints WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only; an insert may not replace one'); END;
`,
  },
  {
    version: 7,
    name: 'a call ends once: completed or voided',
    sql: `
-- A decision whose caller was answered STORE_UNAVAILABLE is voided once, and a call is either completed
-- or voided, never both.
CREATE UNIQUE INDEX audit_events_call_end ON audit_events (call_id)
  WHERE call_id IS NOT NULL AND type IN ('call.completed', 'call.voided');
`,
  },
  {
    version: 8,
    name: 'a reservation charged on expiry is expired, not settled',
    sql: `
-- A reservation the lease sweep charged at its estimate was marked settled, like one a completion settled:
-- a completion could not tell the two apart. SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE budget_reservations_8 (
  id TEXT PRIMARY KEY,
  call_id TEXT NOT NULL,
  session TEXT NOT NULL,
  agent TEXT NOT NULL,
  lines TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('held', 'settled', 'released', 'expired')),
  created_at TEXT NOT NULL,
  lease_until TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
INSERT INTO budget_reservations_8 (id, call_id, session, agent, lines, state, created_at, lease_until, updated_at)
  SELECT id, call_id, session, agent, lines, state, created_at, lease_until, updated_at FROM budget_reservations;
DROP TABLE budget_reservations;
ALTER TABLE budget_reservations_8 RENAME TO budget_reservations;
CREATE INDEX budget_reservations_lease ON budget_reservations (state, lease_until);
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
-- at the person's next sign-in. groups and approver_groups are JSON arrays.
CREATE TABLE people (
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  name TEXT NOT NULL,
  email TEXT,
  display_name TEXT,
  role TEXT CHECK (role IS NULL OR role IN ('approver', 'admin', 'auditor')),
  groups TEXT NOT NULL,
  approver_groups TEXT NOT NULL,
  first_signed_in_at TEXT NOT NULL,
  last_signed_in_at TEXT NOT NULL,
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
ALTER TABLE api_keys ADD COLUMN permissions TEXT NOT NULL DEFAULT '[]';
`,
  },
  {
    version: 11,
    name: 'rollups: sums maintained in the commit of the events they summarise',
    sql: `
-- Derived data: every commit adds its events' deltas (rollups/derivers.ts) to the cells they fall in, in
-- the same transaction, so usage charts and session figures read a few rows instead of the trail. Only
-- the commit path and this backfill write it; verification never reads it. A retention purge keeps it:
-- the sums of purged hours outlive their events.
CREATE TABLE rollups (
  name TEXT NOT NULL,
  bucket TEXT NOT NULL,
  dims TEXT NOT NULL,
  metric TEXT NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (name, bucket, dims, metric)
) WITHOUT ROWID;
`,
    backfill: (db) => backfillSqliteRollups(db),
  },
  {
    version: 12,
    name: 'one decision per call, indexed by call id alone',
    sql: `
-- audit_events_call held every decision and completion under (call_id, type), 66 bytes an event, and no
-- query could use it (its IN list is implied by none), so finding a call scanned every event of its
-- types. A call's decision is now indexed by call id alone, and its end by audit_events_call_end (7),
-- which already allows one completion per call: the same rules in about half the bytes, and a lookup.
DROP INDEX audit_events_call;
CREATE UNIQUE INDEX audit_events_call_decided ON audit_events (call_id) WHERE type = 'call.decided';
`,
  },
];
