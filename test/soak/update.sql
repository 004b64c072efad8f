-- pgbench: a loopback save on a hot entity: read-modify-write with
-- if_match, or a plain UPDATE of data (sometimes setting the "close" flag,
-- which cascades through auto_close).
\set k random(1, 16)
\set how random(1, 4)
\if :how <= 2
SELECT public.soak_try('rmw', format('SELECT public.soak_rmw(%s)', :k));
\elif :how = 3
SELECT public.soak_try('loopback', format(
  'UPDATE cyoda_wf.entity SET data = data || ''{"close": true}'' WHERE id = %L', public.soak_hot_id(:k)));
\else
SELECT public.soak_try('loopback', format(
  'UPDATE cyoda_wf.entity SET data = data || jsonb_build_object(''seen'', now()) WHERE id = %L', public.soak_hot_id(:k)));
\endif
