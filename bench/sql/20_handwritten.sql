-- bench/sql/20_handwritten.sql: baseline (a), the state machine written by
-- hand in SQL.  Its tables are copies of cyoda_wf's (same columns, defaults,
-- constraints and indexes), so every variant pays for the same storage; the
-- pgbench scripts bench/pgbench/*.hw.sql do the writes one statement each.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS hw CASCADE;
CREATE SCHEMA hw;
CREATE TABLE hw.entity (LIKE cyoda_wf.entity INCLUDING ALL);
CREATE TABLE hw.entity_version (LIKE cyoda_wf.entity_version INCLUDING ALL);
-- the engine reads the clock when a save starts (started_at)
ALTER TABLE hw.entity_version ALTER COLUMN started_at SET DEFAULT clock_timestamp();
CREATE TABLE hw.audit (LIKE cyoda_wf.audit_log INCLUDING ALL);
