-- pgTAP: entity rows stored as they are (what a restore from pg_dump writes)
-- and who may write them; restored tasks wait for their workflows.  Runs in
-- one transaction that is rolled back (roles included), in a fresh database.
--
-- Roles:   cw_tb_writer  INSERT, SELECT on cyoda_wf.entity, not the owner
--          cw_tb_admin   not a superuser, a member of the role that owns the
--                        extension (and its tables)
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(35);

CREATE ROLE cw_tb_writer;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tb_writer;
GRANT SELECT, INSERT ON cyoda_wf.entity TO cw_tb_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.new_id() TO cw_tb_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_item(text, integer, jsonb) TO cw_tb_writer;
CREATE ROLE cw_tb_admin;
SELECT format('GRANT %I TO cw_tb_admin', pg_get_userbyid(relowner))
  FROM pg_class WHERE oid = 'cyoda_wf.entity'::regclass \gexec

SELECT cyoda_wf.import_workflows('tb_doc', 1, '{"workflows": [{"name": "w", "initialState": "draft",
  "states": {"draft": {"transitions": [{"name": "submit", "next": "submitted"}]},
             "submitted": {"transitions": [{"name": "approve", "next": "approved", "manual": true}]},
             "approved": {}}}]}') IS NOT NULL AS imported \gset

-- a row as pg_dump writes it (every column, in table order)
CREATE TEMP TABLE tb_row AS
SELECT '01890000-0000-7000-8000-000000000001'::uuid AS id, 'tb_doc'::text AS model, 1 AS model_version,
       'submitted'::text AS state, '{"n": 1}'::jsonb AS data,
       '2024-01-02 03:04:05.123456+00'::timestamptz AS created_at,
       '2024-01-03 04:05:06.654321+00'::timestamptz AS updated_at,
       7::bigint AS version, 'loopback'::text AS last_transition, 'w'::text AS workflow,
       '01890000-0000-7000-8000-0000000000ff'::uuid AS parent_id, 'ENTITY_EVENT'::text AS source,
       123456::bigint AS transaction_id;
GRANT SELECT ON tb_row TO cw_tb_writer, cw_tb_admin;

-- ---------------------------------------------------------------------------
-- 1. Roles without the owner's privileges: engine-owned columns are refused
-- ---------------------------------------------------------------------------
SET ROLE cw_tb_writer;
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity SELECT * FROM tb_row $$, '55000',
                 'column "state" of cyoda_wf.entity is owned by the engine and cannot be set by INSERT',
                 'writer: a complete row as pg_dump writes it is refused (55000)');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data, state) VALUES ('tb_doc', '{}', 'approved') $$,
                 '55000', NULL, 'writer: INSERT setting state is refused (55000)');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data, version, created_at, updated_at)
                    VALUES ('tb_doc', '{}', 3, now(), now()) $$,
                 '55000', NULL, 'writer: INSERT setting version and timestamps is refused (55000)');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data, parent_id)
                    VALUES ('tb_doc', '{}', gen_random_uuid()) $$,
                 '55000', NULL, 'writer: INSERT setting parent_id is refused (55000)');
-- an ordinary INSERT still runs the workflow
SELECT lives_ok($$ INSERT INTO cyoda_wf.entity (id, model, data)
                   VALUES ('01890000-0000-7000-8000-0000000000a1', 'tb_doc', '{"by": "writer"}') $$,
                'writer: INSERT of model and data lives');
RESET ROLE;
SELECT is((SELECT state || ' v' || version || ' ' || last_transition || ' ' || source
             FROM cyoda_wf.entity WHERE id = '01890000-0000-7000-8000-0000000000a1'),
          'submitted v1 submit API_REQUEST', 'writer''s INSERT ran the workflow (draft -> submitted)');
SELECT is((SELECT count(*)::int FROM cyoda_wf.entity_version WHERE entity_id = '01890000-0000-7000-8000-0000000000a1'),
          1, 'writer''s INSERT wrote its version row');
SELECT is((SELECT count(*)::int FROM cyoda_wf.entity WHERE id = '01890000-0000-7000-8000-000000000001'),
          0, 'nothing of the refused rows was stored');

-- ---------------------------------------------------------------------------
-- 2. Superuser: a partial row is refused, a complete one stored as it is
-- ---------------------------------------------------------------------------
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data, state) VALUES ('tb_doc', '{}', 'approved') $$,
                 '55000', 'column "state" of cyoda_wf.entity is owned by the engine and cannot be set by INSERT',
                 'superuser: INSERT setting only state is refused (55000)');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (id, model, model_version, state, data, created_at, updated_at,
                                                 version, last_transition, workflow, parent_id, source)
                    SELECT id, model, model_version, state, data, created_at, updated_at,
                           version, last_transition, workflow, parent_id, source FROM tb_row $$,
                 '55000', 'column "state" of cyoda_wf.entity is owned by the engine and cannot be set by INSERT',
                 'superuser: a row without transaction_id is refused (55000)');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data, last_transition) VALUES ('tb_doc', '{}', 'x') $$,
                 '55000', NULL, 'superuser: INSERT setting only last_transition is refused (55000)');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity SELECT id, model, model_version, state, data, created_at, updated_at,
                           version, last_transition, workflow, parent_id, 'MAGIC', transaction_id FROM tb_row $$,
                 '22023', NULL, 'superuser: a complete row with an unknown source is refused (22023)');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity SELECT id, model, model_version, state, data, created_at, updated_at,
                           0, last_transition, workflow, parent_id, source, transaction_id FROM tb_row $$,
                 '22023', NULL, 'superuser: a complete row with version 0 is refused (22023)');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity SELECT id, model, model_version, state, '[1]', created_at, updated_at,
                           version, last_transition, workflow, parent_id, source, transaction_id FROM tb_row $$,
                 '22023', NULL, 'superuser: a complete row whose data is not an object is refused (22023)');
SELECT is((SELECT count(*)::int FROM cyoda_wf.entity WHERE id = '01890000-0000-7000-8000-000000000001'),
          0, 'nothing of the refused rows was stored');

SELECT lives_ok($$ INSERT INTO cyoda_wf.entity SELECT * FROM tb_row $$,
                'superuser: a complete row is accepted');
SELECT is((SELECT e::text FROM cyoda_wf.entity e WHERE id = '01890000-0000-7000-8000-000000000001'),
          (SELECT r::text FROM tb_row r), 'it is stored exactly as written: state, version, timestamps, lineage, transaction id');
SELECT is((SELECT count(*)::int FROM cyoda_wf.entity_version WHERE entity_id = '01890000-0000-7000-8000-000000000001'),
          0, 'no version row was written for it');
SELECT is((SELECT count(*)::int FROM cyoda_wf.audit WHERE entity_id = '01890000-0000-7000-8000-000000000001'),
          0, 'no audit row was written for it');
SELECT is((SELECT count(*)::int FROM cyoda_wf.task WHERE entity_id = '01890000-0000-7000-8000-000000000001'),
          0, 'no task was queued for it');

-- pg_dump --inserts: positional VALUES; last_transition and parent_id NULL
SELECT lives_ok($$ INSERT INTO cyoda_wf.entity VALUES ('01890000-0000-7000-8000-000000000002', 'tb_doc', 1,
                   'draft', '{"n": 2}', '2024-01-02 03:04:05+00', '2024-01-02 03:04:05+00', 1, NULL, 'w',
                   NULL, 'API_REQUEST', 42) $$,
                'superuser: a complete row with NULL last_transition and parent_id is accepted');
SELECT is((SELECT state || ' v' || version || ' ' || coalesce(last_transition, '-') || ' ' || transaction_id
             FROM cyoda_wf.entity WHERE id = '01890000-0000-7000-8000-000000000002'),
          'draft v1 - 42', 'stored as written: no automatic transition ran');
-- pg_dump --on-conflict-do-nothing into a database that has the row
SELECT lives_ok($$ INSERT INTO cyoda_wf.entity SELECT * FROM tb_row ON CONFLICT DO NOTHING $$,
                'superuser: the same row again with ON CONFLICT DO NOTHING lives');
SELECT is((SELECT count(*)::int FROM cyoda_wf.entity_version WHERE entity_id IN
             ('01890000-0000-7000-8000-000000000001', '01890000-0000-7000-8000-000000000002')),
          0, 'still no version row for the rows stored as they are');

-- ---------------------------------------------------------------------------
-- 3. A member of the owner role (not a superuser) may too
-- ---------------------------------------------------------------------------
SET ROLE cw_tb_admin;
SELECT lives_ok($$ INSERT INTO cyoda_wf.entity SELECT '01890000-0000-7000-8000-000000000003', model, model_version,
                          state, data, created_at, updated_at, version, last_transition, workflow, parent_id,
                          source, transaction_id FROM tb_row $$,
                'member of the owner: a complete row is accepted');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data, state) VALUES ('tb_doc', '{}', 'approved') $$,
                 '55000', NULL, 'member of the owner: a partial row is refused (55000)');
RESET ROLE;
SELECT is((SELECT version || ' ' || updated_at::text FROM cyoda_wf.entity WHERE id = '01890000-0000-7000-8000-000000000003'),
          '7 2024-01-03 04:05:06.654321+00', 'stored as written');

-- ---------------------------------------------------------------------------
-- 4. The engine carries on from a row stored as it is
-- ---------------------------------------------------------------------------
SELECT is(cyoda_wf.fire('01890000-0000-7000-8000-000000000001', 'approve'), 'approved',
          'fire on a row stored as it is works');
SELECT is((SELECT string_agg(version || ':' || change_type || ':' || transition, ',')
             FROM cyoda_wf.entity_version WHERE entity_id = '01890000-0000-7000-8000-000000000001'),
          '8:UPDATE:approve', 'the save after it is version 8, its only version row');
SELECT is((SELECT version || ' ' || last_transition || ' ' || (created_at = '2024-01-02 03:04:05.123456+00')::text
                  || ' ' || parent_id FROM cyoda_wf.entity WHERE id = '01890000-0000-7000-8000-000000000001'),
          '8 approve true 01890000-0000-7000-8000-0000000000ff', 'created_at and parent_id are kept');

-- ---------------------------------------------------------------------------
-- 5. Restored tasks wait until their model's workflows are loaded
--    (pg_dump loads cyoda_wf.task before cyoda_wf.workflow)
-- ---------------------------------------------------------------------------
INSERT INTO cyoda_wf.entity VALUES ('01890000-0000-7000-8000-000000000010', 'tb_timer', 1, 'waiting', '{}',
       now() - interval '2 hours', now() - interval '2 hours', 1, NULL, 'tw', NULL, 'API_REQUEST', 77);
INSERT INTO cyoda_wf.task (id, entity_id, transition, from_state, kind, state, attempts, max_attempts,
                           retry_delay_ms, timeout_ms, last_error, run_at, created_at, finished_at)
    OVERRIDING SYSTEM VALUE
    VALUES (9001, '01890000-0000-7000-8000-000000000010', 'ring', 'waiting', 'timer', 'pending', 0, 1,
            1000, NULL, NULL, now() - interval '1 hour', now() - interval '2 hours', NULL);
CALL cyoda_wf.run_tasks();
SELECT is((SELECT state || ' ' || attempts FROM cyoda_wf.task WHERE id = 9001), 'pending 0',
          'a due timer of a model whose workflows are not loaded yet stays pending');
SELECT is((SELECT count(*)::int FROM cyoda_wf.audit WHERE entity_id = '01890000-0000-7000-8000-000000000010'),
          0, 'and nothing was recorded for it');
SELECT cyoda_wf.import_workflows('tb_timer', 1, '{"workflows": [{"name": "tw", "initialState": "waiting",
  "states": {"waiting": {"transitions": [{"name": "ring", "next": "rung", "schedule": {"delayMs": 3600000}}]},
             "rung": {}}}]}') IS NOT NULL AS imported \gset
CALL cyoda_wf.run_tasks();
SELECT is((SELECT state FROM cyoda_wf.task WHERE id = 9001), 'done', 'once they are, the timer fires');
SELECT is((SELECT state || ' v' || version || ' ' || last_transition FROM cyoda_wf.entity
            WHERE id = '01890000-0000-7000-8000-000000000010'),
          'rung v2 ring', 'the entity made the timer''s transition');
SELECT is((SELECT count(*)::int FROM cyoda_wf.audit
            WHERE entity_id = '01890000-0000-7000-8000-000000000010' AND event_type = 'TRANSITION_MAKE'),
          1, 'exactly once');

SELECT * FROM finish();
ROLLBACK;
