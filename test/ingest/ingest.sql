-- Data ingestion (issue 8): connections, cyoda_wf.ingest and the process
-- helper data_ingestion.ingest_data_from_connection, against the HTTP
-- servers test/ingest/server.py runs on 127.0.0.1 (psql variables: A and B
-- their ports, refused a port nobody listens on, filedir a directory of
-- test files, secret / qsecret the secret header / query values).
-- Run by test/scripts/ingest.sh, which compares the output (ports and
-- paths normalized) with test/ingest/expected.out.
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
RESET client_min_messages;
-- The models ingest saves raw data into are declared first
-- (cyoda_wf.require_model = known refuses saves of undeclared models).
SELECT count(*) AS declared FROM unnest(ARRAY['raw_data', 'raw_lines', 'plain_raw']) AS m,
       cyoda_wf.import_workflows(m, 1, '{"workflows": []}');
\set SHOW_CONTEXT never
\pset null '(null)'
-- unaligned: the output must not depend on the width of the port numbers
\pset format unaligned
\set base 'http://127.0.0.1:' :A

-- try(sql): run a statement returning one value; 'ok' (its value goes to
-- last), or the error's SQLSTATE, message, detail and hint.  Every error's
-- full text (context too) is kept in errs for the secret sweep at the end.
CREATE TEMP TABLE last (v text);
CREATE TEMP TABLE errs (sqlstate text, msg text);
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text; m text; s text; d text; h text; c text;
BEGIN
    EXECUTE q INTO r;
    DELETE FROM last;
    INSERT INTO last VALUES (r);
    RETURN 'ok';
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, s = RETURNED_SQLSTATE, d = PG_EXCEPTION_DETAIL,
                            h = PG_EXCEPTION_HINT, c = PG_EXCEPTION_CONTEXT;
    INSERT INTO errs VALUES (s, concat_ws(E'\n', m, d, h, c));
    RETURN s || ': ' || m
        || CASE WHEN d <> '' THEN E'\nDETAIL: ' || d ELSE '' END
        || CASE WHEN h <> '' THEN E'\nHINT: ' || h ELSE '' END;
END
$$;
-- the data of the entity id in last, without the clock-dependent fetched_at
CREATE FUNCTION pg_temp.got() RETURNS text LANGUAGE sql AS $$
    SELECT e.model || ' ' || e.state || E'\n' || jsonb_pretty(e.data - 'fetched_at')
      FROM cyoda_wf.entity e WHERE e.id = (SELECT v::uuid FROM last)
$$;
CREATE FUNCTION pg_temp.fetched_at_ok() RETURNS boolean LANGUAGE sql AS $$
    SELECT (e.data ->> 'fetched_at')::timestamptz BETWEEN now() - interval '1 minute' AND clock_timestamp()
      FROM cyoda_wf.entity e WHERE e.id = (SELECT v::uuid FROM last)
$$;

------------------------------------------------------------------------------
-- 1. Connections
------------------------------------------------------------------------------

-- Secrets: Authorization (by default), a header listed in secret_headers,
-- an api_key query parameter (by default; written inline in the URL, it
-- moves into "query").
SELECT pg_temp.try(format($$SELECT cyoda_wf.create_connection('auth', %L)$$, jsonb_build_object(
    'url', :'base' || '/auth.json',
    'headers', jsonb_build_object('Authorization', 'Bearer ' || :'secret', 'X-Trace', 'visible',
                                  'X-Custom', :'secret' || '-custom'),
    'secret_headers', jsonb_build_array('X-Custom'),
    'description', 'needs the bearer token'))) AS create;
SELECT v AS auth_id FROM last \gset
SELECT model, model_version, state, source, jsonb_pretty(data) FROM cyoda_wf.entity WHERE id = :'auth_id';
SELECT pg_temp.try(format($$SELECT cyoda_wf.create_connection('query', %L)$$, jsonb_build_object(
    'url', :'base' || '/query.json?api_key=' || :'qsecret' || '&lang=en&d={day}',
    'query', jsonb_build_object('page', 2, 'tag', jsonb_build_array('a', 'b'))))) AS create;
SELECT jsonb_pretty(data) FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);
-- the values are in connection_secret only
SELECT connection, kind, key, value IN ('Bearer ' || :'secret', :'secret' || '-custom', :'qsecret') AS is_the_secret
  FROM cyoda_wf.connection_secret ORDER BY 1, 2, 3;
SELECT name, entity_type, sources FROM cyoda_wf.model WHERE name = 'connection';

-- Create again (upsert by name): same entity, new version; "***" keeps a
-- stored secret value.
SELECT pg_temp.try(format($$SELECT cyoda_wf.create_connection('auth', %L)$$,
    (SELECT data FROM cyoda_wf.entity WHERE id = :'auth_id') || '{"timeout_ms": 5000}')) AS recreate;
SELECT v = :'auth_id' AS same_id FROM last;
SELECT version, data -> 'timeout_ms' AS timeout_ms, data -> 'headers' AS headers
  FROM cyoda_wf.entity WHERE id = :'auth_id';
SELECT count(*) AS secrets_kept FROM cyoda_wf.connection_secret
 WHERE connection = 'auth' AND value IN ('Bearer ' || :'secret', :'secret' || '-custom');

-- Invalid definitions: 22023, nothing stored.
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "ftp://127.0.0.1/x"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "127.0.0.1/x"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http:///x"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http://u:pw@127.0.0.1/x"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http://{host}/x"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http://127.0.0.1/x", "format": "xml"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http://127.0.0.1/x", "method": "PUT"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http://127.0.0.1/x", "body": {"a": 1}}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http://127.0.0.1/x", "timeout_ms": 0}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http://127.0.0.1/x", "max_bytes": "big"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http://127.0.0.1/x", "headers": {"Bad Name": "v"}}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http://127.0.0.1/x", "headers": {"Authorization": "***"}}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "http://127.0.0.1/x", "timeout": 5}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '{"url": "file:///tmp/x.csv", "headers": {"A": "b"}}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('bad name', '{"url": "http://127.0.0.1/x"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('x', '[]')$$);
SELECT count(*) AS connections FROM cyoda_wf.entity WHERE model = 'connection';

------------------------------------------------------------------------------
-- 2. Ingesting: JSON, NDJSON, CSV
------------------------------------------------------------------------------
SELECT cyoda_wf.create_connection('ok_json', jsonb_build_object('url', :'base' || '/ok.json')) IS NOT NULL AS created;
SELECT cyoda_wf.create_connection('ok_ndjson', jsonb_build_object('url', :'base' || '/ok.ndjson', 'format', 'ndjson',
                                  'raw_model', 'raw_lines')) IS NOT NULL AS created;
SELECT cyoda_wf.create_connection('ok_csv', jsonb_build_object('url', :'base' || '/ok.csv', 'format', 'csv')) IS NOT NULL AS created;
SELECT cyoda_wf.create_connection('ok_csv_text', jsonb_build_object('url', :'base' || '/ok.csv', 'format', 'csv',
                                  'csv_numbers', false)) IS NOT NULL AS created;

-- outside a process: the model is raw_model or the connection's raw_model
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('ok_json', NULL, 'raw_data')$$);
SELECT pg_temp.got();
SELECT pg_temp.fetched_at_ok();
SELECT source, parent_id FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('ok_ndjson')$$);
SELECT pg_temp.got();
-- CSV: numbers converted (integers and decimals; "007", "" and "x" stay text) ...
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('ok_csv', NULL, 'raw_data')$$);
SELECT pg_temp.got();
-- ... or all text with csv_numbers false
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('ok_csv_text', NULL, 'raw_data')$$);
SELECT data -> 'rows' -> 1 AS second_row FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);

-- Secret header sent (the server answers 401 without it), not stored.
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('auth', NULL, 'raw_data')$$);
SELECT pg_temp.got();
-- Secret query parameter sent, dropped from the recorded URL; placeholders
-- filled from params.vars; params.query overrides the connection's query.
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('query', '{"vars": {"day": "2024-01-31"}, "query": {"page": 3}}', 'raw_data')$$);
SELECT pg_temp.got();
-- POST with a JSON body; params.body replaces it
SELECT cyoda_wf.create_connection('post', jsonb_build_object('url', :'base' || '/post.json', 'method', 'post',
    'body', jsonb_build_object('report', 'sales', 'year', 2024))) IS NOT NULL AS created;
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('post', NULL, 'raw_data')$$);
SELECT data -> 'method' AS method, data -> 'payload' AS payload FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('post', '{"body": [1, 2]}', 'raw_data')$$);
SELECT data -> 'payload' AS payload FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);
-- secret_body: the body is a secret too
SELECT cyoda_wf.create_connection('post_secret', jsonb_build_object('url', :'base' || '/post.json', 'method', 'POST',
    'body', jsonb_build_object('client_secret', :'secret' || '-body'), 'secret_body', true)) IS NOT NULL AS created;
SELECT data -> 'body' AS stored_body FROM cyoda_wf.entity WHERE model = 'connection' AND data ->> 'name' = 'post_secret';
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('post_secret', NULL, 'raw_data')$$);
-- (the server echoes the secret as "<the secret>")
SELECT data -> 'payload' -> 'received' AS received, data -> 'url' AS url
  FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);
-- Redirects: same origin keeps the secret header, another origin (server B)
-- does not get it.
SELECT cyoda_wf.create_connection('redirect_same', jsonb_build_object('url', :'base' || '/redirect_same',
    'headers', jsonb_build_object('Authorization', 'Bearer ' || :'secret'))) IS NOT NULL AS created;
SELECT cyoda_wf.create_connection('redirect_other', jsonb_build_object('url', :'base' || '/redirect_other',
    'headers', jsonb_build_object('Authorization', 'Bearer ' || :'secret'))) IS NOT NULL AS created;
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('redirect_same', NULL, 'raw_data')$$);
SELECT data -> 'payload' AS payload, data ->> 'final_url' AS final_url FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('redirect_other', NULL, 'raw_data')$$);
SELECT data -> 'payload' AS payload, data ->> 'final_url' AS final_url FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);

------------------------------------------------------------------------------
-- 3. Failures: an error with a SQLSTATE, naming the connection
------------------------------------------------------------------------------
SELECT count(*) AS raw_before FROM cyoda_wf.entity WHERE model = 'raw_data' \gset
SELECT cyoda_wf.create_connection(n, jsonb_build_object('url', :'base' || p) || d) IS NOT NULL AS created
  FROM (VALUES ('slow', '/slow', '{"timeout_ms": 500}'::jsonb),
               ('drip', '/drip', '{"timeout_ms": 1000}'),
               ('e500', '/500', '{}'),
               ('e404', '/nothing-here', '{}'),
               ('e401', '/echo401', jsonb_build_object('headers', jsonb_build_object('Authorization', 'Bearer ' || :'secret'),
                                                       'query', jsonb_build_object('api_key', :'qsecret'))),
               ('bad_json', '/bad.json', '{}'),
               ('bad_ndjson', '/bad.ndjson', '{"format": "ndjson"}'),
               ('bad_csv', '/bad.csv', '{"format": "csv"}'),
               ('not_utf8', '/notutf8', '{}'),
               ('ndjson_as_json', '/ok.ndjson', '{}'),
               ('big', '/big', '{"max_bytes": 1000}'),
               ('big_stream', '/bigstream', '{"max_bytes": 1000}'),
               ('big_ok', '/big', '{"max_bytes": 5000}')) AS t(n, p, d);
SELECT cyoda_wf.create_connection('refused', jsonb_build_object('url', 'http://127.0.0.1:' || :'refused' || '/x.json',
    'timeout_ms', 2000)) IS NOT NULL AS created;
-- timeout (before the headers; while the body drips in): 57014
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('slow', NULL, 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('drip', NULL, 'raw_data')$$);
-- not 2xx: 58000, the start of the body in DETAIL with secrets masked
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('e500', NULL, 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('e404', NULL, 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('e401', NULL, 'raw_data')$$);
-- nobody listening: 08001
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('refused', NULL, 'raw_data')$$);
-- not parseable: 22P02
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('bad_json', NULL, 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('bad_ndjson', NULL, 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('bad_csv', NULL, 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('not_utf8', NULL, 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('ndjson_as_json', NULL, 'raw_data')$$);
-- larger than max_bytes (announced by Content-Length, or found while reading): 53400
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('big', NULL, 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('big_stream', NULL, 'raw_data')$$);
-- usage errors
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('no_such_connection', NULL, 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('ok_json')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('ok_json', '{"page": 2}', 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('query', NULL, 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('ok_json', NULL, 'raw_data', '{"token": "not-a-token"}')$$);
-- a failed ingest stores nothing
SELECT count(*) - :raw_before AS raw_added_by_failures FROM cyoda_wf.entity WHERE model = 'raw_data';
-- max_bytes large enough
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('big_ok', NULL, 'raw_data')$$);
SELECT data -> 'bytes' AS bytes FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);

------------------------------------------------------------------------------
-- 4. file:// (files on the database server, under cyoda_wf.ingest_file_root)
------------------------------------------------------------------------------
\set fileurl 'file://' :filedir
SELECT pg_temp.try(format($$SELECT cyoda_wf.create_connection('file_csv', %L)$$,
    jsonb_build_object('url', :'fileurl' || '/sales.csv', 'format', 'csv'))) AS before_allowed;
INSERT INTO cyoda_wf.ingest_file_root (dir) VALUES (:'filedir');
SELECT cyoda_wf.create_connection('file_csv', jsonb_build_object('url', :'fileurl' || '/sales.csv', 'format', 'csv')) IS NOT NULL AS created;
SELECT cyoda_wf.create_connection('file_var', jsonb_build_object('url', :'fileurl' || '/{name}', 'format', 'json',
    'max_bytes', 100)) IS NOT NULL AS created;
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('file_csv', NULL, 'raw_data')$$);
SELECT pg_temp.got();
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('file_var', '{"vars": {"name": "small.json"}}', 'raw_data')$$);
SELECT data -> 'payload' AS payload, data -> 'status' AS status FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('file_var', '{"vars": {"name": "missing.json"}}', 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('file_var', '{"vars": {"name": "big.json"}}', 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('file_var', '{"vars": {"name": "subdir"}}', 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('file_var', '{"vars": {"name": "../outside.json"}}', 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('file_var', '{"vars": {"name": "link.json"}}', 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('file_out', '{"url": "file:///etc/hostname"}')$$);

------------------------------------------------------------------------------
-- 5. In a process: data_ingestion.ingest_data_from_connection
------------------------------------------------------------------------------
-- The design's adds_new_entites names the raw data model.
SELECT e ->> 'name' AS entity, e ->> 'type' AS type, e ->> 'source' AS source
  FROM jsonb_array_elements(cyoda_wf.import_design($${
  "entities": [
    {"entity_name": "ingest_job", "entity_type": "JOB", "entity_source": "API_REQUEST",
     "depends_on_entity": "None",
     "entity_workflow": {"name": "ingest_job_workflow", "class_name": "com.cyoda.tdb.model.treenode.TreeNodeEntity",
       "transitions": [
         {"name": "ingest_data", "description": "Ingest the job's connection.",
          "start_state": "None", "start_state_description": "new",
          "end_state": "data_ingested", "end_state_description": "raw data stored",
          "process": {"name": "ingest_raw_data", "description": "Fetch and store.",
                      "adds_new_entites": "raw_job_data"}}]}},
    {"entity_name": "raw_job_data", "entity_type": "EXTERNAL_SOURCES_PULL_BASED_RAW_DATA",
     "entity_source": "ENTITY_EVENT", "depends_on_entity": "ingest_job", "entity_workflow": null}
  ]}$$::jsonb) -> 'entities') AS e ORDER BY 1;
SELECT * FROM cyoda_wf.load_functions($py$
from cyoda_wf import data_ingestion


def ingest_raw_data(meta, data):
    data["raw_request_id"] = data_ingestion.ingest_data_from_connection(
        meta["token"], data["connection"], data.get("params"))
    return data
$py$) AS made;

-- success: the raw entity is a child of the job (ENTITY_EVENT), of the
-- model the design names
SELECT pg_temp.try($$SELECT cyoda_wf.add_item('ingest_job', 1, '{"connection": "ok_csv"}')$$);
SELECT v AS job FROM last \gset
SELECT state, data ? 'raw_request_id' AS remembered FROM cyoda_wf.entity WHERE id = :'job';
SELECT r.model, r.state, r.source, r.parent_id = :'job' AS child_of_job, r.data -> 'row_count' AS row_count
  FROM cyoda_wf.entity j JOIN cyoda_wf.entity r ON r.id = (j.data ->> 'raw_request_id')::uuid
 WHERE j.id = :'job';
-- raw_data_entity cannot be created from outside (ENTITY_EVENT only)
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('ok_csv', NULL, 'raw_job_data')$$);

-- failure: the SYNC process fails, the save rolls back, nothing is stored
SELECT count(*) AS entities_before FROM cyoda_wf.entity \gset
SELECT pg_temp.try($$SELECT cyoda_wf.add_item('ingest_job', 1, '{"connection": "e500"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.add_item('ingest_job', 1, '{"connection": "slow"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.add_item('ingest_job', 1, '{"connection": "e401"}')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.add_item('ingest_job', 1, '{"connection": "bad_csv"}')$$);
SELECT count(*) - :entities_before AS entities_added FROM cyoda_wf.entity;
SELECT count(*) AS jobs, count(*) FILTER (WHERE state = 'data_ingested') AS ingested
  FROM cyoda_wf.entity WHERE model = 'ingest_job';

-- A hand-written PL/Python process (meta as JSON text) finds its meta too.
CREATE FUNCTION public.ingest_plain(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpython3u AS $$
import json
from cyoda_wf import data_ingestion
d = json.loads(data)
d["raw_request_id"] = data_ingestion.ingest_data_from_connection(json.loads(meta)["token"], "ok_json")
return json.dumps(d)
$$;
SELECT cyoda_wf.import_workflows('plain_job', 1, '{"workflows": [{"name": "w", "initialState": "new",
  "states": {"new": {"transitions": [{"name": "go", "next": "done",
      "processors": [{"name": "ingest_plain"}],
      "annotations": {"adds_new_entities": ["plain_raw"]}}]}, "done": {}}}]}') ->> 'workflows' AS imported;
SELECT pg_temp.try($$SELECT cyoda_wf.add_item('plain_job', 1, '{}')$$);
SELECT j.state, r.model, r.parent_id = j.id AS child_of_job
  FROM cyoda_wf.entity j JOIN cyoda_wf.entity r ON r.id = (j.data ->> 'raw_request_id')::uuid
 WHERE j.id = (SELECT v::uuid FROM last);

-- Async (ASYNC_NEW_TX): the attempt fails, the task records the error (no
-- secret in it) and the entity stays in its state.
SELECT cyoda_wf.import_workflows('async_job', 1, '{"workflows": [{"name": "w", "initialState": "new",
  "states": {"new": {"transitions": [{"name": "ingest_data", "next": "done",
      "processors": [{"name": "ingest_raw_data", "executionMode": "ASYNC_NEW_TX"}],
      "annotations": {"adds_new_entities": ["raw_job_data"]}}]}, "done": {}}}]}') ->> 'workflows' AS imported;
-- (no worker serves this database: its WARNING is not what is tested here)
SET client_min_messages = error;
SELECT cyoda_wf.add_item('async_job', 1, '{"connection": "e401"}') AS ajob \gset
SELECT cyoda_wf.add_item('async_job', 1, '{"connection": "ok_ndjson"}') AS ajob2 \gset
RESET client_min_messages;
CALL cyoda_wf.run_tasks();
SELECT e.data ->> 'connection' AS connection, e.state, t.state AS task, t.last_error
  FROM cyoda_wf.entity e JOIN cyoda_wf.task t ON t.entity_id = e.id
 WHERE e.id IN (:'ajob', :'ajob2') ORDER BY 1;
SELECT event_type, detail ->> 'sqlstate' AS sqlstate, detail ->> 'error' AS error
  FROM cyoda_wf.audit WHERE entity_id = :'ajob' AND event_type = 'PROCESS_FAILED';
SELECT r.model, r.parent_id = :'ajob2' AS child_of_job
  FROM cyoda_wf.entity j JOIN cyoda_wf.entity r ON r.id = (j.data ->> 'raw_request_id')::uuid
 WHERE j.id = :'ajob2';

------------------------------------------------------------------------------
-- 6. Privileges
------------------------------------------------------------------------------
SET client_min_messages = warning;
DROP ROLE IF EXISTS cw_ingest_user;
RESET client_min_messages;
CREATE ROLE cw_ingest_user;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_ingest_user;
GRANT EXECUTE ON FUNCTION cyoda_wf.ingest(text, jsonb, text, jsonb) TO cw_ingest_user;
GRANT ALL ON last, errs TO cw_ingest_user;  -- pg_temp.try's tables
SET ROLE cw_ingest_user;
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('auth', NULL, 'raw_data')$$) AS ingest_with_secret;
SELECT pg_temp.try($$SELECT count(*) FROM cyoda_wf.connection_secret$$) AS read_secrets;
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('mine', '{"url": "http://127.0.0.1/"}')$$) AS create;
SELECT pg_temp.try($$SELECT cyoda_wf_internal.ingest_py('auth', NULL, 'raw_data', NULL)$$) AS internal;
RESET ROLE;
-- (ingest fetches as the extension owner and saves the entity as its caller)
SELECT model, changed_by FROM cyoda_wf.entity_version WHERE entity_id = (SELECT v::uuid FROM last);
DROP OWNED BY cw_ingest_user;
DROP ROLE cw_ingest_user;

-- drop_connection removes the entity and its secrets
SELECT cyoda_wf.drop_connection('auth') AS dropped, cyoda_wf.drop_connection('auth') AS again;
SELECT count(*) AS auth_secrets FROM cyoda_wf.connection_secret WHERE connection = 'auth';

------------------------------------------------------------------------------
-- 7. Only what create_connection made is trusted
------------------------------------------------------------------------------
-- Entity rows changed and added behind create_connection's back with the
-- owner's rights (a superuser's plain SQL), pointing at server B: ingest
-- still fetches what create_connection defined, and B receives nothing.
SELECT cyoda_wf.create_connection('trusted', jsonb_build_object('url', :'base' || '/auth.json',
    'headers', jsonb_build_object('Authorization', 'Bearer ' || :'secret'))) AS trusted_id \gset
\set forged 'http://127.0.0.1:' :B '/forged.json'
UPDATE cyoda_wf.entity SET data = data || jsonb_build_object('url', :'forged') WHERE id = :'trusted_id';
INSERT INTO cyoda_wf.entity (model, data) VALUES ('connection',
    jsonb_build_object('name', 'trusted', 'url', :'forged', 'headers', '{"Authorization": "***"}'::jsonb));
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('trusted', NULL, 'raw_data')$$);
SELECT data -> 'payload' AS payload, data ->> 'url' AS url FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);
-- A writer (the README recipe) cannot change or add connection entities at all.
SET client_min_messages = warning;
DROP ROLE IF EXISTS cw_ingest_writer;
RESET client_min_messages;
CREATE ROLE cw_ingest_writer;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_ingest_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_item(text, integer, jsonb), cyoda_wf.update_item(uuid, jsonb, text, bigint)
   TO cw_ingest_writer;
GRANT SELECT, INSERT (id, model, model_version, data), UPDATE (data), DELETE ON cyoda_wf.entity TO cw_ingest_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.new_id() TO cw_ingest_writer;
GRANT ALL ON last, errs TO cw_ingest_writer;
SET ROLE cw_ingest_writer;
SELECT pg_temp.try(format($$SELECT cyoda_wf.update_item(%L, %L)$$, :'trusted_id',
    jsonb_build_object('name', 'trusted', 'url', :'forged')));
SELECT pg_temp.try(format($$UPDATE cyoda_wf.entity SET data = data || %L WHERE id = %L RETURNING id$$,
    jsonb_build_object('url', :'forged'), :'trusted_id'));
SELECT pg_temp.try(format($$INSERT INTO cyoda_wf.entity (model, data) VALUES ('connection', %L) RETURNING id$$,
    jsonb_build_object('name', 'trusted', 'url', :'forged')));
RESET ROLE;
DROP OWNED BY cw_ingest_writer;
DROP ROLE cw_ingest_writer;

-- Headers the HTTP client sets itself: 22023, no request made.
SELECT cyoda_wf.create_connection('trap', jsonb_build_object('url', :'base' || '/trap.json')) IS NOT NULL AS created;
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('trap', '{"headers": {"Host": "example.com"}}', 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('trap', '{"headers": {"proxy-authorization": "Basic eDp5"}}', 'raw_data')$$);
SELECT pg_temp.try($$SELECT cyoda_wf.create_connection('trap2', '{"url": "http://127.0.0.1/", "headers": {"Transfer-Encoding": "chunked"}}')$$);

-- A source that echoes the request back: the secrets of the connection and
-- of the call are *** in the stored payload.
SELECT cyoda_wf.create_connection('echo', jsonb_build_object('url', :'base' || '/echo_all.json',
    'headers', jsonb_build_object('Authorization', 'Bearer ' || :'secret', 'X-Plain', 'visible'),
    'query', jsonb_build_object('api_key', :'qsecret', 'page', 1))) IS NOT NULL AS created;
SELECT pg_temp.try(format($$SELECT cyoda_wf.ingest('echo', %L, 'raw_data')$$,
    jsonb_build_object('headers', jsonb_build_object('X-Call-Token', :'secret' || '-call'))));
SELECT jsonb_pretty(data -> 'payload') AS payload FROM cyoda_wf.entity WHERE id = (SELECT v::uuid FROM last);

-- What the servers received: nothing for the forged URL or the refused
-- headers, and the secret never reached server B.
SELECT cyoda_wf.create_connection('log', jsonb_build_object('url', :'base' || '/log.json')) IS NOT NULL AS created;
SELECT pg_temp.try($$SELECT cyoda_wf.ingest('log', NULL, 'raw_data')$$);
SELECT count(*) FILTER (WHERE r ->> 'path' = '/forged.json') AS forged_requests,
       count(*) FILTER (WHERE r ->> 'path' = '/trap.json') AS trap_requests,
       count(*) FILTER (WHERE r ->> 'server' = 'B' AND (r ->> 'secret')::boolean) AS secret_to_b,
       count(*) FILTER (WHERE r ->> 'path' = '/auth.json' AND (r ->> 'secret')::boolean) > 0 AS secret_to_auth
  FROM cyoda_wf.entity e, jsonb_array_elements(e.data -> 'payload' -> 'requests') r
 WHERE e.id = (SELECT v::uuid FROM last);

------------------------------------------------------------------------------
-- 8. No secret anywhere but connection_secret
------------------------------------------------------------------------------
SELECT t, count(*) FILTER (WHERE txt LIKE '%' || :'secret' || '%' OR txt LIKE '%' || :'qsecret' || '%') AS with_secret,
       count(*) > 0 AS has_rows
  FROM (SELECT 'entity' AS t, e::text AS txt FROM cyoda_wf.entity e
        UNION ALL SELECT 'entity_version', v::text FROM cyoda_wf.entity_version v
        UNION ALL SELECT 'audit', a::text FROM cyoda_wf.audit a
        UNION ALL SELECT 'task', k::text FROM cyoda_wf.task k
        UNION ALL SELECT 'errors', r::text FROM errs r) s
 GROUP BY t ORDER BY t;
SELECT count(*) AS errors_seen, count(DISTINCT sqlstate) AS sqlstates FROM errs;
