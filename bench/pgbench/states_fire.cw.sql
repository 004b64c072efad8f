-- workflow size: manual fire of "toggle" (s5 <-> s6) in the :k-state workflow (cyoda_wf)
\set n random(1, 1000)
SELECT cyoda_wf.fire(bench.kid(:k, :n), 'toggle');
