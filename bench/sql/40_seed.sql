-- bench/sql/40_seed.sql: the existing entities that fire and loopback work
-- on (psql variable nseed per model), identical in the three variants:
-- cyoda_wf creates them through its engine, the PL/pgSQL engine through its
-- own, and the hand-written tables get copies of cyoda_wf's rows.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
INSERT INTO cyoda_wf.entity (id, model, data)
SELECT bench.tid(g), 'b_toggle', bench.data(g) FROM generate_series(1, :nseed) AS g;
INSERT INTO cyoda_wf.entity (id, model, data)
SELECT bench.lid(g), 'b_loop', bench.data(g) FROM generate_series(1, :nseed) AS g;
INSERT INTO plwf.entity (id, model, data)
SELECT bench.tid(g), 'b_toggle', bench.data(g) FROM generate_series(1, :nseed) AS g;
INSERT INTO plwf.entity (id, model, data)
SELECT bench.lid(g), 'b_loop', bench.data(g) FROM generate_series(1, :nseed) AS g;
INSERT INTO hw.entity SELECT * FROM cyoda_wf.entity WHERE model IN ('b_toggle', 'b_loop');
INSERT INTO hw.entity_version SELECT * FROM cyoda_wf.entity_version WHERE model IN ('b_toggle', 'b_loop');
VACUUM ANALYZE;
