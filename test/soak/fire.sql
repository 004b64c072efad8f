-- pgbench: fire a random manual transition on a random hot entity.
\set k random(1, 16)
\set t random(1, 9)
SELECT public.soak_try('fire', format('SELECT cyoda_wf.fire(%L, %L)', public.soak_hot_id(:k),
       (ARRAY['touch', 'close', 'reopen', 'reopen', 'bg', 'link', 'link', 'spawn', 'touch'])[:t]));
