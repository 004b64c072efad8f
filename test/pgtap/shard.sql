-- pgTAP: shard number, time-ordered entity ids (cyoda_wf.new_id), shard_of,
-- the refusal of ids of another shard, children on their parent's shard and
-- who may call what.  One transaction, rolled back, in a fresh database.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(29);

-- ---------------------------------------------------------------------------
-- 1. A database never set is shard 0; ids have the version 7 layout
-- ---------------------------------------------------------------------------
SELECT is(cyoda_wf.shard(), 0, 'a database never set is shard 0');
SELECT is(substr(cyoda_wf.new_id()::text, 15, 1), '7', 'new_id: version nibble 7');
SELECT ok(substr(cyoda_wf.new_id()::text, 20, 1) IN ('8', '9', 'a', 'b'), 'new_id: RFC 4122 variant');
SELECT is(cyoda_wf.shard_of(cyoda_wf.new_id()), 0, 'new_id of an unset database: shard 0');
-- the first 48 bits are Unix milliseconds, taken now
SELECT ok(abs(('x' || replace(substr(cyoda_wf.new_id()::text, 1, 13), '-', ''))::bit(48)::bigint
              - (extract(epoch FROM clock_timestamp()) * 1000)::bigint) < 60000,
          'new_id: the first 48 bits are the Unix time in milliseconds');
-- time-ordered: ids made later sort after ids made earlier
CREATE TEMP TABLE ids AS SELECT n, cyoda_wf.new_id() AS id FROM generate_series(1, 3) AS n;
SELECT pg_sleep(0.005);
INSERT INTO ids SELECT n, cyoda_wf.new_id() FROM generate_series(4, 6) AS n;
SELECT ok((SELECT id FROM ids WHERE n <= 3 ORDER BY id DESC LIMIT 1) < (SELECT id FROM ids WHERE n >= 4 ORDER BY id LIMIT 1),
          'ids made later sort after ids made earlier');
SELECT is(cyoda_wf.shard_of('01890000-0000-7abc-8000-000000000000'), 2748, 'shard_of reads 12 bits');
SELECT throws_ok($$ SELECT cyoda_wf.shard_of('52a3fa9b-1572-459c-9922-0deeec470cfc') $$, '22023',
                 'uuid 52a3fa9b-1572-459c-9922-0deeec470cfc is not a cyoda_wf entity id',
                 'shard_of of a random uuid: 22023');
SELECT is(cyoda_wf.shard_of(NULL), NULL, 'shard_of(NULL) is NULL');

-- an unset database accepts any explicit id (0.1.0 behaviour)
SELECT cyoda_wf.import_workflows('sh_free', 1, $j${"workflows": [{"name": "f", "initialState": "new",
  "states": {"new": {}}}]}$j$) IS NOT NULL AS imported \gset
SELECT lives_ok($$ INSERT INTO cyoda_wf.entity (id, model, data)
                   VALUES ('52a3fa9b-1572-459c-9922-0deeec470cfd', 'sh_free', '{}') $$,
                'unset database: an explicit random id is accepted');
SELECT is(cyoda_wf.shard_of(cyoda_wf.add_item('sh_free', 1, '{}')), 0, 'add_item on an unset database: shard 0');

-- ---------------------------------------------------------------------------
-- 2. set_shard
-- ---------------------------------------------------------------------------
SELECT throws_ok($$ SELECT cyoda_wf.set_shard(3) $$, '55000',
                 'cannot set the shard number of a database that holds entities',
                 'set_shard with entities present: 55000');
DELETE FROM cyoda_wf.entity;
SELECT throws_ok($$ SELECT cyoda_wf.set_shard(4096) $$, '22023', 'shard number 4096 is out of range',
                 'set_shard(4096): 22023');
SELECT throws_ok($$ SELECT cyoda_wf.set_shard(-1) $$, '22023', NULL, 'set_shard(-1): 22023');
SELECT throws_ok($$ SELECT cyoda_wf.set_shard(NULL) $$, '22023', NULL, 'set_shard(NULL): 22023');
SELECT is(cyoda_wf.set_shard(3), 3, 'set_shard(3) on an empty database');
SELECT is(cyoda_wf.shard(), 3, 'shard() is seen at once in the same transaction');
SELECT is(cyoda_wf.shard_of(cyoda_wf.new_id()), 3, 'new_id carries shard 3');

-- ---------------------------------------------------------------------------
-- 3. Entities of a sharded database
-- ---------------------------------------------------------------------------
SELECT cyoda_wf.import_workflows('sh_parent', 1, $j${"workflows": [{"name": "w", "initialState": "new",
  "states": {"new": {"transitions": [{"name": "spawn", "next": "done",
     "processors": [{"name": "sh_spawn", "executionMode": "SYNC"}]}]}, "done": {}}}]}$j$) IS NOT NULL AS imported \gset
CREATE FUNCTION public.sh_spawn(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM cyoda_wf.add_item('sh_child', 1, '{}');
    RETURN data;
END $f$;
SELECT cyoda_wf.import_workflows('sh_child', 1, $j${"workflows": [{"name": "c", "initialState": "new",
  "states": {"new": {}}}]}$j$) IS NOT NULL AS imported \gset
SELECT cyoda_wf.add_item('sh_parent', 1, '{}') AS parent \gset
SELECT is(cyoda_wf.shard_of(:'parent'), 3, 'add_item on shard 3: an id of shard 3');
SELECT is((SELECT count(*) FROM cyoda_wf.entity WHERE parent_id = :'parent' AND cyoda_wf.shard_of(id) = 3),
          1::bigint, 'the entity a process created is on its parent''s shard');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (id, model, data)
                    VALUES ('01890000-0000-7004-8000-000000000000', 'sh_child', '{}') $$, '22023',
                 'entity id 01890000-0000-7004-8000-000000000000 belongs to shard 4, not to this database (shard 3)',
                 'an explicit id of another shard: 22023');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (id, model, data)
                    VALUES ('52a3fa9b-1572-459c-9922-0deeec470cfc', 'sh_child', '{}') $$, '22023',
                 'entity id 52a3fa9b-1572-459c-9922-0deeec470cfc is not an id of shard 3',
                 'an explicit random id on a sharded database: 22023');
SELECT lives_ok($$ INSERT INTO cyoda_wf.entity (id, model, data)
                   VALUES ('01890000-0000-7003-8000-000000000000', 'sh_child', '{}') $$,
                'an explicit id of the database''s own shard is accepted');
-- a change by hand to the config table is seen too (statement trigger)
DELETE FROM cyoda_wf.entity;
UPDATE cyoda_wf.shard_config SET shard = 9;
SELECT is(cyoda_wf.shard_of(cyoda_wf.new_id()), 9, 'a hand-made change to shard_config is seen at once');

-- ---------------------------------------------------------------------------
-- 4. Privileges
-- ---------------------------------------------------------------------------
CREATE ROLE cw_sh_writer;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_sh_writer;
GRANT INSERT (model, model_version, data), SELECT ON cyoda_wf.entity TO cw_sh_writer;
SET LOCAL ROLE cw_sh_writer;
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data) VALUES ('sh_child', '{}') $$, '42501',
                 'permission denied for function new_id',
                 'nothing for PUBLIC: plain INSERT takes EXECUTE on new_id, the id default');
RESET ROLE;
GRANT EXECUTE ON FUNCTION cyoda_wf.new_id() TO cw_sh_writer;
SET LOCAL ROLE cw_sh_writer;
SELECT lives_ok($$ INSERT INTO cyoda_wf.entity (model, data) VALUES ('sh_child', '{}') $$,
                'with EXECUTE on new_id the writer''s INSERT lives');
SELECT throws_ok($$ SELECT cyoda_wf.set_shard(1) $$, '42501', NULL, 'set_shard is the owner''s');
SELECT throws_ok($$ UPDATE cyoda_wf.shard_config SET shard = 1 $$, '42501', NULL, 'shard_config is the owner''s');
RESET ROLE;
SELECT is(cyoda_wf.shard(), 9, 'shard() unchanged by the refused writes');

SELECT * FROM finish();
ROLLBACK;
