"""data_ingestion: read a connection's data and store it as a RAW_DATA entity.

In a process (PL/Python)::

    from cyoda_wf import data_ingestion

    def ingest_raw_data(meta, data):
        data["raw_request_id"] = data_ingestion.ingest_data_from_connection(
            meta["token"], data["connection"])
        return data

From SQL: ``cyoda_wf.ingest(connection, params, raw_model)`` (cyoda_wf--0.2.0.sql).

A connection is an entity of model "connection" (CONFIG, API_REQUEST only,
a reserved model: nothing else writes it) made by
``cyoda_wf.create_connection(name, definition)``, which also stores the
checked definition in cyoda_wf.connection_definition: that row, not the
entity, is what ingest uses.  The values of its secret headers / query
parameters / body live in the table cyoda_wf.connection_secret, keyed by
the connection's entity id (nothing is granted on either table); the entity
data, its versions and the audit show "***" in their place.  Ingesting
fetches the source (http, https or a file under a directory listed in
cyoda_wf.ingest_file_root), parses it (json, ndjson, csv), replaces the
secret values wherever the source echoed them with "***", and returns the
document; cyoda_wf.ingest (C) adds it through add_item as the calling role,
so in a process it gets parent_id = the process's entity and source
ENTITY_EVENT.

Every failure raises a PostgreSQL error with a SQLSTATE (see SQLSTATE_*)
whose message names the connection.  Secret values never appear in entity
data, error messages, details or hints: every text that leaves this package
goes through definitions._scrub().

The package's modules, each using only the ones before it:

definitions  connection definitions and their secrets, constants, SQLSTATEs
fetch        building the request and fetching it (http, https, file)
parsing      parsing the body (json, ndjson, csv), the raw data document
sql          the SQL entry points sql_*() and the process helper

The first three do not need PostgreSQL; sql uses plpy (cyoda_wf.spi).
Every public name of the modules is available from the package itself.
"""

from cyoda_wf.data_ingestion.definitions import (  # noqa: F401
    ACCEPT,
    CONNECTION_MODEL,
    CONNECTION_MODEL_VERSION,
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT_MS,
    DEFINITION_KEYS,
    FORMATS,
    MASK,
    MAX_MAX_BYTES,
    MAX_REDIRECTS,
    MAX_TIMEOUT_MS,
    METHODS,
    PARAMS_KEYS,
    RAW_MODEL_VERSION,
    SCHEMES,
    SQLSTATE_BROKEN,
    SQLSTATE_CONNECT,
    SQLSTATE_EXTERNAL,
    SQLSTATE_HTTP,
    SQLSTATE_INVALID,
    SQLSTATE_IO,
    SQLSTATE_NOT_READY,
    SQLSTATE_NO_FILE,
    SQLSTATE_PARSE,
    SQLSTATE_PRIVILEGE,
    SQLSTATE_TIMEOUT,
    SQLSTATE_TOO_BIG,
    SQLSTATE_UNDEFINED,
    USER_AGENT,
    IngestError,
    effective_definition,
    is_secret_header,
    is_secret_query,
    normalize_definition,
)
from cyoda_wf.data_ingestion.fetch import (  # noqa: F401
    Request,
    check_file_path,
    fetch_file,
    fetch_http,
)
from cyoda_wf.data_ingestion.parsing import (  # noqa: F401
    fetch_and_parse,
    parse,
    raw_document,
    scrub_parsed,
)
from cyoda_wf.data_ingestion.sql import (  # noqa: F401
    ingest_data_from_connection,
    model_from_design,
    sql_create_connection,
    sql_drop_connection,
    sql_ingest,
)

__all__ = ["ingest_data_from_connection", "IngestError"]
