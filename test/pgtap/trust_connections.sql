-- pgTAP: connections are trusted only as create_connection made them.
-- The reserved model "connection" (no imported workflow, no write but by
-- create_connection / drop_connection), ingest using the definition
-- create_connection stored (connection_definition) whatever the entity rows
-- say, headers the HTTP client sets refused before any request, and the
-- role that called ingest recorded as changed_by / audit role.  Runs in one
-- transaction that is rolled back (roles included), in a fresh database.
-- test/scripts/ingest.sh covers the same over HTTP (what a server receives,
-- secrets echoed back).
--
-- Roles:   cw_tc_writer    the README "writer" recipe (API + plain SQL on data)
--          cw_tc_importer  imports workflows; its process ingests
--          cw_tc_ingester  EXECUTE on ingest only
--          cw_tc_admin     EXECUTE on create_connection / drop_connection only
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(52);

-- ---------------------------------------------------------------------------
-- Roles
-- ---------------------------------------------------------------------------
CREATE ROLE cw_tc_writer;
CREATE ROLE cw_tc_importer;
CREATE ROLE cw_tc_ingester;
CREATE ROLE cw_tc_admin;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tc_writer, cw_tc_importer, cw_tc_ingester, cw_tc_admin;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_item(text, integer, jsonb),
                          cyoda_wf.update_item(uuid, jsonb, text, bigint),
                          cyoda_wf.fire(uuid, text),
                          cyoda_wf.delete_item(uuid),
                          cyoda_wf.get_item(uuid, timestamptz, bigint),
                          cyoda_wf.get_entity(uuid, timestamptz, bigint),
                          cyoda_wf.transitions(uuid)
   TO cw_tc_writer;
GRANT SELECT, INSERT (id, model, model_version, data), UPDATE (data), DELETE ON cyoda_wf.entity TO cw_tc_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.new_id() TO cw_tc_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb),
                          cyoda_wf.import_design(jsonb, text),
                          cyoda_wf_internal.check_token(text),
                          cyoda_wf.add_item(text, integer, jsonb),
                          cyoda_wf.update_item(uuid, jsonb, text, bigint),
                          cyoda_wf.get_entity(uuid, timestamptz, bigint),
                          cyoda_wf.ingest(text, jsonb, text, jsonb)
   TO cw_tc_importer;
GRANT USAGE ON SCHEMA cyoda_wf_internal TO cw_tc_importer;   -- check_token, for its processes
GRANT EXECUTE ON FUNCTION cyoda_wf.ingest(text, jsonb, text, jsonb) TO cw_tc_ingester;
GRANT EXECUTE ON FUNCTION cyoda_wf.create_connection(text, jsonb), cyoda_wf.drop_connection(text) TO cw_tc_admin;

-- The hint of the error a statement raises.
CREATE FUNCTION public.cw_tc_hint(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  h text;
BEGIN
  EXECUTE q;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RETURN h;
END $$;

-- The raw data model, declared; a file the server can read (PG_VERSION of
-- the data directory, CSV with a header line and no rows) for file://.
SELECT cyoda_wf.import_workflows('cw_tc_raw', 1, '{"workflows": [{"name": "w", "initialState": "new",
  "states": {"new": {"transitions": [{"name": "keep", "next": "kept"}]}, "kept": {}}}]}') IS NOT NULL;
INSERT INTO cyoda_wf.ingest_file_root (dir) VALUES (current_setting('data_directory'));
SELECT set_config('tc.file_url', 'file://' || current_setting('data_directory') || '/PG_VERSION', true) IS NOT NULL;

-- ---------------------------------------------------------------------------
-- 1. create_connection keeps what ingest uses
-- ---------------------------------------------------------------------------
SET ROLE cw_tc_admin;
SELECT lives_ok($$ SELECT set_config('tc.http', cyoda_wf.create_connection('cw_tc_http', '{
    "url": "http://127.0.0.1:9/data.json", "timeout_ms": 2000,
    "headers": {"Authorization": "Bearer tc-secret-0815", "X-Trace": "visible"}}')::text, true) $$,
    'a role with EXECUTE on create_connection creates a connection');
SELECT lives_ok($$ SELECT set_config('tc.file', cyoda_wf.create_connection('cw_tc_file',
    jsonb_build_object('url', current_setting('tc.file_url'), 'format', 'csv'))::text, true) $$,
    'a file:// connection');
RESET ROLE;
SELECT is((SELECT d.entity_id::text || ' ' || (d.definition = e.data)::text
             FROM cyoda_wf.connection_definition d JOIN cyoda_wf.entity e ON e.id = d.entity_id
            WHERE d.name = 'cw_tc_http'), current_setting('tc.http') || ' true',
          'connection_definition: the name, the entity create_connection returned, the definition the entity shows');
SELECT is((SELECT e.data -> 'headers' FROM cyoda_wf.entity e WHERE e.id = current_setting('tc.http')::uuid),
          '{"Authorization": "***", "X-Trace": "visible"}'::jsonb, 'the entity shows *** for the secret');
SELECT is((SELECT string_agg(s.connection || ' ' || s.kind || ' ' || s.key || ' ' || s.value, ',')
             FROM cyoda_wf.connection_secret s WHERE s.connection_id = current_setting('tc.http')::uuid),
          'cw_tc_http header authorization Bearer tc-secret-0815', 'the secret is keyed by the connection''s entity id');
SET ROLE cw_tc_admin;
SELECT is(cyoda_wf.create_connection('cw_tc_http', '{"url": "http://127.0.0.1:9/v2.json", "timeout_ms": 2000,
    "headers": {"Authorization": "***", "X-Trace": "visible"}}')::text, current_setting('tc.http'),
    'replacing keeps the entity id');
RESET ROLE;
SELECT is((SELECT e.version::text || ' ' || (d.definition ->> 'url') || ' ' || (e.data ->> 'url')
             FROM cyoda_wf.connection_definition d JOIN cyoda_wf.entity e ON e.id = d.entity_id
            WHERE d.name = 'cw_tc_http'), '2 http://127.0.0.1:9/v2.json http://127.0.0.1:9/v2.json',
          'a replace is a new version of the entity and the new definition');
SELECT is((SELECT count(*)::int FROM cyoda_wf.connection_secret s
            WHERE s.connection_id = current_setting('tc.http')::uuid AND s.value = 'Bearer tc-secret-0815'), 1,
          '"***" kept the stored secret');
SELECT is((SELECT array_agg(DISTINCT changed_by) FROM cyoda_wf.entity_version
            WHERE entity_id = current_setting('tc.http')::uuid), ARRAY[(SELECT pg_get_userbyid(relowner)::text
            FROM pg_class WHERE oid = 'cyoda_wf.entity'::regclass)], 'connections are saved by the extension owner');

-- ---------------------------------------------------------------------------
-- 2. The writer recipe cannot write connection entities
-- ---------------------------------------------------------------------------
SET ROLE cw_tc_writer;
SELECT throws_ok($$ SELECT cyoda_wf.update_item(current_setting('tc.http')::uuid,
                      '{"name": "cw_tc_http", "url": "http://127.0.0.1:8/evil"}') $$,
                 '42501', 'cannot update an entity of reserved model "connection"', 'writer: update_item refused');
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('tc.http')::uuid, 'UPDATE') $$,
                 '42501', NULL, 'writer: fire refused');
SELECT throws_ok($$ SELECT cyoda_wf.delete_item(current_setting('tc.http')::uuid) $$,
                 '42501', 'cannot delete an entity of reserved model "connection"', 'writer: delete_item refused');
SELECT throws_ok($$ SELECT cyoda_wf.add_item('connection', 1, '{"name": "cw_tc_http", "url": "http://127.0.0.1:8/"}') $$,
                 '42501', 'cannot create an entity of reserved model "connection"', 'writer: add_item refused');
SELECT throws_ok($$ UPDATE cyoda_wf.entity SET data = data || '{"url": "http://127.0.0.1:8/evil"}'
                     WHERE id = current_setting('tc.http')::uuid $$, '42501', NULL, 'writer: plain UPDATE refused');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data)
                    VALUES ('connection', '{"name": "cw_tc_http", "url": "http://127.0.0.1:8/"}') $$,
                 '42501', NULL, 'writer: plain INSERT (a forged connection) refused');
SELECT throws_ok($$ DELETE FROM cyoda_wf.entity WHERE id = current_setting('tc.http')::uuid $$,
                 '42501', NULL, 'writer: plain DELETE refused');
SELECT throws_ok($$ INSERT INTO cyoda_wf.connection_definition (name, entity_id, definition)
                    VALUES ('x', gen_random_uuid(), '{}') $$, '42501', NULL, 'writer: connection_definition refused');
RESET ROLE;
SELECT is((SELECT version::text || ' ' || (data ->> 'url') FROM cyoda_wf.entity WHERE id = current_setting('tc.http')::uuid),
          '2 http://127.0.0.1:9/v2.json', 'the connection entity is unchanged');
SELECT is((SELECT count(*)::int FROM cyoda_wf.entity WHERE model = 'connection'), 2, 'no connection entity added');
SELECT throws_ok($$ SELECT cyoda_wf.add_item('connection', 1, '{"name": "x", "url": "http://127.0.0.1:8/"}') $$,
                 '42501', NULL, 'add_item of a connection is refused to a superuser too (API functions)');
-- A superuser's plain SQL passes only when the superuser runs it as itself,
-- not through a SECURITY DEFINER function someone else calls.
CREATE FUNCTION public.cw_tc_definer_insert() RETURNS void LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS
$$ INSERT INTO cyoda_wf.entity (model, data) VALUES ('connection', '{"name": "cw_tc_http", "url": "http://127.0.0.1:8/"}') $$;
SET ROLE cw_tc_writer;
SELECT throws_ok($$ SELECT public.cw_tc_definer_insert() $$, '42501', NULL,
                 'plain SQL in a superuser''s SECURITY DEFINER function, called by the writer, refused');
RESET ROLE;
-- The hint names the functions to use.
SELECT is(public.cw_tc_hint($$ SELECT cyoda_wf.delete_item(current_setting('tc.http')::uuid) $$),
          'Create or replace a connection with cyoda_wf.create_connection(name, definition), remove it with cyoda_wf.drop_connection(name).',
          'the hint names create_connection and drop_connection');

-- ---------------------------------------------------------------------------
-- 3. No workflow for the reserved model; processes cannot write it either
-- ---------------------------------------------------------------------------
SET ROLE cw_tc_importer;
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('connection', 1, '{"workflows": [{"name": "w",
    "initialState": "a", "states": {"a": {}}}]}') $$,
    '42501', 'model "connection" is reserved: no workflow can be imported for it', 'import_workflows refused');
SELECT throws_ok($$ SELECT cyoda_wf.import_design('{"entities": [{"entity_name": "connection",
    "entity_type": "CONFIG", "entity_source": "API_REQUEST", "depends_on_entity": "None",
    "entity_workflow": null}]}'::jsonb) $$,
    '42501', 'model "connection" is reserved: no workflow can be imported for it', 'import_design refused');
RESET ROLE;
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('connection', 1, '{"workflows": []}') $$,
                 '42501', NULL, 'import_workflows refused to a superuser too');
SELECT is((SELECT count(*)::int FROM cyoda_wf.workflow WHERE model = 'connection'), 0, 'no workflow stored for it');
SELECT is((SELECT entity_type || ' ' || sources::text FROM cyoda_wf.model WHERE name = 'connection'),
          'CONFIG {API_REQUEST}', 'the connection model row is create_connection''s');

-- A process (run as its importer) that ingests, adds a child, or writes a connection.
CREATE FUNCTION public.cw_tc_pull(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpython3u AS $$
import json
from cyoda_wf import data_ingestion, entity_service
m = json.loads(meta)
d = json.loads(data)
d["raw"] = data_ingestion.ingest_data_from_connection(m["token"], "cw_tc_file", None, "cw_tc_raw", m)
d["sibling"] = entity_service.add_item(m["token"], "cw_tc_raw", 1, {"sibling": True})
return json.dumps(d)
$$;
CREATE FUNCTION public.cw_tc_touch(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpython3u AS $$
import json
from cyoda_wf import entity_service
m = json.loads(meta)
d = json.loads(data)
entity_service.update_item(m["token"], "connection", 1, d["target"], {"name": "cw_tc_http", "url": "http://127.0.0.1:8/"})
return None
$$;
CREATE FUNCTION public.cw_tc_direct(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM cyoda_wf_internal.write_connection_entity('replace', (data ->> 'target')::uuid, '{"name": "cw_tc_http", "url": "http://127.0.0.1:8/"}');
  RETURN NULL;
END $$;
ALTER FUNCTION public.cw_tc_pull(jsonb, jsonb) OWNER TO cw_tc_importer;
ALTER FUNCTION public.cw_tc_touch(jsonb, jsonb) OWNER TO cw_tc_importer;
ALTER FUNCTION public.cw_tc_direct(jsonb, jsonb) OWNER TO cw_tc_importer;
REVOKE EXECUTE ON FUNCTION public.cw_tc_pull(jsonb, jsonb), public.cw_tc_touch(jsonb, jsonb),
                           public.cw_tc_direct(jsonb, jsonb) FROM PUBLIC;
-- (an administrator's mistake: the internal function granted to the importer)
GRANT USAGE ON SCHEMA cyoda_wf_internal TO cw_tc_importer;
GRANT EXECUTE ON FUNCTION cyoda_wf_internal.write_connection_entity(text, uuid, jsonb) TO cw_tc_importer;
SET ROLE cw_tc_importer;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tc_job', 1, '{"workflows": [{"name": "w",
    "initialState": "new", "states": {"new": {"transitions": [
      {"name": "pull", "next": "pulled", "manual": true, "processors": [{"name": "cw_tc_pull"}]},
      {"name": "touch", "next": "new", "manual": true, "processors": [{"name": "cw_tc_touch"}]},
      {"name": "direct", "next": "new", "manual": true, "processors": [{"name": "cw_tc_direct"}]}]},
    "pulled": {}}}]}') $$, 'the importer imports a job workflow');
RESET ROLE;
SET ROLE cw_tc_writer;
SELECT set_config('tc.job', cyoda_wf.add_item('cw_tc_job', 1,
                  jsonb_build_object('target', current_setting('tc.http')))::text, true) IS NOT NULL;
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('tc.job')::uuid, 'touch') $$,
                 '42501', NULL, 'a process cannot update a connection through entity_service');
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('tc.job')::uuid, 'direct') $$,
                 '42501', 'permission denied to write connection entities',
                 'a process cannot use the connection functions'' internal write, even when granted it');
RESET ROLE;
SELECT is((SELECT version::int FROM cyoda_wf.entity WHERE id = current_setting('tc.http')::uuid), 2,
          'the connection entity is still unchanged');

-- ---------------------------------------------------------------------------
-- 4. ingest uses the stored definition, whatever the entity rows say
-- ---------------------------------------------------------------------------
-- Rows changed and added with the owner's rights (a superuser's plain SQL
-- passes the reserved-model check, e.g. for a restore): ingest ignores them.
SELECT lives_ok($$ UPDATE cyoda_wf.entity SET data = data || '{"url": "file:///etc/passwd", "format": "json"}'
                    WHERE id = current_setting('tc.file')::uuid $$, 'a superuser retargets the file connection entity');
SELECT lives_ok($$ INSERT INTO cyoda_wf.entity (model, data) VALUES ('connection',
                    '{"name": "cw_tc_file", "url": "file:///etc/hostname", "format": "json"}') $$,
                'a superuser adds a newer entity of the same name');
SET ROLE cw_tc_ingester;
SELECT lives_ok($$ SELECT set_config('tc.raw', cyoda_wf.ingest('cw_tc_file', NULL, 'cw_tc_raw')::text, true) $$,
                'a role with EXECUTE on ingest only ingests');
RESET ROLE;
SELECT is((SELECT (data ->> 'url') || ' ' || (data ->> 'format') || ' ' || (data ->> 'row_count')
             FROM cyoda_wf.entity WHERE id = current_setting('tc.raw')::uuid),
          current_setting('tc.file_url') || ' csv 0', 'ingest read what create_connection defined');

-- ---------------------------------------------------------------------------
-- 5. The role that called ingest is recorded
-- ---------------------------------------------------------------------------
SELECT is((SELECT array_agg(changed_by) FROM cyoda_wf.entity_version WHERE entity_id = current_setting('tc.raw')::uuid),
          ARRAY['cw_tc_ingester'], 'changed_by of the raw entity is the caller of ingest');
SELECT is((SELECT array_agg(event_type || ' ' || role || ' ' || transition ORDER BY event_type)
             FROM cyoda_wf.audit WHERE entity_id = current_setting('tc.raw')::uuid),
          ARRAY['STATE_MACHINE_FINISH cw_tc_ingester keep', 'STATE_MACHINE_START cw_tc_ingester keep',
                'TRANSITION_MAKE cw_tc_ingester keep'], 'its audit rows name the caller of ingest');
SET ROLE cw_tc_ingester;
SELECT throws_ok($$ SELECT cyoda_wf.add_item('cw_tc_raw', 1, '{}') $$, '42501', NULL,
                 'the caller still cannot call add_item itself');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.connection_secret $$, '42501', NULL, 'nor read the secrets');
SELECT throws_ok($$ SELECT cyoda_wf_internal.ingest_fetch('cw_tc_file', NULL, 'cw_tc_raw', NULL) $$, '42501', NULL,
                 'nor call the internal fetch');
RESET ROLE;
-- Inside a process: what the engine records for a child the process creates.
SET ROLE cw_tc_writer;
SELECT is(cyoda_wf.fire(current_setting('tc.job')::uuid, 'pull'), 'pulled', 'a process ingests');
RESET ROLE;
SELECT is((SELECT r.changed_by || ' ' || s.changed_by
             FROM cyoda_wf.entity j
             JOIN cyoda_wf.entity_version r ON r.entity_id = (j.data ->> 'raw')::uuid
             JOIN cyoda_wf.entity_version s ON s.entity_id = (j.data ->> 'sibling')::uuid
            WHERE j.id = current_setting('tc.job')::uuid),
          'cw_tc_importer cw_tc_importer', 'in a process, ingest records what entity_service.add_item records');
SELECT is((SELECT (r.parent_id = j.id)::text || ' ' || r.source FROM cyoda_wf.entity j
             JOIN cyoda_wf.entity r ON r.id = (j.data ->> 'raw')::uuid WHERE j.id = current_setting('tc.job')::uuid),
          'true ENTITY_EVENT', 'the raw entity is a child of the process''s entity');

-- ---------------------------------------------------------------------------
-- 6. Headers the HTTP client sets: 22023 before any request
-- ---------------------------------------------------------------------------
-- (nothing listens on port 9: a request would fail with 08001)
SET ROLE cw_tc_ingester;
SELECT throws_ok($$ SELECT cyoda_wf.ingest('cw_tc_http', '{"headers": {"Host": "evil.example"}}', 'cw_tc_raw') $$,
                 '22023', 'connection "cw_tc_http": params "headers": header "Host" is not allowed', 'params: Host');
SELECT throws_ok($$ SELECT cyoda_wf.ingest('cw_tc_http', '{"headers": {"connection": "close"}}', 'cw_tc_raw') $$,
                 '22023', NULL, 'params: connection (any case)');
SELECT throws_ok($$ SELECT cyoda_wf.ingest('cw_tc_http', '{"headers": {"TRANSFER-ENCODING": "chunked"}}', 'cw_tc_raw') $$,
                 '22023', NULL, 'params: Transfer-Encoding');
SELECT throws_ok($$ SELECT cyoda_wf.ingest('cw_tc_http', '{"headers": {"Content-Length": "0"}}', 'cw_tc_raw') $$,
                 '22023', NULL, 'params: Content-Length');
SELECT throws_ok($$ SELECT cyoda_wf.ingest('cw_tc_http', '{"headers": {"Proxy-Authorization": "Basic eA=="}}', 'cw_tc_raw') $$,
                 '22023', NULL, 'params: Proxy-Authorization');
SELECT throws_ok($$ SELECT cyoda_wf.ingest('cw_tc_http', '{"headers": {"proxy-connection": "keep-alive"}}', 'cw_tc_raw') $$,
                 '22023', NULL, 'params: any Proxy-*');
RESET ROLE;
SELECT throws_ok($$ SELECT cyoda_wf.create_connection('cw_tc_bad', '{"url": "http://127.0.0.1:9/", "headers": {"Host": "evil.example"}}') $$,
                 '22023', 'connection "cw_tc_bad": "headers": header "Host" is not allowed', 'definition: Host');

-- ---------------------------------------------------------------------------
-- 7. drop_connection
-- ---------------------------------------------------------------------------
SET ROLE cw_tc_admin;
SELECT ok(cyoda_wf.drop_connection('cw_tc_http'), 'drop_connection');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cyoda_wf.connection_definition WHERE name = 'cw_tc_http')
          + (SELECT count(*)::int FROM cyoda_wf.connection_secret WHERE connection = 'cw_tc_http')
          + (SELECT count(*)::int FROM cyoda_wf.entity WHERE id = current_setting('tc.http')::uuid), 0,
          'its definition, secrets and entity are gone');

SELECT * FROM finish();
ROLLBACK;
