-- create + criteria-heavy cascade: 5 steps, 3 group-condition transitions per state (PL/pgSQL engine)
\set n random(1, 1000000000)
INSERT INTO plwf.entity (model, data) VALUES ('b_crit', bench.data(:n));
