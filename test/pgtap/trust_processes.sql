-- pgTAP: processes and criteria run inside PostgreSQL's own guards
-- (README: Privileges).  A function runs only while the role that imported
-- the workflow may run it (EXECUTE on it, USAGE on its schema: checked at
-- import and at every call); every call is a security-restricted operation
-- in a GUC nest level of its own, so nothing it SETs outlives it;
-- load_functions cannot plant code that runs as another role.  Runs in one
-- transaction that is rolled back (roles included), in a fresh database.
--
-- Roles:   cw_tp_importer  imports workflows (not a superuser)
--          cw_tp_writer    saves entities through the API
--          cw_tp_group     a group holding EXECUTE for its members
--          cw_tp_imp_a     an importer owning an operator (the escalation)
--          cw_tp_loader    loads Python modules (not a superuser)
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(68);

-- 'ok', or 'SQLSTATE: message HINT: hint' of a statement (in a subtransaction).
CREATE FUNCTION public.cw_tp_try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  hint text;
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
  RETURN concat(SQLSTATE, ': ', SQLERRM, CASE WHEN hint <> '' THEN ' HINT: ' || hint END);
END $$;
GRANT EXECUTE ON FUNCTION public.cw_tp_try(text) TO PUBLIC;

-- The settings a process must not change for the session that saves.
CREATE FUNCTION public.cw_tp_settings() RETURNS text LANGUAGE sql AS $$
  SELECT concat_ws(' | ', current_setting('search_path'), current_setting('statement_timeout'),
                   current_setting('lock_timeout'), current_setting('default_transaction_read_only'),
                   current_setting('work_mem'), current_user::text)
$$;
GRANT EXECUTE ON FUNCTION public.cw_tp_settings() TO PUBLIC;
-- Each check reads the settings first (\gset) and then puts back whatever a
-- leak changed, so that one leak does not break the rest of the file.
\set cw_tp_reset 'RESET search_path; RESET statement_timeout; RESET lock_timeout; RESET default_transaction_read_only; RESET work_mem;'

CREATE ROLE cw_tp_importer;
CREATE ROLE cw_tp_writer;
CREATE ROLE cw_tp_group;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tp_importer, cw_tp_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb),
                          cyoda_wf.import_design(jsonb, text),
                          cyoda_wf.validate_design(jsonb, text)
   TO cw_tp_importer;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_item(text, integer, jsonb),
                          cyoda_wf.update_item(uuid, jsonb, text, bigint),
                          cyoda_wf.fire(uuid, text),
                          cyoda_wf.get_item(uuid, timestamptz, bigint)
   TO cw_tp_writer;

-- What processes write down: which function ran, as whom.
CREATE TABLE public.cw_tp_log (what text, by_user text);
GRANT INSERT, SELECT ON public.cw_tp_log TO PUBLIC;

-- ---------------------------------------------------------------------------
-- 1. At import: the importer must be allowed to run what it names
-- ---------------------------------------------------------------------------
-- The report: SECURITY DEFINER functions of the superuser, EXECUTE revoked
-- from PUBLIC.  Named by an importer, they would run as postgres.
CREATE FUNCTION public.cw_tp_admin_only(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN INSERT INTO public.cw_tp_log VALUES ('admin_only', current_user); RETURN data || '{"admin": true}'; END $$;
CREATE FUNCTION public.cw_tp_admin_crit(meta jsonb, data jsonb) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN INSERT INTO public.cw_tp_log VALUES ('admin_crit', current_user); RETURN true; END $$;
REVOKE EXECUTE ON FUNCTION public.cw_tp_admin_only(jsonb, jsonb), public.cw_tp_admin_crit(jsonb, jsonb) FROM PUBLIC;
-- a schema the importer may not use, with a function it may execute
CREATE SCHEMA cw_tp_priv;
CREATE FUNCTION cw_tp_priv.cw_tp_step(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT data || jsonb_build_object('step', current_user::text) $$;
GRANT EXECUTE ON FUNCTION cw_tp_priv.cw_tp_step(jsonb, jsonb) TO cw_tp_importer;
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('cw_tp_nsp', 1, 'cw_tp_priv');

SET ROLE cw_tp_importer;
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_hole', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_admin_only"}]}]},
               "done": {}}}]}') $$,
  '42501', 'permission denied: role "cw_tp_importer" may not run process function public.cw_tp_admin_only(meta jsonb, data jsonb)',
  'import: a SECURITY DEFINER process the importer may not execute is refused (42501, naming function and role)');
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_hole', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done",
                       "criterion": {"type": "function", "function": {"name": "cw_tp_admin_crit"}}}]},
               "done": {}}}]}') $$,
  '42501', 'permission denied: role "cw_tp_importer" may not run criterion function public.cw_tp_admin_crit(meta jsonb, data jsonb)',
  'import: a criterion function the importer may not execute is refused (42501)');
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_hole', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "criterion": {"type": "group", "operator": "OR", "conditions": [
                  {"type": "function", "function": {"name": "cw_tp_admin_crit"}}]},
    "states": {"new": {}}}]}') $$,
  '42501', NULL, 'import: a workflow-selection criterion function the importer may not execute is refused (42501)');
SELECT throws_ok($$ SELECT cyoda_wf.import_design('{"entities": [{"entity_name": "cw_tp_hole", "entity_type": "JOB",
    "entity_source": "API_REQUEST", "depends_on_entity": "None", "entity_workflow": {"name": "w",
    "transitions": [{"name": "t", "start_state": "None", "end_state": "a",
                     "process": {"name": "cw_tp_admin_only"}}]}}]}'::jsonb) $$,
  '42501', 'permission denied: role "cw_tp_importer" may not run process function public.cw_tp_admin_only(meta jsonb, data jsonb)',
  'import_design: a process the importer may not execute is refused (42501)');
SELECT is((SELECT severity FROM cyoda_wf.validate_design('{"entities": [{"entity_name": "cw_tp_hole", "entity_type": "JOB",
    "entity_source": "API_REQUEST", "depends_on_entity": "None", "entity_workflow": {"name": "w",
    "transitions": [{"name": "t", "start_state": "None", "end_state": "a",
                     "process": {"name": "cw_tp_admin_only"}}]}}]}'::jsonb, 'public')
            WHERE message LIKE '%may not run process function public.cw_tp_admin_only%'), 'error',
          'validate_design reports a function the calling role may not run as an error');
SELECT alike(cw_tp_try($$ SELECT cyoda_wf.import_workflows('cw_tp_nsp', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_step"}]}]},
               "done": {}}}]}') $$),
  '42501: permission denied: role "cw_tp_importer" may not run process function cw_tp_priv.cw_tp_step(meta jsonb, data jsonb) HINT: GRANT USAGE ON SCHEMA cw_tp_priv TO cw_tp_importer;%',
  'import: EXECUTE without USAGE on the function''s schema is refused (42501), the hint says what to GRANT');
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_late', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_not_yet"}]}]},
               "done": {}}}]}') $$,
  'import: a function that does not exist yet is not checked (it fails when called)');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM cyoda_wf.workflow WHERE model = 'cw_tp_hole'), 0, 'refused imports stored nothing');
SELECT is((SELECT count(*)::int FROM public.cw_tp_log WHERE what LIKE 'admin%'), 0, 'the superuser''s functions never ran');
SET ROLE cw_tp_writer;
SELECT throws_ok($$ SELECT cyoda_wf.add_item('cw_tp_late', 1, '{}') $$, '42883', NULL,
                 'a missing function still fails when called (42883)');
RESET ROLE;
-- created later, EXECUTE revoked from PUBLIC: the call is checked as well
CREATE FUNCTION public.cw_tp_not_yet(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT data $$;
REVOKE EXECUTE ON FUNCTION public.cw_tp_not_yet(jsonb, jsonb) FROM PUBLIC;
SET ROLE cw_tp_writer;
SELECT throws_ok($$ SELECT cyoda_wf.add_item('cw_tp_late', 1, '{}') $$, '42501', NULL,
                 'a function created after the import that the importer may not execute fails the call (42501)');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 2. At every call: a grant revoked after the import stops the next call
-- ---------------------------------------------------------------------------
CREATE FUNCTION public.cw_tp_stamp(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT data || jsonb_build_object('by', current_user::text) $$;
CREATE FUNCTION public.cw_tp_is_ok(meta jsonb, data jsonb) RETURNS boolean LANGUAGE sql
AS $$ SELECT true $$;
REVOKE EXECUTE ON FUNCTION public.cw_tp_stamp(jsonb, jsonb), public.cw_tp_is_ok(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cw_tp_stamp(jsonb, jsonb), public.cw_tp_is_ok(jsonb, jsonb) TO cw_tp_importer;
SET ROLE cw_tp_importer;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_rev', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_stamp"}]}]},
               "done": {"transitions": [{"name": "check", "next": "done", "manual": true,
                        "criterion": {"type": "function", "function": {"name": "cw_tp_is_ok"}}}]}}}]}') $$,
  'import: an importer with EXECUTE on its functions imports');
RESET ROLE;
GRANT USAGE ON SCHEMA cw_tp_priv TO cw_tp_importer;
SET ROLE cw_tp_importer;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_nsp', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_step"}]}]},
               "done": {}}}]}') $$,
  'import: granted USAGE on the schema, the importer imports');
SET ROLE cw_tp_writer;
SELECT set_config('cw_tp.id', cyoda_wf.add_item('cw_tp_rev', 1, '{}')::text, false) IS NOT NULL;
SELECT is(cyoda_wf.get_item(current_setting('cw_tp.id')::uuid)->>'by', 'cw_tp_importer',
          'granted: the process runs, as the importer');
SELECT set_config('cw_tp.rev', cyoda_wf.add_item('cw_tp_rev', 1, '{}')::text, false) IS NOT NULL;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION public.cw_tp_stamp(jsonb, jsonb), public.cw_tp_is_ok(jsonb, jsonb) FROM cw_tp_importer;
SET ROLE cw_tp_writer;
SELECT throws_ok($$ SELECT cyoda_wf.add_item('cw_tp_rev', 1, '{}') $$,
  '42501', 'permission denied: role "cw_tp_importer" may not run process function public.cw_tp_stamp(meta jsonb, data jsonb)',
  'EXECUTE revoked after the import: the next save fails (42501, naming function and role)');
SELECT alike(cw_tp_try($$ SELECT cyoda_wf.add_item('cw_tp_rev', 1, '{}') $$),
             '% HINT: GRANT EXECUTE ON FUNCTION public.cw_tp_stamp(jsonb, jsonb) TO cw_tp_importer;%',
             'the error says what to GRANT');
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('cw_tp.rev')::uuid, 'check') $$, '42501', NULL,
                 'EXECUTE revoked after the import: a criterion function fails the fire (42501)');
RESET ROLE;
-- granted through a group the importer belongs to
GRANT EXECUTE ON FUNCTION public.cw_tp_stamp(jsonb, jsonb), public.cw_tp_is_ok(jsonb, jsonb) TO cw_tp_group;
GRANT cw_tp_group TO cw_tp_importer;
SET ROLE cw_tp_writer;
SELECT set_config('cw_tp.id', cyoda_wf.add_item('cw_tp_rev', 1, '{}')::text, false) IS NOT NULL;
SELECT is(cyoda_wf.get_item(current_setting('cw_tp.id')::uuid)->>'by', 'cw_tp_importer',
          'granted again through a group: the process runs');
SELECT is(cyoda_wf.fire(current_setting('cw_tp.rev')::uuid, 'check'), 'done', 'and the criterion function too');
RESET ROLE;
REVOKE cw_tp_group FROM cw_tp_importer;
SET ROLE cw_tp_writer;
SELECT throws_ok($$ SELECT cyoda_wf.add_item('cw_tp_rev', 1, '{}') $$, '42501', NULL,
                 'membership revoked: the next save fails (42501)');
RESET ROLE;
REVOKE USAGE ON SCHEMA cw_tp_priv FROM cw_tp_importer;
SET ROLE cw_tp_writer;
SELECT throws_ok($$ SELECT cyoda_wf.add_item('cw_tp_nsp', 1, '{}') $$, '42501', NULL,
                 'USAGE on the schema revoked after the import: the next save fails (42501)');
RESET ROLE;
GRANT EXECUTE ON FUNCTION public.cw_tp_stamp(jsonb, jsonb) TO cw_tp_importer;
GRANT USAGE ON SCHEMA cw_tp_priv TO cw_tp_importer;
SET ROLE cw_tp_writer;
SELECT set_config('cw_tp.id', cyoda_wf.add_item('cw_tp_rev', 1, '{}')::text, false) IS NOT NULL;
SELECT is(cyoda_wf.get_item(current_setting('cw_tp.id')::uuid)->>'by', 'cw_tp_importer', 'granted back: saves work again');
SELECT set_config('cw_tp.id', cyoda_wf.add_item('cw_tp_nsp', 1, '{}')::text, false) IS NOT NULL;
SELECT is(cyoda_wf.get_item(current_setting('cw_tp.id')::uuid)->>'step', 'cw_tp_importer',
          'USAGE granted back: saves work again');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 3. Settings: nothing a process or criterion SETs survives it
-- ---------------------------------------------------------------------------
-- Imported by the superuser who also saves: the guards hold when importer
-- and saving role are the same.
CREATE FUNCTION public.cw_tp_setter(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('search_path', 'cw_tp_elsewhere, pg_catalog, public', false);
  SET statement_timeout = '4242s';
  SET lock_timeout = '4343s';
  PERFORM set_config('default_transaction_read_only', 'on', false);
  SET LOCAL work_mem = '7MB';
  RETURN data || '{"set": true}';
END $$;
CREATE FUNCTION public.cw_tp_set_crit(meta jsonb, data jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('search_path', 'cw_tp_elsewhere, pg_catalog', false);
  PERFORM set_config('lock_timeout', '4444s', false);
  RETURN true;
END $$;
CREATE FUNCTION public.cw_tp_set_fail(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('statement_timeout', '4646s', false);
  PERFORM set_config('search_path', 'cw_tp_elsewhere', false);
  RAISE EXCEPTION 'cw_tp_set_fail fails after setting';
END $$;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_set', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done",
                       "criterion": {"type": "function", "function": {"name": "cw_tp_set_crit"}},
                       "processors": [{"name": "cw_tp_setter"}]}]},
               "done": {"transitions": [
                 {"name": "again", "next": "done", "manual": true, "processors": [{"name": "cw_tp_setter"}]},
                 {"name": "crit", "next": "done", "manual": true,
                  "criterion": {"type": "function", "function": {"name": "cw_tp_set_crit"}}},
                 {"name": "fail", "next": "done", "manual": true, "processors": [{"name": "cw_tp_set_fail"}]}]}}}]}') $$,
  'a workflow whose process and criterion change settings imports');
SELECT cw_tp_settings() AS settings0 \gset
SELECT set_config('cw_tp.set', cyoda_wf.add_item('cw_tp_set', 1, '{}')::text, false) IS NOT NULL;
SELECT public.cw_tp_settings() AS s_now \gset
:cw_tp_reset
SELECT is(:'s_now'::text, :'settings0',
          'add_item: search_path, statement_timeout, lock_timeout, default_transaction_read_only, work_mem are as before');
SELECT is(cyoda_wf.get_item(current_setting('cw_tp.set')::uuid)->>'set', 'true', 'the setting process did run');
SELECT cyoda_wf.update_item(current_setting('cw_tp.set')::uuid, '{"n": 1}', 'again', NULL) AS r_now \gset
SELECT public.cw_tp_settings() AS s_now \gset
:cw_tp_reset
SELECT is(:'r_now'::text, 'done', 'update_item ran it');
SELECT is(:'s_now'::text, :'settings0', 'update_item: settings as before');
SELECT cyoda_wf.fire(current_setting('cw_tp.set')::uuid, 'crit') AS r_now \gset
SELECT public.cw_tp_settings() AS s_now \gset
:cw_tp_reset
SELECT is(:'r_now'::text, 'done', 'fire ran the setting criterion');
SELECT is(:'s_now'::text, :'settings0', 'fire: settings as before');
SELECT alike(cw_tp_try($$ SELECT cyoda_wf.fire(current_setting('cw_tp.set')::uuid, 'fail') $$),
             'P0001: cw_tp_set_fail fails after setting%', 'a process that fails after setting raises its error');
SELECT public.cw_tp_settings() AS s_now \gset
:cw_tp_reset
SELECT is(:'s_now'::text, :'settings0', 'an error caught by the caller''s EXCEPTION block leaves no setting behind');

-- ---------------------------------------------------------------------------
-- 4. A security-restricted operation
-- ---------------------------------------------------------------------------
CREATE FUNCTION public.cw_tp_set_role(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN SET ROLE cw_tp_writer; RETURN NULL; END $$;
CREATE FUNCTION public.cw_tp_temp(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN CREATE TEMP TABLE cw_tp_tmp (x int); RETURN NULL; END $$;
CREATE FUNCTION public.cw_tp_listen(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN LISTEN cw_tp; RETURN NULL; END $$;
-- what a process may do: write, notify, save other entities
CREATE FUNCTION public.cw_tp_busy(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.cw_tp_log VALUES ('busy', current_user);
  NOTIFY cw_tp;
  RETURN data || jsonb_build_object('child', cyoda_wf.add_item('cw_tp_rev', 1, '{}'));
END $$;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_sro', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [
                 {"name": "role", "next": "new", "manual": true, "processors": [{"name": "cw_tp_set_role"}]},
                 {"name": "temp", "next": "new", "manual": true, "processors": [{"name": "cw_tp_temp"}]},
                 {"name": "listen", "next": "new", "manual": true, "processors": [{"name": "cw_tp_listen"}]},
                 {"name": "busy", "next": "new", "manual": true, "processors": [{"name": "cw_tp_busy"}]}]}}}]}') $$,
  'a workflow of processes that try restricted commands imports');
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_sro2', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "role", "next": "done", "processors": [{"name": "cw_tp_set_role"}]}]},
               "done": {}}}]}') $$, 'a workflow whose automatic transition tries SET ROLE imports');
SELECT set_config('cw_tp.sro', cyoda_wf.add_item('cw_tp_sro', 1, '{}')::text, false) IS NOT NULL;
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('cw_tp.sro')::uuid, 'role') $$, '42501', NULL,
                 'a process cannot SET ROLE');
-- a plain INSERT saves as the inserting role itself, who also imported
SELECT throws_ok($$ INSERT INTO cyoda_wf.entity (model, data) VALUES ('cw_tp_sro2', '{}') $$, '42501', NULL,
                 'a process cannot SET ROLE when importer and saving role are the same (plain INSERT)');
SELECT current_user AS u_now \gset
RESET ROLE;
SELECT is(:'u_now'::text, 'postgres', 'the saving role is itself again');
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('cw_tp.sro')::uuid, 'temp') $$, '42501',
                 'cannot create temporary table within security-restricted operation',
                 'a process cannot create a temporary table');
SELECT throws_ok($$ SELECT cyoda_wf.fire(current_setting('cw_tp.sro')::uuid, 'listen') $$, '42501',
                 'cannot execute LISTEN within security-restricted operation', 'a process cannot LISTEN');
SELECT is(cyoda_wf.fire(current_setting('cw_tp.sro')::uuid, 'busy'), 'new',
          'a process may write, NOTIFY and save other entities (their processes run too)');
SELECT is(cyoda_wf.get_item((cyoda_wf.get_item(current_setting('cw_tp.sro')::uuid)->>'child')::uuid)->>'by',
          'cw_tp_importer', 'the child''s process ran as its own importer');

-- ---------------------------------------------------------------------------
-- 5. The escalation of the report: an importer's operator, a leaked search_path
-- ---------------------------------------------------------------------------
CREATE ROLE cw_tp_imp_a;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tp_imp_a;
GRANT EXECUTE ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb) TO cw_tp_imp_a;
CREATE SCHEMA cw_tp_imp_a AUTHORIZATION cw_tp_imp_a;
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('cw_tp_esc', 1, 'cw_tp_imp_a');
SET ROLE cw_tp_imp_a;
CREATE FUNCTION cw_tp_imp_a.eq(integer, integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
    EXECUTE 'ALTER ROLE cw_tp_imp_a SUPERUSER';
  END IF;
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR cw_tp_imp_a.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = cw_tp_imp_a.eq);
CREATE FUNCTION cw_tp_imp_a.cw_tp_leak(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.set_config('search_path', 'cw_tp_imp_a, pg_catalog, public', false); RETURN NULL; END $$;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_esc', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_leak"}]}]},
               "done": {}}}]}') $$, 'the importer imports a workflow whose process sets search_path');
RESET ROLE;
-- the superuser saves an entity of that workflow, then runs a query with an
-- unqualified "="
SELECT cyoda_wf.add_item('cw_tp_esc', 1, '{}') IS NOT NULL AS esc_saved \gset
SELECT pg_catalog.current_setting('search_path') AS s_now \gset
SELECT count(*) AS esc_count FROM (VALUES (2)) AS v(g) WHERE g = 2 \gset
:cw_tp_reset
SELECT is(:'esc_saved'::text, 't', 'the superuser saved an entity of that workflow');
SELECT is(:'s_now'::text, split_part(:'settings0', ' | ', 1), 'the superuser''s search_path is unchanged');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'cw_tp_imp_a'), false,
          'the importer''s operator did not run as the superuser: no escalation');

-- ---------------------------------------------------------------------------
-- 6. A workflow-selection criterion function runs as the importer
-- ---------------------------------------------------------------------------
CREATE FUNCTION public.cw_tp_who_selects(meta jsonb, data jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.cw_tp_log VALUES ('select:' || (meta->>'workflow'), current_user);
  RETURN (data->>'pick')::boolean IS TRUE;
END $$;
REVOKE EXECUTE ON FUNCTION public.cw_tp_who_selects(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cw_tp_who_selects(jsonb, jsonb) TO cw_tp_importer;
SET ROLE cw_tp_importer;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_sel', 1, '{"workflows": [
    {"name": "picked", "initialState": "p", "criterion": {"type": "function", "function": {"name": "cw_tp_who_selects"}},
     "states": {"p": {}}},
    {"name": "other", "initialState": "o", "states": {"o": {}}}]}') $$,
  'a workflow with a selection criterion function imports');
SET ROLE cw_tp_writer;
SELECT set_config('cw_tp.sel', cyoda_wf.add_item('cw_tp_sel', 1, '{"pick": true}')::text, false) IS NOT NULL;
SELECT set_config('cw_tp.sel2', cyoda_wf.add_item('cw_tp_sel', 1, '{"pick": false}')::text, false) IS NOT NULL;
RESET ROLE;
SELECT is((SELECT array_agg(workflow ORDER BY data->>'pick' DESC) FROM cyoda_wf.entity WHERE model = 'cw_tp_sel'),
          ARRAY['picked', 'other'], 'the selection criterion chose the workflows');
SELECT is((SELECT array_agg(DISTINCT by_user) FROM public.cw_tp_log WHERE what LIKE 'select:%'), ARRAY['cw_tp_importer']::text[],
          'the selection criterion ran as the importer, not as the saving role');

-- ---------------------------------------------------------------------------
-- 7. Async processes and run_tasks
-- ---------------------------------------------------------------------------
CREATE FUNCTION public.cw_tp_async_setter(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('default_transaction_read_only', 'on', false);
  SET statement_timeout = '4545s';
  RETURN data || '{"async": true}';
END $$;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_async', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done",
                       "processors": [{"name": "cw_tp_async_setter", "executionMode": "ASYNC_NEW_TX"}]}]},
               "done": {}}}]}') $$, 'a workflow with an ASYNC_NEW_TX process that changes settings imports');
SELECT set_config('cw_tp.a1', cyoda_wf.add_item('cw_tp_async', 1, '{}')::text, false) IS NOT NULL;
SELECT set_config('cw_tp.a2', cyoda_wf.add_item('cw_tp_async', 1, '{}')::text, false) IS NOT NULL;
CALL cyoda_wf.run_tasks(1);
SELECT public.cw_tp_settings() AS s_now \gset
:cw_tp_reset
SELECT is(:'s_now'::text, :'settings0', 'run_tasks: the async process changed no setting of the session');
CALL cyoda_wf.run_tasks();
SELECT is((SELECT array_agg(state) FROM cyoda_wf.entity WHERE model = 'cw_tp_async'), ARRAY['done', 'done'],
          'further tasks still run');
SELECT public.cw_tp_settings() AS s_now \gset
:cw_tp_reset
SELECT is(:'s_now'::text, :'settings0', 'run_tasks: settings still as before');

-- ---------------------------------------------------------------------------
-- 8. load_functions
-- ---------------------------------------------------------------------------
SELECT is(array_agg(f), ARRAY['cw_tp_py_step'], 'the superuser loads a module')
  FROM cyoda_wf.load_functions($py$
def cw_tp_py_step(meta, data):
    data["py"] = True
    return data
$py$) AS f;
SELECT is(has_function_privilege('cw_tp_importer', 'public.cw_tp_py_step(jsonb, jsonb)', 'EXECUTE'), false,
          'load_functions revokes EXECUTE from PUBLIC');
SET ROLE cw_tp_importer;
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_py', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_py_step"}]}]},
               "done": {}}}]}') $$, '42501', NULL,
  'another role may not import a workflow naming the loaded function (42501)');
RESET ROLE;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_py', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_py_step"}]}]},
               "done": {}}}]}') $$, 'the loading role imports a workflow naming it');
SELECT set_config('cw_tp.id', cyoda_wf.add_item('cw_tp_py', 1, '{}')::text, false) IS NOT NULL;
SELECT is(cyoda_wf.get_item(current_setting('cw_tp.id')::uuid)->>'py', 'true', 'and the loaded process runs for it');
GRANT EXECUTE ON FUNCTION public.cw_tp_py_step(jsonb, jsonb) TO cw_tp_importer;
SET ROLE cw_tp_importer;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_py', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_py_step"}]}]},
               "done": {}}}]}') $$, 'granted EXECUTE, another role imports it');
SET ROLE cw_tp_writer;
SELECT set_config('cw_tp.id', cyoda_wf.add_item('cw_tp_py', 1, '{}')::text, false) IS NOT NULL;
SELECT is(cyoda_wf.get_item(current_setting('cw_tp.id')::uuid)->>'py', 'true', 'and it runs as that importer');
RESET ROLE;

-- A role that may write PL/Python (here: the language made trusted) but does
-- not have the superuser's privileges must not supply the code of a function
-- that a superuser's workflow names: it would run as the superuser.
UPDATE pg_catalog.pg_language SET lanpltrusted = true WHERE lanname = 'plpython3u';
CREATE ROLE cw_tp_loader;
GRANT USAGE ON LANGUAGE plpython3u TO cw_tp_loader;
GRANT CREATE ON SCHEMA public TO cw_tp_loader;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tp_loader;
GRANT USAGE ON SCHEMA cyoda_wf_internal TO cw_tp_loader;
GRANT EXECUTE ON FUNCTION cyoda_wf.load_functions(text, text), cyoda_wf_internal.load_functions_py(text, text),
                          cyoda_wf_internal.raise_python_error(text, text, text, text),
                          cyoda_wf.import_workflows(text, integer, jsonb)
   TO cw_tp_loader;
GRANT SELECT, INSERT, UPDATE ON cyoda_wf.python_module TO cw_tp_loader;
GRANT SELECT ON cyoda_wf.workflow TO cw_tp_loader;
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_plant', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_py_plant"}]}]},
               "done": {}}}]}') $$, 'the superuser imports a workflow whose process does not exist yet');
SET ROLE cw_tp_loader;
SELECT throws_ok($$ SELECT cyoda_wf.load_functions('def cw_tp_py_plant(meta, data):
    data["planted"] = True
    return data
') $$, '42501', NULL, 'load_functions refuses a def that would run as a role whose privileges the caller lacks');
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('cw_tp_own', 1, '{"workflows": [{"name": "w", "initialState": "new",
    "states": {"new": {"transitions": [{"name": "go", "next": "done", "processors": [{"name": "cw_tp_py_own"}]}]},
               "done": {}}}]}') $$, 'the loader imports a workflow of its own');
SELECT is(array_agg(f), ARRAY['cw_tp_py_own'], 'and loads its process')
  FROM cyoda_wf.load_functions('def cw_tp_py_own(meta, data):
    data["own"] = True
    return data
') AS f;
RESET ROLE;
SET ROLE cw_tp_writer;
SELECT set_config('cw_tp.id', cyoda_wf.add_item('cw_tp_own', 1, '{}')::text, false) IS NOT NULL;
SELECT is(cyoda_wf.get_item(current_setting('cw_tp.id')::uuid)->>'own', 'true', 'which runs for its workflow');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'cw_tp_py_plant'), 0, 'nothing was planted');

-- A function body cannot pass other source off as a loaded module: modules
-- are cached per session by sha256, and only the source with that sha256
-- gets the entry.
CREATE TABLE public.cw_tp_src (src text);
INSERT INTO public.cw_tp_src VALUES ('def cw_tp_py_real(meta, data):
    data["real"] = True
    return data
');
CREATE FUNCTION public.cw_tp_py_forge(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpython3u AS $$
import hashlib
from cyoda_wf import runtime
good = plpy.execute("SELECT src FROM public.cw_tp_src")[0]["src"]
evil = "def cw_tp_py_real(meta, data):\n    data['forged'] = True\n    return data\n"
return runtime.call("process", "cw_tp_py_real", hashlib.sha256(good.encode()).hexdigest(), meta, data, evil)
$$;
SELECT throws_ok($$ SELECT public.cw_tp_py_forge('{}', '{}') $$, '22023', NULL,
                 'runtime refuses source that does not match the module''s sha256');
SELECT is(array_agg(f), ARRAY['cw_tp_py_real'], 'the real module loads') FROM public.cw_tp_src, cyoda_wf.load_functions(src) AS f;
SELECT is(public.cw_tp_py_real('{}', '{}'), '{"real": true}'::jsonb, 'its function runs the real code');

SELECT * FROM finish();
ROLLBACK;
