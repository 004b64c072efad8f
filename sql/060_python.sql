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

-- load_functions(source, function_schema): one function per top-level
-- def name(meta, data) of a Python module, made in function_schema:
-- a criterion (RETURNS boolean) when an imported workflow of that function
-- schema uses the name as a function criterion (or the def is annotated
-- -> bool, or a boolean function of that name exists), else a process
-- (RETURNS jsonb).  EXECUTE on them is revoked from PUBLIC: they run through
-- their workflows, as the role that imported the workflow.  Returns the
-- names made.  This wrapper only gives errors raised by the loader a plain
-- message (PL/Python prefixes "plpy.Error: ").
CREATE FUNCTION cyoda_wf.load_functions(source text, function_schema text DEFAULT 'public')
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    msg text;
    state text;
    det text;
    hin text;
BEGIN
    RETURN QUERY SELECT f FROM cyoda_wf.load_functions_py(source, function_schema) AS f;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE,
                            det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    IF msg NOT LIKE 'plpy.Error: %' THEN
        RAISE;
    END IF;
    msg := substr(msg, length('plpy.Error: ') + 1);
    IF det <> '' AND hin <> '' THEN
        RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = state, DETAIL = det, HINT = hin;
    ELSIF det <> '' THEN
        RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = state, DETAIL = det;
    ELSIF hin <> '' THEN
        RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = state, HINT = hin;
    ELSE
        RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = state;
    END IF;
END
$$;
COMMENT ON FUNCTION cyoda_wf.load_functions(text, text) IS
    'Turn each top-level def name(meta, data) of a Python module into a process (or criterion) function in function_schema; returns the names made';
