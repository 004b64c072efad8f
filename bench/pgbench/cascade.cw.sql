-- create + cascade through 5 automatic transitions (cyoda_wf)
\set n random(1, 1000000000)
INSERT INTO cyoda_wf.entity (model, data) VALUES ('b_chain', bench.data(:n));
