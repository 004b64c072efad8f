-- cyoda_wf upgrade script: 0.1.0 -> 0.2.0
--
-- Every schema change of 0.2.0 is made here as well as in the install script
-- (sql/[0-9]*.sql); test/scripts/upgrade.sh checks that ALTER EXTENSION
-- cyoda_wf UPDATE on a 0.1.0 database with data gives the same objects as a
-- fresh CREATE EXTENSION and keeps the data.
\echo Use "ALTER EXTENSION cyoda_wf UPDATE TO '0.2.0'" to load this file. \quit

-- Task retention: an index on finished tasks by age, prune_tasks() --------
CREATE INDEX task_finished_idx ON cyoda_wf.task (finished_at)
    WHERE state IN ('done', 'cancelled', 'expired');

CREATE FUNCTION cyoda_wf.prune_tasks(older_than interval DEFAULT NULL,
                                     include_failed boolean DEFAULT false)
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'prune_tasks';
COMMENT ON FUNCTION cyoda_wf.prune_tasks(interval, boolean) IS
    'Delete the tasks that finished (done, cancelled, expired; failed too with include_failed) more than older_than ago (NULL: cyoda_wf.task_retention); returns how many';
REVOKE ALL ON FUNCTION cyoda_wf.prune_tasks(interval, boolean) FROM PUBLIC;

-- worker_status() lists every running worker, also one not yet recorded ---
CREATE OR REPLACE FUNCTION cyoda_wf.worker_status()
    RETURNS TABLE (pid integer, database name, kind text, started_at timestamptz,
                   tasks_done bigint, last_active_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    -- every running worker of this database, also one that has not yet
    -- recorded itself (just started, or the extension was just created)
    SELECT a.pid, a.datname, coalesce(w.kind, split_part(a.application_name, ' ', 2)),
           a.backend_start, coalesce(w.tasks_done, 0), w.last_active_at
      FROM pg_stat_activity a
      LEFT JOIN cyoda_wf.worker w ON w.pid = a.pid AND w.database = a.datname
     WHERE a.backend_type = 'cyoda_wf worker' AND a.datname = current_database()
     ORDER BY a.pid
$$;
COMMENT ON FUNCTION cyoda_wf.worker_status() IS 'The workers of this database running now';

-- schedule_job / unschedule_job for any role granted EXECUTE; jobs removed -
-- by DROP EXTENSION
CREATE OR REPLACE FUNCTION cyoda_wf.schedule_job(job_name text, schedule text, model text,
                                                 model_version integer, data jsonb DEFAULT '{}')
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'schedule_job';
COMMENT ON FUNCTION cyoda_wf.schedule_job(text, text, text, integer, jsonb) IS
    'Create (or replace) a pg_cron job, run as the calling role, that creates one entity (source SCHEDULED) per tick; returns the job id';

CREATE OR REPLACE FUNCTION cyoda_wf.unschedule_job(job_name text)
    RETURNS boolean LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'unschedule_job';
COMMENT ON FUNCTION cyoda_wf.unschedule_job(text) IS
    'Remove a job the calling role made with schedule_job; false when there is none';

CREATE FUNCTION cyoda_wf.drop_schedules() RETURNS event_trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'drop_schedules';
COMMENT ON FUNCTION cyoda_wf.drop_schedules() IS
    'Event trigger: loads the library before DROP EXTENSION, DROP SCHEMA and DROP OWNED, so that its hook removes the pg_cron jobs of schedule_job in this database when the drop reaches cyoda_wf';
REVOKE ALL ON FUNCTION cyoda_wf.drop_schedules() FROM PUBLIC;
CREATE EVENT TRIGGER cyoda_wf_drop_schedules ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION cyoda_wf.drop_schedules();
