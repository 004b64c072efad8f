-- cyoda_wf upgrade script: 0.1.0 -> 0.2.0
--
-- Every schema change of 0.2.0 is made here as well as in the install script
-- (cyoda_wf--0.2.0.sql); test/scripts/upgrade.sh checks that ALTER EXTENSION
-- cyoda_wf UPDATE on a 0.1.0 database with data gives the same objects as a
-- fresh CREATE EXTENSION and keeps the data.
\echo Use "ALTER EXTENSION cyoda_wf UPDATE TO '0.2.0'" to load this file. \quit

-- Prefixed C symbols: the library's SQL-callable functions are named
-- cyoda_wf_* (0.1.0 exported bare names such as fire or run_tasks), so every
-- C function of 0.1.0 is pointed at its new symbol, with the install
-- script's definition.  This comes first: statements below fire the 0.1.0
-- triggers (the DELETE on cyoda_wf.workflow fires workflow_changed), whose old
-- symbols the 0.2.0 library no longer has.
CREATE OR REPLACE FUNCTION cyoda_wf.check_condition(condition jsonb, data jsonb)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'cyoda_wf_check_condition';
CREATE OR REPLACE FUNCTION cyoda_wf.entity_trigger() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'cyoda_wf_entity_trigger';
CREATE OR REPLACE FUNCTION cyoda_wf.entity_flush() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'cyoda_wf_entity_flush';
CREATE OR REPLACE FUNCTION cyoda_wf.definitions_changed() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'cyoda_wf_definitions_changed';
CREATE OR REPLACE FUNCTION cyoda_wf.add_item(model text, model_version integer, data jsonb)
    RETURNS uuid LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_add_item';
CREATE OR REPLACE FUNCTION cyoda_wf.update_item(id uuid, data jsonb DEFAULT NULL,
                                     transition text DEFAULT NULL,
                                     if_match bigint DEFAULT NULL)
    RETURNS text LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_update_item';
CREATE OR REPLACE FUNCTION cyoda_wf.fire(id uuid, transition text)
    RETURNS text LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_fire';
CREATE OR REPLACE FUNCTION cyoda_wf.delete_item(id uuid)
    RETURNS boolean LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_delete_item';
CREATE OR REPLACE FUNCTION cyoda_wf.get_item(id uuid, point_in_time timestamptz DEFAULT NULL)
    RETURNS jsonb LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'cyoda_wf_get_item';
CREATE OR REPLACE FUNCTION cyoda_wf.transitions(id uuid)
    RETURNS TABLE (name text, next_state text, manual boolean)
    LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'cyoda_wf_transitions';
CREATE OR REPLACE FUNCTION cyoda_wf.check_token(token text)
    RETURNS uuid LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_check_token';
CREATE OR REPLACE PROCEDURE cyoda_wf.run_tasks(max_tasks integer DEFAULT 1000)
    LANGUAGE C AS 'MODULE_PATHNAME', 'cyoda_wf_run_tasks';
CREATE OR REPLACE FUNCTION cyoda_wf.start_workers(n integer DEFAULT 2) RETURNS integer
    LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_start_workers';
CREATE OR REPLACE FUNCTION cyoda_wf.add_scheduled_item(model text, model_version integer, data jsonb)
    RETURNS uuid LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_add_scheduled_item';
CREATE OR REPLACE FUNCTION cyoda_wf.search(model text, model_version integer, condition jsonb,
                                point_in_time timestamptz DEFAULT NULL)
    RETURNS SETOF cyoda_wf.entity
    LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'cyoda_wf_search_entities';
CREATE OR REPLACE FUNCTION cyoda_wf.search_sql(model text, model_version integer, condition jsonb,
                                    point_in_time timestamptz DEFAULT NULL)
    RETURNS text
    LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'cyoda_wf_search_sql';

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
    AS 'MODULE_PATHNAME', 'cyoda_wf_write_connection_entity';
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
    AS 'MODULE_PATHNAME', 'cyoda_wf_ingest';

REVOKE ALL ON FUNCTION cyoda_wf.ingest_py(text, jsonb, text, jsonb),
                       cyoda_wf.write_connection_entity(text, uuid, jsonb),
                       cyoda_wf.ingest_fetch(text, jsonb, text, jsonb) FROM PUBLIC;

-- Task retention: an index on finished tasks by age, prune_tasks() --------
CREATE INDEX task_finished_idx ON cyoda_wf.task (finished_at)
    WHERE state IN ('done', 'cancelled', 'expired');

CREATE FUNCTION cyoda_wf.prune_tasks(older_than interval DEFAULT NULL,
                                     include_failed boolean DEFAULT false)
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_prune_tasks';
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
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_schedule_job';
COMMENT ON FUNCTION cyoda_wf.schedule_job(text, text, text, integer, jsonb) IS
    'Create (or replace) a pg_cron job, run as the calling role, that creates one entity (source SCHEDULED) per tick; returns the job id';

CREATE OR REPLACE FUNCTION cyoda_wf.unschedule_job(job_name text)
    RETURNS boolean LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_unschedule_job';
COMMENT ON FUNCTION cyoda_wf.unschedule_job(text) IS
    'Remove a job the calling role made with schedule_job; false when there is none';

CREATE FUNCTION cyoda_wf.drop_schedules() RETURNS event_trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'cyoda_wf_drop_schedules';
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
ALTER TABLE cyoda_wf.entity ALTER COLUMN id SET DEFAULT cyoda_wf.new_id();
-- The id default runs as whoever inserts: the roles that could INSERT into
-- cyoda_wf.entity under 0.1.0 get EXECUTE on new_id, so their INSERTs work on.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::pg_catalog.regrole AS role
               FROM pg_catalog.pg_class AS c,
                    pg_catalog.aclexplode(c.relacl) AS a
              WHERE c.oid = 'cyoda_wf.entity'::pg_catalog.regclass
                AND a.privilege_type = 'INSERT'
                AND a.grantee <> 0 AND a.grantee <> c.relowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION cyoda_wf.new_id() TO %s', r.role);
    END LOOP;
    FOR r IN SELECT DISTINCT a.grantee::pg_catalog.regrole AS role
               FROM pg_catalog.pg_attribute AS t,
                    pg_catalog.aclexplode(t.attacl) AS a
              WHERE t.attrelid = 'cyoda_wf.entity'::pg_catalog.regclass
                AND a.privilege_type = 'INSERT'
                AND a.grantee <> 0
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION cyoda_wf.new_id() TO %s', r.role);
    END LOOP;
END
$$;
-- Entity models (README: Entity models): the schema, state and change level of a
-- registered model, at the end of cyoda_wf.model, and the model functions.
ALTER TABLE cyoda_wf.model
    ADD COLUMN model_schema     jsonb,
    ADD COLUMN model_state      text CHECK (model_state IN ('UNLOCKED', 'LOCKED')),
    ADD COLUMN change_level     text CHECK (change_level IN ('ARRAY_LENGTH', 'ARRAY_ELEMENTS', 'TYPE', 'STRUCTURAL')),
    ADD COLUMN model_updated_at timestamptz;

CREATE FUNCTION cyoda_wf.import_model(model text, model_version integer, sample jsonb)
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'cyoda_wf_import_model';

COMMENT ON FUNCTION cyoda_wf.import_model(text, integer, jsonb) IS
'Register a model version from sample data (state UNLOCKED, change level NULL), or merge the sample''s schema into an UNLOCKED one; a LOCKED model is refused (55000). Returns export_model after the import.';

CREATE FUNCTION cyoda_wf.lock_model(model text, model_version integer)
RETURNS text
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_lock_model';

COMMENT ON FUNCTION cyoda_wf.lock_model(text, integer) IS
'UNLOCKED -> LOCKED: entities of the model may be saved from now on, checked against its schema. Already LOCKED: 55000.';

CREATE FUNCTION cyoda_wf.unlock_model(model text, model_version integer)
RETURNS text
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_unlock_model';

COMMENT ON FUNCTION cyoda_wf.unlock_model(text, integer) IS
'LOCKED -> UNLOCKED, for a model with no entities (else 55000). Already UNLOCKED: 55000.';

CREATE FUNCTION cyoda_wf.set_change_level(model text, model_version integer, level text)
RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'cyoda_wf_set_change_level';

COMMENT ON FUNCTION cyoda_wf.set_change_level(text, integer, text) IS
'Set which schema changes saves of a LOCKED model may make: ARRAY_LENGTH < ARRAY_ELEMENTS < TYPE < STRUCTURAL, each permitting the lower ones; NULL permits none.';

CREATE FUNCTION cyoda_wf.delete_model(model text, model_version integer)
RETURNS boolean
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_delete_model';

COMMENT ON FUNCTION cyoda_wf.delete_model(text, integer) IS
'Unregister an UNLOCKED model with no entities (else 55000); its workflows are kept.';

CREATE FUNCTION cyoda_wf.export_model(model text, model_version integer,
                                      converter text DEFAULT 'SIMPLE_VIEW')
RETURNS jsonb
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_export_model';

COMMENT ON FUNCTION cyoda_wf.export_model(text, integer, text) IS
'The schema of a registered model as {"currentState", "model"}: converter SIMPLE_VIEW (paths to fields and types) or JSON_SCHEMA.';

CREATE FUNCTION cyoda_wf.models()
RETURNS TABLE (model text, model_version integer, state text, change_level text,
               entity_count bigint, updated_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    SELECT m.name, m.version, m.model_state, m.change_level,
           (SELECT count(*) FROM cyoda_wf.entity e
             WHERE e.model = m.name AND e.model_version = m.version),
           m.model_updated_at
      FROM cyoda_wf.model m
     WHERE m.model_schema IS NOT NULL
     ORDER BY m.name, m.version
$$;

COMMENT ON FUNCTION cyoda_wf.models() IS
'One row per registered model: state LOCKED or UNLOCKED, change level, number of entities, time of the last import, lock, unlock, level change or schema extension.';

REVOKE ALL ON FUNCTION cyoda_wf.import_model(text, integer, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.lock_model(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.unlock_model(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.set_change_level(text, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.delete_model(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.export_model(text, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.models() FROM PUBLIC;

-- patch_item: RFC 7386 merge patch of an entity's data -------------------

CREATE FUNCTION cyoda_wf.patch_item(id uuid, patch jsonb,
                                    transition text DEFAULT NULL,
                                    if_match bigint DEFAULT NULL)
    RETURNS text LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_patch_item';
COMMENT ON FUNCTION cyoda_wf.patch_item(uuid, jsonb, text, bigint) IS
    'Save the data merged with an RFC 7386 merge patch, fire a transition (NULL: loopback), run the cascade; returns the state reached';
REVOKE ALL ON FUNCTION cyoda_wf.patch_item(uuid, jsonb, text, bigint) FROM PUBLIC;

-- get_item / get_entity take transaction_id, changes takes point_in_time ----
-- The old signatures are renamed, the new ones created, the EXECUTE grants
-- of the old ones given to the new ones, and the old ones dropped.

ALTER FUNCTION cyoda_wf.get_item(uuid, timestamptz) RENAME TO get_item_0_1_0;
ALTER FUNCTION cyoda_wf.get_entity(uuid, timestamptz) RENAME TO get_entity_0_1_0;
ALTER FUNCTION cyoda_wf.changes(uuid) RENAME TO changes_0_1_0;

CREATE FUNCTION cyoda_wf.get_item(id uuid, point_in_time timestamptz DEFAULT NULL,
                                  transaction_id bigint DEFAULT NULL)
    RETURNS jsonb LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'cyoda_wf_get_item';
COMMENT ON FUNCTION cyoda_wf.get_item(uuid, timestamptz, bigint) IS
    'The data of an entity, now, as of point_in_time, or as transaction_id''s last save of it left it';
REVOKE ALL ON FUNCTION cyoda_wf.get_item(uuid, timestamptz, bigint) FROM PUBLIC;

CREATE FUNCTION cyoda_wf.get_entity(id uuid, point_in_time timestamptz DEFAULT NULL,
                                    transaction_id bigint DEFAULT NULL)
    RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    r record;
    created timestamptz;
BEGIN
    IF get_entity.transaction_id IS NOT NULL THEN
        SELECT v.data, v.model, v.model_version, v.state, v.changed_at,
               v.transaction_id, v.transition, v.change_type
          INTO r FROM cyoda_wf.entity_version v
         WHERE v.entity_id = get_entity.id AND v.transaction_id = get_entity.transaction_id
           AND (point_in_time IS NULL OR v.changed_at <= point_in_time)
         ORDER BY v.version DESC LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION '%', pg_catalog.format('entity %s was not saved by transaction %s%s',
                  get_entity.id, get_entity.transaction_id,
                  CASE WHEN point_in_time IS NULL THEN '' ELSE ' by that time' END)
                USING ERRCODE = 'P0002',
                      HINT = 'cyoda_wf.changes() lists the transactions that saved an entity.';
        END IF;
        IF r.change_type = 'DELETE' THEN
            RAISE EXCEPTION 'entity % was deleted by transaction %', get_entity.id,
                  get_entity.transaction_id USING ERRCODE = 'P0002';
        END IF;
    ELSIF point_in_time IS NULL THEN
        SELECT e.data, e.model, e.model_version, e.state, e.created_at,
               e.updated_at AS changed_at, e.transaction_id, e.last_transition AS transition
          INTO r FROM cyoda_wf.entity e WHERE e.id = get_entity.id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'entity % not found', get_entity.id USING ERRCODE = 'P0002';
        END IF;
        created := r.created_at;
    ELSE
        SELECT v.data, v.model, v.model_version, v.state, v.changed_at,
               v.transaction_id, v.transition, v.change_type
          INTO r FROM cyoda_wf.entity_version v
         WHERE v.entity_id = get_entity.id AND v.changed_at <= point_in_time
         ORDER BY v.version DESC LIMIT 1;
        IF NOT FOUND AND (SELECT pg_catalog.min(v.version) > 1 FROM cyoda_wf.entity_version v
                           WHERE v.entity_id = get_entity.id AND v.changed_at > point_in_time) THEN
            RAISE EXCEPTION 'history of entity % at % has been pruned', get_entity.id, point_in_time
                USING ERRCODE = 'P0002',
                      HINT = 'cyoda_wf.set_retention() bounds how much history prune_history() keeps.';
        END IF;
        IF NOT FOUND OR r.change_type = 'DELETE' THEN
            RAISE EXCEPTION 'entity % did not exist at %', get_entity.id, point_in_time
                USING ERRCODE = 'P0002';
        END IF;
    END IF;
    IF created IS NULL THEN
        -- the CREATE row may have been pruned (prune_history): the live row knows
        created := COALESCE(
            (SELECT v.changed_at FROM cyoda_wf.entity_version v
              WHERE v.entity_id = get_entity.id AND v.change_type = 'CREATE'
              ORDER BY v.version DESC LIMIT 1),
            (SELECT e.created_at FROM cyoda_wf.entity e WHERE e.id = get_entity.id));
    END IF;
    RETURN jsonb_build_object(
        'type', 'ENTITY',
        'data', r.data,
        'meta', jsonb_build_object(
            'id', get_entity.id,
            'modelKey', jsonb_build_object('name', r.model, 'version', r.model_version),
            'state', r.state,
            'creationDate', created,
            'lastUpdateTime', r.changed_at,
            'transactionId', r.transaction_id,
            'transitionForLatestSave', r.transition));
END
$$;
COMMENT ON FUNCTION cyoda_wf.get_entity(uuid, timestamptz, bigint) IS
    'Cyoda''s entity envelope {type, data, meta}: now, as of point_in_time, or as transaction_id''s last save of it left it';
REVOKE ALL ON FUNCTION cyoda_wf.get_entity(uuid, timestamptz, bigint) FROM PUBLIC;

CREATE FUNCTION cyoda_wf.changes(id uuid, point_in_time timestamptz DEFAULT NULL)
    RETURNS TABLE (version bigint, change_type text, changed_at timestamptz,
                   changed_by text, state text, transition text, transaction_id bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    SELECT v.version, v.change_type, v.changed_at, v.changed_by, v.state,
           v.transition, v.transaction_id
      FROM cyoda_wf.entity_version v
     WHERE v.entity_id = changes.id
       AND (changes.point_in_time IS NULL OR v.changed_at <= changes.point_in_time)
     ORDER BY v.version DESC
$$;
COMMENT ON FUNCTION cyoda_wf.changes(uuid, timestamptz) IS
    'Every save of an entity (made up to point_in_time when given), newest first; kept after deletion';
REVOKE ALL ON FUNCTION cyoda_wf.changes(uuid, timestamptz) FROM PUBLIC;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::pg_catalog.regrole AS role, f.new_sig
               FROM (VALUES ('cyoda_wf.get_item_0_1_0(uuid, timestamptz)',
                             'cyoda_wf.get_item(uuid, timestamptz, bigint)'),
                            ('cyoda_wf.get_entity_0_1_0(uuid, timestamptz)',
                             'cyoda_wf.get_entity(uuid, timestamptz, bigint)'),
                            ('cyoda_wf.changes_0_1_0(uuid)',
                             'cyoda_wf.changes(uuid, timestamptz)')) AS f(old_sig, new_sig),
                    pg_catalog.pg_proc AS p,
                    pg_catalog.aclexplode(p.proacl) AS a
              WHERE p.oid = f.old_sig::pg_catalog.regprocedure
                AND a.grantee <> 0 AND a.grantee <> p.proowner
                AND a.privilege_type = 'EXECUTE'
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', r.new_sig, r.role);
    END LOOP;
END
$$;

DROP FUNCTION cyoda_wf.get_item_0_1_0(uuid, timestamptz);
DROP FUNCTION cyoda_wf.get_entity_0_1_0(uuid, timestamptz);
DROP FUNCTION cyoda_wf.changes_0_1_0(uuid);

-- delete_items: delete the entities a condition finds ----------------------

CREATE FUNCTION cyoda_wf.delete_items(model text, model_version integer,
                                      condition jsonb DEFAULT NULL,
                                      point_in_time timestamptz DEFAULT NULL)
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_delete_items';
COMMENT ON FUNCTION cyoda_wf.delete_items(text, integer, jsonb, timestamptz) IS
    'Delete the live entities of a model version that match a condition (as of point_in_time: that existed and matched then); returns how many';
REVOKE ALL ON FUNCTION cyoda_wf.delete_items(text, integer, jsonb, timestamptz) FROM PUBLIC;

-- search: sort keys and paging (sort, page_size, page_number); search_sql
-- takes the same arguments.  The 4-argument functions are replaced; roles
-- granted EXECUTE on them under 0.1.0 keep it on the new ones.
CREATE TEMPORARY TABLE cw_search_grants ON COMMIT DROP AS
SELECT p.proname::text AS name, a.grantee::pg_catalog.regrole::text AS role
  FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
 WHERE p.oid IN ('cyoda_wf.search(text, integer, jsonb, timestamptz)'::pg_catalog.regprocedure,
                 'cyoda_wf.search_sql(text, integer, jsonb, timestamptz)'::pg_catalog.regprocedure)
   AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner;
DROP FUNCTION cyoda_wf.search(text, integer, jsonb, timestamptz);
DROP FUNCTION cyoda_wf.search_sql(text, integer, jsonb, timestamptz);
CREATE FUNCTION cyoda_wf.search(model text, model_version integer, condition jsonb,
                                point_in_time timestamptz DEFAULT NULL,
                                sort text[] DEFAULT NULL,
                                page_size integer DEFAULT NULL,
                                page_number integer DEFAULT 0)
    RETURNS SETOF cyoda_wf.entity
    LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'cyoda_wf_search_entities';
COMMENT ON FUNCTION cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer) IS
    'Entities of a model version whose data / lifecycle match a Cyoda condition (all when NULL), now or as of point_in_time, ordered by the sort keys ([@]path[:asc|desc], at most 10; missing values last) then created_at, id; one page when page_size is given. The condition becomes one parameterized SQL query (see search_sql); function criteria, bad sort keys and negative paging are refused (22023).';
CREATE FUNCTION cyoda_wf.search_sql(model text, model_version integer, condition jsonb,
                                    point_in_time timestamptz DEFAULT NULL,
                                    sort text[] DEFAULT NULL,
                                    page_size integer DEFAULT NULL,
                                    page_number integer DEFAULT 0)
    RETURNS text
    LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'cyoda_wf_search_sql';
COMMENT ON FUNCTION cyoda_wf.search_sql(text, integer, jsonb, timestamptz, text[], integer, integer) IS
    'Debugging aid: the SQL that search() runs for these arguments, with its parameters written as literals, e.g. to EXPLAIN it. search() itself passes every value as a parameter.';
REVOKE ALL ON FUNCTION cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.search_sql(text, integer, jsonb, timestamptz, text[], integer, integer) FROM PUBLIC;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT name, role FROM cw_search_grants LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION cyoda_wf.%I(text, integer, jsonb, timestamptz, text[], integer, integer) TO %s',
                                  r.name, r.role);
    END LOOP;
END
$$;
DROP TABLE cw_search_grants;

-- stats_by: counts by the value at a data path
CREATE FUNCTION cyoda_wf.stats_by(model text, model_version integer, json_path text,
                                  condition jsonb DEFAULT NULL)
    RETURNS TABLE(value jsonb, count bigint)
    LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'cyoda_wf_stats_by';
COMMENT ON FUNCTION cyoda_wf.stats_by(text, integer, text, jsonb) IS
    'Live entities of a model version (those matching the condition, when given) counted by the value at a data path written as in conditions ($.color); SQL NULL where absent; most frequent first, then by value.';
REVOKE ALL ON FUNCTION cyoda_wf.stats_by(text, integer, text, jsonb) FROM PUBLIC;

-- Router support: remote_call and definition_digest (src/remote.c, cyoda_wf_router)
-- The router's way in (cyoda_wf_router, src/remote.c): one API call run in a
-- subtransaction, its error returned as data; and a digest of the
-- definitions, which the router compares between shards (cluster_check).
CREATE FUNCTION cyoda_wf.remote_call(fn text, args text[], dry_run boolean DEFAULT false,
                                     OUT result jsonb, OUT sqlstate text, OUT message text,
                                     OUT detail text, OUT hint text, OUT notices text[])
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

-- Audit: the stored events move to cyoda_wf.audit_log; cyoda_wf.audit
-- becomes a view of them and of each save's STATE_MACHINE_START and
-- STATE_MACHINE_FINISH, derived from its version row.  The version row gets
-- the save's start (started_at, at the end of entity_version; rows of 0.1.0
-- have only the end: changed_at).  The table's sequence, indexes and dump
-- registration follow it (by OID); the roles that could read the table can
-- read the view.
ALTER TABLE cyoda_wf.audit RENAME TO audit_log;
ALTER SEQUENCE cyoda_wf.audit_id_seq RENAME TO audit_log_id_seq;
ALTER INDEX cyoda_wf.audit_pkey RENAME TO audit_log_pkey;
ALTER INDEX cyoda_wf.audit_entity_idx RENAME TO audit_log_entity_idx;
ALTER TABLE cyoda_wf.entity_version ADD COLUMN started_at timestamptz;
UPDATE cyoda_wf.entity_version SET started_at = changed_at;
ALTER TABLE cyoda_wf.entity_version ALTER COLUMN started_at SET NOT NULL;

CREATE VIEW cyoda_wf.audit AS
SELECT l.id, l.entity_id, l.at, l.transaction_id, l.event_type, l.transition,
       l.from_state, l.to_state, l.role, l.detail
  FROM cyoda_wf.audit_log l
UNION ALL
SELECT NULL::bigint, v.entity_id, e.at, v.transaction_id, e.event_type, v.transition,
       NULL::text, e.to_state, v.changed_by,
       pg_catalog.jsonb_build_object('version', v.version, 'changeType', v.change_type,
                                     'model', v.model, 'modelVersion', v.model_version)
  FROM cyoda_wf.entity_version v
 CROSS JOIN LATERAL (VALUES ('STATE_MACHINE_START', v.started_at, NULL::text),
                            ('STATE_MACHINE_FINISH', v.changed_at, v.state))
       AS e (event_type, at, to_state)
 WHERE v.change_type OPERATOR(pg_catalog.<>) 'DELETE';
COMMENT ON VIEW cyoda_wf.audit IS
    'Every audit event of the engine: the rows of audit_log and, derived from the CREATE and UPDATE rows of entity_version, STATE_MACHINE_START and STATE_MACHINE_FINISH of each save (id NULL)';
REVOKE ALL ON cyoda_wf.audit FROM PUBLIC;
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT r.rolname, a.is_grantable
               FROM pg_catalog.pg_class c,
                    LATERAL pg_catalog.aclexplode(c.relacl) a
               JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
              WHERE c.oid = 'cyoda_wf.audit_log'::pg_catalog.regclass
                AND a.privilege_type = 'SELECT' AND a.grantee <> c.relowner
    LOOP
        EXECUTE pg_catalog.format('GRANT SELECT ON cyoda_wf.audit TO %I%s', g.rolname,
                                  CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;

-- prune_history deletes from audit_log
CREATE OR REPLACE FUNCTION cyoda_wf.prune_history(model text DEFAULT NULL)
    RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    p record;
    horizon timestamptz;
    n bigint;
    total bigint := 0;
BEGIN
    FOR p IN SELECT r.model, r.keep_versions, r.keep_for FROM cyoda_wf.retention r
              WHERE prune_history.model IS NULL OR r.model = prune_history.model
              ORDER BY r.model
    LOOP
        horizon := pg_catalog.now() - p.keep_for;   -- NULL without keep_for

        -- Audit rows older than the horizon.
        IF horizon IS NOT NULL THEN
            DELETE FROM cyoda_wf.audit_log a
             WHERE a.at < horizon
               AND a.entity_id IN (SELECT DISTINCT v.entity_id FROM cyoda_wf.entity_version v
                                    WHERE v.model = p.model);
            GET DIAGNOSTICS n = ROW_COUNT;
            total := total + n;
        END IF;

        -- Version rows: per entity an oldest part goes, so what is left is
        -- the complete history from its oldest row on.  Kept: the newest
        -- keep_versions rows, and every row from the one in effect at the
        -- horizon on; an entity deleted before the horizon goes entirely.
        WITH ranked AS (
            SELECT v.entity_id, v.version, v.changed_at,
                   pg_catalog.row_number() OVER w AS rn,
                   pg_catalog.first_value(v.change_type) OVER w AS last_type,
                   pg_catalog.first_value(v.changed_at) OVER w AS last_at,
                   pg_catalog.max(v.version) FILTER (WHERE v.changed_at <= horizon)
                       OVER (PARTITION BY v.entity_id) AS at_horizon
              FROM cyoda_wf.entity_version v
             WHERE v.model = p.model
            WINDOW w AS (PARTITION BY v.entity_id ORDER BY v.version DESC)
        ), doomed AS (
            SELECT r.entity_id, r.version, r.changed_at,
                   (r.last_type = 'DELETE' AND r.last_at <= horizon) IS TRUE AS forget
              FROM ranked r
             WHERE r.rn > p.keep_versions
                OR r.version < r.at_horizon
                OR (r.last_type = 'DELETE' AND r.last_at <= horizon)
        ), gone AS (
            DELETE FROM cyoda_wf.entity_version v USING doomed d
             WHERE v.entity_id = d.entity_id AND v.version = d.version
            RETURNING d.entity_id, d.changed_at, d.forget
        ), cut AS (
            SELECT g.entity_id, pg_catalog.bool_or(g.forget) AS forget,
                   pg_catalog.max(g.changed_at) AS upto
              FROM gone g GROUP BY g.entity_id
        ), gone_audit AS (
            -- the audit rows of the saves whose versions went
            DELETE FROM cyoda_wf.audit_log a USING cut
             WHERE a.entity_id = cut.entity_id AND (cut.forget OR a.at <= cut.upto)
            RETURNING 1
        )
        SELECT (SELECT pg_catalog.count(*) FROM gone) + (SELECT pg_catalog.count(*) FROM gone_audit)
          INTO n;
        total := total + n;
    END LOOP;
    RETURN total;
END
$$;

-- explain(): why an entity is where it is; transitions() lists only what
-- fire would accept now (src/explain.c)
COMMENT ON FUNCTION cyoda_wf.transitions(uuid) IS
    'The transitions leaving the entity''s current state that fire would accept now (not disabled, not scheduled, criterion matching)';
CREATE FUNCTION cyoda_wf.explain(id uuid)
    RETURNS TABLE (workflow text, state text, transition text, next_state text,
                   manual boolean, disabled boolean, scheduled boolean,
                   due_at timestamptz, async boolean, criterion jsonb,
                   matches boolean, failing jsonb, found jsonb, fireable boolean)
    LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'cyoda_wf_explain';
COMMENT ON FUNCTION cyoda_wf.explain(uuid) IS
    'Why the entity is where it is: its workflow''s criterion (first row, transition NULL) and each transition leaving its state, each criterion evaluated now, what failed and what fire would accept';
REVOKE ALL ON FUNCTION cyoda_wf.explain(uuid) FROM PUBLIC;
-- Import safety: import_workflows with options (force, dryRun) ------------------
CREATE FUNCTION cyoda_wf.import_workflows(model text, model_version integer, body jsonb,
                                          options jsonb)
RETURNS jsonb
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_import_workflows';

COMMENT ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb, jsonb) IS
'import_workflows with options {"force": bool, "dryRun": bool}. An import that would leave live entities on a workflow or in a state that no longer exists is refused (55000) unless force is true; dryRun validates as an import does and returns the plan ({"dryRun", "model", "modelVersion", "importMode", "workflows", "added", "replaced", "removed", "deactivated", "statesRemoved", "stranded", "strandedBy"}) without storing anything.';

REVOKE ALL ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb, jsonb) FROM PUBLIC;

-- Import safety: move_entity, the administrator's manual move (granted to no one)
CREATE FUNCTION cyoda_wf.move_entity(id uuid, state text, reason text, workflow text DEFAULT NULL)
    RETURNS text LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_move_entity';
COMMENT ON FUNCTION cyoda_wf.move_entity(uuid, text, text, text) IS
    'Administrator''s repair: put an entity in a state of its workflow (or of the named workflow of its model) without running processes, criteria or the cascade; a save of its own with a STATE_MOVED audit row. Granted to no one by default. Returns the state.';

REVOKE ALL ON FUNCTION cyoda_wf.move_entity(uuid, text, text, text) FROM PUBLIC;
-- Task views and metrics: pending_tasks, failed_tasks, metrics(), the
-- failed-task index; retry_task becomes C (it wakes the workers at commit;
-- roles granted EXECUTE keep it) and retry_failed re-queues failed tasks at once.
CREATE OR REPLACE FUNCTION cyoda_wf.retry_task(id bigint) RETURNS boolean
    LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_retry_task';
COMMENT ON FUNCTION cyoda_wf.retry_task(bigint) IS
    'Re-queue a failed task and wake the workers at commit; false when the task is not failed';

CREATE FUNCTION cyoda_wf.retry_failed(model text DEFAULT NULL, since timestamptz DEFAULT NULL)
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_retry_failed';
COMMENT ON FUNCTION cyoda_wf.retry_failed(text, timestamptz) IS
    'Re-queue every failed task (of model, failed since the given time; NULL: any) and wake the workers at commit; returns how many';
REVOKE ALL ON FUNCTION cyoda_wf.retry_failed(text, timestamptz) FROM PUBLIC;

-- failed tasks, for metrics() and failed_tasks (newest first)
CREATE INDEX task_failed_idx ON cyoda_wf.task (finished_at) WHERE state = 'failed';

CREATE VIEW cyoda_wf.pending_tasks AS
    SELECT t.id AS task_id, t.entity_id, e.model, e.model_version, t.transition, t.kind,
           t.attempts, t.max_attempts, t.last_error, t.run_at,
           pg_catalog.now() OPERATOR(pg_catalog.-) t.created_at AS age
      FROM cyoda_wf.task t
      LEFT JOIN cyoda_wf.entity e ON e.id OPERATOR(pg_catalog.=) t.entity_id
     WHERE t.state OPERATOR(pg_catalog.=) ANY ('{pending,running}'::pg_catalog.text[])
     ORDER BY t.run_at, t.id;
COMMENT ON VIEW cyoda_wf.pending_tasks IS
    'Queued async transitions and armed timers, the next due first (attempts: failed attempts so far; last_error: the last one''s error; age: since the task was queued)';

CREATE VIEW cyoda_wf.failed_tasks AS
    SELECT t.id AS task_id, t.entity_id, e.model, e.model_version, t.transition, t.kind,
           t.attempts, t.max_attempts, t.last_error, t.finished_at,
           pg_catalog.now() OPERATOR(pg_catalog.-) t.created_at AS age
      FROM cyoda_wf.task t
      LEFT JOIN cyoda_wf.entity e ON e.id OPERATOR(pg_catalog.=) t.entity_id
     WHERE t.state OPERATOR(pg_catalog.=) 'failed'
     ORDER BY t.finished_at DESC, t.id DESC;
COMMENT ON VIEW cyoda_wf.failed_tasks IS
    'Tasks that failed for good, the latest failure first (model is NULL when the entity was deleted since); retry_task / retry_failed re-queue them';

CREATE FUNCTION cyoda_wf.metrics()
    RETURNS TABLE (model text, model_version integer, pending bigint, running bigint,
                   failed bigint, oldest_pending_age interval,
                   done_last_minute bigint, done_last_hour bigint,
                   failed_last_minute bigint, failed_last_hour bigint, timers_armed bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    -- pending, failed, and done in the last hour, each through its partial
    -- index (task_due_idx, task_failed_idx, task_finished_idx); the tasks a
    -- worker runs now are the ones its activity names
    WITH running AS (
        SELECT substr(a.query, 24)::bigint AS id
          FROM pg_stat_activity a
         WHERE a.backend_type = 'cyoda_wf worker' AND a.datname = current_database()
           AND a.state = 'active' AND a.query LIKE 'cyoda_wf: running task %'
    ), t AS (
        SELECT t.id, t.entity_id, t.kind, t.state, t.created_at, t.finished_at
          FROM cyoda_wf.task t WHERE t.state = 'pending'
        UNION ALL
        SELECT t.id, t.entity_id, t.kind, t.state, t.created_at, t.finished_at
          FROM cyoda_wf.task t WHERE t.state = 'failed'
        UNION ALL
        SELECT t.id, t.entity_id, t.kind, t.state, t.created_at, t.finished_at
          FROM cyoda_wf.task t
         WHERE t.state = 'done' AND t.finished_at >= now() - interval '1 hour'
    ), m AS (
        SELECT e.model, e.model_version, t.*, t.id IN (SELECT r.id FROM running r) AS busy
          FROM t JOIN cyoda_wf.entity e ON e.id = t.entity_id
    )
    SELECT m.model, m.model_version,
           count(*) FILTER (WHERE m.state = 'pending' AND m.kind = 'process' AND NOT m.busy),
           count(*) FILTER (WHERE m.state = 'pending' AND m.busy),
           count(*) FILTER (WHERE m.state = 'failed'),
           now() - min(m.created_at) FILTER (WHERE m.state = 'pending' AND m.kind = 'process'),
           count(*) FILTER (WHERE m.state = 'done' AND m.finished_at >= now() - interval '1 minute'),
           count(*) FILTER (WHERE m.state = 'done'),
           count(*) FILTER (WHERE m.state = 'failed' AND m.finished_at >= now() - interval '1 minute'),
           count(*) FILTER (WHERE m.state = 'failed' AND m.finished_at >= now() - interval '1 hour'),
           count(*) FILTER (WHERE m.state = 'pending' AND m.kind = 'timer')
      FROM m
     GROUP BY GROUPING SETS ((m.model, m.model_version), ())
     ORDER BY grouping(m.model, m.model_version), 1, 2
$$;
COMMENT ON FUNCTION cyoda_wf.metrics() IS
    'Task counts per model version (pending and running async transitions, failed tasks, done and failed in the last minute and hour, armed timers) and a last row for all models (model NULL)';
REVOKE ALL ON cyoda_wf.pending_tasks, cyoda_wf.failed_tasks FROM PUBLIC;
REVOKE ALL ON FUNCTION cyoda_wf.metrics() FROM PUBLIC;
-- 0.2.0: the trigger and event trigger functions and the internals of the
-- connection functions move to schema cyoda_wf_internal (\df cyoda_wf.*
-- lists the API); every table gets a comment
CREATE SCHEMA cyoda_wf_internal;
COMMENT ON SCHEMA cyoda_wf_internal IS
    'cyoda_wf: functions only the engine calls (triggers, event trigger, the internals of create_connection, drop_connection and ingest); not an API';
ALTER FUNCTION cyoda_wf.shard_config_changed() SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.entity_trigger() SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.entity_flush() SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.definitions_changed() SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.drop_schedules() SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.create_connection_py(text, jsonb) SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.drop_connection_py(text) SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.ingest_py(text, jsonb, text, jsonb) SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.write_connection_entity(text, uuid, jsonb) SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.ingest_fetch(text, jsonb, text, jsonb) SET SCHEMA cyoda_wf_internal;
-- their callers, which name them
CREATE OR REPLACE FUNCTION cyoda_wf.create_connection(name text, definition jsonb)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
BEGIN
    RETURN cyoda_wf_internal.create_connection_py(name, definition);
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
    RETURN cyoda_wf_internal.drop_connection_py(name);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;
CREATE OR REPLACE FUNCTION cyoda_wf_internal.ingest_fetch(connection text, params jsonb, raw_model text, meta jsonb,
                                      OUT model text, OUT data jsonb)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
BEGIN
    SELECT * INTO model, data FROM cyoda_wf_internal.ingest_py(connection, params, raw_model, meta);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;
REVOKE ALL ON SCHEMA cyoda_wf_internal FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA cyoda_wf_internal FROM PUBLIC;
COMMENT ON TABLE cyoda_wf.model IS
    'One row per model version known to the engine: what a design said of it (type, sources, dependency, function schema), its schema and LOCKED/UNLOCKED state (models())';
COMMENT ON TABLE cyoda_wf.workflow IS
    'Workflows of a model version in their stored order; definition is the imported JSON with defaults filled in (export_workflows); written by import_workflows and import_design';
COMMENT ON TABLE cyoda_wf.shard_config IS
    'This database''s shard number (one row; none: shard 0), set by set_shard; kept by pg_dump';
COMMENT ON TABLE cyoda_wf.entity IS
    'The live entities: one row per entity with its data and lifecycle fields; inserting or updating a row runs its workflow (or use add_item, update_item, fire)';
COMMENT ON TABLE cyoda_wf.entity_version IS
    'One immutable row per save (CREATE, UPDATE, DELETE) of every entity: the history behind get_item and changes as of a time or transaction; pruned by prune_history';
COMMENT ON TABLE cyoda_wf.audit_log IS
    'The stored audit events of the engine (TRANSITION_MAKE, PROCESS_FAILED, ...); the view audit adds the events derived from entity_version';
COMMENT ON TABLE cyoda_wf.task IS
    'Queued work: async processes (kind process) and armed timers (kind timer), run by the workers and run_tasks; retry_task and prune_tasks manage them';
COMMENT ON TABLE cyoda_wf.worker IS
    'Background workers serving a database, as they record themselves (rows of exited workers are ignored); worker_status() lists the running ones';
COMMENT ON TABLE cyoda_wf.retention IS
    'One history retention policy per model (set_retention): versions kept and age; prune_history() enforces them';

-- 0.2.0: planner costs of the API functions
-- Planner costs (api.md): a call that saves entities or definitions is
-- far dearer than any plain qual, so the planner evaluates it last in a
-- WHERE clause (WHERE t.k = 5 AND cyoda_wf.fire(t.id, 'bump') IS NOT NULL
-- fires only the k = 5 rows); reads cost more than an operator too;
-- set-returning functions say about how many rows they return.
ALTER FUNCTION cyoda_wf.add_item(text, integer, jsonb) COST 1000;
ALTER FUNCTION cyoda_wf.add_scheduled_item(text, integer, jsonb) COST 1000;
ALTER FUNCTION cyoda_wf.update_item(uuid, jsonb, text, bigint) COST 1000;
ALTER FUNCTION cyoda_wf.patch_item(uuid, jsonb, text, bigint) COST 1000;
ALTER FUNCTION cyoda_wf.fire(uuid, text) COST 1000;
ALTER FUNCTION cyoda_wf.delete_item(uuid) COST 500;
ALTER FUNCTION cyoda_wf.delete_items(text, integer, jsonb, timestamptz) COST 10000;
ALTER FUNCTION cyoda_wf.import_model(text, integer, jsonb) COST 1000;
ALTER FUNCTION cyoda_wf.lock_model(text, integer) COST 500;
ALTER FUNCTION cyoda_wf.unlock_model(text, integer) COST 500;
ALTER FUNCTION cyoda_wf.set_change_level(text, integer, text) COST 500;
ALTER FUNCTION cyoda_wf.delete_model(text, integer) COST 500;
ALTER FUNCTION cyoda_wf.import_workflows(text, integer, jsonb) COST 1000;
ALTER FUNCTION cyoda_wf.import_design(jsonb, text) COST 5000;
ALTER FUNCTION cyoda_wf.import_design(text, text) COST 5000;
ALTER FUNCTION cyoda_wf.load_functions(text, text) COST 5000 ROWS 10;
ALTER FUNCTION cyoda_wf.load_functions_py(text, text) COST 5000 ROWS 10;
ALTER FUNCTION cyoda_wf.retry_task(bigint) COST 100;
ALTER FUNCTION cyoda_wf.prune_tasks(interval, boolean) COST 10000;
ALTER FUNCTION cyoda_wf.prune_history(text) COST 10000;
ALTER FUNCTION cyoda_wf.set_retention(text, integer, interval) COST 100;
ALTER FUNCTION cyoda_wf.start_workers(integer) COST 1000;
ALTER FUNCTION cyoda_wf.stop_workers() COST 100;
ALTER FUNCTION cyoda_wf.schedule_job(text, text, text, integer, jsonb) COST 1000;
ALTER FUNCTION cyoda_wf.unschedule_job(text) COST 1000;
ALTER FUNCTION cyoda_wf.set_shard(integer) COST 100;
ALTER FUNCTION cyoda_wf.remote_call(text, text[], boolean) COST 1000;
ALTER FUNCTION cyoda_wf.create_connection(text, jsonb) COST 1000;
ALTER FUNCTION cyoda_wf_internal.write_connection_entity(text, uuid, jsonb) COST 1000;
ALTER FUNCTION cyoda_wf.drop_connection(text) COST 1000;
ALTER FUNCTION cyoda_wf.ingest(text, jsonb, text, jsonb) COST 10000;
ALTER FUNCTION cyoda_wf_internal.ingest_fetch(text, jsonb, text, jsonb) COST 10000;
ALTER FUNCTION cyoda_wf.check_token(text) COST 10;
ALTER FUNCTION cyoda_wf.get_item(uuid, timestamptz, bigint) COST 50;
ALTER FUNCTION cyoda_wf.get_entity(uuid, timestamptz, bigint) COST 100;
ALTER FUNCTION cyoda_wf.transitions(uuid) COST 50 ROWS 5;
ALTER FUNCTION cyoda_wf.changes(uuid, timestamptz) COST 100 ROWS 10;
ALTER FUNCTION cyoda_wf.export_model(text, integer, text) COST 50;
ALTER FUNCTION cyoda_wf.export_workflows(text, integer) COST 50;
ALTER FUNCTION cyoda_wf.models() COST 100 ROWS 10;
ALTER FUNCTION cyoda_wf.check_condition(jsonb, jsonb) COST 10;
ALTER FUNCTION cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer) COST 1000 ROWS 100;
ALTER FUNCTION cyoda_wf.search_sql(text, integer, jsonb, timestamptz, text[], integer, integer) COST 50;
ALTER FUNCTION cyoda_wf.stats(text) COST 1000 ROWS 20;
ALTER FUNCTION cyoda_wf.stats_by(text, integer, text, jsonb) COST 1000 ROWS 20;
ALTER FUNCTION cyoda_wf.validate_design(jsonb) COST 100 ROWS 10;
ALTER FUNCTION cyoda_wf.validate_design(jsonb, text) COST 100 ROWS 10;
ALTER FUNCTION cyoda_wf.validate_design(text) COST 100 ROWS 10;
ALTER FUNCTION cyoda_wf.validate_design(text, text) COST 100 ROWS 10;
ALTER FUNCTION cyoda_wf.diagram(text, integer, text) COST 100;
ALTER FUNCTION cyoda_wf.scaffold(text) COST 100;
ALTER FUNCTION cyoda_wf.worker_status() COST 100 ROWS 4;
ALTER FUNCTION cyoda_wf.definition_digest() COST 100 ROWS 20;

-- Planner costs of the functions added with explain, import safety and the task views
ALTER FUNCTION cyoda_wf.import_workflows(text, integer, jsonb, jsonb) COST 1000;
ALTER FUNCTION cyoda_wf.move_entity(uuid, text, text, text) COST 1000;
ALTER FUNCTION cyoda_wf.retry_failed(text, timestamptz) COST 1000;
ALTER FUNCTION cyoda_wf.explain(uuid) COST 100 ROWS 6;
ALTER FUNCTION cyoda_wf.metrics() COST 1000 ROWS 10;

-- load_functions: checks first what the caller needs (the language, the
-- internal functions, python_module, workflow, the function schema) and
-- names what it lacks (42501).
CREATE OR REPLACE FUNCTION cyoda_wf.load_functions(source text, function_schema text DEFAULT 'public')
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
    su boolean;
    trusted boolean;
    missing text[];
BEGIN
    -- What the caller needs, checked first so that a role lacking it learns
    -- what it lacks (rather than which internal step failed).
    SELECT r.rolsuper INTO su FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER;
    IF su IS NOT TRUE THEN
        SELECT l.lanpltrusted INTO trusted FROM pg_catalog.pg_language AS l
         WHERE l.lanname OPERATOR(pg_catalog.=) 'plpython3u';
        IF trusted IS NOT TRUE THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = format('permission denied: load_functions creates functions in language plpython3u, which role "%s" may not do', CURRENT_USER),
                DETAIL = 'plpython3u is an untrusted language: PostgreSQL lets only superusers create functions in it.',
                HINT = 'Have a superuser run load_functions; the functions it makes run as the roles that import workflows naming them, which need EXECUTE on them.';
        END IF;
        missing := array_remove(ARRAY[
            CASE WHEN NOT has_language_privilege('plpython3u', 'USAGE')
                 THEN 'USAGE on language plpython3u' END,
            CASE WHEN NOT has_function_privilege('cyoda_wf.load_functions_py(text, text)', 'EXECUTE')
                 THEN 'EXECUTE on function cyoda_wf.load_functions_py(text, text)' END,
            CASE WHEN NOT has_function_privilege('cyoda_wf.raise_python_error(text, text, text, text)', 'EXECUTE')
                 THEN 'EXECUTE on function cyoda_wf.raise_python_error(text, text, text, text)' END,
            CASE WHEN NOT (has_table_privilege('cyoda_wf.python_module', 'SELECT')
                           AND has_table_privilege('cyoda_wf.python_module', 'INSERT')
                           AND has_table_privilege('cyoda_wf.python_module', 'UPDATE'))
                 THEN 'SELECT, INSERT, UPDATE on table cyoda_wf.python_module' END,
            CASE WHEN NOT has_table_privilege('cyoda_wf.workflow', 'SELECT')
                 THEN 'SELECT on table cyoda_wf.workflow' END,
            CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_namespace AS n
                               WHERE n.nspname OPERATOR(pg_catalog.=) function_schema)
                      AND NOT (has_schema_privilege(function_schema, 'USAGE')
                               AND has_schema_privilege(function_schema, 'CREATE'))
                 THEN format('USAGE, CREATE on schema %I', function_schema) END], NULL);
        IF cardinality(missing) > 0 THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = format('permission denied: role "%s" lacks what load_functions needs', CURRENT_USER),
                DETAIL = 'Missing: ' || array_to_string(missing, '; ') || '.',
                HINT = 'A superuser grants them, or runs load_functions.';
        END IF;
    END IF;
    BEGIN
        RETURN QUERY SELECT f FROM cyoda_wf.load_functions_py(source, function_schema) AS f;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
        PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
        RAISE;
    END;
END
$$;

-- load_functions was replaced above: its planner cost again
ALTER FUNCTION cyoda_wf.load_functions(text, text) COST 5000 ROWS 10;

-- 0.2.0: load_functions' PL/Python side, its error handler and check_token
-- move to schema cyoda_wf_internal too; their callers are made again with
-- the new names, and the roles that could run them get USAGE on the schema.
ALTER FUNCTION cyoda_wf.load_functions_py(text, text) SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.raise_python_error(text, text, text, text) SET SCHEMA cyoda_wf_internal;
ALTER FUNCTION cyoda_wf.check_token(text) SET SCHEMA cyoda_wf_internal;
COMMENT ON FUNCTION cyoda_wf_internal.raise_python_error(text, text, text, text) IS
    'Internal: raise an error caught from a PL/Python function again without the "plpy.Error: " / "spiexceptions.X: " prefix; returns for an error without one';
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole AS role
               FROM pg_catalog.pg_proc AS p,
                    LATERAL pg_catalog.aclexplode(p.proacl) AS a
              WHERE p.pronamespace = 'cyoda_wf_internal'::regnamespace
                AND p.proname IN ('load_functions_py', 'raise_python_error', 'check_token')
                AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0
                AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA cyoda_wf_internal TO %s', r.role);
    END LOOP;
END
$$;
CREATE OR REPLACE FUNCTION cyoda_wf.load_functions(source text, function_schema text DEFAULT 'public')
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
    su boolean;
    trusted boolean;
    missing text[];
BEGIN
    -- What the caller needs, checked first so that a role lacking it learns
    -- what it lacks (rather than which internal step failed).
    SELECT r.rolsuper INTO su FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER;
    IF su IS NOT TRUE THEN
        SELECT l.lanpltrusted INTO trusted FROM pg_catalog.pg_language AS l
         WHERE l.lanname OPERATOR(pg_catalog.=) 'plpython3u';
        IF trusted IS NOT TRUE THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = format('permission denied: load_functions creates functions in language plpython3u, which role "%s" may not do', CURRENT_USER),
                DETAIL = 'plpython3u is an untrusted language: PostgreSQL lets only superusers create functions in it.',
                HINT = 'Have a superuser run load_functions; the functions it makes run as the roles that import workflows naming them, which need EXECUTE on them.';
        END IF;
        missing := array_remove(ARRAY[
            CASE WHEN NOT has_language_privilege('plpython3u', 'USAGE')
                 THEN 'USAGE on language plpython3u' END,
            CASE WHEN NOT has_schema_privilege('cyoda_wf_internal', 'USAGE')
                 THEN 'USAGE on schema cyoda_wf_internal' END,
            -- by OID: a name in a schema the role may not use would fail the lookup
            CASE WHEN NOT has_function_privilege(
                     (SELECT p.oid FROM pg_catalog.pg_proc AS p
                        JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
                       WHERE n.nspname OPERATOR(pg_catalog.=) 'cyoda_wf_internal'
                         AND p.proname OPERATOR(pg_catalog.=) 'load_functions_py'), 'EXECUTE')
                 THEN 'EXECUTE on function cyoda_wf_internal.load_functions_py(text, text)' END,
            CASE WHEN NOT has_function_privilege(
                     (SELECT p.oid FROM pg_catalog.pg_proc AS p
                        JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
                       WHERE n.nspname OPERATOR(pg_catalog.=) 'cyoda_wf_internal'
                         AND p.proname OPERATOR(pg_catalog.=) 'raise_python_error'), 'EXECUTE')
                 THEN 'EXECUTE on function cyoda_wf_internal.raise_python_error(text, text, text, text)' END,
            CASE WHEN NOT (has_table_privilege('cyoda_wf.python_module', 'SELECT')
                           AND has_table_privilege('cyoda_wf.python_module', 'INSERT')
                           AND has_table_privilege('cyoda_wf.python_module', 'UPDATE'))
                 THEN 'SELECT, INSERT, UPDATE on table cyoda_wf.python_module' END,
            CASE WHEN NOT has_table_privilege('cyoda_wf.workflow', 'SELECT')
                 THEN 'SELECT on table cyoda_wf.workflow' END,
            CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_namespace AS n
                               WHERE n.nspname OPERATOR(pg_catalog.=) function_schema)
                      AND NOT (has_schema_privilege(function_schema, 'USAGE')
                               AND has_schema_privilege(function_schema, 'CREATE'))
                 THEN format('USAGE, CREATE on schema %I', function_schema) END], NULL);
        IF cardinality(missing) > 0 THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = format('permission denied: role "%s" lacks what load_functions needs', CURRENT_USER),
                DETAIL = 'Missing: ' || array_to_string(missing, '; ') || '.',
                HINT = 'A superuser grants them, or runs load_functions.';
        END IF;
    END IF;
    BEGIN
        RETURN QUERY SELECT f FROM cyoda_wf_internal.load_functions_py(source, function_schema) AS f;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
        PERFORM cyoda_wf_internal.raise_python_error(SQLERRM, SQLSTATE, det, hin);
        RAISE;
    END;
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
    RETURN cyoda_wf_internal.create_connection_py(name, definition);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf_internal.raise_python_error(SQLERRM, SQLSTATE, det, hin);
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
    RETURN cyoda_wf_internal.drop_connection_py(name);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf_internal.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;

CREATE OR REPLACE FUNCTION cyoda_wf_internal.ingest_fetch(connection text, params jsonb, raw_model text, meta jsonb,
                                      OUT model text, OUT data jsonb)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
BEGIN
    SELECT * INTO model, data FROM cyoda_wf_internal.ingest_py(connection, params, raw_model, meta);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf_internal.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;

ALTER FUNCTION cyoda_wf.load_functions(text, text) COST 5000 ROWS 10;
ALTER FUNCTION cyoda_wf_internal.load_functions_py(text, text) COST 5000 ROWS 10;
ALTER FUNCTION cyoda_wf.create_connection(text, jsonb) COST 1000;
ALTER FUNCTION cyoda_wf.drop_connection(text) COST 1000;
ALTER FUNCTION cyoda_wf_internal.ingest_fetch(text, jsonb, text, jsonb) COST 10000;
ALTER FUNCTION cyoda_wf_internal.check_token(text) COST 10;
COMMENT ON SCHEMA cyoda_wf_internal IS
    'cyoda_wf: functions only the engine calls (triggers, event trigger, the internals of create_connection, drop_connection, ingest and load_functions, check_token); not an API';

-- search: cyoda_wf_internal.matches_condition, the evaluator as search's
-- row test for the parts of a condition no index serves (parallel safe),
-- and its planner support function (its selectivity)
CREATE FUNCTION cyoda_wf_internal.matches_condition_support(internal)
RETURNS internal
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_matches_condition_support';
COMMENT ON FUNCTION cyoda_wf_internal.matches_condition_support(internal) IS
'Planner support of matches_condition: the share of rows it keeps, from the condition''s operators (PostgreSQL''s default selectivities).';
REVOKE ALL ON FUNCTION cyoda_wf_internal.matches_condition_support(internal) FROM PUBLIC;
CREATE FUNCTION cyoda_wf_internal.matches_condition(data jsonb, condition jsonb)
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
SUPPORT cyoda_wf_internal.matches_condition_support
AS 'MODULE_PATHNAME', 'cyoda_wf_matches_condition';
COMMENT ON FUNCTION cyoda_wf_internal.matches_condition(jsonb, jsonb) IS
'search''s row test: whether data matches a Cyoda condition, as check_condition answers (lifecycle fields unknown); the compiled condition is kept from row to row while it stays the same. NULL data has no fields; a NULL condition gives NULL. Parallel safe, so a search that reads every row can use parallel workers.';
ALTER FUNCTION cyoda_wf_internal.matches_condition(jsonb, jsonb) COST 10;
REVOKE ALL ON FUNCTION cyoda_wf_internal.matches_condition(jsonb, jsonb) FROM PUBLIC;
COMMENT ON SCHEMA cyoda_wf_internal IS
    'cyoda_wf: functions only the engine calls (triggers, event trigger, the internals of create_connection, drop_connection, ingest and load_functions, check_token, search''s row test matches_condition); not an API';
