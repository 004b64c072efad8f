-- pgbench: re-import the workflow (REPLACE; same meaning, changed text) while
-- entities move: every backend drops its compiled copy mid-run.
\set v random(1, 1000000)
SELECT cyoda_wf.import_workflows('soak', 1, public.soak_workflow(:v)) IS NOT NULL;
