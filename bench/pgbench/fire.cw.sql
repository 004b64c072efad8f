-- manual fire of "toggle" on an existing entity (cyoda_wf)
\set n random(1, :nseed)
SELECT cyoda_wf.fire(bench.tid(:n), 'toggle');
