/**
 * Schema 12 on PostgreSQL: the audit table partitioned by month of `ts`, the per-call uniqueness moved to
 * a small table of its own, and the functions the store calls to create partitions ahead, to append a
 * commit's events in one round trip and to drop the partitions a purge leaves empty.
 */

/** The monthly partitions' names: audit_events_y2026m12 holds ts in ['2026-12', '2027-01'). */
export const PARTITION_PREFIX = 'audit_events_y';

export const MIGRATION_12_SQL = `
-- The table as it was becomes one range partition of a table partitioned by month of ts, holding every
-- month up to its newest row's (audit_events_history): nothing is copied. Later months get partitions of
-- their own (warden_audit_partitions), and a default partition takes only strays (a NULL ts, a month
-- without a partition). Attached as the default instead, the history would be read whole under an
-- exclusive lock on the audit table each time a month's partition is created, to prove it holds none of
-- that month's rows. A history holding a NULL ts cannot be a range partition: it becomes the default,
-- and the months it holds stay there. Retention deletes the history's and the default's rows one by one
-- as before and drops monthly partitions whole.
ALTER TABLE audit_events RENAME TO audit_events_history;
-- Row triggers are cloned from the parent on attach (same names): the table's own go first. Its TRUNCATE
-- trigger stays: statement triggers are per partition.
DROP TRIGGER audit_events_no_update ON audit_events_history;
DROP TRIGGER audit_events_no_delete ON audit_events_history;
-- Per-call uniqueness moves to audit_calls below (a unique index on a partitioned table must include ts).
DROP INDEX audit_events_call_decided;
DROP INDEX audit_events_call_completed;
DROP INDEX audit_events_call_end;
ALTER INDEX audit_events_ts RENAME TO audit_events_history_ts;
ALTER INDEX audit_events_agent RENAME TO audit_events_history_agent;
ALTER INDEX audit_events_session RENAME TO audit_events_history_session;
ALTER INDEX audit_events_type RENAME TO audit_events_history_type;
ALTER INDEX audit_events_event_id RENAME TO audit_events_history_event_id;

CREATE TABLE audit_events (
  seq bigint NOT NULL,
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
  approvers text[] COLLATE "C",
  event_id text COLLATE "C"
) PARTITION BY RANGE (ts);
-- seq is unique by construction (assigned under the chain lock, audit_head) and checked by verification
-- (a repeated seq is SEQUENCE_ORDER); a unique index on a partitioned table must hold the partition key.
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq, ts);
CREATE INDEX audit_events_ts ON audit_events (ts);
CREATE INDEX audit_events_agent ON audit_events (agent, seq);
CREATE INDEX audit_events_session ON audit_events (session, seq);
CREATE INDEX audit_events_type ON audit_events (type, seq);
CREATE INDEX audit_events_event_id ON audit_events (event_id);
CREATE INDEX audit_events_call_id ON audit_events (call_id);
-- Row triggers on a partitioned table are cloned to every partition, present and future.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
FOR EACH ROW EXECUTE FUNCTION warden_reject('audit events are append-only');
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION warden_audit_events_delete();
-- Covers TRUNCATE audit_events; each partition gets its own (warden_audit_partitions).
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION warden_reject('audit events are append-only');
DO $m$
DECLARE
  newest text;
  upto text;
BEGIN
  SELECT left(max(ts), 7) INTO newest FROM audit_events_history;
  IF EXISTS (SELECT 1 FROM audit_events_history WHERE ts IS NULL) OR newest !~ '^[0-9]{4}-[0-9]{2}$' THEN
    ALTER TABLE audit_events_history RENAME TO audit_events_default;
    ALTER TABLE audit_events ATTACH PARTITION audit_events_default DEFAULT;
  ELSE
    -- Up to the month after its newest row's (an empty history: up to this month, which gets its own).
    upto := CASE WHEN newest IS NULL THEN to_char(date_trunc('month', now()), 'YYYY-MM')
                 ELSE to_char(to_date(newest, 'YYYY-MM') + interval '1 month', 'YYYY-MM') END;
    EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION audit_events_history FOR VALUES FROM (MINVALUE) TO (%L)',
                   upto);
    CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events_default
    FOR EACH STATEMENT EXECUTE FUNCTION warden_reject('audit events are append-only');
  END IF;
END $m$;

-- One decision and one end (completion or void) per call, across every partition and every instance:
-- PostgreSQL cannot enforce a unique index across partitions without the partition key, and a call's
-- decision and completion may fall in different months. A small unpartitioned table keyed by call id,
-- filled by a trigger on every call event however it is inserted, keeps the guarantee exactly as the
-- unique indexes on audit_events did (same index names, so the same errors), without a read under the
-- chain lock. Its rows go with a purge (seq <= through), under the events' delete rule.
CREATE TABLE audit_calls (
  call_id text COLLATE "C" NOT NULL,
  type text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  -- The event's partition key, so findCall reads each event from its own partition.
  ts text COLLATE "C"
);
CREATE UNIQUE INDEX audit_events_call_decided ON audit_calls (call_id) WHERE type = 'call.decided';
CREATE UNIQUE INDEX audit_events_call_completed ON audit_calls (call_id) WHERE type = 'call.completed';
CREATE UNIQUE INDEX audit_events_call_end ON audit_calls (call_id) WHERE type IN ('call.completed', 'call.voided');
INSERT INTO audit_calls (call_id, type, seq, ts)
SELECT call_id, type, seq, ts FROM audit_events
 WHERE type IN ('call.decided', 'call.completed', 'call.voided') AND call_id IS NOT NULL;
CREATE TRIGGER audit_calls_no_update BEFORE UPDATE ON audit_calls
FOR EACH ROW EXECUTE FUNCTION warden_reject('audit call index rows are append-only');
CREATE TRIGGER audit_calls_no_delete BEFORE DELETE ON audit_calls
FOR EACH ROW EXECUTE FUNCTION warden_audit_events_delete();
CREATE TRIGGER audit_calls_no_truncate BEFORE TRUNCATE ON audit_calls
FOR EACH STATEMENT EXECUTE FUNCTION warden_reject('audit call index rows are append-only');

CREATE FUNCTION warden_audit_call() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO audit_calls (call_id, type, seq, ts) VALUES (NEW.call_id, NEW.type, NEW.seq, NEW.ts);
  RETURN NEW;
END $f$;
CREATE TRIGGER audit_events_call BEFORE INSERT ON audit_events
FOR EACH ROW WHEN (NEW.type IN ('call.decided', 'call.completed', 'call.voided') AND NEW.call_id IS NOT NULL)
EXECUTE FUNCTION warden_audit_call();

-- Creates the monthly partitions of the months from p_from to p_until ('YYYY-MM…', inclusive) that are
-- missing, each with its TRUNCATE trigger, under an advisory lock so instances do not race. A month some
-- row of the default partition already holds is left to the default (creating its partition would fail),
-- and so is one within the history's range (it goes to the history).
-- Returns the last month ensured ('YYYY-MM').
CREATE FUNCTION warden_audit_partitions(p_from text, p_until text) RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
  m date := to_date(left(p_from, 7), 'YYYY-MM');
  last date := to_date(left(p_until, 7), 'YYYY-MM');
  lo text;
  hi text;
  name text;
BEGIN
  PERFORM pg_advisory_xact_lock(131260414715247);
  WHILE m <= last LOOP
    lo := to_char(m, 'YYYY-MM');
    hi := to_char(m + interval '1 month', 'YYYY-MM');
    name := '${PARTITION_PREFIX}' || to_char(m, 'YYYY') || 'm' || to_char(m, 'MM');
    IF to_regclass(name) IS NULL
       AND NOT EXISTS (SELECT 1 FROM audit_events_default WHERE ts >= lo AND ts < hi) THEN
      BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
        EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION warden_reject(%L)', name, 'audit events are append-only');
      EXCEPTION WHEN invalid_object_definition THEN
        NULL; -- the month lies within audit_events_history (before schema 12): its rows go there
      END;
    END IF;
    m := m + interval '1 month';
  END LOOP;
  RETURN to_char(last, 'YYYY-MM');
END $f$;

-- The chain lock, the events and checkpoints of a commit and the head's advance in one round trip.
-- The caller links its bodies onto the head it expects (the head its instance last wrote); when the
-- locked head is another (another instance wrote meanwhile), nothing is written and the head is
-- returned, still locked, to link onto and call again. xid is what to ask txid_status about if COMMIT
-- goes unanswered, read with the lock as before. Bodies travel newline-separated and hashes
-- space-separated, as in the statement this replaces.
CREATE FUNCTION warden_append(p_seq bigint, p_hash text, p_prevs text, p_hashes text, p_bodies text,
    p_columns text, p_cp_seqs bigint[], p_cp_kinds text[], p_cp_signed text[], p_to_seq bigint,
    p_to_hash text, p_announce boolean)
RETURNS TABLE (seq bigint, hash text, xid text, appended boolean)
LANGUAGE plpgsql AS $f$
#variable_conflict use_column
DECLARE
  h record;
BEGIN
  SELECT a.seq, a.hash INTO h FROM audit_head a WHERE a.id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the audit_head row is missing: the schema was tampered with';
  END IF;
  IF h.seq IS DISTINCT FROM p_seq OR h.hash IS DISTINCT FROM p_hash THEN
    RETURN QUERY SELECT h.seq, h.hash, txid_current()::text, false;
    RETURN;
  END IF;
  -- What the caller linked must continue this head exactly: a bug there would otherwise repeat a seq in
  -- another month, which the partitioned table's (seq, ts) index cannot refuse.
  IF p_to_seq <> p_seq + coalesce(array_length(string_to_array(p_hashes, ' '), 1), 0)
     OR (p_prevs <> '' AND split_part(p_prevs, ' ', 1) <> p_hash) THEN
    RAISE EXCEPTION 'warden_append: the events do not continue the chain head (seq %, %)', p_seq, p_hash;
  END IF;
  IF p_bodies <> '' THEN
    INSERT INTO audit_events (seq, prev, hash, body, ts, type, actor, agent, session, tool, call_id, effect,
        rule_id, triggered_by, approvers, event_id)
    SELECT p_seq + r.n, r.prev, r.hash, r.body, r.ts, r.ty, r.ac, r.ag, r.se, r.tl, r.ci, r.ef, r.ru, r.tr,
           r.ap, r.ev
      FROM ROWS FROM (
        unnest(string_to_array(p_prevs, ' ')),
        unnest(string_to_array(p_hashes, ' ')),
        unnest(string_to_array(p_bodies, chr(10))),
        json_to_recordset(p_columns::json) AS (ts text, ty text, ac text, ag text, se text, tl text,
          ci text, ef text, ru text, tr text, ap text[], ev text)
      ) WITH ORDINALITY AS r(prev, hash, body, ts, ty, ac, ag, se, tl, ci, ef, ru, tr, ap, ev, n);
  END IF;
  INSERT INTO checkpoints (seq, kind, signed)
  SELECT c.seq, c.kind, c.signed FROM unnest(p_cp_seqs, p_cp_kinds, p_cp_signed) WITH ORDINALITY AS c(seq, kind, signed, n)
   ORDER BY c.n;
  UPDATE audit_head SET seq = p_to_seq, hash = p_to_hash WHERE id = 1;
  IF p_announce THEN
    PERFORM pg_notify('warden_chain', p_to_seq::text);
  END IF;
  RETURN QUERY SELECT p_to_seq, p_to_hash, txid_current()::text, true;
END $f$;

-- Drops (DETACH, then DROP) every monthly partition whose rows all lie at or below p_through, under the
-- rule the delete trigger applies to each row: a purge permission (audit_purges, accepted by its trigger
-- only for a recorded, signed purge ending at a signed anchor, with no legal hold) whose record is the
-- newest event. The default partition is never dropped. Returns how many were dropped.
CREATE FUNCTION warden_drop_purged_partitions(p_through bigint) RETURNS int
LANGUAGE plpgsql AS $f$
DECLARE
  r record;
  top bigint;
  dropped int := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_purges
                  WHERE record_seq = (SELECT max(seq) FROM audit_events) AND p_through <= through_seq)
     OR EXISTS (SELECT 1 FROM legal_holds) THEN
    RAISE EXCEPTION 'audit events are append-only; only a retention purge removes old events';
  END IF;
  FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'audit_events'::regclass AND c.relname LIKE '${PARTITION_PREFIX}%'
            ORDER BY c.relname LOOP
    EXECUTE format('SELECT max(seq) FROM %I', r.relname) INTO top;
    IF top IS NOT NULL AND top <= p_through THEN
      EXECUTE format('ALTER TABLE audit_events DETACH PARTITION %I', r.relname);
      EXECUTE format('DROP TABLE %I', r.relname);
      dropped := dropped + 1;
    END IF;
  END LOOP;
  RETURN dropped;
END $f$;
`;
