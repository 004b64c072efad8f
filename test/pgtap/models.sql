-- pgTAP: entity models (README: Entity models): functions, SQLSTATEs, privileges.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(49);

-- shape
SELECT function_returns('cyoda_wf', 'import_model', ARRAY['text', 'integer', 'jsonb'], 'jsonb');
SELECT function_returns('cyoda_wf', 'lock_model', ARRAY['text', 'integer'], 'text');
SELECT function_returns('cyoda_wf', 'unlock_model', ARRAY['text', 'integer'], 'text');
SELECT function_returns('cyoda_wf', 'set_change_level', ARRAY['text', 'integer', 'text'], 'text');
SELECT function_returns('cyoda_wf', 'delete_model', ARRAY['text', 'integer'], 'boolean');
SELECT function_returns('cyoda_wf', 'export_model', ARRAY['text', 'integer', 'text'], 'jsonb');
SELECT has_function('cyoda_wf', 'models', ARRAY[]::text[]);
SELECT columns_are('cyoda_wf', 'model', ARRAY['name', 'version', 'entity_type', 'sources', 'depends_on',
  'function_schema', 'design', 'updated_at', 'model_schema', 'model_state', 'change_level',
  'model_updated_at']);
SELECT is((SELECT setting FROM pg_settings WHERE name = 'cyoda_wf.require_model'), 'known',
          'require_model defaults to known');
SELECT is((SELECT context FROM pg_settings WHERE name = 'cyoda_wf.require_model'), 'user',
          'require_model is settable by any role');

-- SQLSTATEs of the model functions
SELECT throws_ok($$ SELECT cyoda_wf.import_model('tm', 1, '[1]') $$, '22023', NULL, 'sample not an object');
SELECT throws_ok($$ SELECT cyoda_wf.import_model('tm', 1, '"x"') $$, '22023', NULL, 'sample a scalar');
SELECT throws_ok($$ SELECT cyoda_wf.import_model('tm', 1, NULL) $$, '22023', NULL, 'sample NULL');
SELECT throws_ok($$ SELECT cyoda_wf.import_model(NULL, 1, '{}') $$, '22023', NULL, 'model NULL');
SELECT throws_ok($$ SELECT cyoda_wf.import_model('', 1, '{}') $$, '22023', NULL, 'model empty');
SELECT throws_ok($$ SELECT cyoda_wf.import_model('tm', NULL, '{}') $$, '22023', NULL, 'version NULL');
SELECT throws_ok($$ SELECT cyoda_wf.import_model('tm', 0, '{}') $$, '22023', NULL, 'version 0');
SELECT throws_ok($$ SELECT cyoda_wf.lock_model('tm', 1) $$, 'P0002', NULL, 'lock: not registered');
SELECT throws_ok($$ SELECT cyoda_wf.unlock_model('tm', 1) $$, 'P0002', NULL, 'unlock: not registered');
SELECT throws_ok($$ SELECT cyoda_wf.set_change_level('tm', 1, 'TYPE') $$, 'P0002', NULL, 'level: not registered');
SELECT throws_ok($$ SELECT cyoda_wf.delete_model('tm', 1) $$, 'P0002', NULL, 'delete: not registered');
SELECT throws_ok($$ SELECT cyoda_wf.export_model('tm', 1) $$, 'P0002', NULL, 'export: not registered');
SELECT is_empty($$ SELECT * FROM cyoda_wf.models() $$, 'models(): empty when none');
SELECT throws_ok($$ SELECT cyoda_wf.import_model('connection', 1, '{}') $$, '42501', NULL, 'reserved model');
SELECT is(cyoda_wf.import_model('tm', 1, '{"a": 1}'),
          '{"currentState": "UNLOCKED", "model": {"$": {".a": "INTEGER"}}}', 'import_model returns the export');
SELECT throws_ok($$ SELECT cyoda_wf.export_model('tm', 1, 'json_schema') $$, '22023', NULL, 'converter case-sensitive');
SELECT throws_ok($$ SELECT cyoda_wf.set_change_level('tm', 1, 'NONE') $$, '22023', NULL, 'unknown level');
SELECT throws_ok($$ SELECT cyoda_wf.unlock_model('tm', 1) $$, '55000', NULL, 'unlock of an UNLOCKED model');
SELECT throws_ok($$ SELECT cyoda_wf.add_item('tm', 1, '{"a": 2}') $$, '55000', NULL, 'save of an UNLOCKED model');
SELECT is(cyoda_wf.lock_model('tm', 1), 'LOCKED', 'lock_model');
SELECT throws_ok($$ SELECT cyoda_wf.lock_model('tm', 1) $$, '55000', NULL, 'lock of a LOCKED model');
SELECT throws_ok($$ SELECT cyoda_wf.import_model('tm', 1, '{"b": 1}') $$, '55000', NULL, 're-import of a LOCKED model');
SELECT throws_ok($$ SELECT cyoda_wf.delete_model('tm', 1) $$, '55000', NULL, 'delete of a LOCKED model');
SELECT throws_ok($$ SELECT cyoda_wf.add_item('tm', 1, '{"a": "x"}') $$, '22023', NULL, 'data that does not fit');
SELECT lives_ok($$ SELECT set_config('tap.id', cyoda_wf.add_item('tm', 1, '{"a": 2}')::text, true) $$, 'data that fits');
SELECT throws_ok($$ SELECT cyoda_wf.unlock_model('tm', 1) $$, '55000', NULL, 'unlock with entities');
SELECT is(cyoda_wf.delete_item(current_setting('tap.id')::uuid), true, 'entity deleted');
SELECT is(cyoda_wf.unlock_model('tm', 1), 'UNLOCKED', 'unlock_model');
SELECT is(cyoda_wf.delete_model('tm', 1), true, 'delete_model');
SELECT throws_ok($$ SELECT cyoda_wf.add_item('tm_typo', 1, '{}') $$, 'P0002', NULL, 'require_model known: undeclared');

-- privileges: admin functions owner-only, read functions grantable
CREATE ROLE cw_tap_model_reader;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tap_model_reader;
GRANT EXECUTE ON FUNCTION cyoda_wf.models(), cyoda_wf.export_model(text, integer, text) TO cw_tap_model_reader;
SELECT ok(cyoda_wf.import_model('tm2', 1, '{"a": 1}') IS NOT NULL, 'tm2 registered');
SELECT ok(NOT has_function_privilege('public', 'cyoda_wf.import_model(text, integer, jsonb)', 'EXECUTE'),
          'import_model: not executable by PUBLIC');
SET ROLE cw_tap_model_reader;
SELECT throws_ok($$ SELECT cyoda_wf.import_model('tm2', 1, '{}') $$, '42501', NULL, 'reader cannot import_model');
SELECT throws_ok($$ SELECT cyoda_wf.lock_model('tm2', 1) $$, '42501', NULL, 'reader cannot lock_model');
SELECT throws_ok($$ SELECT cyoda_wf.unlock_model('tm2', 1) $$, '42501', NULL, 'reader cannot unlock_model');
SELECT throws_ok($$ SELECT cyoda_wf.set_change_level('tm2', 1, 'TYPE') $$, '42501', NULL, 'reader cannot set_change_level');
SELECT throws_ok($$ SELECT cyoda_wf.delete_model('tm2', 1) $$, '42501', NULL, 'reader cannot delete_model');
SELECT results_eq($$ SELECT model, state FROM cyoda_wf.models() $$, $$ VALUES ('tm2', 'UNLOCKED') $$,
                  'reader: models()');
SELECT is(cyoda_wf.export_model('tm2', 1) -> 'model', '{"$": {".a": "INTEGER"}}', 'reader: export_model');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
