-- Scheduled JOB sources (pg_cron) -------------------------------------------

CREATE FUNCTION cyoda_wf.add_scheduled_item(model text, model_version integer, data jsonb)
    RETURNS uuid LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'add_scheduled_item';
COMMENT ON FUNCTION cyoda_wf.add_scheduled_item(text, integer, jsonb) IS
    'Create an entity with source SCHEDULED (what schedule_job''s cron ticks run)';

CREATE FUNCTION cyoda_wf.schedule_job(job_name text, schedule text, model text,
                                      model_version integer, data jsonb DEFAULT '{}')
    RETURNS bigint LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    cmd text;
BEGIN
    IF job_name IS NULL OR schedule IS NULL OR model IS NULL OR model_version IS NULL THEN
        RAISE EXCEPTION 'job_name, schedule, model and model_version must not be NULL'
            USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'cyoda_wf.schedule_job needs the pg_cron extension in database "%"', current_database()
            USING ERRCODE = '55000',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, then CREATE EXTENSION pg_cron.';
    END IF;
    IF current_setting('cron.database_name', true) IS DISTINCT FROM current_database() THEN
        RAISE EXCEPTION 'pg_cron runs jobs in database "%", not in "%"',
            coalesce(current_setting('cron.database_name', true), 'postgres'), current_database()
            USING ERRCODE = '55000',
                  HINT = 'Set cron.database_name to this database and restart the server.';
    END IF;
    cmd := format('SELECT cyoda_wf.add_scheduled_item(%L, %s, %L::jsonb)',
                  model, model_version, coalesce(data, '{}'::jsonb));
    RETURN cron.schedule(job_name, schedule, cmd);
END
$$;
COMMENT ON FUNCTION cyoda_wf.schedule_job(text, text, text, integer, jsonb) IS
    'Create (or replace) a pg_cron job that creates one entity (source SCHEDULED) per tick; returns the job id';

CREATE FUNCTION cyoda_wf.unschedule_job(job_name text)
    RETURNS boolean LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cron.job j WHERE j.jobname = unschedule_job.job_name
                      AND j.username = current_user) THEN
        RETURN false;
    END IF;
    RETURN cron.unschedule(job_name);
END
$$;
COMMENT ON FUNCTION cyoda_wf.unschedule_job(text) IS
    'Remove a job made by schedule_job; false when there is none';
