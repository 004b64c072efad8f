-- manual fire of "toggle" on an existing entity (PL/pgSQL engine)
\set n random(1, :nseed)
SELECT plwf.fire(bench.tid(:n), 'toggle');
