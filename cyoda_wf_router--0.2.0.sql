-- cyoda_wf_router install script, version 0.2.0: the entity API of cyoda_wf
-- over a cluster of shard databases, through PL/Proxy.  Created in a router
-- database that does not have cyoda_wf (CREATE EXTENSION cyoda_wf_router
-- CASCADE brings plproxy).
--
-- How a call travels: an API function here (same name, signature and result
-- as on one server) picks its shard(s) and hands the shard function's
-- signature and its arguments as text to call_shard, which runs
-- cyoda_wf.remote_call on that shard through the PL/Proxy function
-- shard_call.  remote_call (src/remote.c) runs the call as the caller and
-- returns its result as jsonb, or its error as data, which call_shard raises
-- again with the same SQLSTATE, message, detail and hint.  A shard that
-- cannot be reached fails the call with 08006 naming it ("shard 2").
--
-- Adding an argument to an API function: change its signature here and the
-- signature string and ARRAY[...] it passes on; results come back by name.
\echo Use "CREATE EXTENSION cyoda_wf_router CASCADE" to load this file. \quit

-- The shard an id belongs to: the same C as cyoda_wf's shard_of.
CREATE FUNCTION cyoda_wf.shard_of(id uuid) RETURNS integer
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS '$libdir/cyoda_wf', 'cyoda_wf_shard_of';
COMMENT ON FUNCTION cyoda_wf.shard_of(uuid) IS
    'The shard an entity id belongs to; 22023 for a uuid that is not such an id';

-- The shard a call on an entity goes to: shard_of(id), and shard 0 for an
-- id of another layout (entities made before 0.2.0 have random ids: a
-- database upgraded from 0.1.0 becomes shard 0 and keeps them), so that
-- such an id gets the answer of one server (P0002 where nobody has it).
CREATE FUNCTION cyoda_wf.shard_for(id uuid) RETURNS integer
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS '$libdir/cyoda_wf', 'cyoda_wf_shard_for';
COMMENT ON FUNCTION cyoda_wf.shard_for(uuid) IS
    'Internal: the shard of an entity id (shard 0 for ids made before 0.2.0)';

-- The row search() returns: the columns of a shard's cyoda_wf.entity.
CREATE TYPE cyoda_wf.entity AS (
    id              uuid,
    model           text,
    model_version   integer,
    state           text,
    data            jsonb,
    created_at      timestamptz,
    updated_at      timestamptz,
    version         bigint,
    last_transition text,
    workflow        text,
    parent_id       uuid,
    source          text,
    transaction_id  bigint
);

-- The cluster ---------------------------------------------------------------

-- The PL/Proxy cluster is the foreign server cyoda_wf (options p0..pN-1, one
-- connection string per shard), made by configure_shards.
CREATE FUNCTION cyoda_wf.shard_count() RETURNS integer
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS
$$
    SELECT count(*)::integer
      FROM pg_foreign_server s, unnest(s.srvoptions) o
     WHERE s.srvname = 'cyoda_wf' AND o ~ '^p[0-9]+='
$$;
COMMENT ON FUNCTION cyoda_wf.shard_count() IS
    'The number of shards configure_shards set up (0: none)';

-- One call on one shard (PL/Proxy hashes the shard number with count - 1).
CREATE FUNCTION cyoda_wf.shard_call(shard integer, fn text, args text[], dry_run boolean,
                                    OUT result jsonb, OUT sqlstate text, OUT message text,
                                    OUT detail text, OUT hint text, OUT notices text[])
    RETURNS record LANGUAGE plproxy AS
$$
    CLUSTER 'cyoda_wf';
    RUN ON shard;
    SELECT * FROM cyoda_wf.remote_call(fn, args, dry_run);
$$;
COMMENT ON FUNCTION cyoda_wf.shard_call(integer, text, text[], boolean) IS
    'Internal: cyoda_wf.remote_call on one shard, through PL/Proxy';

-- Raise an error a shard returned as data, as the shard raised it.
CREATE FUNCTION cyoda_wf.raise_remote(sqlstate text, message text, detail text, hint text)
    RETURNS void LANGUAGE plpgsql VOLATILE AS
$$
BEGIN
    IF detail IS NOT NULL AND hint IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = sqlstate, DETAIL = detail, HINT = hint;
    ELSIF detail IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = sqlstate, DETAIL = detail;
    ELSIF hint IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = sqlstate, HINT = hint;
    ELSE
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = sqlstate;
    END IF;
END
$$;
COMMENT ON FUNCTION cyoda_wf.raise_remote(text, text, text, text) IS
    'Internal: raise an error returned by a shard with its SQLSTATE, message, detail and hint';

-- Run fn on a shard; returns its result, or raises its error again as it
-- was raised there.  An error of PL/Proxy itself (the shard cannot be
-- reached, or the connection broke) becomes 08006 naming the shard.  Every
-- entity call passes here, so it is C (src/router.c): no subtransaction, no
-- query, no settings.  The API functions are inlined into the caller's query
-- as a call of it: its COST makes the planner evaluate it after plain quals
-- (WHERE t.k = 5 AND cyoda_wf.fire(t.id, 'bump') IS NOT NULL fires one row).
CREATE FUNCTION cyoda_wf.call_shard(shard integer, fn text, args text[],
                                    dry_run boolean DEFAULT false)
    RETURNS jsonb LANGUAGE C VOLATILE COST 1000
    AS '$libdir/cyoda_wf', 'cyoda_wf_call_shard';
COMMENT ON FUNCTION cyoda_wf.call_shard(integer, text, text[], boolean) IS
    'Internal: run a cyoda_wf function on one shard; its error is raised again as the shard raised it';

-- fn on shard first or, when it cannot be reached (the connection failed,
-- so nothing ran there), on the next shard that can (src/router.c): a new
-- entity may land on any shard.  Each shard skipped is logged.
CREATE FUNCTION cyoda_wf.call_shard_from(first integer, count integer, fn text, args text[])
    RETURNS jsonb LANGUAGE C VOLATILE COST 1000
    AS '$libdir/cyoda_wf', 'cyoda_wf_call_shard_from';
COMMENT ON FUNCTION cyoda_wf.call_shard_from(integer, integer, text, text[]) IS
    'Internal: run a cyoda_wf function on shard first, or the next shard that can be reached';

-- One call on every shard at once (PL/Proxy runs them in parallel).
CREATE FUNCTION cyoda_wf.shard_call_all(fn text, args text[], dry_run boolean,
                                        OUT shard integer, OUT result jsonb, OUT sqlstate text,
                                        OUT message text, OUT detail text, OUT hint text,
                                        OUT notices text[])
    RETURNS SETOF record LANGUAGE plproxy AS
$$
    CLUSTER 'cyoda_wf';
    RUN ON ALL;
    SELECT cyoda_wf.shard() AS shard, r.* FROM cyoda_wf.remote_call(fn, args, dry_run) r;
$$;
COMMENT ON FUNCTION cyoda_wf.shard_call_all(text, text[], boolean) IS
    'Internal: cyoda_wf.remote_call on every shard in parallel, through PL/Proxy';

-- Run fn on every shard, in parallel; returns the results in shard order.
-- The first error in shard order is raised as the shard raised it; when a
-- shard cannot be reached, the shards are called one by one, so that
-- call_shard names it.  Used for reads, checks (dry runs) and definition
-- changes, which can all be run again.
CREATE FUNCTION cyoda_wf.call_every_shard(fn text, args text[], dry_run boolean DEFAULT false)
    RETURNS jsonb[] LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    n integer := cyoda_wf.shard_count();
    results jsonb[] := '{}';
    e record;
    reached boolean := true;
BEGIN
    IF n = 0 THEN
        RAISE EXCEPTION 'no shards are configured' USING ERRCODE = '55000',
            HINT = 'cyoda_wf.configure_shards(conninfo text[]) sets the cluster up.';
    END IF;
    BEGIN
        FOR e IN SELECT * FROM cyoda_wf.shard_call_all(fn, args, dry_run) c ORDER BY c.shard LOOP
            IF e.sqlstate IS NOT NULL THEN
                PERFORM cyoda_wf.raise_remote(e.sqlstate, e.message, e.detail, e.hint);
            END IF;
            results := results || e.result;
        END LOOP;
    EXCEPTION WHEN internal_error THEN
        -- a shard cannot be reached (or returned XX000): one by one, to name it
        reached := false;
    END;
    IF reached AND cardinality(results) = n THEN
        RETURN results;
    END IF;
    results := '{}';
    FOR k IN 0 .. n - 1 LOOP
        results := results || cyoda_wf.call_shard(k, fn, args, dry_run);
    END LOOP;
    RETURN results;
END
$$;
COMMENT ON FUNCTION cyoda_wf.call_every_shard(text, text[], boolean) IS
    'Internal: run a cyoda_wf function on every shard in turn; the results in shard order';

-- A change of definitions: checked on every shard (run and rolled back)
-- before it is made on any, then made on every shard; returns shard 0's
-- result.  Every such change can be made again, so a run that failed half
-- way is repaired by running it again.
CREATE FUNCTION cyoda_wf.call_definitions(fn text, args text[])
    RETURNS jsonb LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS
$$
BEGIN
    PERFORM cyoda_wf.call_every_shard(fn, args, true);
    RETURN (cyoda_wf.call_every_shard(fn, args, false))[1];
END
$$;
COMMENT ON FUNCTION cyoda_wf.call_definitions(text, text[]) IS
    'Internal: check a change of definitions on every shard, then make it on every shard';

-- add_item's round robin over the shards, shared by every session.
CREATE SEQUENCE cyoda_wf.next_shard_seq;
CREATE FUNCTION cyoda_wf.next_shard() RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
    SELECT (nextval('cyoda_wf.next_shard_seq') % greatest(cyoda_wf.shard_count(), 1))::integer
$$;
COMMENT ON FUNCTION cyoda_wf.next_shard() IS
    'Internal: the shard of the next add_item (round robin)';

-- Timestamps travel as ISO 8601 whatever the session's DateStyle.
-- (No SET clause: it is inlined into the API functions that use it.)
CREATE FUNCTION cyoda_wf.ts_arg(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE AS
$$ SELECT pg_catalog.to_jsonb(t) OPERATOR(pg_catalog.#>>) '{}' $$;
COMMENT ON FUNCTION cyoda_wf.ts_arg(timestamptz) IS
    'Internal: a timestamp as ISO 8601 text, for remote_call';

-- configure_shards(conninfo): element k is shard k.  Creates the server
-- cyoda_wf (or replaces its shard options, keeping its user mappings and
-- grants) and a user mapping for PUBLIC without a user name, so that each
-- role reaches the shards as itself; then checks that shard k says it is k.
CREATE FUNCTION cyoda_wf.configure_shards(conninfo text[]) RETURNS integer
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    n integer := coalesce(array_length(conninfo, 1), 0);
    opts text;
    old text;
    got integer;
BEGIN
    IF n = 0 OR n > 4096 OR (n & (n - 1)) <> 0 THEN
        RAISE EXCEPTION 'the number of shards must be a power of two up to 4096, not %', n
            USING ERRCODE = '22023',
                  DETAIL = 'PL/Proxy picks a shard with the mask count - 1.';
    END IF;
    IF array_position(conninfo, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'the connection string of shard % is NULL',
            array_position(conninfo, NULL) - 1 USING ERRCODE = '22023';
    END IF;
    SELECT string_agg(format('p%s %L', k - 1, conninfo[k]), ', ' ORDER BY k)
      INTO opts FROM generate_series(1, n) k;
    IF EXISTS (SELECT FROM pg_foreign_server WHERE srvname = 'cyoda_wf') THEN
        SELECT string_agg(format('DROP %I', split_part(o, '=', 1)), ', ')
          INTO old
          FROM pg_foreign_server s, unnest(s.srvoptions) o
         WHERE s.srvname = 'cyoda_wf' AND o ~ '^p[0-9]+=';
        EXECUTE format('ALTER SERVER cyoda_wf OPTIONS (%s)', concat_ws(', ', old, 'ADD ' ||
                       replace(opts, ', p', ', ADD p')));
    ELSE
        EXECUTE format('CREATE SERVER cyoda_wf FOREIGN DATA WRAPPER plproxy OPTIONS (%s)', opts);
        CREATE USER MAPPING FOR PUBLIC SERVER cyoda_wf;
    END IF;
    FOR k IN 0 .. n - 1 LOOP
        got := cyoda_wf.call_shard(k, 'cyoda_wf.shard()', '{}');
        IF got IS DISTINCT FROM k THEN
            RAISE EXCEPTION 'shard % says it is shard %', k, got USING ERRCODE = '55000',
                DETAIL = format('Connection string: %s', conninfo[k + 1]),
                HINT = format('Run SELECT cyoda_wf.set_shard(%s) on that database first.', k);
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION cyoda_wf.configure_shards(text[]) IS
    'Create or replace the cluster: element k of conninfo is shard k (a power of two of them, 22023 otherwise); checks that each shard reports its number (55000 otherwise); returns the shard count';

CREATE FUNCTION cyoda_wf.shards()
    RETURNS TABLE (shard integer, conninfo text, reachable boolean, entities bigint)
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    st jsonb;
BEGIN
    FOR shard, conninfo IN
        SELECT substr(split_part(o, '=', 1), 2)::integer,
               substr(o, strpos(o, '=') + 1)
          FROM pg_foreign_server s, unnest(s.srvoptions) o
         WHERE s.srvname = 'cyoda_wf' AND o ~ '^p[0-9]+='
         ORDER BY 1
    LOOP
        BEGIN
            st := cyoda_wf.call_shard(shard, 'cyoda_wf.stats(text)', ARRAY[NULL]);
            reachable := true;
            SELECT coalesce(sum((e->>'count')::bigint), 0) INTO entities
              FROM jsonb_array_elements(coalesce(st, '[]')) e;
        EXCEPTION WHEN connection_failure THEN
            reachable := false;
            entities := NULL;
        END;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION cyoda_wf.shards() IS
    'The shards: connection string, whether it answers, how many entities it holds';

CREATE FUNCTION cyoda_wf.cluster_check()
    RETURNS TABLE (shard integer, difference text)
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    digests jsonb[] := cyoda_wf.call_every_shard('cyoda_wf.definition_digest()', '{}');
BEGIN
    FOR k IN 1 .. coalesce(array_length(digests, 1), 0) - 1 LOOP
        RETURN QUERY
            SELECT k, CASE WHEN o.digest IS NULL THEN o0.item || ': missing'
                           WHEN o0.digest IS NULL THEN o.item || ': not on shard 0'
                           ELSE o.item || ': differs' END
              FROM jsonb_to_recordset(coalesce(digests[1], '[]')) AS o0(item text, digest text)
              FULL JOIN jsonb_to_recordset(coalesce(digests[k + 1], '[]')) AS o(item text, digest text)
                ON o.item = o0.item
             WHERE o.digest IS DISTINCT FROM o0.digest
             ORDER BY coalesce(o.item, o0.item);
    END LOOP;
END
$$;
COMMENT ON FUNCTION cyoda_wf.cluster_check() IS
    'Shards whose definitions (model versions, workflows, Python modules) differ from shard 0; no rows: in step';

-- Definitions and functions: on every shard ---------------------------------

CREATE FUNCTION cyoda_wf.import_workflows(model text, model_version integer, body jsonb)
    RETURNS jsonb LANGUAGE sql VOLATILE STRICT AS
$$
    SELECT cyoda_wf.call_definitions('cyoda_wf.import_workflows(text,integer,jsonb)',
                                     ARRAY[model, model_version::text, body::text])
$$;
COMMENT ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb) IS
    'import_workflows on every shard (checked on all before made on any)';

-- import_workflows with options ({"force": bool, "dryRun": bool}): checked
-- on every shard before made on any, like every definition change; an
-- import that would strand entities on any shard is refused there (55000).
-- The result is one server's, its counts ("stranded", "strandedBy") summed
-- over the shards.
CREATE FUNCTION cyoda_wf.import_workflows(model text, model_version integer, body jsonb,
                                          options jsonb)
    RETURNS jsonb LANGUAGE plpgsql VOLATILE STRICT SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    fn constant text := 'cyoda_wf.import_workflows(text,integer,jsonb,jsonb)';
    args constant text[] := ARRAY[model, model_version::text, body::text, options::text];
    results jsonb[];
    first jsonb;
BEGIN
    PERFORM cyoda_wf.call_every_shard(fn, args, true);
    results := cyoda_wf.call_every_shard(fn, args, false);
    first := results[1];
    IF first ? 'stranded' THEN
        first := first || jsonb_build_object('stranded',
            (SELECT sum((r ->> 'stranded')::bigint) FROM unnest(results) r));
    END IF;
    IF first ? 'strandedBy' THEN
        first := first || jsonb_build_object('strandedBy', coalesce(
            (SELECT jsonb_agg(jsonb_build_object('workflow', g.workflow, 'state', g.state,
                                                 'entities', g.entities)
                              ORDER BY g.entities DESC, g.workflow, g.state)
               FROM (SELECT b ->> 'workflow' AS workflow, b ->> 'state' AS state,
                            sum((b ->> 'entities')::bigint) AS entities
                       FROM unnest(results) r, jsonb_array_elements(r -> 'strandedBy') b
                      GROUP BY 1, 2) g), '[]'));
    END IF;
    RETURN first;
END
$$;
COMMENT ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb, jsonb) IS
    'import_workflows with options (force, dryRun) on every shard (checked on all before made on any); counts summed over the shards';

CREATE FUNCTION cyoda_wf.export_workflows(model text, model_version integer)
    RETURNS jsonb LANGUAGE sql VOLATILE STRICT AS
$$
    SELECT cyoda_wf.call_shard(0, 'cyoda_wf.export_workflows(text,integer)',
                               ARRAY[model, model_version::text])
$$;
COMMENT ON FUNCTION cyoda_wf.export_workflows(text, integer) IS
    'export_workflows of shard 0 (cluster_check compares the others with it)';

CREATE FUNCTION cyoda_wf.import_design(design jsonb, function_schema text DEFAULT 'public')
    RETURNS jsonb LANGUAGE sql VOLATILE STRICT AS
$$
    SELECT cyoda_wf.call_definitions('cyoda_wf.import_design(jsonb,text)',
                                     ARRAY[design::text, function_schema])
$$;
COMMENT ON FUNCTION cyoda_wf.import_design(jsonb, text) IS
    'import_design on every shard (checked on all before made on any)';

CREATE FUNCTION cyoda_wf.import_design(design text, function_schema text DEFAULT 'public')
    RETURNS jsonb LANGUAGE sql VOLATILE STRICT AS
$$
    SELECT cyoda_wf.call_definitions('cyoda_wf.import_design(text,text)',
                                     ARRAY[design, function_schema])
$$;
COMMENT ON FUNCTION cyoda_wf.import_design(text, text) IS
    'import_design (design as text) on every shard (checked on all before made on any)';

CREATE FUNCTION cyoda_wf.load_functions(source text, function_schema text DEFAULT 'public')
    RETURNS SETOF text LANGUAGE sql VOLATILE AS
$$
    SELECT jsonb_array_elements_text(coalesce(
        cyoda_wf.call_definitions('cyoda_wf.load_functions(text,text)',
                                  ARRAY[source, function_schema]), '[]'))
$$;
COMMENT ON FUNCTION cyoda_wf.load_functions(text, text) IS
    'load_functions on every shard (checked on all before made on any); the names made';

-- Entities: each call on its entity's shard ----------------------------------

CREATE FUNCTION cyoda_wf.add_item(model text, model_version integer, data jsonb)
    RETURNS uuid LANGUAGE sql VOLATILE AS
$$
    SELECT (cyoda_wf.call_shard_from(cyoda_wf.next_shard(), cyoda_wf.shard_count(),
                                     'cyoda_wf.add_item(text,integer,jsonb)',
                                     ARRAY[model, model_version::text, data::text]) #>> '{}')::uuid
$$;
COMMENT ON FUNCTION cyoda_wf.add_item(text, integer, jsonb) IS
    'Create an entity on the next shard that answers (round robin) and run its workflow there; returns its id';

CREATE FUNCTION cyoda_wf.update_item(id uuid, data jsonb DEFAULT NULL,
                                     transition text DEFAULT NULL,
                                     if_match bigint DEFAULT NULL)
    RETURNS text LANGUAGE sql VOLATILE AS
$$
    SELECT cyoda_wf.call_shard(cyoda_wf.shard_for(id), 'cyoda_wf.update_item(uuid,jsonb,text,bigint)',
                               ARRAY[id::text, data::text, transition, if_match::text]) #>> '{}'
$$;
COMMENT ON FUNCTION cyoda_wf.update_item(uuid, jsonb, text, bigint) IS
    'update_item on the entity''s shard';

CREATE FUNCTION cyoda_wf.patch_item(id uuid, patch jsonb,
                                    transition text DEFAULT NULL,
                                    if_match bigint DEFAULT NULL)
    RETURNS text LANGUAGE sql VOLATILE AS
$$
    SELECT cyoda_wf.call_shard(cyoda_wf.shard_for(id), 'cyoda_wf.patch_item(uuid,jsonb,text,bigint)',
                               ARRAY[id::text, patch::text, transition, if_match::text]) #>> '{}'
$$;
COMMENT ON FUNCTION cyoda_wf.patch_item(uuid, jsonb, text, bigint) IS
    'patch_item on the entity''s shard';

CREATE FUNCTION cyoda_wf.fire(id uuid, transition text)
    RETURNS text LANGUAGE sql VOLATILE AS
$$
    SELECT cyoda_wf.call_shard(cyoda_wf.shard_for(id), 'cyoda_wf.fire(uuid,text)',
                               ARRAY[id::text, transition]) #>> '{}'
$$;
COMMENT ON FUNCTION cyoda_wf.fire(uuid, text) IS
    'fire on the entity''s shard';

CREATE FUNCTION cyoda_wf.delete_item(id uuid)
    RETURNS boolean LANGUAGE sql VOLATILE AS
$$
    SELECT (cyoda_wf.call_shard(cyoda_wf.shard_for(id), 'cyoda_wf.delete_item(uuid)',
                                ARRAY[id::text]) #>> '{}')::boolean
$$;
COMMENT ON FUNCTION cyoda_wf.delete_item(uuid) IS
    'delete_item on the entity''s shard';

CREATE FUNCTION cyoda_wf.get_item(id uuid, point_in_time timestamptz DEFAULT NULL,
                                  transaction_id bigint DEFAULT NULL)
    RETURNS jsonb LANGUAGE sql VOLATILE AS
$$
    SELECT cyoda_wf.call_shard(cyoda_wf.shard_for(id), 'cyoda_wf.get_item(uuid,timestamptz,bigint)',
                               ARRAY[id::text, cyoda_wf.ts_arg(point_in_time), transaction_id::text])
$$;
COMMENT ON FUNCTION cyoda_wf.get_item(uuid, timestamptz, bigint) IS
    'get_item on the entity''s shard';

CREATE FUNCTION cyoda_wf.get_entity(id uuid, point_in_time timestamptz DEFAULT NULL,
                                    transaction_id bigint DEFAULT NULL)
    RETURNS jsonb LANGUAGE sql VOLATILE AS
$$
    SELECT cyoda_wf.call_shard(cyoda_wf.shard_for(id), 'cyoda_wf.get_entity(uuid,timestamptz,bigint)',
                               ARRAY[id::text, cyoda_wf.ts_arg(point_in_time), transaction_id::text])
$$;
COMMENT ON FUNCTION cyoda_wf.get_entity(uuid, timestamptz, bigint) IS
    'get_entity on the entity''s shard';

CREATE FUNCTION cyoda_wf.transitions(id uuid)
    RETURNS TABLE (name text, next_state text, manual boolean)
    LANGUAGE sql VOLATILE AS
$$
    SELECT t.name, t.next_state, t.manual
      FROM jsonb_to_recordset(coalesce(
               cyoda_wf.call_shard(cyoda_wf.shard_for(id), 'cyoda_wf.transitions(uuid)',
                                   ARRAY[id::text]), '[]'))
           AS t(name text, next_state text, manual boolean)
$$;
COMMENT ON FUNCTION cyoda_wf.transitions(uuid) IS
    'transitions on the entity''s shard';

CREATE FUNCTION cyoda_wf.changes(id uuid, point_in_time timestamptz DEFAULT NULL)
    RETURNS TABLE (version bigint, change_type text, changed_at timestamptz,
                   changed_by text, state text, transition text, transaction_id bigint)
    LANGUAGE sql VOLATILE AS
$$
    SELECT c.version, c.change_type, c.changed_at, c.changed_by, c.state, c.transition,
           c.transaction_id
      FROM jsonb_to_recordset(coalesce(
               cyoda_wf.call_shard(cyoda_wf.shard_for(id), 'cyoda_wf.changes(uuid,timestamptz)',
                                   ARRAY[id::text, cyoda_wf.ts_arg(point_in_time)]), '[]'))
           AS c(version bigint, change_type text, changed_at timestamptz, changed_by text,
                state text, transition text, transaction_id bigint)
$$;
COMMENT ON FUNCTION cyoda_wf.changes(uuid, timestamptz) IS
    'changes on the entity''s shard';

CREATE FUNCTION cyoda_wf.explain(id uuid)
    RETURNS TABLE (workflow text, state text, transition text, next_state text,
                   manual boolean, disabled boolean, scheduled boolean,
                   due_at timestamptz, async boolean, criterion jsonb,
                   matches boolean, failing jsonb, found jsonb, fireable boolean)
    LANGUAGE sql VOLATILE AS
$$
    SELECT x.workflow, x.state, x.transition, x.next_state, x.manual, x.disabled, x.scheduled,
           x.due_at, x.async, x.criterion, x.matches, x.failing, x.found, x.fireable
      FROM jsonb_to_recordset(coalesce(
               cyoda_wf.call_shard(cyoda_wf.shard_for(id), 'cyoda_wf.explain(uuid)',
                                   ARRAY[id::text]), '[]'))
           AS x(workflow text, state text, transition text, next_state text,
                manual boolean, disabled boolean, scheduled boolean,
                due_at timestamptz, async boolean, criterion jsonb,
                matches boolean, failing jsonb, found jsonb, fireable boolean)
$$;
COMMENT ON FUNCTION cyoda_wf.explain(uuid) IS
    'explain on the entity''s shard';

-- The shard checks its own EXECUTE grant (granted to no one by default).
CREATE FUNCTION cyoda_wf.move_entity(id uuid, state text, reason text, workflow text DEFAULT NULL)
    RETURNS text LANGUAGE sql VOLATILE AS
$$
    SELECT cyoda_wf.call_shard(cyoda_wf.shard_for(id), 'cyoda_wf.move_entity(uuid,text,text,text)',
                               ARRAY[id::text, state, reason, workflow]) #>> '{}'
$$;
COMMENT ON FUNCTION cyoda_wf.move_entity(uuid, text, text, text) IS
    'move_entity on the entity''s shard (needs EXECUTE on move_entity there)';

-- Task ids are numbered by each shard: retry_task looks on every shard
-- (without changing anything) for a failed task of that id and retries it
-- where there is exactly one; 55000 when several shards have one.
CREATE FUNCTION cyoda_wf.retry_task(id bigint)
    RETURNS boolean LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    tried jsonb[] := cyoda_wf.call_every_shard('cyoda_wf.retry_task(bigint)',
                                               ARRAY[id::text], true);
    hits integer[];
BEGIN
    SELECT coalesce(array_agg(k - 1 ORDER BY k), '{}') INTO hits
      FROM generate_subscripts(tried, 1) k WHERE tried[k] = 'true';
    IF cardinality(hits) = 0 THEN
        RETURN false;
    ELSIF cardinality(hits) > 1 THEN
        RAISE EXCEPTION 'failed task % exists on shards %', id, array_to_string(hits, ', ')
            USING ERRCODE = '55000',
                  DETAIL = 'Task ids are numbered by each shard.',
                  HINT = 'Call cyoda_wf.retry_task on the shard''s own database.';
    END IF;
    RETURN cyoda_wf.call_shard(hits[1], 'cyoda_wf.retry_task(bigint)', ARRAY[id::text])::boolean;
END
$$;
COMMENT ON FUNCTION cyoda_wf.retry_task(bigint) IS
    'retry_task on the one shard that has a failed task of that id';

-- retry_failed on every shard; the count summed.  Each shard commits its
-- own re-queue (a shard that cannot be reached fails the call after the
-- shards before it re-queued theirs; calling it again is harmless).
CREATE FUNCTION cyoda_wf.retry_failed(model text DEFAULT NULL, since timestamptz DEFAULT NULL)
    RETURNS bigint LANGUAGE sql VOLATILE AS
$$
    SELECT coalesce(sum((r #>> '{}')::bigint), 0)::bigint
      FROM unnest(cyoda_wf.call_every_shard('cyoda_wf.retry_failed(text,timestamptz)',
                                            ARRAY[model, cyoda_wf.ts_arg(since)])) AS r
$$;
COMMENT ON FUNCTION cyoda_wf.retry_failed(text, timestamptz) IS
    'retry_failed on every shard; how many tasks were re-queued in all';

-- metrics() of every shard: counts summed per model version (and in the
-- total row, model NULL), the oldest pending age the largest.
CREATE FUNCTION cyoda_wf.metrics()
    RETURNS TABLE (model text, model_version integer, pending bigint, running bigint,
                   failed bigint, oldest_pending_age interval,
                   done_last_minute bigint, done_last_hour bigint,
                   failed_last_minute bigint, failed_last_hour bigint, timers_armed bigint)
    LANGUAGE sql VOLATILE AS
$$
    SELECT m.model, m.model_version, sum(m.pending)::bigint, sum(m.running)::bigint,
           sum(m.failed)::bigint, max(m.oldest_pending_age),
           sum(m.done_last_minute)::bigint, sum(m.done_last_hour)::bigint,
           sum(m.failed_last_minute)::bigint, sum(m.failed_last_hour)::bigint,
           sum(m.timers_armed)::bigint
      FROM unnest(cyoda_wf.call_every_shard('cyoda_wf.metrics()', '{}')) AS r(rows),
           jsonb_to_recordset(coalesce(r.rows, '[]'))
           AS m(model text, model_version integer, pending bigint, running bigint,
                failed bigint, oldest_pending_age interval,
                done_last_minute bigint, done_last_hour bigint,
                failed_last_minute bigint, failed_last_hour bigint, timers_armed bigint)
     GROUP BY m.model, m.model_version
     ORDER BY m.model NULLS LAST, m.model_version
$$;
COMMENT ON FUNCTION cyoda_wf.metrics() IS
    'metrics() of every shard, summed per model version; the total row has model NULL';

-- Reads over every shard ------------------------------------------------------

-- Paging: each shard returns its first (page_number + 1) * page_size rows in
-- order of created_at, id; the router merges them and keeps the page.  Sort
-- keys are refused (0A000): ordering by data paths across shards would need
-- the shards' sort rules on the router.
-- The ORDER BY of a search with these sort keys, as one server orders (the
-- same C as the shards' search): the merged rows are ordered with it.
CREATE FUNCTION cyoda_wf.search_order(sort text[]) RETURNS text
    LANGUAGE C IMMUTABLE PARALLEL SAFE
    AS '$libdir/cyoda_wf', 'cyoda_wf_search_order';
COMMENT ON FUNCTION cyoda_wf.search_order(text[]) IS
    'Internal: the ORDER BY clause of a search with these sort keys (22023 for a bad key)';

-- Every shard returns its first (page_number + 1) * page_size rows in the
-- search's order; the router orders their union the same way and cuts the
-- page from it.
CREATE FUNCTION cyoda_wf.search(model text, model_version integer, condition jsonb,
                                point_in_time timestamptz DEFAULT NULL,
                                sort text[] DEFAULT NULL,
                                page_size integer DEFAULT NULL,
                                page_number integer DEFAULT 0)
    RETURNS SETOF cyoda_wf.entity LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    ask_size integer;
    order_by text := cyoda_wf.search_order(sort);
BEGIN
    IF page_size < 0 OR page_number < 0 THEN
        RAISE EXCEPTION 'page_size and page_number must not be negative'
            USING ERRCODE = '22023';
    END IF;
    IF page_size IS NOT NULL THEN
        ask_size := page_size * (coalesce(page_number, 0) + 1);
    END IF;
    RETURN QUERY EXECUTE
        'SELECT e.* FROM unnest($1) AS r(rows), '
        'jsonb_populate_recordset(NULL::cyoda_wf.entity, coalesce(r.rows, ''[]'')) e'
        || order_by || ' OFFSET $2 LIMIT $3'
    USING cyoda_wf.call_every_shard(
              'cyoda_wf.search(text,integer,jsonb,timestamptz,text[],integer,integer)',
              ARRAY[model, model_version::text, condition::text,
                    cyoda_wf.ts_arg(point_in_time), sort::text, ask_size::text, '0']),
          CASE WHEN page_size IS NULL THEN 0 ELSE page_size * coalesce(page_number, 0) END,
          page_size;
END
$$;
COMMENT ON FUNCTION cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer) IS
    'search on every shard, merged in order of created_at, id (held in the router''s memory); paging, no sort keys';

CREATE FUNCTION cyoda_wf.stats_by(model text, model_version integer, json_path text,
                                  condition jsonb DEFAULT NULL)
    RETURNS TABLE (value jsonb, count bigint)
    LANGUAGE sql VOLATILE AS
$$
    SELECT s.value, sum(s.count)::bigint
      FROM unnest(cyoda_wf.call_every_shard('cyoda_wf.stats_by(text,integer,text,jsonb)',
                                            ARRAY[model, model_version::text, json_path,
                                                  condition::text])) AS r(rows),
           jsonb_to_recordset(coalesce(r.rows, '[]')) AS s(value jsonb, count bigint)
     GROUP BY 1
     ORDER BY 2 DESC, 1
$$;
COMMENT ON FUNCTION cyoda_wf.stats_by(text, integer, text, jsonb) IS
    'stats_by of every shard, summed';

CREATE FUNCTION cyoda_wf.delete_items(model text, model_version integer,
                                      condition jsonb DEFAULT NULL,
                                      point_in_time timestamptz DEFAULT NULL)
    RETURNS bigint LANGUAGE sql VOLATILE AS
$$
    SELECT coalesce(sum((r.n #>> '{}')::bigint), 0)::bigint
      FROM unnest(cyoda_wf.call_every_shard('cyoda_wf.delete_items(text,integer,jsonb,timestamptz)',
                                            ARRAY[model, model_version::text, condition::text,
                                                  cyoda_wf.ts_arg(point_in_time)])) AS r(n)
$$;
COMMENT ON FUNCTION cyoda_wf.delete_items(text, integer, jsonb, timestamptz) IS
    'delete_items on every shard (each commits on its shard); returns how many in all';

CREATE FUNCTION cyoda_wf.stats(model text DEFAULT NULL)
    RETURNS TABLE (model text, model_version integer, state text, count bigint)
    LANGUAGE sql VOLATILE AS
$$
    SELECT s.model, s.model_version, s.state, sum(s.count)::bigint
      FROM unnest(cyoda_wf.call_every_shard('cyoda_wf.stats(text)', ARRAY[model])) AS r(rows),
           jsonb_to_recordset(coalesce(r.rows, '[]'))
           AS s(model text, model_version integer, state text, count bigint)
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
$$;
COMMENT ON FUNCTION cyoda_wf.stats(text) IS
    'stats of every shard, summed';

-- Privileges: nothing for PUBLIC; an administrator grants what each role needs.
REVOKE ALL ON SCHEMA cyoda_wf FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA cyoda_wf FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA cyoda_wf FROM PUBLIC;
