-- pgTAP: explain() and transitions(): their shape and privileges.  A role
-- with EXECUTE on explain() alone may call it (no rights on the tables, none
-- on the criterion function, which runs as the workflow's importer); a role
-- without it gets 42501; an unknown entity is P0002; the caller's settings
-- are as they were.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(14);

SELECT has_function('cyoda_wf', 'explain', ARRAY['uuid']);
SELECT is(pg_get_function_result('cyoda_wf.explain(uuid)'::regprocedure),
          'TABLE(workflow text, state text, transition text, next_state text, manual boolean, '
          'disabled boolean, scheduled boolean, due_at timestamp with time zone, async boolean, '
          'criterion jsonb, matches boolean, failing jsonb, found jsonb, fireable boolean)',
          'explain() columns');
SELECT is(pg_get_function_result('cyoda_wf.transitions(uuid)'::regprocedure),
          'TABLE(name text, next_state text, manual boolean)', 'transitions() keeps its columns');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                       WHERE p.oid = 'cyoda_wf.explain(uuid)'::regprocedure AND a.grantee = 0),
          'explain() is not granted to PUBLIC');

-- the importer's criterion function, which nobody else may run
CREATE FUNCTION public.tap_ex_importer(meta jsonb, data jsonb) RETURNS boolean
LANGUAGE sql AS $$ SELECT current_user = session_user $$;
REVOKE ALL ON FUNCTION public.tap_ex_importer(jsonb, jsonb) FROM PUBLIC;
SELECT cyoda_wf.import_workflows('tap_ex', 1, $json$
{"workflows": [{"name": "w", "initialState": "a", "states": {
  "a": {"transitions": [
    {"name": "go", "next": "b", "manual": true,
     "criterion": {"type": "function", "function": {"name": "tap_ex_importer"}}},
    {"name": "stop", "next": "b", "manual": true,
     "criterion": {"type": "simple", "jsonPath": "$.n", "operatorType": "GREATER_THAN", "value": 5}}]},
  "b": {"transitions": []}}}]}
$json$) IS NOT NULL AS imported \gset
SELECT cyoda_wf.add_item('tap_ex', 1, '{"n": 1}') AS ex_id \gset

CREATE ROLE cw_tap_ex_reader;
CREATE ROLE cw_tap_ex_none;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tap_ex_reader, cw_tap_ex_none;
GRANT EXECUTE ON FUNCTION cyoda_wf.explain(uuid), cyoda_wf.transitions(uuid) TO cw_tap_ex_reader;
SELECT set_config('tap.ex_id', :'ex_id', true) IS NOT NULL AS kept \gset

SET LOCAL ROLE cw_tap_ex_reader;
SET LOCAL search_path = public;
SELECT results_eq($$ SELECT transition, matches, fireable FROM cyoda_wf.explain(current_setting('tap.ex_id')::uuid)
                      WHERE transition IS NOT NULL $$,
                  $$ VALUES ('go'::text, true, true), ('stop', false, false) $$,
                  'reader: explain() runs the criterion function as the importer');
SELECT results_eq($$ SELECT failing, found FROM cyoda_wf.explain(current_setting('tap.ex_id')::uuid)
                      WHERE transition = 'stop' $$,
                  $$ VALUES ('{"type": "simple", "jsonPath": "$.n", "operatorType": "GREATER_THAN", "value": 5}'::jsonb,
                             '1'::jsonb) $$,
                  'reader: explain() names the failing condition and the value found');
SELECT results_eq($$ SELECT name FROM cyoda_wf.transitions(current_setting('tap.ex_id')::uuid) $$,
                  $$ VALUES ('go'::text) $$, 'reader: transitions() lists what fire would accept');
SELECT is(current_setting('search_path'), 'public', 'the caller''s search_path is as it was');
SELECT is(current_user::text, 'cw_tap_ex_reader', 'the caller''s role is as it was');
SELECT throws_ok($$ SELECT public.tap_ex_importer('{}', '{}') $$, '42501', NULL,
                 'reader: cannot run the criterion function itself');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.explain('00000000-0000-0000-0000-0000000000ff') $$, 'P0002', NULL,
                 'explain() of an unknown entity: P0002');
SELECT throws_ok($$ SELECT count(*) FROM cyoda_wf.entity $$, '42501', NULL,
                 'reader: no rights on the entity table');
RESET ROLE;

SET LOCAL ROLE cw_tap_ex_none;
SELECT throws_ok($$ SELECT * FROM cyoda_wf.explain(current_setting('tap.ex_id')::uuid) $$, '42501', NULL,
                 'without EXECUTE: 42501');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.transitions(current_setting('tap.ex_id')::uuid) $$, '42501', NULL,
                 'transitions() without EXECUTE: 42501');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
