-- pgTAP: patch_item, reads by transaction, changes up to a time, delete_items:
-- signatures, SQLSTATEs, privileges.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(28);

-- signatures
SELECT function_returns('cyoda_wf', 'patch_item', ARRAY['uuid', 'jsonb', 'text', 'bigint'], 'text');
SELECT function_returns('cyoda_wf', 'get_item', ARRAY['uuid', 'timestamp with time zone', 'bigint'], 'jsonb');
SELECT function_returns('cyoda_wf', 'get_entity', ARRAY['uuid', 'timestamp with time zone', 'bigint'], 'jsonb');
SELECT has_function('cyoda_wf', 'changes', ARRAY['uuid', 'timestamp with time zone']);
SELECT function_returns('cyoda_wf', 'delete_items', ARRAY['text', 'integer', 'jsonb', 'timestamp with time zone'], 'bigint');
SELECT hasnt_function('cyoda_wf', 'get_item', ARRAY['uuid', 'timestamp with time zone'], 'the 0.1.0 get_item signature is gone');
SELECT hasnt_function('cyoda_wf', 'changes', ARRAY['uuid'], 'the 0.1.0 changes signature is gone');
SELECT is((SELECT count(*)::int FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.oid IN ('cyoda_wf.patch_item(uuid, jsonb, text, bigint)'::regprocedure,
                            'cyoda_wf.delete_items(text, integer, jsonb, timestamptz)'::regprocedure,
                            'cyoda_wf.get_item(uuid, timestamptz, bigint)'::regprocedure,
                            'cyoda_wf.get_entity(uuid, timestamptz, bigint)'::regprocedure,
                            'cyoda_wf.changes(uuid, timestamptz)'::regprocedure)
              AND a.grantee = 0), 0, 'the new functions are not executable by PUBLIC');

-- a writer with USAGE + EXECUTE on patch_item only, no table rights
CREATE ROLE cw_tap_patcher;
CREATE ROLE cw_tap_bystander;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tap_patcher, cw_tap_bystander;
GRANT EXECUTE ON FUNCTION cyoda_wf.patch_item(uuid, jsonb, text, bigint),
                          cyoda_wf.delete_items(text, integer, jsonb, timestamptz),
                          cyoda_wf.get_item(uuid, timestamptz, bigint) TO cw_tap_patcher;
-- declared, so saves run the default workflow
SELECT count(*) AS declared FROM (SELECT cyoda_wf.import_workflows(m, 1, '{"workflows": []}')
  FROM unnest(ARRAY['tap_reads']) AS m) d \gset
DO $$
BEGIN
    PERFORM set_config('tap.id', cyoda_wf.add_item('tap_reads', 1, '{"a": {"b": 1, "c": 2}, "n": 1.10}')::text, true);
    PERFORM set_config('tap.other', cyoda_wf.add_item('tap_reads', 1, '{"a": {"b": 9}}')::text, true);
END
$$;

SET ROLE cw_tap_patcher;
SELECT is(cyoda_wf.patch_item(current_setting('tap.id')::uuid, '{"a": {"c": null, "d": [1]}}'), 'CREATED',
          'patch_item with EXECUTE only, no table rights');
SELECT is(cyoda_wf.get_item(current_setting('tap.id')::uuid), '{"a": {"b": 1, "d": [1]}, "n": 1.10}'::jsonb,
          'merge patch: recursive, null deletes, number kept');
SELECT is((SELECT cyoda_wf.get_item(current_setting('tap.id')::uuid, NULL, txid_current())),
          '{"a": {"b": 1, "d": [1]}, "n": 1.10}'::jsonb, 'get_item by this transaction');
SELECT throws_ok($$ SELECT cyoda_wf.patch_item(current_setting('tap.id')::uuid, '"x"') $$, '22023', NULL,
                 'patch not an object: 22023');
SELECT throws_ok($$ SELECT cyoda_wf.patch_item(current_setting('tap.id')::uuid, '[]') $$, '22023', NULL,
                 'array patch: 22023');
SELECT throws_ok($$ SELECT cyoda_wf.patch_item(current_setting('tap.id')::uuid, '{}', NULL, 99) $$, '40001', NULL,
                 'if_match other than version: 40001');
SELECT throws_ok($$ SELECT cyoda_wf.patch_item(gen_random_uuid(), '{}') $$, 'P0002', NULL,
                 'no such entity: P0002');
SELECT throws_ok($$ SELECT cyoda_wf.patch_item(NULL, '{}') $$, '22004', NULL, 'NULL id: 22004');
SELECT throws_ok($$ SELECT cyoda_wf.get_item(current_setting('tap.id')::uuid, NULL, 1) $$, 'P0002', NULL,
                 'a transaction that did not save it: P0002');
SELECT is(cyoda_wf.delete_items('tap_reads', 1,
            '{"type": "simple", "jsonPath": "$.a.b", "operatorType": "EQUALS", "value": 9}'), 1::bigint,
          'delete_items with EXECUTE only');
SELECT throws_ok($$ SELECT cyoda_wf.delete_items('tap_reads', 1, '{"type": "function", "function": {"name": "f"}}') $$,
                 '22023', NULL, 'function criteria are refused: 22023');
SELECT throws_ok($$ SELECT cyoda_wf.changes(current_setting('tap.id')::uuid, now()) $$, '42501', NULL,
                 'no EXECUTE on changes');
RESET ROLE;

SELECT is((SELECT changed_by FROM cyoda_wf.changes(current_setting('tap.other')::uuid) LIMIT 1),
          'cw_tap_patcher', 'delete_items records the calling role');
SELECT is((SELECT change_type FROM cyoda_wf.changes(current_setting('tap.other')::uuid) LIMIT 1),
          'DELETE', 'delete_items records a DELETE');
SELECT is((SELECT count(*)::int FROM cyoda_wf.changes(current_setting('tap.id')::uuid, clock_timestamp())), 2,
          'changes up to now');

SET ROLE cw_tap_bystander;
SELECT throws_ok($$ SELECT cyoda_wf.patch_item(current_setting('tap.id')::uuid, '{}') $$, '42501', NULL,
                 'no EXECUTE on patch_item');
SELECT throws_ok($$ SELECT cyoda_wf.delete_items('tap_reads', 1) $$, '42501', NULL,
                 'no EXECUTE on delete_items');
RESET ROLE;

-- import rules: an empty executionMode is SYNC, an empty retryPolicy the default
CREATE FUNCTION public.tap_mark(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || '{"marked": true}' $$;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('tap_modes', 1, '{"workflows": [{"name": "w",
  "initialState": "new", "states": {"new": {"transitions": [{"name": "go", "next": "done", "manual": false,
  "processors": [{"name": "tap_mark", "executionMode": "", "config": {"retryPolicy": ""}}]}]},
  "done": {"transitions": []}}}]}') $$, 'empty executionMode and retryPolicy import');
DO $$ BEGIN PERFORM set_config('tap.mode_id', cyoda_wf.add_item('tap_modes', 1, '{}')::text, true); END $$;
SELECT is(cyoda_wf.get_item(current_setting('tap.mode_id')::uuid), '{"marked": true}'::jsonb,
          'an empty executionMode runs the process in the save (SYNC)');
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('tap_modes', 1, '{"workflows": [{"name": "w",
  "initialState": "new", "states": {"new": {"transitions": [{"name": "go", "next": "done", "manual": false,
  "processors": [{"name": "tap_mark", "executionMode": "sync"}]}]},
  "done": {"transitions": []}}}]}') $$, '22023', NULL, 'other executionModes are still checked');

SELECT * FROM finish();
ROLLBACK;
