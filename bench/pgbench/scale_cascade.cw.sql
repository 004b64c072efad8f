-- scaling: create + 5-step cascade, rolled back so that the number of
-- stored entities stays what the curve says (cyoda_wf)
\set n random(1, 1000000000)
BEGIN;
INSERT INTO cyoda_wf.entity (model, data) VALUES ('b_chain', bench.data(:n));
ROLLBACK;
