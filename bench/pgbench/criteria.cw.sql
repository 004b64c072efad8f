-- create + criteria-heavy cascade: 5 steps, 3 group-condition transitions per state (cyoda_wf)
\set n random(1, 1000000000)
INSERT INTO cyoda_wf.entity (model, data) VALUES ('b_crit', bench.data(:n));
