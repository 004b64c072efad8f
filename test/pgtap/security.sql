-- pgTAP: the privilege model of README: Privileges, search_path hijacking and
-- SQL injection through names.  Runs in one transaction that is rolled back
-- (roles included), in a fresh database.
--
-- Roles:   cw_sec_importer  imports workflows (not a superuser), owns the
--                           process functions
--          cw_sec_writer    the README "writer" recipe (API + plain SQL on data)
--          cw_sec_reader    the README "reader" recipe (reads only)
--          cw_sec_api_only  EXECUTE on the API and USAGE, no table rights
--          cw_sec_nobody    nothing
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(121);

-- ---------------------------------------------------------------------------
-- 1. Nothing for PUBLIC
-- ---------------------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
            WHERE n.nspname = 'cyoda_wf' AND a.grantee = 0), 0, 'PUBLIC has no privilege on schema cyoda_wf');
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p,
                  aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.pronamespace = 'cyoda_wf'::regnamespace AND a.grantee = 0), NULL,
          'no function or procedure of cyoda_wf is executable by PUBLIC');
SELECT is((SELECT string_agg(c.relname, ', ') FROM pg_class c,
                  aclexplode(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
            WHERE c.relnamespace = 'cyoda_wf'::regnamespace AND a.grantee = 0), NULL,
          'no table, view or sequence of cyoda_wf is accessible to PUBLIC');
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
            WHERE p.pronamespace = 'cyoda_wf'::regnamespace AND p.prosecdef
              AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')), NULL,
          'every SECURITY DEFINER function of cyoda_wf pins its search_path');

-- ---------------------------------------------------------------------------
-- Roles: the README recipes
-- ---------------------------------------------------------------------------
CREATE ROLE cw_sec_importer;
CREATE ROLE cw_sec_importer2;
CREATE ROLE cw_sec_writer;
CREATE ROLE cw_sec_reader;
CREATE ROLE cw_sec_api_only;
CREATE ROLE cw_sec_nobody;

-- importer: imports workflows and owns its process functions
GRANT USAGE ON SCHEMA cyoda_wf TO cw_sec_importer, cw_sec_importer2;
GRANT EXECUTE ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb),
                          cyoda_wf.export_workflows(text, integer)
   TO cw_sec_importer, cw_sec_importer2;

-- writer: the entity service, plus plain SQL on entity data
GRANT USAGE ON SCHEMA cyoda_wf TO cw_sec_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_item(text, integer, jsonb),
                          cyoda_wf.update_item(uuid, jsonb, text, bigint),
                          cyoda_wf.fire(uuid, text),
                          cyoda_wf.delete_item(uuid),
                          cyoda_wf.get_item(uuid, timestamptz, bigint),
                          cyoda_wf.get_entity(uuid, timestamptz, bigint),
                          cyoda_wf.transitions(uuid),
                          cyoda_wf.changes(uuid, timestamptz)
   TO cw_sec_writer;
GRANT SELECT, INSERT, DELETE ON cyoda_wf.entity TO cw_sec_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.new_id() TO cw_sec_writer;
GRANT UPDATE (data) ON cyoda_wf.entity TO cw_sec_writer;

-- reader: reads entities, history and audit
GRANT USAGE ON SCHEMA cyoda_wf TO cw_sec_reader;
GRANT EXECUTE ON FUNCTION cyoda_wf.get_item(uuid, timestamptz, bigint),
                          cyoda_wf.get_entity(uuid, timestamptz, bigint),
                          cyoda_wf.transitions(uuid),
                          cyoda_wf.changes(uuid, timestamptz),
                          cyoda_wf.stats(text)
   TO cw_sec_reader;
GRANT SELECT ON cyoda_wf.entity, cyoda_wf.entity_version, cyoda_wf.audit, cyoda_wf.task
   TO cw_sec_reader;

-- api_only: every entity-service function, no table privilege at all
GRANT USAGE ON SCHEMA cyoda_wf TO cw_sec_api_only;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_item(text, integer, jsonb),
                          cyoda_wf.update_item(uuid, jsonb, text, bigint),
                          cyoda_wf.fire(uuid, text),
                          cyoda_wf.delete_item(uuid),
                          cyoda_wf.get_item(uuid, timestamptz, bigint)
   TO cw_sec_api_only;

-- Tables the processes touch.  The importer may write sec_log; only the
-- writer (not the importer) may read sec_secret.
CREATE TABLE public.cw_sec_canary (x int);
INSERT INTO public.cw_sec_canary VALUES (1);
CREATE TABLE public.sec_log (note text, by_user text);
GRANT INSERT, SELECT ON public.sec_log TO cw_sec_importer, cw_sec_importer2;
CREATE TABLE public.cw_sec_secret (s text);
INSERT INTO public.cw_sec_secret VALUES ('only the writer may read this');
GRANT SELECT ON public.cw_sec_secret TO cw_sec_writer;

-- Process and criterion functions, owned by the importer, not executable by
-- PUBLIC (what load_functions / scaffold are to do).  Written the usual
-- way: plain SQL / plpgsql with unqualified names and no SET search_path.
CREATE FUNCTION public.sec_stamp(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || jsonb_build_object('by', current_user::text, 'session', session_user::text) $$;
CREATE FUNCTION public.sec_is_importer(meta jsonb, data jsonb) RETURNS boolean
LANGUAGE sql AS $$ SELECT current_user::text IN ('cw_sec_importer', 'cw_sec_importer2') $$;
CREATE FUNCTION public.sec_log_it(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN INSERT INTO sec_log VALUES (meta->>'transition', current_user); RETURN NULL; END $$;
CREATE FUNCTION public.sec_peek_secret(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || jsonb_build_object('secret', (SELECT s FROM public.cw_sec_secret)) $$;
CREATE FUNCTION public.sec_write_audit(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ INSERT INTO cyoda_wf.audit_log (entity_id, at, transaction_id, event_type, role)
                   VALUES ((meta->>'entity_id')::uuid, now(), 0, 'FORGED', 'x'); SELECT NULL::jsonb $$;
DO $$
DECLARE f text;
BEGIN
  FOREACH f IN ARRAY ARRAY['sec_stamp(jsonb,jsonb)', 'sec_is_importer(jsonb,jsonb)', 'sec_log_it(jsonb,jsonb)',
                           'sec_peek_secret(jsonb,jsonb)', 'sec_write_audit(jsonb,jsonb)'] LOOP
    EXECUTE format('ALTER FUNCTION public.%s OWNER TO cw_sec_importer', f);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION public.%s FROM PUBLIC', f);
  END LOOP;
END $$;
-- (an importer may name only functions it may run: importer2 re-imports the
-- whole workflow below)
GRANT EXECUTE ON FUNCTION public.sec_stamp(jsonb, jsonb), public.sec_is_importer(jsonb, jsonb),
                          public.sec_log_it(jsonb, jsonb), public.sec_peek_secret(jsonb, jsonb),
                          public.sec_write_audit(jsonb, jsonb)
   TO cw_sec_importer2;

-- A helper that runs one statement under the caller's search_path and
-- reports 'ok' or 'SQLSTATE: message' (no operator of its own).
CREATE FUNCTION public.cw_sec_try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN concat(SQLSTATE, ': ', SQLERRM);
END $$;
GRANT EXECUTE ON FUNCTION public.cw_sec_try(text) TO PUBLIC;

-- The workflow, imported by the importer.
SET ROLE cw_sec_importer;
SELECT is(cyoda_wf.import_workflows('cw_sec_doc', 1, $j$
{"importMode": "REPLACE", "workflows": [{"name": "w", "initialState": "new", "states": {
  "new": {"transitions": [
    {"name": "stamp", "next": "stamped", "manual": true,
     "criterion": {"type": "function", "function": {"name": "sec_is_importer"}},
     "processors": [{"name": "sec_stamp"}, {"name": "sec_log_it"}]},
    {"name": "peek", "next": "stamped", "manual": true, "processors": [{"name": "sec_peek_secret"}]},
    {"name": "forge", "next": "stamped", "manual": true, "processors": [{"name": "sec_write_audit"}]},
    {"name": "plain", "next": "stamped", "manual": true, "processors": [{"name": "sec_stamp"}]},
    {"name": "later", "next": "stamped", "manual": true,
     "processors": [{"name": "sec_stamp", "executionMode": "ASYNC_NEW_TX"}]}]},
  "stamped": {"transitions": [{"name": "again", "next": "stamped", "manual": true,
                               "processors": [{"name": "sec_stamp"}]}]}}}]}
$j$)->'workflows', '["w"]'::jsonb, 'a non-superuser importer with EXECUTE on import_workflows imports');
RESET ROLE;
SELECT is((SELECT owner::text FROM cyoda_wf.workflow WHERE model = 'cw_sec_doc'), 'cw_sec_importer',
          'the workflow records its importing role');

-- ---------------------------------------------------------------------------
-- 2. The writer recipe
-- ---------------------------------------------------------------------------
SET ROLE cw_sec_writer;
SELECT lives_ok($$ SELECT set_config('sec.w1', cyoda_wf.add_item('cw_sec_doc', 1, '{"n": 1}')::text, true) $$,
                'writer: add_item');
SELECT is(cyoda_wf.fire(current_setting('sec.w1')::uuid, 'stamp'), 'stamped',
          'writer: fire (criterion function ran as the importer and matched)');
SELECT is(cyoda_wf.get_item(current_setting('sec.w1')::uuid)->>'by', 'cw_sec_importer',
          'process runs as the importing role, not as the writer who saved');
SELECT is(cyoda_wf.get_item(current_setting('sec.w1')::uuid)->>'session', session_user::text,
          'process sees the real session user');
SELECT is(cyoda_wf.update_item(current_setting('sec.w1')::uuid, '{"n": 2}', 'again', 2), 'stamped',
          'writer: update_item with transition and if_match');
SELECT is((SELECT count(*)::int FROM cyoda_wf.transitions(current_setting('sec.w1')::uuid)), 1,
          'writer: transitions()');
SELECT is((SELECT count(*)::int FROM cyoda_wf.changes(current_setting('sec.w1')::uuid)), 3, 'writer: changes()');
SELECT is(cyoda_wf.get_entity(current_setting('sec.w1')::uuid)->'meta'->>'state', 'stamped', 'writer: get_entity()');
SELECT throws_ok($$ SELECT public.sec_stamp('{}', '{}') $$, '42501', NULL,
                 'writer cannot call the process function directly');
SELECT throws_ok($$ SELECT public.sec_is_importer('{}', '{}') $$, '42501', NULL,
                 'writer cannot call the criterion function directly');
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('sec.w1')::uuid, 'nope') $$, '55000', NULL,
                 'writer: unknown transition is 55000');
-- plain SQL on the table, within the column grants
SELECT lives_ok($$ INSERT INTO cyoda_wf.entity (id, model, data)
                   VALUES ('f7000000-0000-0000-0000-000000000001', 'cw_sec_doc', '{"n": 3}') $$,
                'writer: plain INSERT creates an entity');
SELECT lives_ok($$ UPDATE cyoda_wf.entity SET data = data || '{"m": 1}'
                    WHERE id = 'f7000000-0000-0000-0000-000000000001' $$, 'writer: plain UPDATE of data (loopback)');
SELECT throws_ok($$ UPDATE cyoda_wf.entity SET state = 'stamped'
                     WHERE id = 'f7000000-0000-0000-0000-000000000001' $$, '42501', NULL,
                 'writer: UPDATE of state is refused by the column grant');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, state, data) VALUES ('cw_sec_doc', 'stamped', '{}') $$,
                 '55000', NULL, 'writer: INSERT that sets an engine column is refused (55000)');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, version, data) VALUES ('cw_sec_doc', 99, '{}') $$,
                 '55000', NULL, 'writer: INSERT that sets version is refused (55000)');
SELECT lives_ok($$ DELETE FROM cyoda_wf.entity WHERE id = 'f7000000-0000-0000-0000-000000000001' $$,
                'writer: plain DELETE');
-- the engine's own tables
SELECT throws_ok($$ INSERT INTO cyoda_wf.audit_log (entity_id, at, transaction_id, event_type, role)
                    VALUES (gen_random_uuid(), now(), 1, 'FAKE', 'x') $$, '42501', NULL, 'writer cannot write audit_log');
SELECT throws_ok($$ UPDATE cyoda_wf.audit_log SET role = 'x' $$, '42501', NULL, 'writer cannot rewrite audit_log');
SELECT throws_ok($$ DELETE FROM cyoda_wf.audit_log $$, '42501', NULL, 'writer cannot delete audit_log');
SELECT throws_ok($$ INSERT INTO cyoda_wf.audit (entity_id, at, transaction_id, event_type, role)
                    VALUES (gen_random_uuid(), now(), 1, 'FAKE', 'x') $$, '55000', NULL, 'writer cannot write through the audit view');
SELECT throws_ok($$ UPDATE cyoda_wf.audit SET role = 'x' $$, '55000', NULL, 'writer cannot rewrite through the audit view');
SELECT throws_ok($$ DELETE FROM cyoda_wf.audit $$, '55000', NULL, 'writer cannot delete through the audit view');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity_version (entity_id, version, change_type, changed_at, changed_by,
                    model, model_version, transaction_id) VALUES (gen_random_uuid(), 1, 'CREATE', now(), 'x', 'm', 1, 1) $$,
                 '42501', NULL, 'writer cannot write entity_version');
SELECT throws_ok($$ DELETE FROM cyoda_wf.entity_version $$, '42501', NULL, 'writer cannot delete entity_version');
SELECT throws_ok($$ INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind)
                    VALUES (gen_random_uuid(), 't', 's', 'process') $$, '42501', NULL, 'writer cannot queue tasks');
SELECT throws_ok($$ UPDATE cyoda_wf.task SET state = 'pending' $$, '42501', NULL, 'writer cannot change tasks');
SELECT throws_ok($$ UPDATE cyoda_wf.workflow SET definition = '{}' $$, '42501', NULL, 'writer cannot change workflows');
SELECT throws_ok($$ INSERT INTO cyoda_wf.model (name) VALUES ('x') $$, '42501', NULL, 'writer cannot add models');
SELECT throws_ok($$ TRUNCATE cyoda_wf.entity $$, '42501', NULL, 'writer cannot TRUNCATE entity');
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('cw_sec_doc', 1, '{"workflows": []}') $$, '42501', NULL,
                 'writer cannot import workflows');
SELECT throws_ok($$ CALL cyoda_wf.run_tasks() $$, '42501', NULL, 'writer cannot run tasks unless granted');
SELECT throws_ok($$ SELECT cyoda_wf.retry_task(1) $$, '42501', NULL, 'writer cannot retry tasks unless granted');
-- the process runs with the importer's rights, not the writer's
SELECT set_config('sec.w2', cyoda_wf.add_item('cw_sec_doc', 1, '{}')::text, true) IS NOT NULL;
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('sec.w2')::uuid, 'peek') $$, '42501', NULL,
                 'a process cannot borrow the saving role''s privileges (importer may not read the secret)');
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('sec.w2')::uuid, 'forge') $$, '42501', NULL,
                 'a process cannot write the audit (it runs as the importer, not the engine owner)');
RESET ROLE;

SELECT is((SELECT string_agg(by_user || ':' || note, ',') FROM public.sec_log), 'cw_sec_importer:stamp',
          'the process wrote as the importer');
SELECT is((SELECT array_agg(DISTINCT role ORDER BY role) FROM cyoda_wf.audit
            WHERE entity_id = current_setting('sec.w1')::uuid), ARRAY['cw_sec_writer'],
          'audit rows name the saving role');
SELECT is((SELECT array_agg(changed_by ORDER BY version) FROM cyoda_wf.entity_version
            WHERE entity_id = 'f7000000-0000-0000-0000-000000000001'), ARRAY['cw_sec_writer', 'cw_sec_writer', 'cw_sec_writer'],
          'version rows of plain SQL saves name the saving role');
SELECT is((SELECT count(*)::int FROM cyoda_wf.audit WHERE event_type = 'FORGED'), 0, 'no forged audit row');

-- An async process runs as the importer too, whoever runs the task.
SET ROLE cw_sec_writer;
SELECT is(cyoda_wf.fire(current_setting('sec.w2')::uuid, 'later'), 'new', 'async transition queued');
RESET ROLE;
CALL cyoda_wf.run_tasks(10);
SELECT is(cyoda_wf.get_item(current_setting('sec.w2')::uuid)->>'by', 'cw_sec_importer',
          'an async process runs as the importing role (task run by the superuser)');

-- Re-import by another role: processes then run as that role.
SET ROLE cw_sec_importer2;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_sec_doc', 1,
   cyoda_wf.export_workflows('cw_sec_doc', 1) - 'entityName' - 'modelVersion' || '{"importMode": "REPLACE"}') $$,
   'a second importer re-imports the workflow');
RESET ROLE;
SET ROLE cw_sec_writer;
SELECT is(cyoda_wf.fire(current_setting('sec.w1')::uuid, 'again'), 'stamped', 'writer fires after the re-import');
SELECT is(cyoda_wf.get_item(current_setting('sec.w1')::uuid)->>'by', 'cw_sec_importer2',
          'processes now run as the role that imported last');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 3. The reader recipe, and roles without table grants
-- ---------------------------------------------------------------------------
SET ROLE cw_sec_reader;
SELECT is(cyoda_wf.get_entity(current_setting('sec.w1')::uuid)->'meta'->>'state', 'stamped', 'reader: get_entity');
SELECT ok((SELECT count(*) FROM cyoda_wf.audit WHERE entity_id = current_setting('sec.w1')::uuid) > 0, 'reader: reads audit');
SELECT ok((SELECT count(*) FROM cyoda_wf.entity_version) > 0, 'reader: reads entity_version');
SELECT ok((SELECT count(*) FROM cyoda_wf.stats('cw_sec_doc')) > 0, 'reader: stats');
SELECT throws_ok($$ SELECT cyoda_wf.add_item('cw_sec_doc', 1, '{}') $$, '42501', NULL, 'reader cannot add_item');
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('sec.w1')::uuid, 'again') $$, '42501', NULL, 'reader cannot fire');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data) VALUES ('cw_sec_doc', '{}') $$, '42501', NULL,
                 'reader (SELECT only) cannot INSERT into entity');
SELECT throws_ok($$ UPDATE cyoda_wf.entity SET data = '{}' $$, '42501', NULL, 'reader cannot UPDATE entity');
SELECT throws_ok($$ DELETE FROM cyoda_wf.entity $$, '42501', NULL, 'reader cannot DELETE from entity');
SELECT throws_ok($$ INSERT INTO cyoda_wf.audit_log (entity_id, at, transaction_id, event_type, role)
                    VALUES (gen_random_uuid(), now(), 1, 'FAKE', 'x') $$, '42501', NULL, 'reader cannot write audit_log');
SELECT throws_ok($$ INSERT INTO cyoda_wf.audit (entity_id, at, transaction_id, event_type, role)
                    VALUES (gen_random_uuid(), now(), 1, 'FAKE', 'x') $$, '55000', NULL, 'reader cannot write through the audit view');
SELECT throws_ok($$ UPDATE cyoda_wf.task SET state = 'failed' $$, '42501', NULL, 'reader cannot write tasks');
RESET ROLE;

SET ROLE cw_sec_api_only;
SELECT lives_ok($$ SELECT set_config('sec.a1', cyoda_wf.add_item('cw_sec_doc', 1, '{}')::text, true) $$,
                'api_only: EXECUTE + USAGE suffice to create, without table rights');
SELECT is(cyoda_wf.fire(current_setting('sec.a1')::uuid, 'stamp'), 'stamped', 'api_only: fire');
SELECT is(cyoda_wf.delete_item(current_setting('sec.a1')::uuid), true, 'api_only: delete_item');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.entity $$, '42501', NULL, 'api_only: no SELECT on the table');
SELECT throws_ok($$ UPDATE cyoda_wf.entity SET data = '{}' $$, '42501', NULL, 'api_only: no plain UPDATE');
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity_version (entity_id, version, change_type, changed_at, changed_by,
                    model, model_version, transaction_id) VALUES (gen_random_uuid(), 1, 'CREATE', now(), 'x', 'm', 1, 1) $$,
                 '42501', NULL, 'api_only: cannot write entity_version');
SELECT throws_ok($$ INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind)
                    VALUES (gen_random_uuid(), 't', 's', 'process') $$, '42501', NULL, 'api_only: cannot write tasks');
RESET ROLE;

SET ROLE cw_sec_nobody;
SELECT throws_ok($$ SELECT cyoda_wf.get_item(gen_random_uuid()) $$, '42501', NULL, 'nobody: no schema USAGE');
SELECT throws_ok($$ SELECT cyoda_wf.check_condition('{}', '{}') $$, '42501', NULL, 'nobody: not even check_condition');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 4. search_path hijacking
-- ---------------------------------------------------------------------------
-- A schema of the writer's own, put before pg_catalog on its search_path,
-- with operators and functions that the engine's SQL would pick up if it
-- resolved anything unqualified.  Each raises 'hijacked'.
CREATE SCHEMA cw_sec_evil AUTHORIZATION cw_sec_writer;
SELECT count(*) AS log_before FROM public.sec_log WHERE by_user = 'cw_sec_importer2' AND note = 'stamp' \gset
-- the model saved by the writer below is declared (cyoda_wf.require_model = known)
SELECT cyoda_wf.import_workflows('cw_sec_hj', 1, '{"workflows": []}') IS NOT NULL AS declared \gset
SET ROLE cw_sec_writer;
GRANT USAGE ON SCHEMA cw_sec_evil TO PUBLIC;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['uuid', 'text', 'integer', 'bigint', 'timestamptz'] LOOP
    EXECUTE format('CREATE FUNCTION cw_sec_evil.boom_bool(%1$s, %1$s) RETURNS boolean LANGUAGE plpgsql AS '
                   '$b$ BEGIN RAISE EXCEPTION ''hijacked: operator on %1$s called as %%'', current_user; END $b$', t);
    IF t <> 'timestamptz' THEN
      EXECUTE format('CREATE OPERATOR cw_sec_evil.= (FUNCTION = cw_sec_evil.boom_bool, LEFTARG = %1$s, RIGHTARG = %1$s)', t);
    END IF;
  END LOOP;
END $$;
CREATE FUNCTION cw_sec_evil.boom_tsi(timestamptz, interval) RETURNS timestamptz LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: + called as %', current_user; END $$;
CREATE FUNCTION cw_sec_evil.boom_bi(bigint, interval) RETURNS interval LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: * called as %', current_user; END $$;
CREATE OPERATOR cw_sec_evil.<= (FUNCTION = cw_sec_evil.boom_bool, LEFTARG = timestamptz, RIGHTARG = timestamptz);
CREATE OPERATOR cw_sec_evil.+ (FUNCTION = cw_sec_evil.boom_tsi, LEFTARG = timestamptz, RIGHTARG = interval);
CREATE OPERATOR cw_sec_evil.* (FUNCTION = cw_sec_evil.boom_bi, LEFTARG = bigint, RIGHTARG = interval);
CREATE FUNCTION cw_sec_evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: clock_timestamp as %', current_user; END $$;
CREATE FUNCTION cw_sec_evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: now as %', current_user; END $$;
CREATE FUNCTION cw_sec_evil.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: gen_random_uuid as %', current_user; END $$;
CREATE FUNCTION cw_sec_evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: unnest as %', current_user; END $$;
CREATE FUNCTION cw_sec_evil.txid_current() RETURNS bigint LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: txid_current as %', current_user; END $$;
CREATE FUNCTION cw_sec_evil.jsonb_build_object(text, text) RETURNS jsonb LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: jsonb_build_object as %', current_user; END $$;
CREATE FUNCTION cw_sec_evil.jsonb_build_object(text, name) RETURNS jsonb LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: jsonb_build_object as %', current_user; END $$;
CREATE FUNCTION cw_sec_evil.jsonb_build_object(text, text, text, text) RETURNS jsonb LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: jsonb_build_object as %', current_user; END $$;
CREATE FUNCTION cw_sec_evil.jsonb_set(jsonb, text[], jsonb) RETURNS jsonb LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: jsonb_set as %', current_user; END $$;
-- a temporary table that shadows the process's unqualified "sec_log"; its
-- trigger would run as whoever inserts
CREATE TEMP TABLE sec_log (note text, by_user text);
CREATE FUNCTION pg_temp.sec_evil_trigger() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: temp trigger ran as %', current_user; END $$;
CREATE TRIGGER sec_evil BEFORE INSERT ON pg_temp.sec_log FOR EACH ROW EXECUTE FUNCTION pg_temp.sec_evil_trigger();
GRANT INSERT ON pg_temp.sec_log TO PUBLIC;

SET search_path = cw_sec_evil, pg_catalog, public;
SELECT cw_sec_try($q$ SELECT set_config('sec.h1', cyoda_wf.add_item('cw_sec_hj', 1, '{"a": 1}')::text, false) $q$) AS h_add \gset
SELECT cw_sec_try($q$ SELECT cyoda_wf.update_item(current_setting('sec.h1')::uuid, '{"a": 2}', NULL, 1) $q$) AS h_update \gset
SELECT cw_sec_try($q$ SELECT cyoda_wf.fire(current_setting('sec.h1')::uuid, 'UPDATE') $q$) AS h_fire \gset
SELECT cw_sec_try($q$ SELECT cyoda_wf.get_item(current_setting('sec.h1')::uuid) $q$) AS h_get \gset
SELECT cw_sec_try($q$ SELECT cyoda_wf.get_item(current_setting('sec.h1')::uuid, '2999-01-01') $q$) AS h_get_at \gset
SELECT cw_sec_try($q$ SELECT cyoda_wf.get_entity(current_setting('sec.h1')::uuid) $q$) AS h_entity \gset
SELECT cw_sec_try($q$ SELECT cyoda_wf.get_entity(current_setting('sec.h1')::uuid, '2999-01-01') $q$) AS h_entity_at \gset
SELECT cw_sec_try($q$ SELECT * FROM cyoda_wf.changes(current_setting('sec.h1')::uuid) $q$) AS h_changes \gset
SELECT cw_sec_try($q$ SELECT * FROM cyoda_wf.transitions(current_setting('sec.h1')::uuid) $q$) AS h_transitions \gset
SELECT cw_sec_try($q$ INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('f7000000-0000-0000-0000-000000000002', 'cw_sec_hj', '{}') $q$) AS h_insert \gset
SELECT cw_sec_try($q$ UPDATE cyoda_wf.entity SET data = '{"b": 1}' WHERE id OPERATOR(pg_catalog.=) 'f7000000-0000-0000-0000-000000000002' $q$) AS h_plain_update \gset
SELECT cw_sec_try($q$ SELECT cyoda_wf.delete_item(current_setting('sec.h1')::uuid) $q$) AS h_delete \gset
SELECT cw_sec_try($q$ SELECT set_config('sec.h2', cyoda_wf.add_item('cw_sec_doc', 1, '{}')::text, false) $q$) AS h_add2 \gset
SELECT cw_sec_try($q$ SELECT set_config('sec.h3', cyoda_wf.add_item('cw_sec_doc', 1, '{}')::text, false) $q$) AS h_add3 \gset
SELECT cw_sec_try($q$ SELECT set_config('sec.h4', cyoda_wf.add_item('cw_sec_doc', 1, '{}')::text, false) $q$) AS h_add4 \gset
-- processes and criteria: the process sec_stamp calls jsonb_build_object,
-- sec_log_it inserts into sec_log, both unqualified, as the importer
SELECT cw_sec_try($q$ SELECT cyoda_wf.fire(current_setting('sec.h2')::uuid, 'stamp') $q$) AS h_criterion \gset
SELECT cw_sec_try($q$ SELECT cyoda_wf.fire(current_setting('sec.h4')::uuid, 'plain') $q$) AS h_process \gset
RESET search_path;
SELECT cw_sec_try($q$ SELECT cyoda_wf.fire(current_setting('sec.h3')::uuid, 'stamp') $q$) AS h_process_default_path \gset
RESET ROLE;

SELECT is(:'h_add'::text, 'ok', 'search_path hijack: add_item resolves nothing through the caller''s search_path');
SELECT is(:'h_update'::text, 'ok', 'search_path hijack: update_item with if_match');
SELECT is(:'h_fire'::text, 'ok', 'search_path hijack: fire');
SELECT is(:'h_get'::text, 'ok', 'search_path hijack: get_item');
SELECT is(:'h_get_at'::text, 'ok', 'search_path hijack: get_item at a point in time');
SELECT is(:'h_entity'::text, 'ok', 'search_path hijack: get_entity');
SELECT is(:'h_entity_at'::text, 'ok', 'search_path hijack: get_entity at a point in time');
SELECT is(:'h_changes'::text, 'ok', 'search_path hijack: changes');
SELECT is(:'h_transitions'::text, 'ok', 'search_path hijack: transitions');
SELECT is(:'h_insert'::text, 'ok', 'search_path hijack: plain INSERT (entity trigger)');
SELECT is(:'h_plain_update'::text, 'ok', 'search_path hijack: plain UPDATE (entity trigger)');
SELECT is(:'h_delete'::text, 'ok', 'search_path hijack: delete_item');
SELECT is(:'h_add2' || :'h_add3' || :'h_add4'::text, 'okokok', 'search_path hijack: add_item of a model with processes');
-- Processes run as the importer: they must not resolve names through the
-- saving role's search_path (or its temporary schema), or any writer can run
-- code with the importer's rights.
SELECT is(:'h_criterion'::text, 'ok',
          'search_path hijack: a criterion function does not use an operator from the saving role''s schema');
SELECT is(:'h_process'::text, 'ok',
          'search_path hijack: a process does not call a function from the saving role''s schema');
SELECT is(:'h_process_default_path'::text, 'ok',
          'search_path hijack: a process does not write to the saving role''s temporary table');
SELECT is((SELECT count(*)::int FROM public.sec_log WHERE by_user = 'cw_sec_importer2' AND note = 'stamp'), :log_before + 2,
          'search_path hijack: both processes wrote their own table, as the importer');

-- ---------------------------------------------------------------------------
-- 5. SQL injection through names: stored and used verbatim, never executed
-- ---------------------------------------------------------------------------
-- Processor names are function names (at most 63 bytes).
CREATE FUNCTION public."x'); DROP TABLE cw_sec_canary; --"(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || jsonb_build_object('p1', meta->>'process') $$;
CREATE FUNCTION public."""; select pg_sleep(10); --"(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || jsonb_build_object('p2', meta->>'process', 'ctx', meta->'parameters') $$;
CREATE FUNCTION public."it's \ ""q"" ünï 名前 🚀"(meta jsonb, data jsonb) RETURNS boolean
LANGUAGE sql AS $$ SELECT true $$;

SELECT is(cyoda_wf.import_workflows('m''); CREATE TABLE cw_sec_pwned(); --', 1, $j$
{"importMode": "REPLACE", "workflows": [{
  "name": "w'); DROP TABLE cw_sec_canary; --",
  "initialState": "s'); CREATE TABLE cw_sec_pwned(); --",
  "states": {
    "s'); CREATE TABLE cw_sec_pwned(); --": {"transitions": [
      {"name": "\"; select pg_sleep(10); --", "next": "it's \\ \"q\" ünï 名前 🚀 %s%n%x $$ \n\t",
       "criterion": {"type": "function", "function": {"name": "it's \\ \"q\" ünï 名前 🚀"}},
       "processors": [{"name": "x'); DROP TABLE cw_sec_canary; --"},
                      {"name": "\"; select pg_sleep(10); --",
                       "config": {"context": "'); DROP TABLE cw_sec_canary; --"}}]}]},
    "it's \\ \"q\" ünï 名前 🚀 %s%n%x $$ \n\t": {"transitions": [
      {"name": "%s%s%s%n%n", "next": "s'); CREATE TABLE cw_sec_pwned(); --", "manual": true}]}}}]}
$j$)->'workflows', jsonb_build_array('w''); DROP TABLE cw_sec_canary; --'),
  'injection: import stores hostile names');
SELECT is((cyoda_wf.export_workflows('m''); CREATE TABLE cw_sec_pwned(); --', 1)->'workflows'->0->>'initialState'),
          's''); CREATE TABLE cw_sec_pwned(); --', 'injection: export returns the names verbatim');
SELECT lives_ok($$ SELECT set_config('sec.i1', cyoda_wf.add_item('m''); CREATE TABLE cw_sec_pwned(); --', 1, '{}')::text, true) $$,
                'injection: an entity runs the hostile workflow');
SELECT is((SELECT state FROM cyoda_wf.entity WHERE id = current_setting('sec.i1')::uuid),
          E'it''s \\ "q" ünï 名前 🚀 %s%n%x $$ \n\t', 'injection: state stored verbatim');
SELECT is((SELECT data FROM cyoda_wf.entity WHERE id = current_setting('sec.i1')::uuid),
          jsonb_build_object('p1', 'x''); DROP TABLE cw_sec_canary; --', 'p2', '"; select pg_sleep(10); --',
                             'ctx', '''); DROP TABLE cw_sec_canary; --'),
          'injection: processes called by their exact names, context passed verbatim');
SELECT is((SELECT array_agg(transition || ' | ' || from_state || ' | ' || to_state) FROM cyoda_wf.audit
            WHERE entity_id = current_setting('sec.i1')::uuid AND event_type = 'TRANSITION_MAKE'),
          ARRAY[E'"; select pg_sleep(10); -- | s''); CREATE TABLE cw_sec_pwned(); -- | it''s \\ "q" ünï 名前 🚀 %s%n%x $$ \n\t'],
          'injection: audit stores names verbatim');
SELECT is(cyoda_wf.fire(current_setting('sec.i1')::uuid, '%s%s%s%n%n'), E'it''s \\ "q" ünï 名前 🚀 %s%n%x $$ \n\t',
          'injection: a transition named with format directives fires (and the cascade runs again)');
SELECT throws_like($$ SELECT cyoda_wf.fire(current_setting('sec.i1')::uuid, '%n%n%n%s''; DROP TABLE cw_sec_canary; --') $$,
                   '%"%n%n%n%s''; DROP TABLE cw_sec_canary; --" is not available in state%',
                   'injection: an unknown hostile transition name is quoted verbatim in a 55000 error');
SELECT throws_ok(format($f$ SELECT cyoda_wf.import_workflows('cw_sec_inj2', 1, '{"workflows": [{"name": "w",
                    "initialState": "a", "states": {"a": {"transitions": [{"name": "t", "next": "a", "manual": true,
                    "processors": [{"name": "%s"}]}]}}}]}') $f$, repeat('x', 64)),
                 '22023', NULL, 'a processor name over 63 bytes is refused (22023), never truncated');
SELECT throws_ok(format($f$ SELECT cyoda_wf.import_workflows('cw_sec_inj2', 1, '{"workflows": [{"name": "%s",
                    "initialState": "a", "states": {"a": {"transitions": []}}}]}') $f$, repeat('w', 257)),
                 '22023', NULL, 'a workflow name over 256 characters is refused (22023)');
SELECT lives_ok(format($f$ SELECT cyoda_wf.import_workflows('cw_sec_inj2', 1, '{"workflows": [{"name": "%s",
                    "initialState": "%s", "states": {"%s": {"transitions": []}}}]}') $f$,
                    repeat('名', 256), repeat('ß', 256), repeat('ß', 256)),
                'names of 256 multibyte characters are accepted');
-- a missing function with a hostile name: 42883, nothing executed
SELECT lives_ok($q$ SELECT cyoda_wf.import_workflows('cw_sec_inj3', 1, $j$
{"workflows": [{"name": "w", "initialState": "a", "states": {"a": {"transitions": [
  {"name": "t", "next": "a", "manual": true, "processors": [{"name": "p\"); DROP TABLE cw_sec_canary; --"}]}]}}}]}
$j$) $q$, 'a workflow naming a missing hostile function imports');
SELECT set_config('sec.i3', cyoda_wf.add_item('cw_sec_inj3', 1, '{}')::text, true) IS NOT NULL;
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('sec.i3')::uuid, 't') $$, '42883', NULL,
                 'a missing hostile process function is 42883');
SELECT is(cyoda_wf.check_condition($j${"type": "simple", "jsonPath": "$['a\\'); DROP TABLE cw_sec_canary; --']",
                                       "operatorType": "EQUALS", "value": "'); DROP TABLE cw_sec_canary; --"}$j$,
                                   $j${"a'); DROP TABLE cw_sec_canary; --": "'); DROP TABLE cw_sec_canary; --"}$j$), true,
          'injection: hostile path and value in a condition are data');
SELECT has_table('public', 'cw_sec_canary', 'the canary table survived every hostile name');
SELECT hasnt_table('public', 'cw_sec_pwned', 'no hostile CREATE TABLE ran');

-- ---------------------------------------------------------------------------
-- 6. Functions made by load_functions / scaffold; designs and search
--    (these features may not be installed yet: skipped then)
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.cw_has(sig text) RETURNS boolean LANGUAGE sql AS
  $$ SELECT to_regprocedure(sig) IS NOT NULL $$;
CREATE FUNCTION pg_temp.cw_has_plpython() RETURNS boolean LANGUAGE sql AS
  $$ SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'plpython3u') $$;
SELECT pg_temp.cw_has('cyoda_wf.load_functions(text,text)') AND pg_temp.cw_has_plpython() AS have_lf \gset
SELECT pg_temp.cw_has('cyoda_wf.scaffold(text)') AND pg_temp.cw_has_plpython() AS have_sc \gset
SELECT pg_temp.cw_has('cyoda_wf.import_design(jsonb,text)') AS have_design \gset
SELECT pg_temp.cw_has('cyoda_wf.search(text,integer,jsonb,timestamp with time zone,text[],integer,integer)') AS have_search \gset

\if :have_lf
CREATE EXTENSION IF NOT EXISTS plpython3u;
SELECT lives_ok($$ SELECT count(*) FROM cyoda_wf.load_functions(
E'def cw_sec_lf_proc(meta, data):\n    return data\n\ndef cw_sec_lf_other(meta, data):\n    return None\n') $$,
                'load_functions creates functions from a Python module');
SELECT is((SELECT count(*)::int FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.proname IN ('cw_sec_lf_proc', 'cw_sec_lf_other') AND a.grantee = 0), 0,
          'functions made by load_functions are not executable by PUBLIC');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname IN ('cw_sec_lf_proc', 'cw_sec_lf_other')), 2,
          'load_functions made both functions');
\else
SELECT skip('cyoda_wf.load_functions (or plpython3u) is not installed', 3);
\endif

\if :have_sc
CREATE EXTENSION IF NOT EXISTS plpython3u;
SELECT lives_ok($q$ SELECT cyoda_wf.import_workflows('cw_sec_scaffold', 1, $j$
{"workflows": [{"name": "w", "initialState": "a", "states": {"a": {"transitions": [
  {"name": "t", "next": "a", "manual": true,
   "criterion": {"type": "function", "function": {"name": "c'); DROP TABLE cw_sec_canary; --"}},
   "processors": [{"name": "p\"(meta jsonb) AS $$ x $$; DROP TABLE cw_sec_canary; --"},
                  {"name": "$$; DROP TABLE cw_sec_canary; --"}]}]}}}]}
$j$) $q$, 'a workflow with hostile process names imports');
SELECT lives_ok($$ DO $d$ BEGIN EXECUTE cyoda_wf.scaffold('cw_sec_scaffold'); END $d$ $$,
                'the scaffold script for hostile names runs');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname IN ('c''); DROP TABLE cw_sec_canary; --',
                                                        'p"(meta jsonb) AS $$ x $$; DROP TABLE cw_sec_canary; --',
                                                        '$$; DROP TABLE cw_sec_canary; --')), 3,
          'scaffold created exactly the three functions, named verbatim');
SELECT is((SELECT count(*)::int FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.proname IN ('c''); DROP TABLE cw_sec_canary; --',
                                'p"(meta jsonb) AS $$ x $$; DROP TABLE cw_sec_canary; --',
                                '$$; DROP TABLE cw_sec_canary; --') AND a.grantee = 0), 0,
          'functions made by scaffold are not executable by PUBLIC');
-- hostile model, workflow, state and transition names land in the script's
-- comments and docstrings: dollar quotes, triple quotes and newlines
SELECT lives_ok($q$ SELECT cyoda_wf.import_workflows(E'cw_sec_sc $$ $cw$ $cw1$\nDROP TABLE cw_sec_canary;\n--', 1, $j$
{"workflows": [{"name": "w $cw$ \"\"\" \n DROP TABLE cw_sec_canary; --", "initialState": "a $$", "states": {"a $$": {"transitions": [
  {"name": "t $cw$; DROP TABLE cw_sec_canary; -- \"\"\" \\ \n$$", "next": "a $$", "manual": true,
   "processors": [{"name": "cw_sec_scaf_doc"}]}]}}}]}
$j$); DO $d$ BEGIN EXECUTE cyoda_wf.scaffold(E'cw_sec_sc $$ $cw$ $cw1$\nDROP TABLE cw_sec_canary;\n--'); END $d$ $q$,
                'the scaffold script for hostile model, workflow, state and transition names runs');
SELECT ok(to_regprocedure('public.cw_sec_scaf_doc(jsonb,jsonb)') IS NOT NULL
          AND to_regclass('public.cw_sec_canary') IS NOT NULL,
          'it created the stub and nothing else ran');
SELECT has_table('public', 'cw_sec_canary', 'the canary survived the scaffold script');
\else
SELECT skip('cyoda_wf.scaffold (or plpython3u) is not installed', 7);
\endif

\if :have_design
SELECT throws_ok($q$ SELECT cyoda_wf.import_design('{"entities": [{"entity_name": "cw_sec_d''); DROP TABLE cw_sec_canary; --",
    "entity_type": "JOB", "entity_source": "API_REQUEST", "depends_on_entity": "None",
    "entity_workflow": {"name": "w\"; DROP TABLE cw_sec_canary; --", "transitions": [{"name": "t''; DROP TABLE cw_sec_canary; --",
      "start_state": "None", "end_state": "a", "process": {"name": "p''); DROP TABLE cw_sec_canary; --"}}]}}]}'::jsonb) $q$,
                 '22023', NULL, 'import_design refuses hostile entity, workflow, transition and process names (22023)');
SELECT is(cyoda_wf.import_design('{"entities": [{"entity_name": "cw_sec_d", "entity_type": "JOB",
    "entity_source": "API_REQUEST", "depends_on_entity": "None", "entity_workflow": {"name": "w",
    "transitions": [{"name": "t", "start_state": "None", "end_state": "a", "process": {"name": "p"}}]}}]}'::jsonb,
    'public; DROP TABLE cw_sec_canary; --')->'entities'->0->>'name', 'cw_sec_d',
          'import_design with a hostile function_schema imports');
SELECT is((SELECT function_schema FROM cyoda_wf.model WHERE name = 'cw_sec_d'), 'public; DROP TABLE cw_sec_canary; --',
          'the hostile function_schema is stored verbatim (a schema name, never SQL)');
SELECT has_table('public', 'cw_sec_canary', 'the canary survived a hostile function_schema');
SET ROLE cw_sec_writer;
SELECT throws_ok($$ SELECT cyoda_wf.import_design('{"entities": []}'::jsonb) $$, '42501', NULL,
                 'writer cannot import designs');
RESET ROLE;
\else
SELECT skip('cyoda_wf.import_design is not installed', 5);
\endif

\if :have_search
SELECT is((SELECT count(*)::int FROM cyoda_wf.search('m''); CREATE TABLE cw_sec_pwned(); --', 1,
             '{"type": "simple", "jsonPath": "$[''x\\''); DROP TABLE cw_sec_canary; --'']", "operatorType": "IS_NULL"}')),
          1, 'search with a hostile model name and path treats them as data');
SET ROLE cw_sec_nobody;
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search('cw_sec_doc', 1, '{"type": "simple", "jsonPath": "$", "operatorType": "NOT_NULL"}') $$,
                 '42501', NULL, 'search needs a grant');
RESET ROLE;
\else
SELECT skip('cyoda_wf.search is not installed', 2);
\endif

SELECT * FROM finish();
ROLLBACK;
