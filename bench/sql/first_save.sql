-- bench/sql/first_save.sql: in a new session, the time of the first save of
-- an entity of the :k-state workflow (its definition is compiled into the
-- session's cache) and of the second (cached).  Prints k, first ms, second ms.
\set ON_ERROR_STOP 1
BEGIN;
SELECT clock_timestamp() AS t0 \gset
INSERT INTO cyoda_wf.entity (model, data) VALUES ('b_states' || :k, bench.data(1));
SELECT clock_timestamp() AS t1 \gset
INSERT INTO cyoda_wf.entity (model, data) VALUES ('b_states' || :k, bench.data(2));
SELECT clock_timestamp() AS t2 \gset
ROLLBACK;
SELECT :k || E'\t' || round(extract(epoch FROM (:'t1'::timestamptz - :'t0'::timestamptz)) * 1000, 3)
          || E'\t' || round(extract(epoch FROM (:'t2'::timestamptz - :'t1'::timestamptz)) * 1000, 3);
