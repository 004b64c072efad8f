-- scaling: manual fire of "toggle" on one of the :nstored stored entities (cyoda_wf)
\set n random(1, :nstored)
SELECT cyoda_wf.fire(bench.tid(:n), 'toggle');
