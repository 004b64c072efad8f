-- workflow size: create + 5-step cascade in the :k-state workflow, rolled back (cyoda_wf)
\set n random(1, 1000000000)
BEGIN;
INSERT INTO cyoda_wf.entity (model, data) VALUES ('b_states' || CAST(:k AS text), bench.data(:n));
ROLLBACK;
