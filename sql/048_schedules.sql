-- Scheduled JOB sources (pg_cron) -------------------------------------------

CREATE FUNCTION cyoda_wf.add_scheduled_item(model text, model_version integer, data jsonb)
    RETURNS uuid LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'add_scheduled_item';
COMMENT ON FUNCTION cyoda_wf.add_scheduled_item(text, integer, jsonb) IS
    'Create an entity with source SCHEDULED (what schedule_job''s cron ticks run)';

CREATE FUNCTION cyoda_wf.schedule_job(job_name text, schedule text, model text,
                                      model_version integer, data jsonb DEFAULT '{}')
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'schedule_job';
COMMENT ON FUNCTION cyoda_wf.schedule_job(text, text, text, integer, jsonb) IS
    'Create (or replace) a pg_cron job, run as the calling role, that creates one entity (source SCHEDULED) per tick; returns the job id';

CREATE FUNCTION cyoda_wf.unschedule_job(job_name text)
    RETURNS boolean LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'unschedule_job';
COMMENT ON FUNCTION cyoda_wf.unschedule_job(text) IS
    'Remove a job the calling role made with schedule_job; false when there is none';

-- Dropping the extension (directly or by a cascade) removes the pg_cron jobs
-- schedule_job made here: a hook of the library does it, which this event
-- trigger makes sure is loaded in the dropping session.
CREATE FUNCTION cyoda_wf.drop_schedules() RETURNS event_trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'drop_schedules';
COMMENT ON FUNCTION cyoda_wf.drop_schedules() IS
    'Event trigger: loads the library before DROP EXTENSION, DROP SCHEMA and DROP OWNED, so that its hook removes the pg_cron jobs of schedule_job in this database when the drop reaches cyoda_wf';
CREATE EVENT TRIGGER cyoda_wf_drop_schedules ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION cyoda_wf.drop_schedules();
