-- cyoda_wf install script, version 0.2.0.  Every schema change of 0.2.0 also
-- goes into the upgrade script cyoda_wf--0.1.0--0.2.0.sql.
\echo Use "CREATE EXTENSION cyoda_wf" to load this file. \quit
-- The API is schema cyoda_wf; what only the engine itself calls (trigger
-- and event trigger functions, the internals of the connection functions)
-- and what the API calls as its caller (load_functions_py,
-- raise_python_error, check_token; search's row test matches_condition,
-- which search runs as the engine owner) is in schema cyoda_wf_internal, so that
-- \df cyoda_wf.* lists the API.  Triggers call their functions without
-- USAGE on it and the connection functions call theirs as the extension
-- owner; a role that runs load_functions, or Python processes it does not
-- own, needs USAGE on it.
CREATE SCHEMA cyoda_wf_internal;
COMMENT ON SCHEMA cyoda_wf_internal IS
    'cyoda_wf: functions only the engine calls (triggers, event trigger, the internals of create_connection, drop_connection, ingest and load_functions, check_token, search''s row test matches_condition); not an API';
-- Definitions --------------------------------------------------------------

-- One row per model version known to the engine: what a design said of it.
-- Models that only have native workflows get a row with every source allowed.
CREATE TABLE cyoda_wf.model (
    name            text        NOT NULL,
    version         integer     NOT NULL DEFAULT 1,
    entity_type     text,
    sources         text[]      NOT NULL DEFAULT ARRAY['API_REQUEST','SCHEDULED','ENTITY_EVENT'],
    depends_on      text,
    function_schema text        NOT NULL DEFAULT 'public',
    design          jsonb,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (name, version),
    CHECK (sources <@ ARRAY['API_REQUEST','SCHEDULED','ENTITY_EVENT']),
    -- Entity models (import_model): set when registered, else all NULL.
    model_schema     jsonb,
    model_state      text CHECK (model_state IN ('UNLOCKED', 'LOCKED')),
    change_level     text CHECK (change_level IN ('ARRAY_LENGTH', 'ARRAY_ELEMENTS', 'TYPE', 'STRUCTURAL')),
    model_updated_at timestamptz
);

-- Workflows of a model in their stored order; definition is the imported
-- JSON with defaults filled in, exactly what export_workflows returns.
CREATE TABLE cyoda_wf.workflow (
    model           text        NOT NULL,
    model_version   integer     NOT NULL,
    name            text        NOT NULL,
    ord             integer     NOT NULL,
    definition      jsonb       NOT NULL,
    function_schema text        NOT NULL DEFAULT 'public',
    owner           regrole     NOT NULL,
    imported_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (model, model_version, name)
);

-- Shards ---------------------------------------------------------------------

-- This database's shard number (one row; none: shard 0, never set).  pg_dump
-- keeps it, so a restored shard mints its own ids again (src/shard.c).
CREATE TABLE cyoda_wf.shard_config (
    only_row        boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    shard           integer     NOT NULL CHECK (shard BETWEEN 0 AND 4095)
);
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.shard_config', '');
CREATE FUNCTION cyoda_wf_internal.shard_config_changed() RETURNS trigger
    LANGUAGE C
    AS 'MODULE_PATHNAME', 'cyoda_wf_shard_config_changed';
CREATE TRIGGER shard_config_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cyoda_wf.shard_config
    FOR EACH STATEMENT EXECUTE FUNCTION cyoda_wf_internal.shard_config_changed();

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
-- The router's way in (cyoda_wf_router, src/remote.c): one API call run in a
-- subtransaction, its error returned as data; and a digest of the
-- definitions (at the end of this script), which the router compares between
-- shards (cluster_check).
CREATE FUNCTION cyoda_wf.remote_call(fn text, args text[], dry_run boolean DEFAULT false,
                                     OUT result jsonb, OUT sqlstate text, OUT message text,
                                     OUT detail text, OUT hint text, OUT notices text[])
    RETURNS record
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'cyoda_wf_remote_call';
COMMENT ON FUNCTION cyoda_wf.remote_call(text, text[], boolean) IS
    'For the router: call a cyoda_wf function (fn: its signature) with its arguments as text, as the caller, in a subtransaction; returns the result as jsonb or the error (sqlstate, message, detail, hint) as data; dry_run rolls the call back';

-- Entities -----------------------------------------------------------------

CREATE TABLE cyoda_wf.entity (
    id              uuid        PRIMARY KEY DEFAULT cyoda_wf.new_id(),
    model           text        NOT NULL,
    model_version   integer     NOT NULL DEFAULT 1,
    state           text,
    data            jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz,
    updated_at      timestamptz,
    version         bigint,
    last_transition text,
    workflow        text,
    parent_id       uuid,
    source          text,
    transaction_id  bigint
);
CREATE INDEX entity_model_state_idx ON cyoda_wf.entity (model, model_version, state);
CREATE INDEX entity_parent_idx ON cyoda_wf.entity (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX entity_data_idx ON cyoda_wf.entity USING gin (data jsonb_path_ops);

-- One immutable row per save (CREATE, UPDATE, DELETE) of every entity.
CREATE TABLE cyoda_wf.entity_version (
    entity_id       uuid        NOT NULL,
    version         bigint      NOT NULL,
    change_type     text        NOT NULL,   -- CREATE, UPDATE or DELETE
    changed_at      timestamptz NOT NULL,
    changed_by      text        NOT NULL,
    model           text        NOT NULL,
    model_version   integer     NOT NULL,
    state           text,
    transition      text,
    transaction_id  bigint      NOT NULL,
    data            jsonb,
    PRIMARY KEY (entity_id, version),
    -- when the save started (changed_at: when it ended); a DELETE has one
    -- clock read, both are it
    started_at      timestamptz NOT NULL
);

-- Audit --------------------------------------------------------------------

-- The stored events of the engine (TRANSITION_MAKE, PROCESS_FAILED, ...).
CREATE TABLE cyoda_wf.audit_log (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id       uuid        NOT NULL,
    at              timestamptz NOT NULL,
    transaction_id  bigint      NOT NULL,
    event_type      text        NOT NULL,
    transition      text,
    from_state      text,
    to_state        text,
    role            text        NOT NULL,
    detail          jsonb
);
CREATE INDEX audit_log_entity_idx ON cyoda_wf.audit_log (entity_id, id);

-- Every audit event: the stored rows and, derived from each CREATE and
-- UPDATE version row, the save's STATE_MACHINE_START (at its start) and
-- STATE_MACHINE_FINISH (at its end, in the state it ended in).  Derived rows
-- have no id; a save writes nothing for them.
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

-- Definitions and entities are user data: pg_dump keeps them.
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.model', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.workflow', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.entity', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.entity_version', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.audit_log_id_seq', '');

-- Entity models (README: Entity models) ------------------------------------------

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

-- Conditions -----------------------------------------------------------------

-- Try a Cyoda condition (criterion) against some data, without a workflow.
CREATE FUNCTION cyoda_wf.check_condition(condition jsonb, data jsonb)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'cyoda_wf_check_condition';

COMMENT ON FUNCTION cyoda_wf.check_condition(jsonb, jsonb) IS
'Compile a Cyoda condition (simple, group, lifecycle, array) and test it against data; lifecycle fields are unknown here and function criteria raise 22023. An invalid condition raises 22023 naming the path at fault.';

-- search's row test for the parts of a condition no index serves: the
-- evaluator of check_condition, its compilation kept from row to row.
CREATE FUNCTION cyoda_wf_internal.matches_condition_support(internal)
RETURNS internal
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_matches_condition_support';

COMMENT ON FUNCTION cyoda_wf_internal.matches_condition_support(internal) IS
'Planner support of matches_condition: the share of rows it keeps, from the condition''s operators (PostgreSQL''s default selectivities).';

CREATE FUNCTION cyoda_wf_internal.matches_condition(data jsonb, condition jsonb)
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
SUPPORT cyoda_wf_internal.matches_condition_support
AS 'MODULE_PATHNAME', 'cyoda_wf_matches_condition';

COMMENT ON FUNCTION cyoda_wf_internal.matches_condition(jsonb, jsonb) IS
'search''s row test: whether data matches a Cyoda condition, as check_condition answers (lifecycle fields unknown); the compiled condition is kept from row to row while it stays the same. NULL data has no fields; a NULL condition gives NULL. Parallel safe, so a search that reads every row can use parallel workers.';
-- Native workflow definitions: import and export -----------------------------

CREATE FUNCTION cyoda_wf.import_workflows(model text, model_version integer, body jsonb)
RETURNS jsonb
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_import_workflows';

COMMENT ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb) IS
'Imports Cyoda workflow definitions ({"importMode": MERGE|REPLACE|ACTIVATE, "allowCycles": bool, "workflows": [...]}) into a model version; an invalid body is rejected whole (22023) and stores nothing. Returns {"model", "modelVersion", "importMode", "workflows": [names stored]}.';

-- The same with options: {"force": true} stores even when live entities would
-- be stranded; {"dryRun": true} validates and reports the plan, storing nothing.
CREATE FUNCTION cyoda_wf.import_workflows(model text, model_version integer, body jsonb,
                                          options jsonb)
RETURNS jsonb
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_import_workflows';

COMMENT ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb, jsonb) IS
'import_workflows with options {"force": bool, "dryRun": bool}. An import that would leave live entities on a workflow or in a state that no longer exists is refused (55000) unless force is true; dryRun validates as an import does and returns the plan ({"dryRun", "model", "modelVersion", "importMode", "workflows", "added", "replaced", "removed", "deactivated", "statesRemoved", "stranded", "strandedBy"}) without storing anything.';

CREATE FUNCTION cyoda_wf.export_workflows(model text, model_version integer)
RETURNS jsonb
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_export_workflows';

COMMENT ON FUNCTION cyoda_wf.export_workflows(text, integer) IS
'Returns the workflows stored for a model version as {"entityName", "modelVersion", "workflows": [...]}: the imported definitions with defaults filled in, in stored order; import_workflows accepts it back.';
-- The engine: entity triggers and the entity service ------------------------

CREATE FUNCTION cyoda_wf_internal.entity_trigger() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'cyoda_wf_entity_trigger';

CREATE TRIGGER entity_engine
    BEFORE INSERT OR UPDATE OR DELETE ON cyoda_wf.entity
    FOR EACH ROW EXECUTE FUNCTION cyoda_wf_internal.entity_trigger();

-- Version and audit rows of a statement's saves are written together when
-- the statement ends.
CREATE FUNCTION cyoda_wf_internal.entity_flush() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'cyoda_wf_entity_flush';

CREATE TRIGGER entity_flush
    AFTER INSERT OR UPDATE OR DELETE ON cyoda_wf.entity
    FOR EACH STATEMENT EXECUTE FUNCTION cyoda_wf_internal.entity_flush();

CREATE FUNCTION cyoda_wf_internal.definitions_changed() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'cyoda_wf_definitions_changed';

CREATE TRIGGER workflow_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cyoda_wf.workflow
    FOR EACH STATEMENT EXECUTE FUNCTION cyoda_wf_internal.definitions_changed();
CREATE TRIGGER model_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cyoda_wf.model
    FOR EACH STATEMENT EXECUTE FUNCTION cyoda_wf_internal.definitions_changed();

CREATE FUNCTION cyoda_wf.add_item(model text, model_version integer, data jsonb)
    RETURNS uuid LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_add_item';
COMMENT ON FUNCTION cyoda_wf.add_item(text, integer, jsonb) IS
    'Create an entity of a model version and run its workflow; returns its id';

CREATE FUNCTION cyoda_wf.update_item(id uuid, data jsonb DEFAULT NULL,
                                     transition text DEFAULT NULL,
                                     if_match bigint DEFAULT NULL)
    RETURNS text LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_update_item';
COMMENT ON FUNCTION cyoda_wf.update_item(uuid, jsonb, text, bigint) IS
    'Save new data (NULL keeps it), fire a transition (NULL: loopback), run the cascade; returns the state reached';

CREATE FUNCTION cyoda_wf.patch_item(id uuid, patch jsonb,
                                    transition text DEFAULT NULL,
                                    if_match bigint DEFAULT NULL)
    RETURNS text LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_patch_item';
COMMENT ON FUNCTION cyoda_wf.patch_item(uuid, jsonb, text, bigint) IS
    'Save the data merged with an RFC 7386 merge patch, fire a transition (NULL: loopback), run the cascade; returns the state reached';

CREATE FUNCTION cyoda_wf.fire(id uuid, transition text)
    RETURNS text LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_fire';
COMMENT ON FUNCTION cyoda_wf.fire(uuid, text) IS
    'Fire a named transition of an entity; returns the state reached';

CREATE FUNCTION cyoda_wf.move_entity(id uuid, state text, reason text, workflow text DEFAULT NULL)
    RETURNS text LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_move_entity';
COMMENT ON FUNCTION cyoda_wf.move_entity(uuid, text, text, text) IS
    'Administrator''s repair: put an entity in a state of its workflow (or of the named workflow of its model) without running processes, criteria or the cascade; a save of its own with a STATE_MOVED audit row. Granted to no one by default. Returns the state.';

CREATE FUNCTION cyoda_wf.delete_item(id uuid)
    RETURNS boolean LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_delete_item';
COMMENT ON FUNCTION cyoda_wf.delete_item(uuid) IS
    'Delete an entity (no workflow runs); false when there is no such entity';

CREATE FUNCTION cyoda_wf.delete_items(model text, model_version integer,
                                      condition jsonb DEFAULT NULL,
                                      point_in_time timestamptz DEFAULT NULL)
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_delete_items';
COMMENT ON FUNCTION cyoda_wf.delete_items(text, integer, jsonb, timestamptz) IS
    'Delete the live entities of a model version that match a condition (as of point_in_time: that existed and matched then); returns how many';

CREATE FUNCTION cyoda_wf.get_item(id uuid, point_in_time timestamptz DEFAULT NULL,
                                  transaction_id bigint DEFAULT NULL)
    RETURNS jsonb LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'cyoda_wf_get_item';
COMMENT ON FUNCTION cyoda_wf.get_item(uuid, timestamptz, bigint) IS
    'The data of an entity, now, as of point_in_time, or as transaction_id''s last save of it left it';

CREATE FUNCTION cyoda_wf.transitions(id uuid)
    RETURNS TABLE (name text, next_state text, manual boolean)
    LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'cyoda_wf_transitions';
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

CREATE FUNCTION cyoda_wf_internal.check_token(token text)
    RETURNS uuid LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_check_token';
COMMENT ON FUNCTION cyoda_wf_internal.check_token(text) IS
    'The entity whose running process holds token; error when the token is not current';

-- Reads built on the version rows ------------------------------------------

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

CREATE FUNCTION cyoda_wf.stats(model text DEFAULT NULL)
    RETURNS TABLE (model text, model_version integer, state text, count bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    SELECT e.model, e.model_version, e.state, count(*)
      FROM cyoda_wf.entity e
     WHERE stats.model IS NULL OR e.model = stats.model
     GROUP BY e.model, e.model_version, e.state
     ORDER BY 1, 2, 3
$$;
COMMENT ON FUNCTION cyoda_wf.stats(text) IS
    'Number of entities per model version and state';
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
-- failed tasks, for metrics() and failed_tasks (newest first)
CREATE INDEX task_failed_idx ON cyoda_wf.task (finished_at) WHERE state = 'failed';
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
    LANGUAGE C AS 'MODULE_PATHNAME', 'cyoda_wf_run_tasks';
COMMENT ON PROCEDURE cyoda_wf.run_tasks(integer) IS
    'Run due async tasks and timers in this session, each in its own transaction when called outside a transaction block';

CREATE FUNCTION cyoda_wf.retry_task(id bigint) RETURNS boolean
    LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_retry_task';
COMMENT ON FUNCTION cyoda_wf.retry_task(bigint) IS
    'Re-queue a failed task and wake the workers at commit; false when the task is not failed';

CREATE FUNCTION cyoda_wf.retry_failed(model text DEFAULT NULL, since timestamptz DEFAULT NULL)
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_retry_failed';
COMMENT ON FUNCTION cyoda_wf.retry_failed(text, timestamptz) IS
    'Re-queue every failed task (of model, failed since the given time; NULL: any) and wake the workers at commit; returns how many';

CREATE FUNCTION cyoda_wf.prune_tasks(older_than interval DEFAULT NULL,
                                     include_failed boolean DEFAULT false)
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_prune_tasks';
COMMENT ON FUNCTION cyoda_wf.prune_tasks(interval, boolean) IS
    'Delete the tasks that finished (done, cancelled, expired; failed too with include_failed) more than older_than ago (NULL: cyoda_wf.task_retention); returns how many';

CREATE FUNCTION cyoda_wf.start_workers(n integer DEFAULT 2) RETURNS integer
    LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_start_workers';
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

-- What failed, and what is waiting? ----------------------------------------

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

SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.task_id_seq', '');
-- Scheduled JOB sources (pg_cron) -------------------------------------------

CREATE FUNCTION cyoda_wf.add_scheduled_item(model text, model_version integer, data jsonb)
    RETURNS uuid LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_add_scheduled_item';
COMMENT ON FUNCTION cyoda_wf.add_scheduled_item(text, integer, jsonb) IS
    'Create an entity with source SCHEDULED (what schedule_job''s cron ticks run)';

CREATE FUNCTION cyoda_wf.schedule_job(job_name text, schedule text, model text,
                                      model_version integer, data jsonb DEFAULT '{}')
    RETURNS bigint LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_schedule_job';
COMMENT ON FUNCTION cyoda_wf.schedule_job(text, text, text, integer, jsonb) IS
    'Create (or replace) a pg_cron job, run as the calling role, that creates one entity (source SCHEDULED) per tick; returns the job id';

CREATE FUNCTION cyoda_wf.unschedule_job(job_name text)
    RETURNS boolean LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'cyoda_wf_unschedule_job';
COMMENT ON FUNCTION cyoda_wf.unschedule_job(text) IS
    'Remove a job the calling role made with schedule_job; false when there is none';

-- Dropping the extension (directly or by a cascade) removes the pg_cron jobs
-- schedule_job made here: a hook of the library does it, which this event
-- trigger makes sure is loaded in the dropping session.
CREATE FUNCTION cyoda_wf_internal.drop_schedules() RETURNS event_trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'cyoda_wf_drop_schedules';
COMMENT ON FUNCTION cyoda_wf_internal.drop_schedules() IS
    'Event trigger: loads the library before DROP EXTENSION, DROP SCHEMA and DROP OWNED, so that its hook removes the pg_cron jobs of schedule_job in this database when the drop reaches cyoda_wf';
CREATE EVENT TRIGGER cyoda_wf_drop_schedules ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION cyoda_wf_internal.drop_schedules();
-- The design front end and views of stored workflows ------------------------

CREATE FUNCTION cyoda_wf.validate_design(design jsonb)
    RETURNS TABLE (severity text, path text, message text)
    LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_validate_design';
COMMENT ON FUNCTION cyoda_wf.validate_design(jsonb) IS
    'Check a Cyoda design without storing anything: one row per error or warning, with its JSON path; functions are looked up in schema public';

CREATE FUNCTION cyoda_wf.validate_design(design jsonb, function_schema text)
    RETURNS TABLE (severity text, path text, message text)
    LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_validate_design';
COMMENT ON FUNCTION cyoda_wf.validate_design(jsonb, text) IS
    'Check a Cyoda design without storing anything, looking up its process and criteria functions in function_schema';

CREATE FUNCTION cyoda_wf.validate_design(design text)
    RETURNS TABLE (severity text, path text, message text)
    LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_validate_design_text';
COMMENT ON FUNCTION cyoda_wf.validate_design(text) IS
    'Check a Cyoda design given as text (invalid JSON: SQLSTATE 22023 with the parser''s message)';

CREATE FUNCTION cyoda_wf.validate_design(design text, function_schema text)
    RETURNS TABLE (severity text, path text, message text)
    LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_validate_design_text';
COMMENT ON FUNCTION cyoda_wf.validate_design(text, text) IS
    'Check a Cyoda design given as text, looking up its functions in function_schema';

CREATE FUNCTION cyoda_wf.import_design(design jsonb, function_schema text DEFAULT 'public')
    RETURNS jsonb LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_import_design';
COMMENT ON FUNCTION cyoda_wf.import_design(jsonb, text) IS
    'Import every entity of a Cyoda design (model version 1, its type, sources, dependency, workflow); refused whole on any error; returns {entities, warnings}';

CREATE FUNCTION cyoda_wf.import_design(design text, function_schema text DEFAULT 'public')
    RETURNS jsonb LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_import_design_text';
COMMENT ON FUNCTION cyoda_wf.import_design(text, text) IS
    'Import a Cyoda design given as text (invalid JSON: SQLSTATE 22023 with the parser''s message)';

CREATE FUNCTION cyoda_wf.diagram(model text, model_version integer DEFAULT 1,
                                 format text DEFAULT 'mermaid')
    RETURNS text LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_diagram';
COMMENT ON FUNCTION cyoda_wf.diagram(text, integer, text) IS
    'The workflows of a model version as a Mermaid stateDiagram-v2 (format mermaid) or Graphviz DOT (format dot); manual transitions drawn differently; Cyoda''s default workflow when none is imported';

CREATE FUNCTION cyoda_wf.scaffold(model text DEFAULT NULL)
    RETURNS text LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'cyoda_wf_scaffold';
COMMENT ON FUNCTION cyoda_wf.scaffold(text) IS
    'A SQL script creating a PL/Python stub for every process and criterion function of the model''s workflows (every model when NULL) that does not exist yet';
-- Python processes: modules loaded with load_functions ----------------------

-- Every Python module given to load_functions, once per distinct text.
CREATE TABLE cyoda_wf.python_module (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,
    sha256      text        NOT NULL UNIQUE,
    loaded_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    loaded_by   text        NOT NULL DEFAULT CURRENT_USER
);
COMMENT ON TABLE cyoda_wf.python_module IS
    'Python modules given to load_functions, one row per distinct source (loaded_at/loaded_by: the latest load)';
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.python_module', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.python_module_id_seq', '');

-- The work is done by the cyoda_wf Python package (runtime.py), which the
-- functions made by load_functions call as well.
CREATE FUNCTION cyoda_wf_internal.load_functions_py(source text, function_schema text)
    RETURNS SETOF text
    LANGUAGE plpython3u VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
try:
    from cyoda_wf import runtime
except ImportError as e:
    plpy.error("the cyoda_wf Python package cannot be imported by the server's Python: %s" % e,
               detail="load_functions and the functions it makes run cyoda_wf.runtime.",
               hint="make install copies python/cyoda_wf into PYTHON_SITE "
                    "(default /usr/lib/python3/dist-packages); put that directory on the "
                    "server's PYTHONPATH if the server's Python does not look there.",
               sqlstate="58P01")
return runtime.load_functions(source, function_schema)
$$;
COMMENT ON FUNCTION cyoda_wf_internal.load_functions_py(text, text) IS
    'Internal: the PL/Python side of load_functions';

-- PL/Python puts the Python exception's name ("plpy.Error: ",
-- "spiexceptions.DivisionByZero: ") before the message of an error that
-- leaves a PL/Python function.  The plpgsql functions that call a PL/Python
-- side (load_functions, create_connection, drop_connection, ingest_fetch)
-- pass each error they catch here: one with such a prefix is raised again
-- without it (same SQLSTATE, detail and hint); for any other this returns,
-- and the caller re-raises the error unchanged (RAISE).  load_functions
-- runs as its caller: a role granted EXECUTE on it needs USAGE on schema
-- cyoda_wf_internal and EXECUTE on load_functions_py and raise_python_error
-- as well.
CREATE FUNCTION cyoda_wf_internal.raise_python_error(message text, state text, detail text, hint text)
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
COMMENT ON FUNCTION cyoda_wf_internal.raise_python_error(text, text, text, text) IS
    'Internal: raise an error caught from a PL/Python function again without the "plpy.Error: " / "spiexceptions.X: " prefix; returns for an error without one';

-- load_functions(source, function_schema): one function per top-level
-- def name(meta, data) of a Python module, made in function_schema: a
-- criterion (RETURNS boolean) for a def annotated -> bool, or unannotated
-- and named is_*, has_* or can_*; a process (RETURNS jsonb) for any other
-- (runtime.def_kind).  EXECUTE on them is revoked from PUBLIC: they run
-- through their workflows, as the role that imported the workflow.  Returns
-- the names made.  This wrapper checks first that the caller may do what
-- loading takes (42501 naming what it lacks), then gives errors raised by
-- the loader a plain message (raise_python_error).
CREATE FUNCTION cyoda_wf.load_functions(source text, function_schema text DEFAULT 'public')
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
COMMENT ON FUNCTION cyoda_wf.load_functions(text, text) IS
    'Turn each top-level def name(meta, data) of a Python module into a process (or criterion) function in function_schema; returns the names made';
-- Search and history retention -----------------------------------------------

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

CREATE FUNCTION cyoda_wf.stats_by(model text, model_version integer, json_path text,
                                  condition jsonb DEFAULT NULL)
    RETURNS TABLE(value jsonb, count bigint)
    LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'cyoda_wf_stats_by';
COMMENT ON FUNCTION cyoda_wf.stats_by(text, integer, text, jsonb) IS
    'Live entities of a model version (those matching the condition, when given) counted by the value at a data path written as in conditions ($.color); SQL NULL where absent; most frequent first, then by value.';

-- One history retention policy per model (all its versions).  NULL limits
-- are not applied; prune_history() enforces the policies.
CREATE TABLE cyoda_wf.retention (
    model           text        PRIMARY KEY,
    keep_versions   integer     CHECK (keep_versions >= 1),
    keep_for        interval    CHECK (keep_for > interval '0'),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK (keep_versions IS NOT NULL OR keep_for IS NOT NULL)
);
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.retention', '');

CREATE FUNCTION cyoda_wf.set_retention(model text, keep_versions integer DEFAULT NULL,
                                       keep_for interval DEFAULT NULL)
    RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
BEGIN
    IF set_retention.model IS NULL THEN
        RAISE EXCEPTION 'model must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF keep_versions IS NOT NULL AND keep_versions < 1 THEN
        RAISE EXCEPTION 'keep_versions must be at least 1, not %', keep_versions
            USING ERRCODE = '22023',
                  HINT = 'The latest version of a live entity is always kept.';
    END IF;
    IF keep_for IS NOT NULL AND keep_for <= interval '0' THEN
        RAISE EXCEPTION 'keep_for must be a positive interval, not %', keep_for
            USING ERRCODE = '22023';
    END IF;
    IF keep_versions IS NULL AND keep_for IS NULL THEN
        DELETE FROM cyoda_wf.retention r WHERE r.model = set_retention.model;
        RETURN;
    END IF;
    INSERT INTO cyoda_wf.retention AS r (model, keep_versions, keep_for)
    VALUES (set_retention.model, keep_versions, keep_for)
    ON CONFLICT ON CONSTRAINT retention_pkey DO UPDATE
       SET keep_versions = EXCLUDED.keep_versions, keep_for = EXCLUDED.keep_for,
           updated_at = pg_catalog.now();
END
$$;
COMMENT ON FUNCTION cyoda_wf.set_retention(text, integer, interval) IS
    'Bound the history of a model: keep_versions keeps the newest N version rows of each entity, keep_for keeps what point-in-time reads back to now() - keep_for need; both NULL removes the policy. prune_history() applies it.';

CREATE FUNCTION cyoda_wf.prune_history(model text DEFAULT NULL)
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
COMMENT ON FUNCTION cyoda_wf.prune_history(text) IS
    'Apply the retention policy of one model (all when NULL): delete the version and audit rows it no longer keeps; returns how many rows were deleted. Point-in-time reads before what is kept of an entity raise P0002.';
-- Data ingestion: connections (CONFIG entities) and cyoda_wf.ingest ---------
--
-- A connection is an entity of model "connection" (version 1, type CONFIG,
-- source API_REQUEST) whose data names a source: http(s) GET/POST with
-- headers, query and body, or a file:// file on the server; its format
-- (json, ndjson, csv), timeout_ms and max_bytes.  create_connection keeps
-- the values of secret headers / query parameters / body in
-- connection_secret and writes "***" in their place into the entity, so
-- they never reach entity data, versions, audit rows or error texts.
-- "connection" is a reserved model (src/connections.c): no workflow is
-- imported for it and only create_connection / drop_connection write its
-- entities.  What ingest uses is the definition create_connection stored
-- in connection_definition, never the entity.  ingest fetches, parses and
-- adds one raw data entity as the calling role (inside a process it is a
-- child of the process's entity).  The work is done by the Python package
-- (python/cyoda_wf/data_ingestion/).

-- The connections ingest uses, one row each, written by create_connection
-- and drop_connection only (nothing is granted on it): the name, the
-- entity that shows the connection and the checked definition, with "***"
-- for secret values (what the entity showed when create_connection wrote
-- it).  An entity row changed or added by anyone else does not change what
-- ingest sends where.
CREATE TABLE cyoda_wf.connection_definition (
    name        text        PRIMARY KEY,
    entity_id   uuid        NOT NULL UNIQUE,
    definition  jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE cyoda_wf.connection_definition IS
    'The connections ingest uses: name, entity id and definition (secret values "***") as create_connection stored them; written by create_connection / drop_connection only';
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.connection_definition', '');

-- Secret values of connections, keyed by the connection's entity id (and
-- dropped with its connection_definition row); "connection" is its name.
-- Nothing is granted on it (090 revokes all from PUBLIC); only the
-- connection functions read it, as the extension owner.
CREATE TABLE cyoda_wf.connection_secret (
    connection  text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('header', 'query', 'body')),
    key         text NOT NULL,
    value       text NOT NULL,
    connection_id uuid NOT NULL REFERENCES cyoda_wf.connection_definition (entity_id)
                       ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (connection_id, kind, key)
);
COMMENT ON TABLE cyoda_wf.connection_secret IS
    'Secret header / query / body values of connections (entity data shows "***"); readable by the extension owner only';
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.connection_secret', '');

-- Directories file:// connections may read (on the database server, as the
-- server's OS user).  Empty by default: file:// is refused until a
-- superuser lists a directory here.
CREATE TABLE cyoda_wf.ingest_file_root (
    dir         text PRIMARY KEY CHECK (dir LIKE '/%')
);
COMMENT ON TABLE cyoda_wf.ingest_file_root IS
    'Directories (absolute; symlinks resolved) under which file:// connections may read files';
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.ingest_file_root', '');

-- Internal: the PL/Python sides.  No SECURITY DEFINER of their own: they
-- are called by the functions below, as the extension owner, and nothing
-- else may execute them (090 revokes EXECUTE from PUBLIC).
CREATE FUNCTION cyoda_wf_internal.create_connection_py(name text, definition jsonb)
    RETURNS uuid
    LANGUAGE plpython3u VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
from cyoda_wf import data_ingestion
return data_ingestion.sql_create_connection(name, definition)
$$;
COMMENT ON FUNCTION cyoda_wf_internal.create_connection_py(text, jsonb) IS
    'Internal: the PL/Python side of create_connection';

CREATE FUNCTION cyoda_wf_internal.drop_connection_py(name text)
    RETURNS boolean
    LANGUAGE plpython3u VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
from cyoda_wf import data_ingestion
return data_ingestion.sql_drop_connection(name)
$$;
COMMENT ON FUNCTION cyoda_wf_internal.drop_connection_py(text) IS
    'Internal: the PL/Python side of drop_connection';

CREATE FUNCTION cyoda_wf_internal.ingest_py(connection text, params jsonb, raw_model text, meta jsonb,
                                   OUT model text, OUT data jsonb)
    LANGUAGE plpython3u VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
from cyoda_wf import data_ingestion
return data_ingestion.sql_ingest(connection, params, raw_model, meta)
$$;
COMMENT ON FUNCTION cyoda_wf_internal.ingest_py(text, jsonb, text, jsonb) IS
    'Internal: the PL/Python side of ingest: fetch and parse; the model and data of the raw data entity';

-- Internal: the entity writes of create_connection ('create', NULL, data),
-- of a replace ('replace', id, data) and of drop_connection ('delete', id,
-- NULL), the only writes the entity trigger lets through for the reserved
-- model "connection".  Works only for the extension owner.
CREATE FUNCTION cyoda_wf_internal.write_connection_entity(op text, id uuid, data jsonb)
    RETURNS uuid
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'cyoda_wf_write_connection_entity';
COMMENT ON FUNCTION cyoda_wf_internal.write_connection_entity(text, uuid, jsonb) IS
    'Internal: the writes of create_connection / drop_connection on their entity of the reserved model "connection"';

-- create_connection(name, definition) -> entity id: create or replace (by
-- name) the connection entity.  definition: {"url", "method", "headers",
-- "query", "body", "format", "timeout_ms", "max_bytes", "raw_model",
-- "secret_headers", "secret_query", "secret_body", "csv_delimiter",
-- "csv_numbers", "proxy", "description"}.  22023 on an invalid definition,
-- 42501 for a file:// path outside cyoda_wf.ingest_file_root.
CREATE FUNCTION cyoda_wf.create_connection(name text, definition jsonb)
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
COMMENT ON FUNCTION cyoda_wf.create_connection(text, jsonb) IS
    'Create or replace (by name) a connection entity (model "connection", CONFIG); secret header/query/body values are kept in connection_secret and shown as "***"; returns the entity id';

CREATE FUNCTION cyoda_wf.drop_connection(name text)
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
COMMENT ON FUNCTION cyoda_wf.drop_connection(text) IS
    'Delete a connection entity and its secrets; false when there is no such connection';

-- Internal: ingest's fetch, as the extension owner: the connection's
-- definition and secrets (connection_definition, connection_secret), the
-- request, and the model and data (the parsed document, secret values
-- scrubbed) of the raw data entity.
CREATE FUNCTION cyoda_wf_internal.ingest_fetch(connection text, params jsonb, raw_model text, meta jsonb,
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
COMMENT ON FUNCTION cyoda_wf_internal.ingest_fetch(text, jsonb, text, jsonb) IS
    'Internal: fetch and parse for ingest, as the extension owner; the model and data of the raw data entity';

-- ingest(connection, params, raw_model, meta) -> id of the raw data entity.
-- params: {"vars": {placeholder: value}, "query": {...}, "headers": {...},
-- "body": ...}.  The model: raw_model, else the connection's "raw_model",
-- else (with meta, the running process's meta) the entity the running
-- transition adds (the design's adds_new_entites); else 22023.  Not
-- SECURITY DEFINER: it fetches as the extension owner and adds the entity
-- as the caller, who is its changed_by and audit role (src/connections.c).
CREATE FUNCTION cyoda_wf.ingest(connection text, params jsonb DEFAULT NULL,
                                raw_model text DEFAULT NULL, meta jsonb DEFAULT NULL)
    RETURNS uuid
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'cyoda_wf_ingest';
COMMENT ON FUNCTION cyoda_wf.ingest(text, jsonb, text, jsonb) IS
    'Fetch a connection''s source, parse it (json, ndjson, csv) and add one raw data entity with the payload and its provenance; returns its id';
-- The router's comparison of definitions between shards (cluster_check).
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
-- Every table and view says what it holds.
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
ALTER FUNCTION cyoda_wf_internal.load_functions_py(text, text) COST 5000 ROWS 10;
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
ALTER FUNCTION cyoda_wf_internal.check_token(text) COST 10;
ALTER FUNCTION cyoda_wf.get_item(uuid, timestamptz, bigint) COST 50;
ALTER FUNCTION cyoda_wf.get_entity(uuid, timestamptz, bigint) COST 100;
ALTER FUNCTION cyoda_wf.transitions(uuid) COST 50 ROWS 5;
ALTER FUNCTION cyoda_wf.changes(uuid, timestamptz) COST 100 ROWS 10;
ALTER FUNCTION cyoda_wf.export_model(text, integer, text) COST 50;
ALTER FUNCTION cyoda_wf.export_workflows(text, integer) COST 50;
ALTER FUNCTION cyoda_wf.models() COST 100 ROWS 10;
ALTER FUNCTION cyoda_wf.check_condition(jsonb, jsonb) COST 10;
ALTER FUNCTION cyoda_wf_internal.matches_condition(jsonb, jsonb) COST 10;
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
ALTER FUNCTION cyoda_wf.import_workflows(text, integer, jsonb, jsonb) COST 1000;
ALTER FUNCTION cyoda_wf.move_entity(uuid, text, text, text) COST 1000;
ALTER FUNCTION cyoda_wf.retry_failed(text, timestamptz) COST 1000;
ALTER FUNCTION cyoda_wf.explain(uuid) COST 100 ROWS 6;
ALTER FUNCTION cyoda_wf.metrics() COST 1000 ROWS 10;
-- Privileges: nothing for PUBLIC; an administrator grants what each role needs.
REVOKE ALL ON SCHEMA cyoda_wf FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA cyoda_wf FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA cyoda_wf FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA cyoda_wf FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA cyoda_wf FROM PUBLIC;
REVOKE ALL ON SCHEMA cyoda_wf_internal FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA cyoda_wf_internal FROM PUBLIC;
