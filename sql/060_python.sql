-- Python processes: modules loaded with load_functions ----------------------

-- Every Python module given to load_functions, once per distinct text.
CREATE TABLE cyoda_wf.python_module (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,
    sha256      text        NOT NULL UNIQUE,
    loaded_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    loaded_by   text        NOT NULL DEFAULT CURRENT_USER
);
COMMENT ON TABLE cyoda_wf.python_module IS
    'Python modules given to load_functions, one row per distinct source (loaded_at/loaded_by: the latest load)';
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.python_module', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.python_module_id_seq', '');

-- The work is done by the cyoda_wf Python package (runtime.py), which the
-- functions made by load_functions call as well.
CREATE FUNCTION cyoda_wf.load_functions_py(source text, function_schema text)
    RETURNS SETOF text
    LANGUAGE plpython3u VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
try:
    from cyoda_wf import runtime
except ImportError as e:
    plpy.error("the cyoda_wf Python package cannot be imported by the server's Python: %s" % e,
               detail="load_functions and the functions it makes run cyoda_wf.runtime.",
               hint="make install copies python/cyoda_wf into PYTHON_SITE "
                    "(default /usr/lib/python3/dist-packages); put that directory on the "
                    "server's PYTHONPATH if the server's Python does not look there.",
               sqlstate="58P01")
return runtime.load_functions(source, function_schema)
$$;
COMMENT ON FUNCTION cyoda_wf.load_functions_py(text, text) IS
    'Internal: the PL/Python side of load_functions';

-- PL/Python puts the Python exception's name ("plpy.Error: ",
-- "spiexceptions.DivisionByZero: ") before the message of an error that
-- leaves a PL/Python function.  The plpgsql functions that call a PL/Python
-- side (load_functions, create_connection, drop_connection, ingest_fetch)
-- pass each error they catch here: one with such a prefix is raised again
-- without it (same SQLSTATE, detail and hint); for any other this returns,
-- and the caller re-raises the error unchanged (RAISE).  load_functions
-- runs as its caller: a role granted EXECUTE on it needs EXECUTE on
-- load_functions_py and raise_python_error as well.
CREATE FUNCTION cyoda_wf.raise_python_error(message text, state text, detail text, hint text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    plain text := regexp_replace(message, '^(plpy\.Error|spiexceptions\.[A-Za-z]+): ', '');
BEGIN
    IF plain = message THEN
        RETURN;
    ELSIF detail <> '' AND hint <> '' THEN
        RAISE EXCEPTION USING MESSAGE = plain, ERRCODE = state, DETAIL = detail, HINT = hint;
    ELSIF detail <> '' THEN
        RAISE EXCEPTION USING MESSAGE = plain, ERRCODE = state, DETAIL = detail;
    ELSIF hint <> '' THEN
        RAISE EXCEPTION USING MESSAGE = plain, ERRCODE = state, HINT = hint;
    ELSE
        RAISE EXCEPTION USING MESSAGE = plain, ERRCODE = state;
    END IF;
END
$$;
COMMENT ON FUNCTION cyoda_wf.raise_python_error(text, text, text, text) IS
    'Internal: raise an error caught from a PL/Python function again without the "plpy.Error: " / "spiexceptions.X: " prefix; returns for an error without one';

-- load_functions(source, function_schema): one function per top-level
-- def name(meta, data) of a Python module, made in function_schema:
-- a criterion (RETURNS boolean) when an imported workflow of that function
-- schema uses the name as a function criterion (or the def is annotated
-- -> bool, or a boolean function of that name exists), else a process
-- (RETURNS jsonb).  EXECUTE on them is revoked from PUBLIC: they run through
-- their workflows, as the role that imported the workflow.  Returns the
-- names made.  This wrapper only gives errors raised by the loader a plain
-- message (raise_python_error).
CREATE FUNCTION cyoda_wf.load_functions(source text, function_schema text DEFAULT 'public')
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
BEGIN
    RETURN QUERY SELECT f FROM cyoda_wf.load_functions_py(source, function_schema) AS f;
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;
COMMENT ON FUNCTION cyoda_wf.load_functions(text, text) IS
    'Turn each top-level def name(meta, data) of a Python module into a process (or criterion) function in function_schema; returns the names made';
