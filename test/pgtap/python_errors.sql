-- pgTAP: errors of the PL/Python sides reach the caller as PostgreSQL
-- errors with a plain message (no "plpy.Error: " / "spiexceptions.X: "
-- prefix), their SQLSTATE, detail and hint, through load_functions,
-- create_connection and drop_connection alike (raise_python_error), also
-- for a caller that is not a superuser.  Runs in one transaction that is
-- rolled back (roles included), in a fresh database.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(8);

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

-- A caller that is not a superuser (load_functions runs as its caller) and
-- has EXECUTE on the three functions load_functions needs.
CREATE ROLE cw_pe_loader;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_pe_loader;
GRANT EXECUTE ON FUNCTION cyoda_wf.load_functions(text, text), cyoda_wf.load_functions_py(text, text),
                          cyoda_wf.raise_python_error(text, text, text, text)
   TO cw_pe_loader;
SET ROLE cw_pe_loader;
SELECT throws_ok($$ SELECT cyoda_wf.load_functions('def f(meta, data):
    return data') $$,
                 '42501', 'permission denied for table python_module',
                 'load_functions as a role without rights on python_module: the SPI error, plain');
SELECT throws_ok($$ SELECT cyoda_wf.load_functions('def f(meta, data)') $$,
                 '22023', 'invalid Python source: expected '':'' (line 1)',
                 'load_functions as a role that is not a superuser: a plpy.Error, plain');
RESET ROLE;
SELECT is(pg_temp.error_of($$ SELECT cyoda_wf.raise_python_error('plain message', '22023', '', '') $$),
          'ok', 'raise_python_error returns for a message without a PL/Python prefix');

SELECT * FROM finish();
ROLLBACK;
