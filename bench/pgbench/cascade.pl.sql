-- create + cascade through 5 automatic transitions (PL/pgSQL engine)
\set n random(1, 1000000000)
INSERT INTO plwf.entity (model, data) VALUES ('b_chain', bench.data(:n));
