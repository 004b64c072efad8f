-- Asynchronous work ---------------------------------------------------------

-- Queued transitions: async processors (kind 'process') and armed timers of
-- scheduled transitions (kind 'timer').  Claimed with FOR UPDATE SKIP LOCKED
-- by workers and cyoda_wf.run_tasks(); the claim, the process and the state
-- change commit together.
CREATE TABLE cyoda_wf.task (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id       uuid        NOT NULL,
    transition      text        NOT NULL,
    from_state      text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('process', 'timer')),
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'running', 'done', 'failed', 'expired', 'cancelled')),
    attempts        integer     NOT NULL DEFAULT 0,
    max_attempts    integer     NOT NULL DEFAULT 1,
    retry_delay_ms  integer     NOT NULL DEFAULT 1000,
    timeout_ms      bigint,
    last_error      text,
    run_at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at     timestamptz
);
CREATE INDEX task_due_idx ON cyoda_wf.task (run_at, id) WHERE state = 'pending';
CREATE INDEX task_entity_idx ON cyoda_wf.task (entity_id) WHERE state = 'pending';
-- done, cancelled and expired tasks by age, for pruning (task_retention, prune_tasks)
CREATE INDEX task_finished_idx ON cyoda_wf.task (finished_at)
    WHERE state IN ('done', 'cancelled', 'expired');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.task', '');

-- Workers currently serving a database (rows of exited workers are ignored).
CREATE TABLE cyoda_wf.worker (
    pid             integer     PRIMARY KEY,
    database        name        NOT NULL,
    kind            text        NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    tasks_done      bigint      NOT NULL DEFAULT 0,
    last_active_at  timestamptz
);

CREATE PROCEDURE cyoda_wf.run_tasks(max_tasks integer DEFAULT 1000)
    LANGUAGE C AS 'MODULE_PATHNAME', 'run_tasks';
COMMENT ON PROCEDURE cyoda_wf.run_tasks(integer) IS
    'Run due async tasks and timers in this session, each in its own transaction when called outside a transaction block';

CREATE FUNCTION cyoda_wf.retry_task(id bigint) RETURNS boolean
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    WITH r AS (
        UPDATE cyoda_wf.task t
           SET state = 'pending', attempts = 0, run_at = clock_timestamp(), finished_at = NULL
         WHERE t.id = retry_task.id AND t.state = 'failed'
        RETURNING t.id)
    SELECT count(*) > 0 FROM r
$$;
COMMENT ON FUNCTION cyoda_wf.retry_task(bigint) IS
    'Re-queue a failed task; false when the task is not failed';

CREATE FUNCTION cyoda_wf.prune_tasks(older_than interval DEFAULT NULL,
                                     include_failed boolean DEFAULT false)
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'prune_tasks';
COMMENT ON FUNCTION cyoda_wf.prune_tasks(interval, boolean) IS
    'Delete the tasks that finished (done, cancelled, expired; failed too with include_failed) more than older_than ago (NULL: cyoda_wf.task_retention); returns how many';

CREATE FUNCTION cyoda_wf.start_workers(n integer DEFAULT 2) RETURNS integer
    LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'start_workers';
COMMENT ON FUNCTION cyoda_wf.start_workers(integer) IS
    'Start n dynamic background workers for the current database; returns how many run now';

CREATE FUNCTION cyoda_wf.worker_status()
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

CREATE FUNCTION cyoda_wf.stop_workers() RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    -- OFFSET 0 keeps the filter below pg_terminate_backend: the planner
    -- may otherwise evaluate it first, for every backend of the server
    SELECT count(*)::integer
      FROM (SELECT a.pid FROM pg_stat_activity a
             WHERE a.backend_type = 'cyoda_wf worker' AND a.datname = current_database()
            OFFSET 0) w
     WHERE pg_terminate_backend(w.pid)
$$;
COMMENT ON FUNCTION cyoda_wf.stop_workers() IS
    'Stop the workers of the current database (static ones restart after a few seconds)';
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.task_id_seq', '');
