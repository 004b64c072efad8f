-- bench/sql/30_plpgsql_engine.sql: baseline (b), a table-driven workflow
-- engine in PL/pgSQL, as a competent user would write it for the subset the
-- benchmark uses: workflow selection, automatic cascades, named (manual)
-- transitions, loopback saves, simple and group criteria, SYNC processes,
-- an audit row per transition and a version row per save, a loop limit.
--
-- Definitions are loaded from the same Cyoda JSON bodies cyoda_wf imports
-- (bench.workflow); criteria are translated once into jsonpath predicates and
-- evaluated with `data @@ criterion` inside the query that picks the
-- transition.  Processes are called by name with EXECUTE.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS plwf CASCADE;
CREATE SCHEMA plwf;

CREATE TABLE plwf.workflow (
    model          text    NOT NULL,
    model_version  integer NOT NULL,
    name           text    NOT NULL,
    ord            integer NOT NULL,
    active         boolean NOT NULL,
    initial_state  text    NOT NULL,
    criterion      jsonpath,
    PRIMARY KEY (model, model_version, name)
);

CREATE TABLE plwf.transition (
    model          text    NOT NULL,
    model_version  integer NOT NULL,
    workflow       text    NOT NULL,
    from_state     text    NOT NULL,
    ord            integer NOT NULL,
    name           text    NOT NULL,
    to_state       text    NOT NULL,
    manual         boolean NOT NULL DEFAULT false,
    disabled       boolean NOT NULL DEFAULT false,
    criterion      jsonpath,
    processes      text[],
    PRIMARY KEY (model, model_version, workflow, from_state, ord),
    UNIQUE (model, model_version, workflow, from_state, name)
);

CREATE TABLE plwf.entity (LIKE cyoda_wf.entity INCLUDING ALL);
CREATE TABLE plwf.entity_version (LIKE cyoda_wf.entity_version INCLUDING ALL);
-- the engine reads the clock when a save starts (started_at)
ALTER TABLE plwf.entity_version ALTER COLUMN started_at SET DEFAULT clock_timestamp();
CREATE TABLE plwf.audit (LIKE cyoda_wf.audit_log INCLUDING ALL);

-- A Cyoda condition (simple, group; the operators the benchmark uses) as a
-- jsonpath predicate.
CREATE FUNCTION plwf.to_jsonpath(c jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    parts text[];
    op text;
BEGIN
    IF c IS NULL OR c = 'null'::jsonb THEN
        RETURN NULL;
    END IF;
    IF c->>'type' = 'group' THEN
        SELECT array_agg('(' || plwf.to_jsonpath(x) || ')') INTO parts
          FROM jsonb_array_elements(c->'conditions') AS x;
        IF upper(c->>'operator') = 'NOT' THEN
            RETURN '!(' || array_to_string(parts, ' || ') || ')';
        END IF;
        RETURN array_to_string(parts, CASE upper(c->>'operator') WHEN 'OR' THEN ' || ' ELSE ' && ' END);
    ELSIF c->>'type' = 'simple' THEN
        op := c->>'operatorType';
        RETURN CASE op
            WHEN 'EQUALS' THEN format('%s == %s', c->>'jsonPath', c->'value')
            WHEN 'NOT_EQUAL' THEN format('%s != %s', c->>'jsonPath', c->'value')
            WHEN 'GREATER_THAN' THEN format('%s > %s', c->>'jsonPath', c->'value')
            WHEN 'GREATER_OR_EQUAL' THEN format('%s >= %s', c->>'jsonPath', c->'value')
            WHEN 'LESS_THAN' THEN format('%s < %s', c->>'jsonPath', c->'value')
            WHEN 'LESS_OR_EQUAL' THEN format('%s <= %s', c->>'jsonPath', c->'value')
            WHEN 'CONTAINS' THEN format('%s[*] == %s', c->>'jsonPath', c->'value')
            WHEN 'IS_NULL' THEN format('!exists(%1$s) || %1$s == null', c->>'jsonPath')
            WHEN 'NOT_NULL' THEN format('exists(%1$s) && !(%1$s == null)', c->>'jsonPath')
        END;
    END IF;
    RAISE EXCEPTION 'condition not supported by the PL/pgSQL engine: %', c;
END
$$;

-- Load a Cyoda import body into the definition tables.
CREATE FUNCTION plwf.load(p_model text, p_version integer, body jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM plwf.workflow WHERE model = p_model AND model_version = p_version;
    DELETE FROM plwf.transition WHERE model = p_model AND model_version = p_version;
    INSERT INTO plwf.workflow
    SELECT p_model, p_version, w->>'name', wo, COALESCE((w->>'active')::boolean, true),
           w->>'initialState', plwf.to_jsonpath(w->'criterion')::jsonpath
      FROM jsonb_array_elements(body->'workflows') WITH ORDINALITY AS x(w, wo);
    INSERT INTO plwf.transition
    SELECT p_model, p_version, w->>'name', s.key, o, t->>'name', t->>'next',
           COALESCE((t->>'manual')::boolean, false), COALESCE((t->>'disabled')::boolean, false),
           plwf.to_jsonpath(t->'criterion')::jsonpath,
           (SELECT array_agg(p->>'name' ORDER BY po)
              FROM jsonb_array_elements(t->'processors') WITH ORDINALITY AS y(p, po))
      FROM jsonb_array_elements(body->'workflows') AS x(w),
           jsonb_each(w->'states') AS s,
           jsonb_array_elements(s.value->'transitions') WITH ORDINALITY AS z(t, o);
END
$$;

-- The engine: BEFORE INSERT OR UPDATE on plwf.entity.  A named transition
-- arrives through the transaction-local setting plwf.transition (plwf.fire).
CREATE FUNCTION plwf.entity_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t plwf.transition;
    named text;
    made integer := 0;
    newdata jsonb;
    p text;
BEGIN
    NEW.transaction_id := txid_current();
    IF TG_OP = 'INSERT' THEN
        IF NEW.state IS NOT NULL OR NEW.version IS NOT NULL THEN
            RAISE EXCEPTION 'state and version are owned by the engine' USING ERRCODE = '55000';
        END IF;
        SELECT w.name, w.initial_state INTO NEW.workflow, NEW.state
          FROM plwf.workflow w
         WHERE w.model = NEW.model AND w.model_version = NEW.model_version AND w.active
           AND (w.criterion IS NULL OR COALESCE(NEW.data @@ w.criterion, false))
         ORDER BY w.ord
         LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no workflow for model % version %', NEW.model, NEW.model_version;
        END IF;
        NEW.version := 1;
        NEW.created_at := clock_timestamp();
        NEW.source := 'API_REQUEST';
    ELSE
        IF NEW.state IS DISTINCT FROM OLD.state OR NEW.version IS DISTINCT FROM OLD.version
           OR NEW.id <> OLD.id OR NEW.model <> OLD.model THEN
            RAISE EXCEPTION 'state, version, id and model are owned by the engine' USING ERRCODE = '55000';
        END IF;
        NEW.version := OLD.version + 1;
        named := NULLIF(current_setting('plwf.transition', true), '');
        IF named IS NOT NULL THEN
            PERFORM set_config('plwf.transition', '', true);
            SELECT * INTO t FROM plwf.transition x
             WHERE x.model = NEW.model AND x.model_version = NEW.model_version
               AND x.workflow = NEW.workflow AND x.from_state = NEW.state
               AND x.name = named AND NOT x.disabled;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'transition % is not available in state %', named, NEW.state
                    USING ERRCODE = '55000';
            END IF;
            IF t.criterion IS NOT NULL AND NOT COALESCE(NEW.data @@ t.criterion, false) THEN
                RAISE EXCEPTION 'criterion of transition % does not match', named USING ERRCODE = '55000';
            END IF;
        END IF;
    END IF;

    LOOP
        IF t.name IS NULL THEN
            SELECT * INTO t FROM plwf.transition x
             WHERE x.model = NEW.model AND x.model_version = NEW.model_version
               AND x.workflow = NEW.workflow AND x.from_state = NEW.state
               AND NOT x.manual AND NOT x.disabled
               AND (x.criterion IS NULL OR COALESCE(NEW.data @@ x.criterion, false))
             ORDER BY x.ord
             LIMIT 1;
            EXIT WHEN NOT FOUND;
        END IF;
        made := made + 1;
        IF made > 100 THEN
            RAISE EXCEPTION 'loop limit exceeded for entity %', NEW.id USING ERRCODE = '54000';
        END IF;
        IF t.processes IS NOT NULL THEN
            FOREACH p IN ARRAY t.processes LOOP
                EXECUTE format('SELECT public.%I($1, $2)', p) INTO newdata
                  USING jsonb_build_object('entity_id', NEW.id, 'entity_model', NEW.model,
                                           'state', NEW.state, 'transition', t.name,
                                           'next_state', t.to_state, 'workflow', NEW.workflow,
                                           'process', p),
                        NEW.data;
                NEW.data := COALESCE(newdata, NEW.data);
            END LOOP;
        END IF;
        INSERT INTO plwf.audit (entity_id, at, transaction_id, event_type, transition,
                                from_state, to_state, role, detail)
        VALUES (NEW.id, clock_timestamp(), NEW.transaction_id, 'TRANSITION_MAKE', t.name,
                NEW.state, t.to_state, current_user,
                jsonb_build_object('workflow', NEW.workflow, 'manual', t.manual));
        NEW.state := t.to_state;
        NEW.last_transition := t.name;
        t := NULL;
    END LOOP;

    IF TG_OP = 'UPDATE' AND made = 0 THEN
        NEW.last_transition := 'loopback';
    END IF;
    NEW.updated_at := clock_timestamp();
    INSERT INTO plwf.entity_version (entity_id, version, change_type, changed_at, changed_by,
                                     model, model_version, state, transition, transaction_id, data)
    VALUES (NEW.id, NEW.version, CASE TG_OP WHEN 'INSERT' THEN 'CREATE' ELSE 'UPDATE' END,
            NEW.updated_at, current_user, NEW.model, NEW.model_version, NEW.state,
            NEW.last_transition, NEW.transaction_id, NEW.data);
    RETURN NEW;
END
$$;

CREATE TRIGGER entity_engine BEFORE INSERT OR UPDATE ON plwf.entity
    FOR EACH ROW EXECUTE FUNCTION plwf.entity_trigger();

-- Fire a named transition; returns the state reached.
CREATE FUNCTION plwf.fire(p_id uuid, p_transition text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    s text;
BEGIN
    PERFORM set_config('plwf.transition', p_transition, true);
    UPDATE plwf.entity e SET data = e.data WHERE e.id = p_id RETURNING e.state INTO s;
    IF NOT FOUND THEN
        PERFORM set_config('plwf.transition', '', true);
        RAISE EXCEPTION 'entity % not found', p_id USING ERRCODE = 'P0002';
    END IF;
    RETURN s;
END
$$;

SELECT plwf.load(model, 1, body) FROM bench.workflow;
