-- pgTAP: the public API's shape and its privilege boundary.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(53);

-- shape
SELECT has_schema('cyoda_wf');
SELECT has_table('cyoda_wf', 'entity', 'entity table');
SELECT has_table('cyoda_wf', 'audit_log', 'audit_log table');
SELECT has_view('cyoda_wf', 'audit', 'audit view');
SELECT columns_are('cyoda_wf', 'audit', ARRAY['id', 'entity_id', 'at', 'transaction_id', 'event_type',
  'transition', 'from_state', 'to_state', 'role', 'detail']);
SELECT has_table('cyoda_wf', 'entity_version', 'version table');
SELECT has_table('cyoda_wf', 'workflow', 'workflow table');
SELECT columns_are('cyoda_wf', 'entity', ARRAY['id', 'model', 'model_version', 'state', 'data',
  'created_at', 'updated_at', 'version', 'last_transition', 'workflow', 'parent_id', 'source',
  'transaction_id']);
SELECT col_type_is('cyoda_wf', 'entity', 'id', 'uuid', 'entity.id is uuid');
SELECT col_type_is('cyoda_wf', 'entity', 'data', 'jsonb', 'entity.data is jsonb');
SELECT col_type_is('cyoda_wf', 'entity', 'version', 'bigint', 'entity.version is bigint');
SELECT has_function('cyoda_wf', 'import_workflows', ARRAY['text', 'integer', 'jsonb']);
SELECT function_returns('cyoda_wf', 'import_workflows', ARRAY['text', 'integer', 'jsonb'], 'jsonb');
SELECT has_function('cyoda_wf', 'export_workflows', ARRAY['text', 'integer']);
SELECT function_returns('cyoda_wf', 'add_item', ARRAY['text', 'integer', 'jsonb'], 'uuid');
SELECT function_returns('cyoda_wf', 'update_item', ARRAY['uuid', 'jsonb', 'text', 'bigint'], 'text');
SELECT function_returns('cyoda_wf', 'fire', ARRAY['uuid', 'text'], 'text');
SELECT function_returns('cyoda_wf', 'delete_item', ARRAY['uuid'], 'boolean');
SELECT function_returns('cyoda_wf', 'get_item', ARRAY['uuid', 'timestamp with time zone', 'bigint'], 'jsonb');
SELECT function_returns('cyoda_wf', 'get_entity', ARRAY['uuid', 'timestamp with time zone', 'bigint'], 'jsonb');
SELECT has_function('cyoda_wf', 'transitions', ARRAY['uuid']);
SELECT has_function('cyoda_wf', 'changes', ARRAY['uuid', 'timestamp with time zone']);
SELECT has_function('cyoda_wf', 'stats', ARRAY['text']);
SELECT has_trigger('cyoda_wf', 'entity', 'entity_engine', 'the engine trigger is on the entity table');

-- nothing is granted to PUBLIC
SELECT is((SELECT count(*)::int FROM pg_namespace n, aclexplode(n.nspacl) a
            WHERE n.nspname = 'cyoda_wf' AND a.grantee = 0), 0, 'no schema privilege for PUBLIC');
SELECT is((SELECT count(*)::int FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.pronamespace = 'cyoda_wf'::regnamespace AND a.grantee = 0), 0, 'no function executable by PUBLIC');
SELECT is((SELECT count(*)::int FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.relnamespace = 'cyoda_wf'::regnamespace AND a.grantee = 0), 0, 'no table privilege for PUBLIC');

-- \df cyoda_wf.* lists the API: what only the engine calls is in cyoda_wf_internal
SELECT has_schema('cyoda_wf_internal');
SELECT functions_are('cyoda_wf_internal', ARRAY['entity_trigger', 'entity_flush', 'definitions_changed',
  'shard_config_changed', 'drop_schedules', 'create_connection_py', 'drop_connection_py', 'ingest_py',
  'write_connection_entity', 'ingest_fetch', 'load_functions_py', 'raise_python_error', 'check_token',
  'matches_condition', 'matches_condition_support'],
  'the trigger functions, the connection functions'' and load_functions'' internals, check_token and search''s row test are internal');
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.pronamespace = 'cyoda_wf'::regnamespace
              AND p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype)), 0,
          'no trigger function in schema cyoda_wf');
SELECT is((SELECT count(*)::int FROM pg_namespace n, aclexplode(n.nspacl) a
            WHERE n.nspname = 'cyoda_wf_internal' AND a.grantee = 0)
        + (SELECT count(*)::int FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.pronamespace = 'cyoda_wf_internal'::regnamespace AND a.grantee = 0), 0,
          'nothing of cyoda_wf_internal for PUBLIC');
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'cyoda_wf'::regnamespace AND c.relkind IN ('r', 'v', 'm')
              AND obj_description(c.oid, 'pg_class') IS NULL), NULL,
          'every table and view of cyoda_wf has a comment');
SELECT ok((SELECT obj_description('cyoda_wf_internal'::regnamespace, 'pg_namespace')) IS NOT NULL,
          'cyoda_wf_internal says what it is');

-- a writer with USAGE + EXECUTE only, no table rights
CREATE ROLE cw_tap_writer;
CREATE ROLE cw_tap_reader;
CREATE ROLE cw_tap_nobody;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tap_writer, cw_tap_reader;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_item(text, integer, jsonb),
                          cyoda_wf.update_item(uuid, jsonb, text, bigint),
                          cyoda_wf.fire(uuid, text),
                          cyoda_wf.get_item(uuid, timestamptz, bigint) TO cw_tap_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.get_item(uuid, timestamptz, bigint),
                          cyoda_wf.get_entity(uuid, timestamptz, bigint) TO cw_tap_reader;
GRANT SELECT ON cyoda_wf.entity, cyoda_wf.audit TO cw_tap_reader;

CREATE FUNCTION public.tap_stamp(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || jsonb_build_object('stamped_by', current_user) $$;
REVOKE EXECUTE ON FUNCTION public.tap_stamp(jsonb, jsonb) FROM PUBLIC;
SELECT cyoda_wf.import_workflows('tap_doc', 1, '{"workflows": [{"name": "w", "initialState": "new",
  "states": {"new": {"transitions": [{"name": "stamp", "next": "stamped", "manual": true,
                                      "processors": [{"name": "tap_stamp"}]}]},
             "stamped": {"transitions": []}}}]}');

SET ROLE cw_tap_writer;
SELECT lives_ok($$ SELECT set_config('tap.id', cyoda_wf.add_item('tap_doc', 1, '{"a": 1}')::text, true) $$,
                'writer creates through add_item without table rights');
SELECT is(cyoda_wf.fire(current_setting('tap.id')::uuid, 'stamp'), 'stamped',
          'writer fires a transition; the process runs as the importer');
SELECT is(cyoda_wf.get_item(current_setting('tap.id')::uuid)->>'stamped_by', session_user::text,
          'process ran with the privileges of the role that imported the workflow');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data) VALUES ('tap_doc', '{}') $$, '42501',
                 NULL, 'plain INSERT needs the table privilege');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.audit $$, '42501', NULL, 'audit is not readable without a grant');
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('tap_doc', 1, '{"workflows": []}') $$, '42501',
                 NULL, 'importing needs EXECUTE on the import function');
SELECT throws_ok($$ SELECT cyoda_wf.delete_item(current_setting('tap.id')::uuid) $$, '42501',
                 NULL, 'no EXECUTE on delete_item');
SELECT throws_ok($$ SELECT public.tap_stamp('{}', '{}') $$, '42501',
                 NULL, 'the process function itself is not executable by the writer');
RESET ROLE;

SELECT is((SELECT changed_by FROM cyoda_wf.changes(current_setting('tap.id')::uuid) LIMIT 1),
          'cw_tap_writer', 'changes record the calling role, not the engine owner');
SELECT is((SELECT role FROM cyoda_wf.audit WHERE entity_id = current_setting('tap.id')::uuid
              AND event_type = 'TRANSITION_MAKE' ORDER BY id DESC LIMIT 1), 'cw_tap_writer', 'audit records the calling role');

SET ROLE cw_tap_reader;
SELECT is(cyoda_wf.get_entity(current_setting('tap.id')::uuid)->'meta'->>'state', 'stamped',
          'reader reads the envelope');
SELECT ok((SELECT count(*) FROM cyoda_wf.audit WHERE entity_id = current_setting('tap.id')::uuid) >= 1,
          'reader granted SELECT reads the audit');
SELECT is((SELECT array_agg(event_type || ' ' || role || ' ' || (detail->>'version') ORDER BY at)
             FROM cyoda_wf.audit WHERE entity_id = current_setting('tap.id')::uuid
              AND event_type LIKE 'STATE_MACHINE_%'),
          ARRAY['STATE_MACHINE_START cw_tap_writer 1', 'STATE_MACHINE_FINISH cw_tap_writer 1',
                'STATE_MACHINE_START cw_tap_writer 2', 'STATE_MACHINE_FINISH cw_tap_writer 2'],
          'reader granted SELECT on the audit view reads each save''s START and FINISH (no right on entity_version needed)');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.audit_log $$, '42501', NULL,
                 'SELECT on the audit view gives no right on the audit_log table');
SELECT throws_ok($$ SELECT cyoda_wf.add_item('tap_doc', 1, '{}') $$, '42501', NULL, 'reader cannot write');
SELECT throws_ok($$ INSERT INTO cyoda_wf.audit_log (entity_id, at, transaction_id, event_type, role)
                    VALUES (gen_random_uuid(), now(), 1, 'FAKE', 'x') $$, '42501', NULL,
                 'audit_log is written by the engine alone');
SELECT throws_ok($$ INSERT INTO cyoda_wf.audit (entity_id, at, transaction_id, event_type, role)
                    VALUES (gen_random_uuid(), now(), 1, 'FAKE', 'x') $$, '55000', NULL,
                 'the audit view takes no writes');
RESET ROLE;

SET ROLE cw_tap_nobody;
SELECT throws_ok($$ SELECT cyoda_wf.get_item(gen_random_uuid()) $$, '42501', NULL,
                 'no USAGE: nothing works');
RESET ROLE;

-- contract SQLSTATEs through the API
SELECT throws_ok($$ SELECT cyoda_wf.get_item(gen_random_uuid()) $$, 'P0002', NULL, 'unknown entity: P0002');
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('tap.id')::uuid, 'stamp') $$, '55000', NULL,
                 'transition not available here: 55000');

SELECT * FROM finish();
ROLLBACK;
