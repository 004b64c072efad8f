-- bench/sql/30_plpgsql_engine.sql: baseline (b), a table-driven workflow
-- engine in PL/pgSQL, as a competent user would write and tune it for the
-- subset the benchmark uses: workflow selection, automatic cascades, named
-- (manual) transitions, loopback saves, simple and group criteria, SYNC
-- processes, an audit row per transition and per automatic transition whose
-- criterion did not match (TRANSITION_NOT_MATCH_CRITERION, as cyoda_wf
-- writes), a version row per save, a loop limit.
--
-- Definitions are loaded from the same Cyoda JSON bodies cyoda_wf imports
-- (bench.workflow) into small indexed tables: transitions by (workflow,
-- from_state, ord), criteria by id, translated once into jsonpath (stored
-- compiled) and evaluated with `data @@ path` inside the one query that picks
-- a transition.  The engine is a BEFORE ROW trigger that loops over the
-- transitions and changes NEW (no AFTER trigger, no second UPDATE); all its
-- SQL is static (prepared once per session) except a process call, whose
-- query text is stored with the transition; a save's audit rows go in with
-- one INSERT.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS plwf CASCADE;
CREATE SCHEMA plwf;

-- Definitions in small indexed tables: workflows by model, transitions by
-- (workflow, from_state) in order, criteria by id.  A criterion is stored as
-- jsonpath (PostgreSQL keeps it compiled), a process as the query that calls
-- it, so that nothing is translated or formatted while an entity is saved.
CREATE TABLE plwf.criterion (
    id             integer  PRIMARY KEY,
    path           jsonpath NOT NULL,
    failed         jsonb    NOT NULL   -- the audit detail's condition when it does not match
);

CREATE TABLE plwf.workflow (
    id             integer NOT NULL UNIQUE,
    model          text    NOT NULL,
    model_version  integer NOT NULL,
    name           text    NOT NULL,
    ord            integer NOT NULL,
    active         boolean NOT NULL,
    initial_state  text    NOT NULL,
    criterion_id   integer REFERENCES plwf.criterion,
    PRIMARY KEY (model, model_version, name)
);

CREATE TABLE plwf.transition (
    workflow_id    integer NOT NULL,
    from_state     text    NOT NULL,
    ord            integer NOT NULL,
    name           text    NOT NULL,
    to_state       text    NOT NULL,
    manual         boolean NOT NULL DEFAULT false,
    disabled       boolean NOT NULL DEFAULT false,
    criterion_id   integer REFERENCES plwf.criterion,
    process_names  text[],
    process_calls  text[],      -- 'SELECT public.f($1, $2)', one per process
    PRIMARY KEY (workflow_id, from_state, ord),
    UNIQUE (workflow_id, from_state, name)
);

CREATE SEQUENCE plwf.def_id_seq;

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
-- A criterion's row (NULL for no criterion).
CREATE FUNCTION plwf.criterion_id(c jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    cid integer;
BEGIN
    IF c IS NULL OR c = 'null'::jsonb THEN
        RETURN NULL;
    END IF;
    cid := nextval('plwf.def_id_seq');
    -- a group is named by its operator, a simple condition written whole
    INSERT INTO plwf.criterion
    VALUES (cid, plwf.to_jsonpath(c)::jsonpath,
            CASE WHEN c->>'type' = 'group'
                 THEN jsonb_build_object('type', 'group', 'operator', c->'operator') ELSE c END);
    RETURN cid;
END
$$;

-- Load a Cyoda import body into the definition tables.
CREATE FUNCTION plwf.load(p_model text, p_version integer, body jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM plwf.transition WHERE workflow_id IN
        (SELECT id FROM plwf.workflow WHERE model = p_model AND model_version = p_version);
    DELETE FROM plwf.workflow WHERE model = p_model AND model_version = p_version;
    INSERT INTO plwf.workflow
    SELECT nextval('plwf.def_id_seq'), p_model, p_version, w->>'name', wo,
           COALESCE((w->>'active')::boolean, true), w->>'initialState',
           plwf.criterion_id(w->'criterion')
      FROM jsonb_array_elements(body->'workflows') WITH ORDINALITY AS x(w, wo);
    INSERT INTO plwf.transition
    SELECT wf.id, s.key, o, t->>'name', t->>'next',
           COALESCE((t->>'manual')::boolean, false), COALESCE((t->>'disabled')::boolean, false),
           plwf.criterion_id(t->'criterion'),
           (SELECT array_agg(p->>'name' ORDER BY po)
              FROM jsonb_array_elements(t->'processors') WITH ORDINALITY AS y(p, po)),
           (SELECT array_agg(format('SELECT public.%I($1, $2)', p->>'name') ORDER BY po)
              FROM jsonb_array_elements(t->'processors') WITH ORDINALITY AS y(p, po))
      FROM jsonb_array_elements(body->'workflows') AS x(w)
      JOIN plwf.workflow wf ON wf.model = p_model AND wf.model_version = p_version
                           AND wf.name = w->>'name',
           jsonb_each(w->'states') AS s,
           jsonb_array_elements(s.value->'transitions') WITH ORDINALITY AS z(t, o);
    ANALYZE plwf.criterion;
    ANALYZE plwf.workflow;
    ANALYZE plwf.transition;
END
$$;

-- The engine: BEFORE INSERT OR UPDATE on plwf.entity, one row at a time.  A
-- named transition arrives through the transaction-local setting
-- plwf.transition (plwf.fire).  Every statement is static SQL (PL/pgSQL
-- prepares it once per session) except a process call, whose function is
-- known only from the definition; the audit rows of a save are collected
-- and written by one INSERT.
CREATE FUNCTION plwf.entity_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    wf_id integer;
    t_name text;
    t_to text;
    t_manual boolean;
    t_names text[];
    t_calls text[];
    t_crit integer;
    named text;
    made integer := 0;
    newdata jsonb;
    a_name text[] := '{}';
    a_from text[] := '{}';
    a_to text[] := '{}';
    a_at timestamptz[] := '{}';
    a_manual boolean[] := '{}';
    a_event text[] := '{}';
    a_detail jsonb[] := '{}';
    cand record;
    i integer;
BEGIN
    NEW.transaction_id := txid_current();
    IF TG_OP = 'INSERT' THEN
        IF NEW.state IS NOT NULL OR NEW.version IS NOT NULL THEN
            RAISE EXCEPTION 'state and version are owned by the engine' USING ERRCODE = '55000';
        END IF;
        SELECT w.id, w.name, w.initial_state INTO wf_id, NEW.workflow, NEW.state
          FROM plwf.workflow w
         WHERE w.model = NEW.model AND w.model_version = NEW.model_version AND w.active
           AND (w.criterion_id IS NULL OR COALESCE(NEW.data @@ (SELECT c.path FROM plwf.criterion c
                                                                 WHERE c.id = w.criterion_id), false))
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
        SELECT w.id INTO wf_id FROM plwf.workflow w
         WHERE w.model = NEW.model AND w.model_version = NEW.model_version AND w.name = NEW.workflow;
        named := NULLIF(current_setting('plwf.transition', true), '');
        IF named IS NOT NULL THEN
            PERFORM set_config('plwf.transition', '', true);
            SELECT x.name, x.to_state, x.manual, x.process_names, x.process_calls, x.criterion_id
              INTO t_name, t_to, t_manual, t_names, t_calls, t_crit
              FROM plwf.transition x
             WHERE x.workflow_id = wf_id AND x.from_state = NEW.state
               AND x.name = named AND NOT x.disabled;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'transition % is not available in state %', named, NEW.state
                    USING ERRCODE = '55000';
            END IF;
            IF t_crit IS NOT NULL AND NOT COALESCE(NEW.data @@ (SELECT c.path FROM plwf.criterion c
                                                                 WHERE c.id = t_crit), false) THEN
                RAISE EXCEPTION 'criterion of transition % does not match', named USING ERRCODE = '55000';
            END IF;
        END IF;
    END IF;

    LOOP
        IF t_name IS NULL THEN
            -- the automatic transitions in order up to the first that
            -- matches; each one passed over is audited
            FOR cand IN
                SELECT x.name, x.to_state, x.manual, x.process_names, x.process_calls,
                       c.failed,
                       c.path IS NULL OR COALESCE(NEW.data @@ c.path, false) AS ok
                  FROM plwf.transition x LEFT JOIN plwf.criterion c ON c.id = x.criterion_id
                 WHERE x.workflow_id = wf_id AND x.from_state = NEW.state
                   AND NOT x.manual AND NOT x.disabled
                 ORDER BY x.ord
            LOOP
                IF cand.ok THEN
                    t_name := cand.name;
                    t_to := cand.to_state;
                    t_manual := cand.manual;
                    t_names := cand.process_names;
                    t_calls := cand.process_calls;
                    EXIT;
                END IF;
                a_event := a_event || 'TRANSITION_NOT_MATCH_CRITERION'::text;
                a_name := a_name || cand.name;
                a_from := a_from || NEW.state;
                a_to := a_to || NEW.state;
                a_at := a_at || clock_timestamp();
                a_manual := a_manual || false;
                a_detail := a_detail || jsonb_build_object('reason', 'criterion did not match',
                                                           'workflow', NEW.workflow,
                                                           'condition', cand.failed);
            END LOOP;
            EXIT WHEN t_name IS NULL;
        END IF;
        made := made + 1;
        IF made > 100 THEN
            RAISE EXCEPTION 'loop limit exceeded for entity %', NEW.id USING ERRCODE = '54000';
        END IF;
        IF t_calls IS NOT NULL THEN
            FOR i IN 1 .. array_length(t_calls, 1) LOOP
                EXECUTE t_calls[i] INTO newdata
                  USING jsonb_build_object('entity_id', NEW.id, 'entity_model', NEW.model,
                                           'state', NEW.state, 'transition', t_name,
                                           'next_state', t_to, 'workflow', NEW.workflow,
                                           'process', t_names[i]),
                        NEW.data;
                NEW.data := COALESCE(newdata, NEW.data);
            END LOOP;
        END IF;
        a_event := a_event || 'TRANSITION_MAKE'::text;
        a_name := a_name || t_name;
        a_from := a_from || NEW.state;
        a_to := a_to || t_to;
        a_at := a_at || clock_timestamp();
        a_manual := a_manual || t_manual;
        a_detail := a_detail || NULL::jsonb;
        NEW.state := t_to;
        NEW.last_transition := t_name;
        t_name := NULL;
    END LOOP;

    IF cardinality(a_name) > 0 THEN
        INSERT INTO plwf.audit (entity_id, at, transaction_id, event_type, transition,
                                from_state, to_state, role, detail)
        SELECT NEW.id, a.at, NEW.transaction_id, a.event, a.name, a.fr, a.tt, current_user,
               COALESCE(a.detail, jsonb_build_object('workflow', NEW.workflow, 'manual', a.manual))
          FROM unnest(a_event, a_name, a_from, a_to, a_at, a_manual, a_detail)
               AS a(event, name, fr, tt, at, manual, detail);
    END IF;
    IF made = 0 AND TG_OP = 'UPDATE' THEN
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
