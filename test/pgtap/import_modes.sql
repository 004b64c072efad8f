-- pgTAP: import_workflows' options overload and move_entity: their shape and
-- privileges (neither is executable by PUBLIC; move_entity is granted to no
-- one by default).
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(16);

SELECT has_function('cyoda_wf', 'import_workflows', ARRAY['text', 'integer', 'jsonb', 'jsonb']);
SELECT function_returns('cyoda_wf', 'import_workflows', ARRAY['text', 'integer', 'jsonb', 'jsonb'], 'jsonb');
SELECT has_function('cyoda_wf', 'import_workflows', ARRAY['text', 'integer', 'jsonb'],
                    'the three-argument import_workflows is still there');
SELECT has_function('cyoda_wf', 'move_entity', ARRAY['uuid', 'text', 'text', 'text']);
SELECT function_returns('cyoda_wf', 'move_entity', ARRAY['uuid', 'text', 'text', 'text'], 'text');
SELECT is((SELECT pronargdefaults FROM pg_proc WHERE oid = 'cyoda_wf.move_entity(uuid, text, text, text)'::regprocedure),
          1::int2, 'move_entity: workflow defaults to NULL');
SELECT ok(NOT has_function_privilege('public', 'cyoda_wf.move_entity(uuid, text, text, text)', 'EXECUTE'),
          'PUBLIC cannot execute move_entity');
SELECT ok(NOT has_function_privilege('public', 'cyoda_wf.import_workflows(text, integer, jsonb, jsonb)', 'EXECUTE'),
          'PUBLIC cannot execute import_workflows with options');

SELECT cyoda_wf.import_workflows('cw_im_priv', 1, '{"workflows": [{"name": "w", "initialState": "a", "states": {
  "a": {"transitions": [{"name": "go", "next": "b", "manual": true}]}, "b": {"transitions": []}}}]}') IS NOT NULL AS imported \gset
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('00000000-0000-0000-0000-0000000030a1', 'cw_im_priv', '{}');

-- a writer with the entity service (as README's recipe) cannot move
CREATE ROLE cw_im_writer;
CREATE ROLE cw_im_admin;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_im_writer, cw_im_admin;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_item(text, integer, jsonb), cyoda_wf.fire(uuid, text),
                          cyoda_wf.import_workflows(text, integer, jsonb)
   TO cw_im_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.move_entity(uuid, text, text, text) TO cw_im_admin;

SET ROLE cw_im_writer;
SELECT throws_ok($$ SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-0000000030a1', 'b', 'x') $$,
                 '42501', NULL, 'a role with fire but no grant cannot move_entity');
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('cw_im_priv', 1, '{"workflows": []}', '{"dryRun": true}') $$,
                 '42501', NULL, 'EXECUTE on the three-argument import does not cover the options overload');
SELECT is(cyoda_wf.fire('00000000-0000-0000-0000-0000000030a1', 'go'), 'b', 'the writer still fires');
RESET ROLE;

-- granted, a role moves entities without any right on the tables
SET ROLE cw_im_admin;
SELECT is(cyoda_wf.move_entity('00000000-0000-0000-0000-0000000030a1', 'a', 'back to start'), 'a',
          'a granted role moves an entity');
SELECT throws_ok($$ SELECT state FROM cyoda_wf.entity $$, '42501', NULL, 'it has no right on the entity table');
RESET ROLE;
SELECT is((SELECT role || ' ' || (detail->>'role') || ' ' || (detail->>'reason') FROM cyoda_wf.audit_log
            WHERE entity_id = '00000000-0000-0000-0000-0000000030a1' AND event_type = 'STATE_MOVED'),
          'cw_im_admin cw_im_admin back to start', 'the STATE_MOVED row names the role and the reason');
SELECT is((SELECT changed_by FROM cyoda_wf.entity_version
            WHERE entity_id = '00000000-0000-0000-0000-0000000030a1' ORDER BY version DESC LIMIT 1),
          'cw_im_admin', 'the version row of the move names the role');

-- no such entity
SELECT throws_ok($$ SELECT cyoda_wf.move_entity(cyoda_wf.new_id(), 'a', 'x') $$, 'P0002', NULL,
                 'moving an entity that does not exist is P0002');

SELECT * FROM finish();
ROLLBACK;
