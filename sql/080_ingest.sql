-- Data ingestion: connections (CONFIG entities) and cyoda_wf.ingest ---------
--
-- A connection is an entity of model "connection" (version 1, type CONFIG,
-- source API_REQUEST) whose data names a source: http(s) GET/POST with
-- headers, query and body, or a file:// file on the server; its format
-- (json, ndjson, csv), timeout_ms and max_bytes.  create_connection keeps
-- the values of secret headers / query parameters / body in
-- connection_secret and writes "***" in their place into the entity, so
-- they never reach entity data, versions, audit rows or error texts.
-- "connection" is a reserved model (src/connections.c): no workflow is
-- imported for it and only create_connection / drop_connection write its
-- entities.  What ingest uses is the definition create_connection stored
-- in connection_definition, never the entity.  ingest fetches, parses and
-- adds one raw data entity as the calling role (inside a process it is a
-- child of the process's entity).  The work is done by the Python package
-- (python/cyoda_wf/data_ingestion/).

-- The connections ingest uses, one row each, written by create_connection
-- and drop_connection only (nothing is granted on it): the name, the
-- entity that shows the connection and the checked definition, with "***"
-- for secret values (what the entity showed when create_connection wrote
-- it).  An entity row changed or added by anyone else does not change what
-- ingest sends where.
CREATE TABLE cyoda_wf.connection_definition (
    name        text        PRIMARY KEY,
    entity_id   uuid        NOT NULL UNIQUE,
    definition  jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE cyoda_wf.connection_definition IS
    'The connections ingest uses: name, entity id and definition (secret values "***") as create_connection stored them; written by create_connection / drop_connection only';
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.connection_definition', '');

-- Secret values of connections, keyed by the connection's entity id (and
-- dropped with its connection_definition row); "connection" is its name.
-- Nothing is granted on it (090 revokes all from PUBLIC); only the
-- connection functions read it, as the extension owner.
CREATE TABLE cyoda_wf.connection_secret (
    connection  text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('header', 'query', 'body')),
    key         text NOT NULL,
    value       text NOT NULL,
    connection_id uuid NOT NULL REFERENCES cyoda_wf.connection_definition (entity_id)
                       ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (connection_id, kind, key)
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
-- are called by the functions below, as the extension owner, and nothing
-- else may execute them (090 revokes EXECUTE from PUBLIC).
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

CREATE FUNCTION cyoda_wf.ingest_py(connection text, params jsonb, raw_model text, meta jsonb,
                                   OUT model text, OUT data jsonb)
    LANGUAGE plpython3u VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
from cyoda_wf import data_ingestion
return data_ingestion.sql_ingest(connection, params, raw_model, meta)
$$;
COMMENT ON FUNCTION cyoda_wf.ingest_py(text, jsonb, text, jsonb) IS
    'Internal: the PL/Python side of ingest: fetch and parse; the model and data of the raw data entity';

-- Internal: the entity writes of create_connection ('create', NULL, data),
-- of a replace ('replace', id, data) and of drop_connection ('delete', id,
-- NULL), the only writes the entity trigger lets through for the reserved
-- model "connection".  Works only for the extension owner.
CREATE FUNCTION cyoda_wf.write_connection_entity(op text, id uuid, data jsonb)
    RETURNS uuid
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'write_connection_entity';
COMMENT ON FUNCTION cyoda_wf.write_connection_entity(text, uuid, jsonb) IS
    'Internal: the writes of create_connection / drop_connection on their entity of the reserved model "connection"';

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
    det text;
    hin text;
BEGIN
    RETURN cyoda_wf.create_connection_py(name, definition);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
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
    det text;
    hin text;
BEGIN
    RETURN cyoda_wf.drop_connection_py(name);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;
COMMENT ON FUNCTION cyoda_wf.drop_connection(text) IS
    'Delete a connection entity and its secrets; false when there is no such connection';

-- Internal: ingest's fetch, as the extension owner: the connection's
-- definition and secrets (connection_definition, connection_secret), the
-- request, and the model and data (the parsed document, secret values
-- scrubbed) of the raw data entity.
CREATE FUNCTION cyoda_wf.ingest_fetch(connection text, params jsonb, raw_model text, meta jsonb,
                                      OUT model text, OUT data jsonb)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    det text;
    hin text;
BEGIN
    SELECT * INTO model, data FROM cyoda_wf.ingest_py(connection, params, raw_model, meta);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    PERFORM cyoda_wf.raise_python_error(SQLERRM, SQLSTATE, det, hin);
    RAISE;
END
$$;
COMMENT ON FUNCTION cyoda_wf.ingest_fetch(text, jsonb, text, jsonb) IS
    'Internal: fetch and parse for ingest, as the extension owner; the model and data of the raw data entity';

-- ingest(connection, params, raw_model, meta) -> id of the raw data entity.
-- params: {"vars": {placeholder: value}, "query": {...}, "headers": {...},
-- "body": ...}.  The model: raw_model, else the connection's "raw_model",
-- else (with meta, the running process's meta) the entity the running
-- transition adds (the design's adds_new_entites); else 22023.  Not
-- SECURITY DEFINER: it fetches as the extension owner and adds the entity
-- as the caller, who is its changed_by and audit role (src/connections.c).
CREATE FUNCTION cyoda_wf.ingest(connection text, params jsonb DEFAULT NULL,
                                raw_model text DEFAULT NULL, meta jsonb DEFAULT NULL)
    RETURNS uuid
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'ingest';
COMMENT ON FUNCTION cyoda_wf.ingest(text, jsonb, text, jsonb) IS
    'Fetch a connection''s source, parse it (json, ndjson, csv) and add one raw data entity with the payload and its provenance; returns its id';
