-- 100 entities per INSERT ... SELECT, each cascading through 5 automatic transitions (cyoda_wf)
\set n random(1, 1000000000)
INSERT INTO cyoda_wf.entity (model, data)
SELECT 'b_chain', bench.data(:n + g) FROM generate_series(1, 100) AS g;
