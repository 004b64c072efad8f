-- pgbench: delete some entity of the cold model (its pending tasks are
-- cancelled); SKIP LOCKED so that deleters do not queue behind each other.
SELECT public.soak_try('delete', format('SELECT cyoda_wf.delete_item(%L)',
       (SELECT e.id FROM cyoda_wf.entity e WHERE e.model = 'soak_cold' LIMIT 1 FOR UPDATE SKIP LOCKED)))
 WHERE EXISTS (SELECT 1 FROM cyoda_wf.entity e WHERE e.model = 'soak_cold');
