-- loopback: UPDATE of the data re-evaluates the automatic transitions (PL/pgSQL engine)
\set n random(1, :nseed)
\set p random(1, 5)
UPDATE plwf.entity SET data = data || jsonb_build_object('priority', CAST(:p AS integer)) WHERE id = bench.lid(:n);
