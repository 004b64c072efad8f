"""The SQL entry points and the process helper (inside PostgreSQL).

sql_create_connection, sql_drop_connection and sql_ingest are the
PL/Python sides of cyoda_wf.create_connection, drop_connection and ingest
(cyoda_wf--0.2.0.sql); ingest_data_from_connection is what a process calls.
Failures of the other modules (IngestError) become PostgreSQL errors here.
"""

import json
import sys
import urllib.parse
import urllib.request

from cyoda_wf import spi
from cyoda_wf.data_ingestion.definitions import (
    CONNECTION_MODEL,
    CONNECTION_MODEL_VERSION,
    DEFINITION_KEYS,
    IngestError,
    RAW_MODEL_VERSION,
    SQLSTATE_EXTERNAL,
    SQLSTATE_INVALID,
    SQLSTATE_NOT_READY,
    SQLSTATE_UNDEFINED,
    _NAME_RE,
    _VAR_RE,
    _check_params,
    _invalid,
    effective_definition,
    normalize_definition,
)
from cyoda_wf.data_ingestion.fetch import (
    Request,
    check_file_path,
)
from cyoda_wf.data_ingestion.parsing import (
    fetch_and_parse,
)

_plpy = spi.plpy
_exec = spi.execute


def _raise(e):
    kw = {"sqlstate": e.sqlstate}
    if e.detail:
        kw["detail"] = e.detail
    if e.hint:
        kw["hint"] = e.hint
    _plpy().error(e.message, **kw)


_schema_ok = False


def _check_schema():
    """55000 in a database whose cyoda_wf schema predates connection_definition
    (0.1.0): this package works only on the updated one."""
    global _schema_ok
    if not _schema_ok:
        rows = _exec("SELECT pg_catalog.to_regclass('cyoda_wf.connection_definition') IS NOT NULL AS ok",
                     [], [])
        if not rows[0]["ok"]:
            raise IngestError(SQLSTATE_NOT_READY, "data ingestion needs the cyoda_wf schema of this version",
                              detail="This database has the objects of cyoda_wf 0.1.0.",
                              hint="Run ALTER EXTENSION cyoda_wf UPDATE.")
        _schema_ok = True


def _find_connection(name):
    """(entity id, definition) of the connection create_connection stored, or (None, None)."""
    rows = _exec("SELECT d.entity_id::text AS id, d.definition::text AS def"
                 " FROM cyoda_wf.connection_definition AS d WHERE d.name = $1",
                 ["text"], [name])
    if not rows:
        return None, None
    return rows[0]["id"], json.loads(rows[0]["def"])


def _stored_secrets(cid):
    """{(kind, key): value} of the connection whose entity id is cid."""
    if cid is None:
        return {}
    rows = _exec("SELECT s.kind, s.key, s.value FROM cyoda_wf.connection_secret AS s"
                 " WHERE s.connection_id = $1::uuid",
                 ["text"], [cid])
    return {(r["kind"], r["key"]): r["value"] for r in rows}


def _file_roots():
    return [r["dir"] for r in _exec("SELECT r.dir FROM cyoda_wf.ingest_file_root AS r ORDER BY r.dir",
                                    [], [])]


def _lock(name):
    _exec("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('cyoda_wf.connection:' || $1))",
          ["text"], [name])


def _entity_exists(cid):
    return bool(_exec("SELECT 1 FROM cyoda_wf.entity AS e WHERE e.id = $1::uuid",
                      ["text"], [cid]))


def _write_entity(op, cid, data):
    """The connection's entity: 'create', 'replace' or 'delete' (the only
    writes the reserved model "connection" takes); its id."""
    rows = _exec("SELECT cyoda_wf_internal.write_connection_entity($1, $2::uuid, $3::jsonb)::text AS id",
                 ["text", "text", "text"], [op, cid, data])
    return rows[0]["id"]


def sql_create_connection(name, definition):
    """cyoda_wf.create_connection(name, definition): upsert by name; the entity id."""
    try:
        d = json.loads(definition) if definition is not None else None
        if not isinstance(name, str) or not _NAME_RE.match(name):
            normalize_definition(name, d)  # raises the name error
        _check_schema()
        _lock(name)
        cid, _ = _find_connection(name)
        public, secrets = normalize_definition(name, d, _stored_secrets(cid))
        scheme = urllib.parse.urlsplit(public["url"]).scheme
        if scheme == "file" and not _VAR_RE.search(public["url"]):
            check_file_path(name, urllib.request.url2pathname(urllib.parse.urlsplit(public["url"]).path),
                            _file_roots())
    except IngestError as e:
        _raise(e)
    _exec("INSERT INTO cyoda_wf.model AS m (name, version, entity_type, sources)"
          " VALUES ($1, $2, 'CONFIG', ARRAY['API_REQUEST']) ON CONFLICT (name, version) DO UPDATE"
          " SET entity_type = excluded.entity_type, sources = excluded.sources, depends_on = NULL"
          " WHERE m.entity_type IS DISTINCT FROM excluded.entity_type OR m.sources <> excluded.sources"
          " OR m.depends_on IS NOT NULL",
          ["text", "int4"], [CONNECTION_MODEL, CONNECTION_MODEL_VERSION])
    data = json.dumps(public)
    if cid is not None and _entity_exists(cid):
        _write_entity("replace", cid, data)
    else:
        cid = _write_entity("create", None, data)
    _exec("INSERT INTO cyoda_wf.connection_definition AS d (name, entity_id, definition)"
          " VALUES ($1, $2::uuid, $3::jsonb) ON CONFLICT (name) DO UPDATE"
          " SET entity_id = excluded.entity_id, definition = excluded.definition,"
          " updated_at = pg_catalog.clock_timestamp()",
          ["text", "text", "text"], [name, cid, data])
    _exec("DELETE FROM cyoda_wf.connection_secret AS s WHERE s.connection_id = $1::uuid",
          ["text"], [cid])
    for (kind, key), value in sorted(secrets.items()):
        _exec("INSERT INTO cyoda_wf.connection_secret (connection, kind, key, value, connection_id)"
              " VALUES ($1, $2, $3, $4, $5::uuid)", ["text", "text", "text", "text", "text"],
              [name, kind, key, value, cid])
    return cid


def sql_drop_connection(name):
    """cyoda_wf.drop_connection(name): delete the connection, its secrets and its entity."""
    try:
        _check_schema()
    except IngestError as e:
        _raise(e)
    _lock(name)
    cid, _ = _find_connection(name)
    if cid is None:
        return False
    # its secrets go with it (ON DELETE CASCADE)
    _exec("DELETE FROM cyoda_wf.connection_definition AS d WHERE d.name = $1", ["text"], [name])
    if _entity_exists(cid):
        _write_entity("delete", cid, None)
    return True


def _adds(annotations):
    out = []
    for key in ("adds_new_entities", "adds_new_entites"):
        v = (annotations or {}).get(key)
        for x in (v if isinstance(v, list) else [v]):
            if isinstance(x, str) and x and x != "None" and x not in out:
                out.append(x)
    return out


def model_from_design(conn, meta):
    """The model named by adds_new_entities of the running transition, or None."""
    m, wf, tr = meta.get("entity_model"), meta.get("workflow"), meta.get("transition")
    if not (isinstance(m, str) and isinstance(wf, str) and isinstance(tr, str)):
        return None
    ver = meta.get("entity_version") if isinstance(meta.get("entity_version"), int) else 1
    rows = _exec("SELECT w.definition::text AS def FROM cyoda_wf.workflow AS w"
                 " WHERE w.model = $1 AND w.model_version = $2 AND w.name = $3",
                 ["text", "int4", "text"], [m, ver, wf])
    if not rows:
        return None
    states = json.loads(rows[0]["def"]).get("states") or {}
    order = [meta.get("state")] + [s for s in states if s != meta.get("state")]
    cands = []
    for s in order:
        for t in (states.get(s) or {}).get("transitions") or []:
            if t.get("name") == tr:
                cands = _adds(t.get("annotations"))
                if cands:
                    break
        if cands:
            break
    if len(cands) <= 1:
        return cands[0] if cands else None
    rows = _exec("SELECT m.name FROM cyoda_wf.model AS m WHERE m.name = ANY($1) AND m.version = $2"
                 " AND pg_catalog.upper(m.entity_type) LIKE '%RAW_DATA%'", ["text[]", "int4"], [cands, RAW_MODEL_VERSION])
    raw = [r["name"] for r in rows]
    if len(raw) == 1:
        return raw[0]
    raise _invalid('connection "%s": transition "%s" adds several entities (%s); cannot tell which one '
                   "holds the raw data" % (conn, tr, ", ".join(cands)),
                   hint="Pass raw_model, or set \"raw_model\" in the connection.")


def sql_ingest(connection, params, raw_model, meta):
    """The fetch of cyoda_wf.ingest(connection, params, raw_model, meta):
    {"model", "data" (JSON text)} of the raw data entity (version
    RAW_MODEL_VERSION), which ingest then adds as its caller."""
    try:
        if not isinstance(connection, str) or not connection:
            raise _invalid("connection name must not be NULL or empty")
        m = json.loads(meta) if meta is not None else None
        if m is not None:
            if not isinstance(m, dict) or not isinstance(m.get("token"), str):
                raise _invalid('connection "%s": meta must be the process\'s meta object (with "token")'
                               % connection)
            eid = _exec("SELECT cyoda_wf_internal.check_token($1)::text AS id", ["text"], [m["token"]])[0]["id"]
            if m.get("entity_id") not in (None, eid):
                raise _invalid('connection "%s": meta "entity_id" is not the entity of the token' % connection)
        _check_schema()
        cid, public = _find_connection(connection)
        if cid is None:
            raise IngestError(SQLSTATE_UNDEFINED, 'connection "%s" does not exist' % connection,
                              hint="Create it with cyoda_wf.create_connection(name, definition).")
        p = json.loads(params) if params is not None else None
        d = effective_definition(public, _stored_secrets(cid))
        # Checked again: a definition stored by an earlier version may break today's rules.
        normalize_definition(connection, {k: v for k, v in d.items() if k in DEFINITION_KEYS})
        req = Request(connection, d, _check_params(p, connection))
        model = raw_model or d.get("raw_model")
        if not model and m is not None:
            model = model_from_design(connection, m)
        if not model:
            raise _invalid('connection "%s": no model for the raw data entity' % connection,
                           detail="Neither raw_model, the connection's \"raw_model\" nor the running "
                                  "transition's adds_new_entities names one.",
                           hint="Pass raw_model, e.g. cyoda_wf.ingest('%s', NULL, 'raw_data')." % connection)
        roots = _file_roots() if req.scheme == "file" else ()
        try:
            doc = fetch_and_parse(req, roots)
        except IngestError:
            raise
        except Exception as e:  # a failure not foreseen above: still name the connection, hide secrets
            raise req.error(SQLSTATE_EXTERNAL, "failed: %s: %s" % (type(e).__name__, e))
    except IngestError as e:
        _raise(e)
    return {"model": model, "data": json.dumps(doc, ensure_ascii=False)}


# The process helper

_META_KEYS = ("token", "entity_id", "entity_model", "entity_version", "state", "transition",
              "next_state", "workflow", "process")


def _as_meta(v, token):
    if isinstance(v, str) and token in v and len(v) < 1 << 20:
        try:
            v = json.loads(v)
        except ValueError:
            return None
    if isinstance(v, dict) and v.get("token") == token:
        return v
    return None


def _find_meta(token):
    """The meta of the running process holding token, found on the Python stack."""
    f = sys._getframe(2)
    while f is not None:
        for scope in (f.f_locals, f.f_globals):
            v = scope.get("meta")
            m = _as_meta(v, token)
            if m is not None:
                return m
        for v in f.f_locals.values():
            if isinstance(v, dict) and v.get("token") == token:
                return v
        f = f.f_back
    return None


def ingest_data_from_connection(token, connection_name, params=None, raw_model=None, meta=None):
    """Fetch connection_name, store one raw data entity, return its id (str).

    token is meta["token"] of the running process.  The entity's model is
    raw_model, else the connection's "raw_model", else the entity the
    running transition adds (the design's adds_new_entites); meta (the
    process's meta dict) is found on the stack when not given.  params:
    {"vars": {...}, "query": {...}, "headers": {...}, "body": ...}.
    Errors are PostgreSQL errors (plpy.SPIError subclasses) with the
    SQLSTATEs listed in this module.
    """
    if meta is None:
        meta = _find_meta(token)
    else:
        meta = _as_meta(meta, token)
        if meta is None:
            _plpy().error("meta does not belong to the token", sqlstate=SQLSTATE_INVALID)
    m = {k: meta[k] for k in _META_KEYS if k in meta} if meta else {"token": token}
    rows = _exec("SELECT cyoda_wf.ingest($1, $2::jsonb, $3, $4::jsonb)::text AS id",
                 ["text", "text", "text", "text"],
                 [connection_name, json.dumps(params) if params is not None else None, raw_model,
                  json.dumps(m, default=str)])
    return rows[0]["id"]
