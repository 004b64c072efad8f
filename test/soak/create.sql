-- pgbench: create an entity of its own and move it (no contention), in one
-- transaction; sometimes through plain SQL.
\set how random(1, 3)
BEGIN;
\if :how = 1
INSERT INTO cyoda_wf.entity (model, data) VALUES ('soak_cold', jsonb_build_object('k', :client_id))
RETURNING id AS cold_id \gset
\else
SELECT cyoda_wf.add_item('soak_cold', 1, jsonb_build_object('k', :client_id)) AS cold_id \gset
\endif
SELECT public.soak_try('cold', format('SELECT cyoda_wf.fire(%L, ''touch'')', ':cold_id'));
SELECT public.soak_try('cold', format('SELECT cyoda_wf.fire(%L, ''bg'')', ':cold_id'));
SELECT public.soak_try('cold', format('SELECT cyoda_wf.fire(%L, ''spawn'')', ':cold_id'));
COMMIT;
