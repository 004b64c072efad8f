-- The engine: entity triggers and the entity service ------------------------

CREATE FUNCTION cyoda_wf.entity_trigger() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'entity_trigger';

CREATE TRIGGER entity_engine
    BEFORE INSERT OR UPDATE OR DELETE ON cyoda_wf.entity
    FOR EACH ROW EXECUTE FUNCTION cyoda_wf.entity_trigger();

-- Version and audit rows of a statement's saves are written together when
-- the statement ends.
CREATE FUNCTION cyoda_wf.entity_flush() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'entity_flush';

CREATE TRIGGER entity_flush
    AFTER INSERT OR UPDATE OR DELETE ON cyoda_wf.entity
    FOR EACH STATEMENT EXECUTE FUNCTION cyoda_wf.entity_flush();

CREATE FUNCTION cyoda_wf.definitions_changed() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'definitions_changed';

CREATE TRIGGER workflow_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cyoda_wf.workflow
    FOR EACH STATEMENT EXECUTE FUNCTION cyoda_wf.definitions_changed();
CREATE TRIGGER model_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cyoda_wf.model
    FOR EACH STATEMENT EXECUTE FUNCTION cyoda_wf.definitions_changed();

CREATE FUNCTION cyoda_wf.add_item(model text, model_version integer, data jsonb)
    RETURNS uuid LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'add_item';
COMMENT ON FUNCTION cyoda_wf.add_item(text, integer, jsonb) IS
    'Create an entity of a model version and run its workflow; returns its id';

CREATE FUNCTION cyoda_wf.update_item(id uuid, data jsonb DEFAULT NULL,
                                     transition text DEFAULT NULL,
                                     if_match bigint DEFAULT NULL)
    RETURNS text LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'update_item';
COMMENT ON FUNCTION cyoda_wf.update_item(uuid, jsonb, text, bigint) IS
    'Save new data (NULL keeps it), fire a transition (NULL: loopback), run the cascade; returns the state reached';

CREATE FUNCTION cyoda_wf.fire(id uuid, transition text)
    RETURNS text LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'fire';
COMMENT ON FUNCTION cyoda_wf.fire(uuid, text) IS
    'Fire a named transition of an entity; returns the state reached';

CREATE FUNCTION cyoda_wf.delete_item(id uuid)
    RETURNS boolean LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'delete_item';
COMMENT ON FUNCTION cyoda_wf.delete_item(uuid) IS
    'Delete an entity (no workflow runs); false when there is no such entity';

CREATE FUNCTION cyoda_wf.get_item(id uuid, point_in_time timestamptz DEFAULT NULL)
    RETURNS jsonb LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'get_item';
COMMENT ON FUNCTION cyoda_wf.get_item(uuid, timestamptz) IS
    'The data of an entity, now or as of point_in_time';

CREATE FUNCTION cyoda_wf.transitions(id uuid)
    RETURNS TABLE (name text, next_state text, manual boolean)
    LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'transitions';
COMMENT ON FUNCTION cyoda_wf.transitions(uuid) IS
    'The transitions (not disabled) leaving the entity''s current state';

CREATE FUNCTION cyoda_wf.check_token(token text)
    RETURNS uuid LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'check_token';
COMMENT ON FUNCTION cyoda_wf.check_token(text) IS
    'The entity whose running process holds token; error when the token is not current';

-- Reads built on the version rows ------------------------------------------

CREATE FUNCTION cyoda_wf.get_entity(id uuid, point_in_time timestamptz DEFAULT NULL)
    RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    r record;
    created timestamptz;
BEGIN
    IF point_in_time IS NULL THEN
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
COMMENT ON FUNCTION cyoda_wf.get_entity(uuid, timestamptz) IS
    'Cyoda''s entity envelope {type, data, meta}, now or as of point_in_time';

CREATE FUNCTION cyoda_wf.changes(id uuid)
    RETURNS TABLE (version bigint, change_type text, changed_at timestamptz,
                   changed_by text, state text, transition text, transaction_id bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    SELECT v.version, v.change_type, v.changed_at, v.changed_by, v.state,
           v.transition, v.transaction_id
      FROM cyoda_wf.entity_version v
     WHERE v.entity_id = changes.id
     ORDER BY v.version DESC
$$;
COMMENT ON FUNCTION cyoda_wf.changes(uuid) IS
    'Every save of an entity, newest first; kept after deletion';

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
