-- pgbench: run due async tasks in this session (racing the workers and the
-- manual fires of the other clients).
CALL cyoda_wf.run_tasks(20);
