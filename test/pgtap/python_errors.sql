-- pgTAP: errors of the PL/Python sides reach the caller as PostgreSQL
-- errors with a plain message (no "plpy.Error: " / "spiexceptions.X: "
-- prefix), their SQLSTATE, detail and hint, through load_functions,
-- create_connection and drop_connection alike (raise_python_error), also
-- for a caller that is not a superuser; a caller lacking what
-- load_functions needs gets 42501 naming it (the untrusted language, or
-- the rights it lacks).  Runs in one transaction that is rolled back
-- (roles and the language's trust included), in a fresh database.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(11);

-- SQLSTATE | message | detail | hint of the error a statement raises.
CREATE FUNCTION pg_temp.error_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    det text;
    hin text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    RETURN concat_ws(' | ', SQLSTATE, SQLERRM, det, hin);
END $$;

-- A plpy.error with detail and hint.
SELECT is(pg_temp.error_of($$ SELECT cyoda_wf.load_functions('def broken(meta, data)', 'public') $$),
          '22023 | invalid Python source: expected '':'' (line 1) | line 1: def broken(meta, data) | '
          'cyoda_wf.load_functions takes the text of a Python module whose top-level defs take (meta, data).',
          'load_functions: a plpy.Error keeps its SQLSTATE, detail and hint, without the prefix');
SELECT throws_ok($$ SELECT cyoda_wf.load_functions('def f(meta, data):
    return data', 'cw_pe_no_such_schema') $$,
                 '3F000', 'schema "cw_pe_no_such_schema" does not exist',
                 'load_functions: a plpy.Error without detail or hint');

-- An SPI error raised inside the loaded module's top-level code.
SELECT throws_ok($$ SELECT cyoda_wf.load_functions('import plpy
plpy.execute("SELECT 1 / 0")
') $$,
                 '22012', 'division by zero',
                 'load_functions: an SPI error (spiexceptions.DivisionByZero) loses its prefix too');

-- create_connection / drop_connection: the same handler.
SELECT throws_ok($$ SELECT cyoda_wf.create_connection('bad name!', '{"url": "https://example.org/"}') $$,
                 '22023', NULL, 'create_connection refuses an invalid name');
SELECT ok(pg_temp.error_of($$ SELECT cyoda_wf.create_connection('bad name!', '{"url": "https://example.org/"}') $$)
          NOT LIKE '%plpy.Error%', 'create_connection: no prefix');

-- A caller that is not a superuser (load_functions runs as its caller).
-- plpython3u is untrusted: only superusers create functions in it, and the
-- message says so, whatever the role was granted.
CREATE ROLE cw_pe_loader;
CREATE ROLE cw_pe_only;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_pe_loader, cw_pe_only;
GRANT USAGE ON SCHEMA cyoda_wf_internal TO cw_pe_loader;
GRANT EXECUTE ON FUNCTION cyoda_wf.load_functions(text, text) TO cw_pe_only;
GRANT EXECUTE ON FUNCTION cyoda_wf.load_functions(text, text), cyoda_wf_internal.load_functions_py(text, text),
                          cyoda_wf_internal.raise_python_error(text, text, text, text)
   TO cw_pe_loader;
SET ROLE cw_pe_only;
SELECT is(pg_temp.error_of($$ SELECT cyoda_wf.load_functions('def f(meta, data):
    return data') $$),
          '42501 | permission denied: load_functions creates functions in language plpython3u, which role "cw_pe_only" may not do'
          ' | plpython3u is an untrusted language: PostgreSQL lets only superusers create functions in it.'
          ' | Have a superuser run load_functions; the functions it makes run as the roles that import workflows naming them, which need EXECUTE on them.',
          'load_functions granted alone: 42501 naming the language, not "permission denied for function load_functions_py"');
SET ROLE cw_pe_loader;
SELECT throws_ok($$ SELECT cyoda_wf.load_functions('def f(meta, data)') $$,
                 '42501', 'permission denied: load_functions creates functions in language plpython3u, which role "cw_pe_loader" may not do',
                 'load_functions with its internal functions granted: the same message, before the source is read');
RESET ROLE;
-- With the language made trusted (as a site may choose), a role needs USAGE
-- on it, the internal functions, python_module, workflow and USAGE, CREATE on the
-- function schema: the message lists what it lacks.
UPDATE pg_catalog.pg_language SET lanpltrusted = true WHERE lanname = 'plpython3u';
REVOKE USAGE ON LANGUAGE plpython3u FROM PUBLIC;
CREATE SCHEMA cw_pe_fns;
SET ROLE cw_pe_only;
SELECT is(pg_temp.error_of($$ SELECT cyoda_wf.load_functions('def f(meta, data):
    return data', 'cw_pe_fns') $$),
          '42501 | permission denied: role "cw_pe_only" lacks what load_functions needs'
          ' | Missing: USAGE on language plpython3u; USAGE on schema cyoda_wf_internal;'
          ' EXECUTE on function cyoda_wf_internal.load_functions_py(text, text);'
          ' EXECUTE on function cyoda_wf_internal.raise_python_error(text, text, text, text);'
          ' SELECT, INSERT, UPDATE on table cyoda_wf.python_module; SELECT on table cyoda_wf.workflow;'
          ' USAGE, CREATE on schema cw_pe_fns. | A superuser grants them, or runs load_functions.',
          'a trusted language: 42501 listing every right the role lacks');
RESET ROLE;
GRANT USAGE ON LANGUAGE plpython3u TO cw_pe_loader;
GRANT SELECT, INSERT, UPDATE ON cyoda_wf.python_module TO cw_pe_loader;
GRANT SELECT ON cyoda_wf.workflow TO cw_pe_loader;
GRANT USAGE, CREATE ON SCHEMA cw_pe_fns TO cw_pe_loader;
SET ROLE cw_pe_loader;
SELECT throws_ok($$ SELECT cyoda_wf.load_functions('def f(meta, data)', 'cw_pe_fns') $$,
                 '22023', 'invalid Python source: expected '':'' (line 1)',
                 'load_functions as a role that is not a superuser and has the rights: a plpy.Error, plain');
SELECT is(array_agg(f), ARRAY['f'], 'and it loads a module')
  FROM cyoda_wf.load_functions('def f(meta, data):
    return data', 'cw_pe_fns') AS f;
RESET ROLE;
SELECT is(pg_temp.error_of($$ SELECT cyoda_wf_internal.raise_python_error('plain message', '22023', '', '') $$),
          'ok', 'raise_python_error returns for a message without a PL/Python prefix');

SELECT * FROM finish();
ROLLBACK;
