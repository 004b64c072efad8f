-- pgTAP: the shape and privileges of pending_tasks, failed_tasks, metrics()
-- and retry_failed(): nothing for PUBLIC, what a granted role may do, and a
-- retry by a role that may only read.  One transaction, rolled back.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(20);

-- shape
SELECT has_view('cyoda_wf', 'pending_tasks', 'pending_tasks is a view');
SELECT has_view('cyoda_wf', 'failed_tasks', 'failed_tasks is a view');
SELECT columns_are('cyoda_wf', 'pending_tasks',
    ARRAY['task_id', 'entity_id', 'model', 'model_version', 'transition', 'kind', 'attempts',
          'max_attempts', 'last_error', 'run_at', 'age'], 'pending_tasks columns');
SELECT columns_are('cyoda_wf', 'failed_tasks',
    ARRAY['task_id', 'entity_id', 'model', 'model_version', 'transition', 'kind', 'attempts',
          'max_attempts', 'last_error', 'finished_at', 'age'], 'failed_tasks columns');
SELECT function_returns('cyoda_wf', 'metrics', ARRAY[]::text[], 'setof record', 'metrics() returns a table');
SELECT function_returns('cyoda_wf', 'retry_failed', ARRAY['text', 'timestamp with time zone'], 'bigint',
                        'retry_failed(text, timestamptz) returns bigint');
SELECT function_returns('cyoda_wf', 'retry_task', ARRAY['bigint'], 'boolean', 'retry_task(bigint) returns boolean');
SELECT isnt(obj_description('cyoda_wf.pending_tasks'::regclass, 'pg_class'), NULL, 'pending_tasks has a comment');
SELECT isnt(obj_description('cyoda_wf.failed_tasks'::regclass, 'pg_class'), NULL, 'failed_tasks has a comment');
SELECT isnt(obj_description('cyoda_wf.metrics()'::regprocedure, 'pg_proc'), NULL, 'metrics() has a comment');

-- nothing for PUBLIC
SELECT ok(NOT has_table_privilege('public', 'cyoda_wf.pending_tasks', 'SELECT')
          AND NOT has_table_privilege('public', 'cyoda_wf.failed_tasks', 'SELECT'),
          'PUBLIC cannot read the task views');
SELECT ok(NOT has_function_privilege('public', 'cyoda_wf.metrics()', 'EXECUTE')
          AND NOT has_function_privilege('public', 'cyoda_wf.retry_failed(text, timestamptz)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'cyoda_wf.retry_task(bigint)', 'EXECUTE'),
          'PUBLIC cannot run metrics, retry_failed, retry_task');

-- a role with USAGE only
CREATE ROLE cw_tv_reader;
CREATE ROLE cw_tv_operator;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tv_reader, cw_tv_operator;
SET LOCAL ROLE cw_tv_reader;
SELECT throws_ok($$ SELECT * FROM cyoda_wf.failed_tasks $$, '42501', NULL, 'failed_tasks needs SELECT');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.metrics() $$, '42501', NULL, 'metrics() needs EXECUTE');
SELECT throws_ok($$ SELECT cyoda_wf.retry_failed() $$, '42501', NULL, 'retry_failed() needs EXECUTE');
RESET ROLE;

-- granted: the views and metrics read the engine's tables for it; retry_failed
-- writes cyoda_wf.task though the role has no right on it
GRANT SELECT ON cyoda_wf.pending_tasks, cyoda_wf.failed_tasks TO cw_tv_reader;
GRANT EXECUTE ON FUNCTION cyoda_wf.metrics() TO cw_tv_reader;
GRANT EXECUTE ON FUNCTION cyoda_wf.retry_failed(text, timestamptz) TO cw_tv_operator;
SELECT count(*) AS declared FROM (SELECT cyoda_wf.import_workflows('tv_pg', 1, '{"workflows": []}')) d \gset
CREATE TEMP TABLE tv_ids AS SELECT cyoda_wf.add_item('tv_pg', 1, '{}') AS id;
INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind, state, attempts, last_error, finished_at)
SELECT id, 'charge', 'CREATED', 'process', 'failed', 1, 'declined', now() FROM tv_ids;
GRANT SELECT ON tv_ids TO cw_tv_reader;
SET LOCAL ROLE cw_tv_reader;
SELECT is((SELECT last_error FROM cyoda_wf.failed_tasks WHERE entity_id = (SELECT id FROM tv_ids)),
          'declined', 'a reader granted SELECT sees the failed task');
SELECT is((SELECT failed FROM cyoda_wf.metrics() WHERE model = 'tv_pg'), 1::bigint,
          'a reader granted EXECUTE on metrics() counts it');
SELECT throws_ok($$ SELECT cyoda_wf.retry_failed('tv_pg') $$, '42501', NULL, 'the reader cannot retry it');
RESET ROLE;
SET LOCAL ROLE cw_tv_operator;
SELECT is(cyoda_wf.retry_failed('tv_pg'), 1::bigint, 'an operator granted EXECUTE on retry_failed re-queues it');
SELECT throws_ok($$ SELECT count(*) FROM cyoda_wf.task $$, '42501', NULL, '... without any right on cyoda_wf.task');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
