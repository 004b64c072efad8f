-- pgTAP: timers that lead back to their own state, task retention, the task
-- loop's hygiene (settings and statement timeouts left by a task) and the
-- checks of schedule_job that need no pg_cron.  One transaction, rolled back.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(46);

-- ---------------------------------------------------------------------------
-- 1. Settings
-- ---------------------------------------------------------------------------
SELECT is((SELECT setting || ' ' || unit || ' ' || context FROM pg_settings
            WHERE name = 'cyoda_wf.min_self_loop_delay'), '1000 ms superuser',
          'cyoda_wf.min_self_loop_delay: 1 s by default, superusers set it');
SELECT is((SELECT setting || ' ' || unit || ' ' || context FROM pg_settings
            WHERE name = 'cyoda_wf.task_retention'), '604800 s sighup',
          'cyoda_wf.task_retention: 7 days by default, set in the server configuration');
SELECT throws_ok($$ SET cyoda_wf.task_retention = '1h' $$, '55P02', NULL,
                 'task_retention cannot be SET in a session');

CREATE ROLE cw_tt_user LOGIN;
CREATE ROLE cw_tt_nologin;
SET LOCAL ROLE cw_tt_user;
SELECT throws_ok($$ SET cyoda_wf.min_self_loop_delay = 0 $$, '42501', NULL,
                 'a non-superuser cannot lower min_self_loop_delay');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 2. Timers that lead back to their own state wait at least the floor
-- ---------------------------------------------------------------------------
-- delay of the pending timer of an entity created now, as an interval (run_at
-- and created_at come from one clock reading: their difference is the delay)
CREATE FUNCTION pg_temp.armed(model text) RETURNS interval LANGUAGE sql AS $$
    SELECT t.run_at - t.created_at FROM cyoda_wf.task t
      JOIN cyoda_wf.entity e ON e.id = t.entity_id
     WHERE e.model = armed.model AND t.kind = 'timer' AND t.state = 'pending'
$$;

SELECT cyoda_wf.import_workflows('tt_self', 1, '{"allowCycles": true, "workflows": [{"name": "w",
  "initialState": "a", "states": {"a": {"transitions": [
     {"name": "tick", "next": "a", "schedule": {"delayMs": 1}}]}}}]}');
SELECT cyoda_wf.add_item('tt_self', 1, '{}');
SELECT cmp_ok(pg_temp.armed('tt_self'), '>=', interval '990 ms',
              'a 1 ms timer back to its own state is armed 1 s (the floor) ahead');
SELECT cmp_ok(pg_temp.armed('tt_self'), '<', interval '1.5 seconds', '... and not much later');

-- a -(timer 1 ms)-> b -(automatic)-> a: a cycle through another state
SELECT cyoda_wf.import_workflows('tt_cycle', 1, '{"allowCycles": true, "workflows": [{"name": "w",
  "initialState": "a", "states": {
     "a": {"transitions": [{"name": "go", "next": "b", "schedule": {"delayMs": 1}}]},
     "b": {"transitions": [{"name": "back", "next": "c"}]},
     "c": {"transitions": [{"name": "again", "next": "a"}]}}}]}');
SELECT cyoda_wf.add_item('tt_cycle', 1, '{}');
SELECT cmp_ok(pg_temp.armed('tt_cycle'), '>=', interval '990 ms',
              'a 1 ms timer whose target leads back through automatic transitions gets the floor');

-- a -(timer 1 ms)-> b -(manual)-> a: a client has to act, no floor
SELECT cyoda_wf.import_workflows('tt_manual', 1, '{"workflows": [{"name": "w",
  "initialState": "a", "states": {
     "a": {"transitions": [{"name": "go", "next": "b", "schedule": {"delayMs": 1}}]},
     "b": {"transitions": [{"name": "back", "next": "a", "manual": true}]}}}]}');
SELECT cyoda_wf.add_item('tt_manual', 1, '{}');
SELECT cmp_ok(pg_temp.armed('tt_manual'), '<', interval '500 ms',
              'a short timer that leads back only through a manual transition keeps its delay');

-- a -(timer 1 ms)-> done: no way back, no floor
SELECT cyoda_wf.import_workflows('tt_once', 1, '{"workflows": [{"name": "w",
  "initialState": "a", "states": {
     "a": {"transitions": [{"name": "go", "next": "done", "schedule": {"delayMs": 1}}]},
     "done": {}}}]}');
SELECT cyoda_wf.add_item('tt_once', 1, '{}');
SELECT cmp_ok(pg_temp.armed('tt_once'), '<', interval '500 ms',
              'a short timer that does not lead back keeps its delay');

-- longer than the floor: untouched
SELECT cyoda_wf.import_workflows('tt_slow', 1, '{"allowCycles": true, "workflows": [{"name": "w",
  "initialState": "a", "states": {"a": {"transitions": [
     {"name": "tick", "next": "a", "schedule": {"delayMs": 5000}}]}}}]}');
SELECT cyoda_wf.add_item('tt_slow', 1, '{}');
SELECT cmp_ok(pg_temp.armed('tt_slow'), '>=', interval '4990 ms', 'a self-loop of 5 s keeps 5 s');
SELECT cmp_ok(pg_temp.armed('tt_slow'), '<', interval '5.5 seconds', '... not more');

-- the floor is the setting at arming time
SET LOCAL cyoda_wf.min_self_loop_delay = '3s';
SELECT cyoda_wf.update_item(e.id, '{"n": 1}') FROM cyoda_wf.entity e WHERE e.model = 'tt_self';
SELECT cmp_ok(pg_temp.armed('tt_self'), '>=', interval '2990 ms',
              're-armed by a save with min_self_loop_delay = 3s: 3 s ahead');
SELECT is((SELECT count(*)::int FROM cyoda_wf.task t JOIN cyoda_wf.entity e ON e.id = t.entity_id
            WHERE e.model = 'tt_self' AND t.state = 'pending'), 1, '... one timer pending');
RESET cyoda_wf.min_self_loop_delay;

-- ---------------------------------------------------------------------------
-- 3. Task retention: prune_tasks
-- ---------------------------------------------------------------------------
DELETE FROM cyoda_wf.task;
INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind, state, created_at, finished_at, last_error)
SELECT gen_random_uuid(), 'tr', 's', 'process', st, now() - age - interval '1 hour', now() - age, st
  FROM (VALUES ('done', interval '8 days'), ('done', interval '30 days'), ('cancelled', interval '8 days'),
               ('expired', interval '8 days'), ('failed', interval '8 days'),
               ('done', interval '6 days'), ('cancelled', interval '1 hour'),
               ('failed', interval '1 hour')) v(st, age);
INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind, state, created_at, run_at)
VALUES (gen_random_uuid(), 'tr', 's', 'timer', 'pending', now() - interval '30 days', now() + interval '1 day');

SELECT is(cyoda_wf.prune_tasks(), 4::bigint,
          'prune_tasks(): the done, cancelled and expired tasks finished more than 7 days ago');
SELECT is((SELECT string_agg(last_error || ':' || extract(day FROM now() - finished_at)::int, ' ' ORDER BY finished_at, last_error)
             FROM cyoda_wf.task WHERE state <> 'pending'),
          'failed:8 done:6 cancelled:0 failed:0', '... failed and newer tasks are kept');
SELECT is((SELECT count(*)::int FROM cyoda_wf.task WHERE state = 'pending'), 1,
          '... a pending timer created long ago is kept');
SELECT is(cyoda_wf.prune_tasks(interval '2 hours'), 1::bigint, 'prune_tasks(''2 hours''): the 6-day-old done task');
SELECT is(cyoda_wf.prune_tasks(interval '2 hours', include_failed => true), 1::bigint,
          'include_failed: the 8-day-old failed task too');
SELECT is(cyoda_wf.prune_tasks(interval '0'), 1::bigint, 'prune_tasks(''0''): every finished task but failed ones');
SELECT is((SELECT string_agg(state, ' ' ORDER BY id) FROM cyoda_wf.task), 'failed pending', '... what is left');
SELECT is(cyoda_wf.prune_tasks(), 0::bigint, 'nothing left to prune: 0');
SELECT throws_ok($$ SELECT cyoda_wf.prune_tasks(interval '-1 day') $$, '22023', NULL,
                 'a negative older_than: 22023');

-- a task the engine finished, aged, pruned; tasks of the same entity still pending stay
SELECT cyoda_wf.import_workflows('tt_async', 1, '{"workflows": [{"name": "w",
  "initialState": "a", "states": {
     "a": {"transitions": [{"name": "go", "next": "b",
            "processors": [{"name": "tt_noop", "executionMode": "ASYNC_NEW_TX"}]}]},
     "b": {}}}]}');
CREATE FUNCTION public.tt_noop(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT data $$;
DELETE FROM cyoda_wf.task;
SELECT cyoda_wf.add_item('tt_async', 1, '{}');
CALL cyoda_wf.run_tasks();
SELECT is((SELECT state FROM cyoda_wf.task), 'done', 'an async task ran: done');
SELECT is(cyoda_wf.prune_tasks(), 0::bigint, '... not pruned while younger than task_retention');
UPDATE cyoda_wf.task SET finished_at = now() - interval '7 days 1 minute';
SELECT is(cyoda_wf.prune_tasks(), 1::bigint, '... pruned once older');
SELECT is((SELECT state FROM cyoda_wf.entity WHERE model = 'tt_async'), 'b', '... the entity is untouched');
SELECT is((SELECT count(*)::int FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.oid = 'cyoda_wf.prune_tasks(interval, boolean)'::regprocedure AND a.grantee = 0), 0,
          'prune_tasks is not executable by PUBLIC');

-- ---------------------------------------------------------------------------
-- 4. A task changes no setting of the session that runs it
-- ---------------------------------------------------------------------------
CREATE FUNCTION public.tt_poison(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('default_transaction_read_only', 'on', false);
    PERFORM set_config('statement_timeout', '1h', false);
    PERFORM set_config('lock_timeout', '1h', false);
    PERFORM set_config('cyoda_wf.notify', 'off', false);
    RETURN data || '{"poisoned": true}';
END
$$;
SELECT cyoda_wf.import_workflows('tt_poison', 1, '{"workflows": [{"name": "w",
  "initialState": "a", "states": {
     "a": {"transitions": [{"name": "go", "next": "b",
            "processors": [{"name": "tt_poison", "executionMode": "ASYNC_NEW_TX"}]}]},
     "b": {}}}]}');
DELETE FROM cyoda_wf.task;
SELECT cyoda_wf.add_item('tt_poison', 1, jsonb_build_object('n', g)) FROM generate_series(1, 3) g;
CALL cyoda_wf.run_tasks();
SELECT is((SELECT string_agg(state || ':' || (data->>'poisoned'), ' ') FROM cyoda_wf.entity WHERE model = 'tt_poison'),
          'b:true b:true b:true', 'three tasks whose process sets session settings all ran');
SELECT is(current_setting('default_transaction_read_only'), 'off',
          'default_transaction_read_only set by a task is undone after it');
SELECT is(current_setting('statement_timeout'), '0', 'statement_timeout set by a task is undone');
SELECT is(current_setting('lock_timeout'), '0', 'lock_timeout set by a task is undone');
SELECT is(current_setting('cyoda_wf.notify'), 'on', 'cyoda_wf.notify set by a task is undone');

-- ---------------------------------------------------------------------------
-- 5. responseTimeoutMs: the statement timeout is disarmed also when the
--    process fails
-- ---------------------------------------------------------------------------
-- no statement timeout of the session's own (responseTimeoutMs is armed only
-- when none is)
RESET statement_timeout;
CREATE FUNCTION public.tt_fail(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tt_fail failed' USING ERRCODE = 'P0001';
END
$$;
SELECT cyoda_wf.import_workflows('tt_timeout', 1, '{"workflows": [{"name": "w",
  "initialState": "a", "states": {
     "a": {"transitions": [{"name": "go", "next": "b",
            "processors": [{"name": "tt_fail", "executionMode": "ASYNC_NEW_TX",
                            "config": {"responseTimeoutMs": 100}}]}]},
     "b": {}}}]}');
DELETE FROM cyoda_wf.task;
SELECT cyoda_wf.add_item('tt_timeout', 1, '{}');
SELECT lives_ok($$
    DO $do$
    BEGIN
        CALL cyoda_wf.run_tasks();
        -- five times the response timeout, in the same statement
        PERFORM pg_sleep(0.5);
    EXCEPTION WHEN query_canceled THEN
        RAISE EXCEPTION 'a statement timeout was still armed after the failed task';
    END
    $do$ $$, 'after a task with responseTimeoutMs that failed, no statement timeout is left armed');
SELECT is((SELECT state || ':' || last_error FROM cyoda_wf.task), 'failed:tt_fail failed',
          '... the task failed with the process''s error');

-- ---------------------------------------------------------------------------
-- 6. schedule_job: the checks that need no pg_cron
-- ---------------------------------------------------------------------------
SELECT throws_ok($$ SELECT cyoda_wf.schedule_job(NULL, '* * * * *', 'm', 1) $$, '22004', NULL,
                 'schedule_job with a NULL job_name: 22004');
SELECT throws_ok($$ SELECT cyoda_wf.schedule_job('j', '* * * * *', 'm', 1) $$, '55000',
                 'cyoda_wf.schedule_job needs the pg_cron extension in database "'
                 || current_setting('cron.database_name') || '"',
                 'schedule_job without pg_cron in its database (reached from this one): 55000');
SELECT is(cyoda_wf.unschedule_job('j'), false, 'unschedule_job without pg_cron: false');
SELECT is((SELECT prosecdef::text || ' ' || lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.oid = 'cyoda_wf.schedule_job(text, text, text, integer, jsonb)'::regprocedure),
          'false c', 'schedule_job is not SECURITY DEFINER: it acts for the role that calls it');

GRANT USAGE ON SCHEMA cyoda_wf TO cw_tt_user, cw_tt_nologin;
GRANT EXECUTE ON FUNCTION cyoda_wf.schedule_job(text, text, text, integer, jsonb) TO cw_tt_user, cw_tt_nologin;
SET LOCAL ROLE cw_tt_nologin;
SELECT throws_ok($$ SELECT cyoda_wf.schedule_job('j', '* * * * *', 'm', 1) $$, '42501',
                 'role "cw_tt_nologin" cannot run pg_cron jobs: it cannot log in',
                 'schedule_job by a role that cannot log in (its job could never run): 42501');
RESET ROLE;
SET LOCAL ROLE cw_tt_user;
SELECT throws_ok($$ SELECT cyoda_wf.schedule_job('j', '* * * * *', 'm', 1) $$, '42501',
                 'role "cw_tt_user" may not run the job it schedules',
                 'schedule_job by a role without EXECUTE on add_scheduled_item: 42501');
RESET ROLE;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_scheduled_item(text, integer, jsonb) TO cw_tt_user;
SELECT current_setting('cron.database_name') AS crondb \gset
SET LOCAL ROLE cw_tt_user;
SELECT throws_ok($$ SELECT cyoda_wf.schedule_job('j', '* * * * *', 'm', 1) $$, '55000',
                 'role "cw_tt_user" or database "' || :'crondb' || '" was changed in this transaction',
                 'a role granted what its job needs gets past the role checks (then: the role is not committed yet, which the worker that reaches pg_cron''s database would not see)');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 7. The event trigger that removes the jobs on DROP EXTENSION
-- ---------------------------------------------------------------------------
SELECT is((SELECT evtevent || ' ' || evtenabled::text || ' ' || array_to_string(evttags, ',')
             FROM pg_event_trigger WHERE evtname = 'cyoda_wf_drop_schedules'),
          'ddl_command_start O DROP EXTENSION,DROP SCHEMA,DROP OWNED',
          'event trigger cyoda_wf_drop_schedules: before DROP EXTENSION / SCHEMA / OWNED');
SELECT is((SELECT count(*)::int FROM pg_depend d JOIN pg_event_trigger e ON e.oid = d.objid
            WHERE d.classid = 'pg_event_trigger'::regclass AND d.deptype = 'e'
              AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cyoda_wf')), 1,
          '... it belongs to the extension (dropped with it)');
CREATE SCHEMA tt_other;
SELECT lives_ok($$ DROP SCHEMA tt_other $$, 'DROP SCHEMA of another schema is not affected');
SELECT lives_ok($$ DROP EXTENSION cyoda_wf $$, 'DROP EXTENSION cyoda_wf works without pg_cron');
SELECT is((SELECT count(*)::int FROM pg_namespace WHERE nspname = 'cyoda_wf'), 1,
          '... (the schema stays: it is the extension''s, not a member)');

SELECT * FROM finish();
ROLLBACK;
