-- cyoda_wf upgrade script: 0.1.0 -> 0.2.0
--
-- Every schema change of 0.2.0 is made here as well as in the install script
-- (cyoda_wf--0.2.0.sql); test/scripts/upgrade.sh checks that ALTER EXTENSION
-- cyoda_wf UPDATE on a 0.1.0 database with data gives the same objects as a
-- fresh CREATE EXTENSION and keeps the data.
\echo Use "ALTER EXTENSION cyoda_wf UPDATE TO '0.2.0'" to load this file. \quit

-- Connections (data ingestion in the install script): "connection" is a reserved model (no
-- imported workflow, written only by create_connection / drop_connection);
-- ingest uses the definition create_connection stored in
-- connection_definition, never the entity; secrets are keyed by the
-- connection's entity id; ingest is a C entry point that adds the raw data
-- entity as its caller; headers the HTTP client sets itself are refused.
CREATE TABLE cyoda_wf.connection_definition (
    name        text        PRIMARY KEY,
    entity_id   uuid        NOT NULL UNIQUE,
    definition  jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE cyoda_wf.connection_definition IS
    'The connections ingest uses: name, entity id and definition (secret values "***") as create_connection stored them; written by create_connection / drop_connection only';
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.connection_definition', '');
REVOKE ALL ON TABLE cyoda_wf.connection_definition FROM PUBLIC;

-- The 0.1.0 connections: for each live connection entity, the newest
-- version the extension owner saved (create_connection ran as the owner;
-- versions written by other roles are not trusted), and for each name the
-- newest such entity.  Secrets of names left without a definition go.
WITH owner AS (
    SELECT pg_catalog.pg_get_userbyid(c.relowner) AS name
      FROM pg_catalog.pg_class AS c WHERE c.oid = 'cyoda_wf.entity'::pg_catalog.regclass
), saved AS (
    SELECT DISTINCT ON (v.entity_id) v.entity_id, v.data ->> 'name' AS name, v.data, v.changed_at
      FROM cyoda_wf.entity_version AS v
      JOIN cyoda_wf.entity AS e ON e.id = v.entity_id
      JOIN owner ON v.changed_by = owner.name
     WHERE e.model = 'connection' AND e.model_version = 1 AND v.change_type <> 'DELETE'
       AND pg_catalog.jsonb_typeof(v.data -> 'name') = 'string'
     ORDER BY v.entity_id, v.changed_at DESC, v.version DESC
)
INSERT INTO cyoda_wf.connection_definition (name, entity_id, definition, updated_at)
SELECT DISTINCT ON (s.name) s.name, s.entity_id, s.data, s.changed_at
  FROM saved AS s
 ORDER BY s.name, s.changed_at DESC, s.entity_id;

ALTER TABLE cyoda_wf.connection_secret ADD COLUMN connection_id uuid;
UPDATE cyoda_wf.connection_secret AS s SET connection_id = d.entity_id
  FROM cyoda_wf.connection_definition AS d WHERE d.name = s.connection;
DELETE FROM cyoda_wf.connection_secret WHERE connection_id IS NULL;
ALTER TABLE cyoda_wf.connection_secret
    ALTER COLUMN connection_id SET NOT NULL,
    ADD FOREIGN KEY (connection_id) REFERENCES cyoda_wf.connection_definition (entity_id)
        ON UPDATE CASCADE ON DELETE CASCADE,
    DROP CONSTRAINT connection_secret_pkey,
    ADD PRIMARY KEY (connection_id, kind, key);

-- Workflows imported for the reserved model under 0.1.0 would run inside
-- create_connection: removed (its entities run the default workflow).
DELETE FROM cyoda_wf.workflow WHERE model = 'connection';

DROP FUNCTION cyoda_wf.ingest_py(text, jsonb, text, jsonb);
CREATE FUNCTION cyoda_wf.ingest_py(connection text, params jsonb, raw_model text, meta jsonb,
                                   OUT model text, OUT data jsonb)
    LANGUAGE plpython3u VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
from cyoda_wf import data_ingestion
return data_ingestion.sql_ingest(connection, params, raw_model, meta)
$$;
COMMENT ON FUNCTION cyoda_wf.ingest_py(text, jsonb, text, jsonb) IS
    'Internal: the PL/Python side of ingest: fetch and parse; the model and data of the raw data entity';

CREATE FUNCTION cyoda_wf.write_connection_entity(op text, id uuid, data jsonb)
    RETURNS uuid
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'write_connection_entity';
COMMENT ON FUNCTION cyoda_wf.write_connection_entity(text, uuid, jsonb) IS
    'Internal: the writes of create_connection / drop_connection on their entity of the reserved model "connection"';

CREATE FUNCTION cyoda_wf.ingest_fetch(connection text, params jsonb, raw_model text, meta jsonb,
                                      OUT model text, OUT data jsonb)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    msg text;
    state text;
    det text;
    hin text;
BEGIN
    SELECT * INTO model, data FROM cyoda_wf.ingest_py(connection, params, raw_model, meta);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE,
                            det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    -- PL/Python puts "plpy.Error: " or "spiexceptions.X: " before messages.
    msg := regexp_replace(msg, '^(plpy\.Error|spiexceptions\.[A-Za-z]+): ', '');
    IF det <> '' AND hin <> '' THEN
        RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = state, DETAIL = det, HINT = hin;
    ELSIF det <> '' THEN
        RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = state, DETAIL = det;
    ELSIF hin <> '' THEN
        RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = state, HINT = hin;
    ELSE
        RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = state;
    END IF;
END
$$;
COMMENT ON FUNCTION cyoda_wf.ingest_fetch(text, jsonb, text, jsonb) IS
    'Internal: fetch and parse for ingest, as the extension owner; the model and data of the raw data entity';

CREATE OR REPLACE FUNCTION cyoda_wf.ingest(connection text, params jsonb DEFAULT NULL,
                                           raw_model text DEFAULT NULL, meta jsonb DEFAULT NULL)
    RETURNS uuid
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'ingest';

REVOKE ALL ON FUNCTION cyoda_wf.ingest_py(text, jsonb, text, jsonb),
                       cyoda_wf.write_connection_entity(text, uuid, jsonb),
                       cyoda_wf.ingest_fetch(text, jsonb, text, jsonb) FROM PUBLIC;

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

-- One handler for the errors of the PL/Python sides: raise_python_error
-- removes the "plpy.Error: " / "spiexceptions.X: " prefix for load_functions,
-- create_connection, drop_connection and ingest_fetch alike (load_functions
-- removed only "plpy.Error: " and let a cancel through unchanged).
CREATE FUNCTION cyoda_wf.raise_python_error(message text, state text, detail text, hint text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    plain text := regexp_replace(message, '^(plpy\.Error|spiexceptions\.[A-Za-z]+): ', '');
BEGIN
    IF plain = message THEN
        RETURN;
    ELSIF detail <> '' AND hint <> '' THEN
        RAISE EXCEPTION USING MESSAGE = plain, ERRCODE = state, DETAIL = detail, HINT = hint;
    ELSIF detail <> '' THEN
        RAISE EXCEPTION USING MESSAGE = plain, ERRCODE = state, DETAIL = detail;
    ELSIF hint <> '' THEN
        RAISE EXCEPTION USING MESSAGE = plain, ERRCODE = state, HINT = hint;
    ELSE
        RAISE EXCEPTION USING MESSAGE = plain, ERRCODE = state;
    END IF;
END
$$;
COMMENT ON FUNCTION cyoda_wf.raise_python_error(text, text, text, text) IS
    'Internal: raise an error caught from a PL/Python function again without the "plpy.Error: " / "spiexceptions.X: " prefix; returns for an error without one';

CREATE OR REPLACE FUNCTION cyoda_wf.load_functions(source text, function_schema text DEFAULT 'public')
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
BEGIN
    RETURN QUERY SELECT f FROM cyoda_wf.load_functions_py(source, function_schema) AS f;
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;

CREATE OR REPLACE FUNCTION cyoda_wf.create_connection(name text, definition jsonb)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
BEGIN
    RETURN cyoda_wf.create_connection_py(name, definition);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;

CREATE OR REPLACE FUNCTION cyoda_wf.drop_connection(name text)
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
BEGIN
    RETURN cyoda_wf.drop_connection_py(name);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;

CREATE OR REPLACE FUNCTION cyoda_wf.ingest_fetch(connection text, params jsonb, raw_model text, meta jsonb,
                                      OUT model text, OUT data jsonb)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
BEGIN
    SELECT * INTO model, data FROM cyoda_wf.ingest_py(connection, params, raw_model, meta);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;
REVOKE ALL ON FUNCTION cyoda_wf.raise_python_error(text, text, text, text) FROM PUBLIC;
-- load_functions runs as its caller: the roles granted EXECUTE on it under
-- 0.1.0 get EXECUTE on raise_python_error too, so that its errors stay plain.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::pg_catalog.regrole AS role
               FROM pg_catalog.pg_proc AS p,
                    pg_catalog.aclexplode(p.proacl) AS a
              WHERE p.oid = 'cyoda_wf.load_functions(text, text)'::pg_catalog.regprocedure
                AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION cyoda_wf.raise_python_error(text, text, text, text) TO %s',
                                  r.role);
    END LOOP;
END
$$;

-- Shards: this database's shard number and time-ordered entity ids (src/shard.c)
-- This database's shard number (one row; none: shard 0, never set).  pg_dump
-- keeps it, so a restored shard mints its own ids again (src/shard.c).
CREATE TABLE cyoda_wf.shard_config (
    only_row        boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    shard           integer     NOT NULL CHECK (shard BETWEEN 0 AND 4095)
);
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.shard_config', '');
CREATE FUNCTION cyoda_wf.shard_config_changed() RETURNS trigger
    LANGUAGE C
    AS 'MODULE_PATHNAME', 'cyoda_wf_shard_config_changed';
CREATE TRIGGER shard_config_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cyoda_wf.shard_config
    FOR EACH STATEMENT EXECUTE FUNCTION cyoda_wf.shard_config_changed();

CREATE FUNCTION cyoda_wf.new_id() RETURNS uuid
    LANGUAGE C VOLATILE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'cyoda_wf_new_id';
COMMENT ON FUNCTION cyoda_wf.new_id() IS
    'A new time-ordered entity id (UUID version 7 layout) carrying this database''s shard number';
CREATE FUNCTION cyoda_wf.shard() RETURNS integer
    LANGUAGE C STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'cyoda_wf_shard';
COMMENT ON FUNCTION cyoda_wf.shard() IS
    'This database''s shard number (0 when never set)';
CREATE FUNCTION cyoda_wf.shard_of(id uuid) RETURNS integer
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'cyoda_wf_shard_of';
COMMENT ON FUNCTION cyoda_wf.shard_of(uuid) IS
    'The shard an entity id belongs to; 22023 for a uuid that is not such an id';
CREATE FUNCTION cyoda_wf.set_shard(shard integer) RETURNS integer
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'cyoda_wf_set_shard';
COMMENT ON FUNCTION cyoda_wf.set_shard(integer) IS
    'Record this database''s shard number (0..4095); refused once entities exist';
REVOKE ALL ON TABLE cyoda_wf.shard_config FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.shard_config_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.shard() FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.shard_of(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.set_shard(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.new_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cyoda_wf.new_id() TO PUBLIC;
ALTER TABLE cyoda_wf.entity ALTER COLUMN id SET DEFAULT cyoda_wf.new_id();

-- Router support: remote_call and definition_digest (src/remote.c, cyoda_wf_router)
-- The router's way in (cyoda_wf_router, src/remote.c): one API call run in a
-- subtransaction, its error returned as data; and a digest of the
-- definitions, which the router compares between shards (cluster_check).
CREATE FUNCTION cyoda_wf.remote_call(fn text, args text[], dry_run boolean DEFAULT false,
                                     OUT result jsonb, OUT sqlstate text, OUT message text,
                                     OUT detail text, OUT hint text)
    RETURNS record
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'cyoda_wf_remote_call';
COMMENT ON FUNCTION cyoda_wf.remote_call(text, text[], boolean) IS
    'For the router: call a cyoda_wf function (fn: its signature) with its arguments as text, as the caller, in a subtransaction; returns the result as jsonb or the error (sqlstate, message, detail, hint) as data; dry_run rolls the call back';
CREATE FUNCTION cyoda_wf.definition_digest()
    RETURNS TABLE (item text, digest text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    SELECT 'model ' || m.name || ' version ' || m.version,
           md5(jsonb_build_array(
                   m.entity_type, m.sources, m.depends_on, m.function_schema, m.design,
                   (SELECT jsonb_agg(jsonb_build_array(w.name, w.ord, w.definition,
                                                       w.function_schema, w.owner::text)
                                     ORDER BY w.ord, w.name)
                      FROM cyoda_wf.workflow w
                     WHERE w.model = m.name AND w.model_version = m.version))::text)
      FROM cyoda_wf.model m
    UNION ALL
    SELECT 'python module ' || p.sha256, 'loaded'
      FROM cyoda_wf.python_module p
    ORDER BY 1
$$;
COMMENT ON FUNCTION cyoda_wf.definition_digest() IS
    'For the router''s cluster_check: one digest per model version (its model row and workflows) and one row per Python module loaded';
REVOKE ALL ON FUNCTION cyoda_wf.remote_call(text, text[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.definition_digest() FROM PUBLIC;
