-- create + cascade through 5 automatic transitions (cyoda_wf)
-- With -D rollback=1 inside BEGIN ... ROLLBACK: the scaling curves, so that
-- the number of stored entities stays what the curve says.
\set n random(1, 1000000000)
\if :rollback
BEGIN;
\endif
INSERT INTO cyoda_wf.entity (model, data) VALUES ('b_chain', bench.data(:n));
\if :rollback
ROLLBACK;
\endif
