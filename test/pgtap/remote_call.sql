-- pgTAP: the shard side of the router (cyoda_wf_router): remote_call runs a
-- cyoda_wf function as its caller and returns its result as jsonb or its
-- error as data (SQLSTATE, message, detail, hint), with its effects rolled
-- back on error and on a dry run; only functions of schema cyoda_wf; nothing
-- for PUBLIC; definition_digest.  One transaction, rolled back, in a fresh
-- database.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(29);

SELECT cyoda_wf.import_workflows('rc', 1, '{"workflows": [{"name": "rc_wf", "initialState": "a",
  "states": {"a": {"transitions": [{"name": "go", "next": "b", "manual": true}]},
             "b": {"transitions": []}}}]}') IS NOT NULL AS imported \gset
CREATE TEMP TABLE r AS
SELECT c.* FROM cyoda_wf.remote_call('cyoda_wf.add_item(text,integer,jsonb)',
                                     ARRAY['rc', '1', '{"n": 1}']) c;
SELECT (result #>> '{}')::uuid AS rc_id FROM r \gset

-- ---------------------------------------------------------------------------
-- 1. Results come back as jsonb
-- ---------------------------------------------------------------------------
SELECT is((SELECT sqlstate FROM r), NULL, 'add_item: no error');
SELECT is(cyoda_wf.get_item(:'rc_id'), '{"n": 1}'::jsonb, 'add_item: the entity exists');
SELECT is((cyoda_wf.remote_call('cyoda_wf.get_item(uuid,timestamptz,bigint)', ARRAY[:'rc_id', NULL, NULL])).result,
          '{"n": 1}'::jsonb, 'get_item: the data as jsonb');
SELECT is((cyoda_wf.remote_call('cyoda_wf.fire(uuid,text)', ARRAY[:'rc_id', 'go'])).result,
          '"b"'::jsonb, 'fire: the state reached as a JSON string');
SELECT is((cyoda_wf.remote_call('cyoda_wf.changes(uuid,timestamptz)', ARRAY[:'rc_id', NULL])).result -> 0 ->> 'change_type',
          'UPDATE', 'changes (a set): a JSON array of rows, newest first');
SELECT is(jsonb_array_length((cyoda_wf.remote_call('cyoda_wf.changes(uuid,timestamptz)', ARRAY[:'rc_id', NULL])).result),
          2, 'changes: every row');
SELECT is((cyoda_wf.remote_call('cyoda_wf.transitions(uuid)', ARRAY[:'rc_id'])).result, NULL,
          'transitions of a final state: NULL (no row)');
SELECT is((cyoda_wf.remote_call('cyoda_wf.shard()', '{}')).result, '0'::jsonb,
          'a function without arguments');

-- ---------------------------------------------------------------------------
-- 2. Errors come back as data, their effects rolled back
-- ---------------------------------------------------------------------------
SELECT is((SELECT row(sqlstate, message) FROM cyoda_wf.remote_call('cyoda_wf.fire(uuid,text)', ARRAY[:'rc_id', 'go'])),
          row('55000'::text, format('transition "go" is not available in state "b" of entity %s', :'rc_id')),
          'fire of a transition not available: 55000 and the message as on a direct call');
SELECT is((SELECT row(sqlstate, result) FROM cyoda_wf.remote_call('cyoda_wf.update_item(uuid,jsonb,text,bigint)',
                                                                   ARRAY[:'rc_id', '{"n": 2}', NULL, '99'])),
          row('40001'::text, NULL::jsonb), 'update_item with a wrong if_match: 40001, no result');
SELECT is(cyoda_wf.get_item(:'rc_id'), '{"n": 1}'::jsonb, 'the failed update changed nothing');
SELECT is((cyoda_wf.remote_call('cyoda_wf.get_item(uuid,timestamptz,bigint)',
                                ARRAY['01a24245-0433-7001-9ed5-17a1f8609cd5', NULL, NULL])).sqlstate,
          'P0002', 'get_item of no entity: P0002');
SELECT is((cyoda_wf.remote_call('cyoda_wf.get_item(uuid,timestamptz,bigint)', ARRAY['not a uuid', NULL, NULL])).sqlstate,
          '22P02', 'an argument that does not convert: its error as data');
SELECT is((cyoda_wf.remote_call('cyoda_wf.import_workflows(text,integer,jsonb)',
                                ARRAY['bad', '1', '{"workflows": 3}'])).sqlstate,
          '22023', 'an invalid workflow body: 22023');
SELECT is((cyoda_wf.remote_call('cyoda_wf.get_item(uuid)', ARRAY[:'rc_id'])).sqlstate,
          '42883', 'a signature that does not exist: 42883');
SELECT is((cyoda_wf.remote_call('cyoda_wf.fire(uuid,text)', ARRAY[:'rc_id'])).sqlstate,
          '22023', 'a wrong number of arguments: 22023');
SELECT is((cyoda_wf.remote_call('pg_catalog.pg_sleep(double precision)', ARRAY['0'])).sqlstate,
          '42501', 'a function outside schema cyoda_wf: 42501');

-- ---------------------------------------------------------------------------
-- 3. A dry run returns the result and keeps nothing
-- ---------------------------------------------------------------------------
SELECT is((cyoda_wf.remote_call('cyoda_wf.update_item(uuid,jsonb,text,bigint)',
                                ARRAY[:'rc_id', '{"n": 3}', NULL, NULL], true)).result,
          '"b"'::jsonb, 'dry run: the result');
SELECT is(cyoda_wf.get_item(:'rc_id'), '{"n": 1}'::jsonb, 'dry run: nothing saved');
SELECT is((SELECT count(*) FROM cyoda_wf.entity_version WHERE entity_id = :'rc_id'), 2::bigint,
          'dry run: no version row');

-- ---------------------------------------------------------------------------
-- 4. Privileges and the digest
-- ---------------------------------------------------------------------------
SELECT ok(NOT has_function_privilege('public', 'cyoda_wf.remote_call(text, text[], boolean)', 'EXECUTE'),
          'remote_call: nothing for PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'cyoda_wf.definition_digest()', 'EXECUTE'),
          'definition_digest: nothing for PUBLIC');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'cyoda_wf.remote_call(text, text[], boolean)'::regprocedure),
          false, 'remote_call runs as its caller');
SELECT is((SELECT string_agg(item, ',') FROM cyoda_wf.definition_digest()), 'model rc version 1',
          'definition_digest: one row per model version');
SELECT isnt((SELECT digest FROM cyoda_wf.definition_digest()),
            (SELECT md5('x')), 'definition_digest: a digest');

-- ---------------------------------------------------------------------------
-- 5. Notices come back as data (the router raises them again), kept from
--    the client and from the server log; log_min_messages as it was
-- ---------------------------------------------------------------------------
SELECT cyoda_wf.import_workflows('rc_async', 1, '{"workflows": [{"name": "w", "initialState": "a",
  "states": {"a": {"transitions": [{"name": "go", "next": "b", "manual": true,
                   "processors": [{"name": "rc_proc", "executionMode": "ASYNC_NEW_TX"}]}]},
             "b": {"transitions": []}}}]}') IS NOT NULL AS imported \gset
SELECT cyoda_wf.add_item('rc_async', 1, '{}') AS rca_id \gset
SELECT current_setting('log_min_messages') AS log_min \gset
SET client_min_messages = notice;
CREATE TEMP TABLE rn AS
SELECT c.* FROM cyoda_wf.remote_call('cyoda_wf.fire(uuid,text)', ARRAY[:'rca_id', 'go']) c;
SET client_min_messages = warning;
SELECT is((SELECT notices[1] || ' ' || notices[2] FROM rn), 'NOTICE 00000',
          'an async fire: its NOTICE in notices, with its SQLSTATE');
SELECT matches((SELECT notices[3] FROM rn), '^transition "go" of entity .* queued as task [0-9]+$',
               '... its message as raised');
SELECT is((SELECT notices[6] FROM rn), 'WARNING', '... then the WARNING of a database no worker serves');
SELECT is(current_setting('log_min_messages'), :'log_min', 'log_min_messages as it was');

SELECT * FROM finish();
ROLLBACK;
