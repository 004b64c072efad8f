-- create + cascade through 5 automatic transitions, each running bench_sql_step (PL/pgSQL engine)
\set n random(1, 1000000000)
INSERT INTO plwf.entity (model, data) VALUES ('b_sql', bench.data(:n));
