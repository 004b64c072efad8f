-- Data ingestion: connections (CONFIG entities) and cyoda_wf.ingest ---------
--
-- A connection is an entity of model "connection" (version 1, type CONFIG,
-- source API_REQUEST) whose data names a source: http(s) GET/POST with
-- headers, query and body, or a file:// file on the server; its format
-- (json, ndjson, csv), timeout_ms and max_bytes.  create_connection keeps
-- the values of secret headers / query parameters / body in
-- connection_secret and writes "***" in their place into the entity, so
-- they never reach entity data, versions, audit rows or error texts.
-- ingest fetches, parses and adds one raw data entity (through add_item:
-- inside a process it is a child of the process's entity).  The work is
-- done by the Python package (python/cyoda_wf/data_ingestion.py).

-- Secret values of connections.  Nothing is granted on it (090 revokes all
-- from PUBLIC); only the SECURITY DEFINER functions below read it.
CREATE TABLE cyoda_wf.connection_secret (
    connection  text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('header', 'query', 'body')),
    key         text NOT NULL,
    value       text NOT NULL,
    PRIMARY KEY (connection, kind, key)
);
COMMENT ON TABLE cyoda_wf.connection_secret IS
    'Secret header / query / body values of connections (entity data shows "***"); readable by the extension owner only';
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.connection_secret', '');

-- Directories file:// connections may read (on the database server, as the
-- server's OS user).  Empty by default: file:// is refused until a
-- superuser lists a directory here.
CREATE TABLE cyoda_wf.ingest_file_root (
    dir         text PRIMARY KEY CHECK (dir LIKE '/%')
);
COMMENT ON TABLE cyoda_wf.ingest_file_root IS
    'Directories (absolute; symlinks resolved) under which file:// connections may read files';
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.ingest_file_root', '');

-- Internal: the PL/Python sides.  No SECURITY DEFINER of their own: they
-- are called by the wrappers below (which are), and nothing else may
-- execute them (090 revokes EXECUTE from PUBLIC).
CREATE FUNCTION cyoda_wf.create_connection_py(name text, definition jsonb)
    RETURNS uuid
    LANGUAGE plpython3u VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
from cyoda_wf import data_ingestion
return data_ingestion.sql_create_connection(name, definition)
$$;
COMMENT ON FUNCTION cyoda_wf.create_connection_py(text, jsonb) IS
    'Internal: the PL/Python side of create_connection';

CREATE FUNCTION cyoda_wf.drop_connection_py(name text)
    RETURNS boolean
    LANGUAGE plpython3u VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
from cyoda_wf import data_ingestion
return data_ingestion.sql_drop_connection(name)
$$;
COMMENT ON FUNCTION cyoda_wf.drop_connection_py(text) IS
    'Internal: the PL/Python side of drop_connection';

CREATE FUNCTION cyoda_wf.ingest_py(connection text, params jsonb, raw_model text, meta jsonb)
    RETURNS uuid
    LANGUAGE plpython3u VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
from cyoda_wf import data_ingestion
return data_ingestion.sql_ingest(connection, params, raw_model, meta)
$$;
COMMENT ON FUNCTION cyoda_wf.ingest_py(text, jsonb, text, jsonb) IS
    'Internal: the PL/Python side of ingest';


-- create_connection(name, definition) -> entity id: create or replace (by
-- name) the connection entity.  definition: {"url", "method", "headers",
-- "query", "body", "format", "timeout_ms", "max_bytes", "raw_model",
-- "secret_headers", "secret_query", "secret_body", "csv_delimiter",
-- "csv_numbers", "proxy", "description"}.  22023 on an invalid definition,
-- 42501 for a file:// path outside cyoda_wf.ingest_file_root.
CREATE FUNCTION cyoda_wf.create_connection(name text, definition jsonb)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    msg text;
    state text;
    det text;
    hin text;
BEGIN
    RETURN cyoda_wf.create_connection_py(name, definition);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE,
                            det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    -- PL/Python puts "plpy.Error: " or "spiexceptions.X: " before messages.
    msg := regexp_replace(msg, '^(plpy\.Error|spiexceptions\.[A-Za-z]+): ', '');
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
COMMENT ON FUNCTION cyoda_wf.create_connection(text, jsonb) IS
    'Create or replace (by name) a connection entity (model "connection", CONFIG); secret header/query/body values are kept in connection_secret and shown as "***"; returns the entity id';

CREATE FUNCTION cyoda_wf.drop_connection(name text)
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    msg text;
    state text;
    det text;
    hin text;
BEGIN
    RETURN cyoda_wf.drop_connection_py(name);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE,
                            det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    -- PL/Python puts "plpy.Error: " or "spiexceptions.X: " before messages.
    msg := regexp_replace(msg, '^(plpy\.Error|spiexceptions\.[A-Za-z]+): ', '');
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
COMMENT ON FUNCTION cyoda_wf.drop_connection(text) IS
    'Delete a connection entity and its secrets; false when there is no such connection';

-- ingest(connection, params, raw_model, meta) -> id of the raw data entity.
-- params: {"vars": {placeholder: value}, "query": {...}, "headers": {...},
-- "body": ...}.  The model: raw_model, else the connection's "raw_model",
-- else (with meta, the running process's meta) the entity the running
-- transition adds (the design's adds_new_entites); else 22023.
CREATE FUNCTION cyoda_wf.ingest(connection text, params jsonb DEFAULT NULL,
                                raw_model text DEFAULT NULL, meta jsonb DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    msg text;
    state text;
    det text;
    hin text;
BEGIN
    RETURN cyoda_wf.ingest_py(connection, params, raw_model, meta);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE,
                            det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    -- PL/Python puts "plpy.Error: " or "spiexceptions.X: " before messages.
    msg := regexp_replace(msg, '^(plpy\.Error|spiexceptions\.[A-Za-z]+): ', '');
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
COMMENT ON FUNCTION cyoda_wf.ingest(text, jsonb, text, jsonb) IS
    'Fetch a connection''s source, parse it (json, ndjson, csv) and add one raw data entity with the payload and its provenance; returns its id';
