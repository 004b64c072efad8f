-- create + cascade through 5 automatic transitions (PL/pgSQL engine)
-- With -D rollback=1 inside BEGIN ... ROLLBACK: the scaling curves, so that
-- the number of stored entities stays what the curve says.
\set n random(1, 1000000000)
\if :rollback
BEGIN;
\endif
INSERT INTO plwf.entity (model, data) VALUES ('b_chain', bench.data(:n));
\if :rollback
ROLLBACK;
\endif
