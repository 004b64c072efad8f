-- create + cascade through 5 automatic transitions, each running bench_sql_step (cyoda_wf)
\set n random(1, 1000000000)
INSERT INTO cyoda_wf.entity (model, data) VALUES ('b_sql', bench.data(:n));
