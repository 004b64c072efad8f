"""entity_service: the Cyoda entity service for processes running inside PostgreSQL.

Use it from a PL/Python process or criterion function (or from a module
loaded with cyoda_wf.load_functions):

    from cyoda_wf import entity_service

    def ingest(meta, data):
        raw_id = entity_service.add_item(meta["token"], "raw_data", 1, {"rows": []})
        raw = entity_service.get_item(meta["token"], "raw_data", 1, raw_id)

Every call takes the token of the process that is running now
(``meta["token"]``) and refuses any other (SQLSTATE 55000): the service is
for processes, which is also how entities added here get ``parent_id`` =
the process's entity and ``source`` = ENTITY_EVENT.  From plain SQL, use
the SQL functions cyoda_wf.add_item, get_item, ... instead.

Reads return the entity's data as a dict (lists of dicts) with the key
``technical_id`` added (the entity id as text).  The entity whose process
is running is being saved: its data is the process's ``data`` argument.
For modules loaded with load_functions, get_item on the own id returns a
copy of that in-flight data; a hand-written function gets the stored row
(the data before this save), or an error if the entity is being created.

Arguments may also be given with the Cyoda client's keyword names
(entity_model, entity_version, technical_id, entity).

Values cross into SQL as JSON text: dicts are sent with json.dumps
(Decimal, datetime, date and UUID values are converted), reads are parsed
with json.loads, so a process sees plain int, float, str, bool, None, list
and dict values.  All SQL goes through prepared plans with typed
parameters; nothing is formatted into SQL text.
"""

import datetime
import decimal
import functools
import json
import uuid

from cyoda_wf import spi

__all__ = [
    "get_item",
    "add_item",
    "update_item",
    "delete_item",
    "get_items",
    "get_items_by_condition",
]

# Statements, their parameter types.
_SQL = {
    "check_token": ("SELECT cyoda_wf_internal.check_token($1)::text AS id", ["text"]),
    "get_entity": (
        "SELECT e #>> '{meta,modelKey,name}' AS model,"
        " (e #>> '{meta,modelKey,version}')::int AS version,"
        " (e -> 'data')::text AS data"
        " FROM cyoda_wf.get_entity($1::uuid, $2::timestamptz, $3::bigint) AS e",
        ["text", "text", "text"],
    ),
    "model_of": (
        "SELECT e #>> '{meta,modelKey,name}' AS model,"
        " (e #>> '{meta,modelKey,version}')::int AS version"
        " FROM cyoda_wf.get_entity($1::uuid) AS e",
        ["text"],
    ),
    "add_item": ("SELECT cyoda_wf.add_item($1, $2, $3::jsonb)::text AS id", ["text", "int4", "text"]),
    "update_item": (
        "SELECT cyoda_wf.update_item($1::uuid, $2::jsonb, $3) AS state",
        ["text", "text", "text"],
    ),
    "delete_item": ("SELECT cyoda_wf.delete_item($1::uuid) AS deleted", ["text"]),
    "has_search": (
        "SELECT pg_catalog.to_regprocedure("
        "'cyoda_wf.search(text,integer,jsonb,timestamp with time zone,text[],integer,integer)') IS NOT NULL AS ok",
        [],
    ),
    # Listing and searching: cyoda_wf.search when this build has it (indexed,
    # lifecycle conditions too), else check_condition over the model's rows.
    "search": (
        "SELECT e.id::text AS id, e.data::text AS data"
        " FROM cyoda_wf.search($1, $2, $3::jsonb) AS e"
        " ORDER BY e.created_at, e.id",
        ["text", "int4", "text"],
    ),
    "scan": (
        "SELECT e.id::text AS id, e.data::text AS data FROM cyoda_wf.entity AS e"
        " WHERE e.model OPERATOR(pg_catalog.=) $1"
        " AND e.model_version OPERATOR(pg_catalog.=) $2"
        " AND cyoda_wf.check_condition($3::jsonb, e.data)"
        " ORDER BY e.created_at, e.id",
        ["text", "int4", "text"],
    ),
}

# A condition that every entity matches (empty AND).
_ALL = {"type": "group", "operator": "AND", "conditions": []}

_use_search = None

# Cyoda client keyword names -> ours.
_ALIASES = {
    "entity_model": "model",
    "entity_version": "version",
    "technical_id": "id",
    "entity_id": "id",
    "entity": "data",
}


_plpy = spi.plpy


def _run(name, args):
    """Run the statement _SQL names with args."""
    sql, types = _SQL[name]
    return spi.execute(sql, types, args)


def _json_default(o):
    if isinstance(o, decimal.Decimal):
        if not o.is_finite():
            raise ValueError("cannot store %s in an entity (JSON has no NaN or infinity)" % o)
        if o == o.to_integral_value():
            return int(o)
        return float(o)
    if isinstance(o, (datetime.datetime, datetime.date, datetime.time)):
        return o.isoformat()
    if isinstance(o, uuid.UUID):
        return str(o)
    if isinstance(o, (set, frozenset)):
        return list(o)
    raise TypeError("cannot store a value of type %s in an entity" % type(o).__name__)


def dumps(obj):
    """JSON text of obj for a jsonb parameter."""
    return json.dumps(obj, default=_json_default, allow_nan=False, ensure_ascii=False)


def loads(value):
    """A jsonb value as a Python object (plpy may hand over text or an object)."""
    if value is None or isinstance(value, (dict, list)):
        return value
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    return json.loads(value)


def _data_arg(data, what="data"):
    if isinstance(data, (str, bytes, bytearray)):
        data = loads(data)
    if not isinstance(data, dict):
        raise TypeError("%s must be a dict (a JSON object), not %s" % (what, type(data).__name__))
    return dumps(data)


def _condition_arg(condition):
    if condition is None:
        return dumps(_ALL)
    if isinstance(condition, (str, bytes, bytearray)):
        condition = loads(condition)
    if not isinstance(condition, dict):
        raise TypeError("condition must be a dict (a Cyoda condition), not %s" % type(condition).__name__)
    return dumps(condition)


def _version_arg(version):
    if version is None:
        return 1
    try:
        return int(version)
    except (TypeError, ValueError):
        raise TypeError("version must be an integer, not %r" % (version,)) from None


def _id_arg(id):
    if id is None:
        raise TypeError("entity id must not be None")
    return str(id)


def _with_id(data, id):
    if not isinstance(data, dict):
        data = {"value": data}
    data["technical_id"] = id
    return data


def _aliases(fn):
    """Accept the Cyoda client's keyword names besides ours."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for alias, name in _ALIASES.items():
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError("%s() got both %r and %r" % (fn.__name__, alias, name))
                kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)

    return wrapper


def check_token(token):
    """The id (text) of the entity whose running process holds token.

    Raises plpy.SPIError (SQLSTATE 55000) when token does not belong to the
    process that is running now.
    """
    rows = _run("check_token", ["" if token is None else str(token)])
    return rows[0]["id"]


def _error(message, sqlstate, detail=None, hint=None):
    _plpy().error(message, detail=detail, hint=hint, sqlstate=sqlstate)


def _fetch(id, model, version, with_data=True, point_in_time=None, transaction_id=None):
    """Row (model, version[, data]) of entity id of model/version (as of
    point_in_time / as transaction_id left it), or raise P0002."""
    if with_data:
        if isinstance(point_in_time, (datetime.datetime, datetime.date)):
            point_in_time = point_in_time.isoformat()
        rows = _run(
            "get_entity",
            [
                id,
                None if point_in_time is None else str(point_in_time),
                None if transaction_id is None else str(int(transaction_id)),
            ],
        )
    else:
        rows = _run("model_of", [id])
    r = rows[0]
    if r["model"] != model or r["version"] != version:
        _error(
            'entity %s is not a "%s" version %d' % (id, model, version),
            "P0002",
            detail='It is an entity of model "%s" version %d.' % (r["model"], r["version"]),
        )
    return r


def _not_own(own, id, what):
    if id == own:
        _error(
            "entity %s is being saved and cannot be %s from its own process" % (id, what),
            "55000",
            hint="A process changes its own entity by changing or returning its data argument.",
        )


def _inflight(token, id):
    """The running process's own data when id is its entity, else None."""
    from cyoda_wf import runtime

    return runtime.inflight_data(token, id)


@_aliases
def get_item(token, model, version, id, point_in_time=None, transaction_id=None):
    """The data of entity id (a dict with technical_id added): now, as of
    point_in_time, or as transaction_id's last save of it left it."""
    own = check_token(token)
    id = _id_arg(id)
    version = _version_arg(version)
    if point_in_time is not None or transaction_id is not None:
        r = _fetch(id, model, version, point_in_time=point_in_time, transaction_id=transaction_id)
        return _with_id(loads(r["data"]), id)
    if id == own:
        data = _inflight(token, id)
        if data is not None:
            return _with_id(data, id)
        try:
            r = _fetch(id, model, version)
        except _plpy().SPIError as e:
            if getattr(e, "sqlstate", None) != "P0002":
                raise
            _error(
                "entity %s is being created by the process that asks for it" % id,
                "P0002",
                detail="A process receives its own entity's data as its data argument; "
                "the entity is stored when its workflow step finishes.",
                hint="Use the data argument instead of get_item for the process's own entity.",
            )
        return _with_id(loads(r["data"]), id)
    r = _fetch(id, model, version)
    return _with_id(loads(r["data"]), id)


@_aliases
def add_item(token, model, version, data):
    """Create an entity of model/version with data; returns its id (text).

    The new entity's workflow runs now; parent_id is the entity of the
    running process and source is ENTITY_EVENT.
    """
    check_token(token)
    if not model:
        raise TypeError("model must be a non-empty string")
    rows = _run("add_item", [str(model), _version_arg(version), _data_arg(data)])
    return rows[0]["id"]


@_aliases
def update_item(token, model, version, id, data, meta=None):
    """Save new data for entity id (None keeps it) and run its workflow.

    meta may carry {"update_transition": name} to fire that transition;
    without it the save is a loopback (automatic transitions re-evaluated).
    Returns the id.  A process cannot update its own entity this way (it
    returns the new data instead).
    """
    _not_own(check_token(token), _id_arg(id), "updated")
    id = _id_arg(id)
    _fetch(id, model, _version_arg(version), with_data=False)
    transition = None
    if meta:
        if not isinstance(meta, dict):
            raise TypeError("meta must be a dict such as {\"update_transition\": name}")
        transition = meta.get("update_transition")
    payload = None if data is None else _data_arg(data)
    _run("update_item", [id, payload, transition])
    return id


@_aliases
def delete_item(token, model, version, id, meta=None):
    """Delete entity id (no workflow runs); returns the id."""
    _not_own(check_token(token), _id_arg(id), "deleted")
    id = _id_arg(id)
    _fetch(id, model, _version_arg(version), with_data=False)
    _run("delete_item", [id])
    return id


def _list(model, version, condition_json):
    global _use_search
    if _use_search is None:
        _use_search = bool(_run("has_search", [])[0]["ok"])
    rows = _run("search" if _use_search else "scan", [str(model), _version_arg(version), condition_json])
    return [_with_id(loads(r["data"]), r["id"]) for r in rows]


@_aliases
def get_items(token, model, version):
    """Every stored entity of model/version, oldest first (list of dicts)."""
    check_token(token)
    return _list(model, version, dumps(_ALL))


@_aliases
def get_items_by_condition(token, model, version, condition):
    """Stored entities of model/version whose data match a Cyoda condition.

    condition is a Cyoda condition such as
    {"type": "simple", "jsonPath": "$.region", "operatorType": "EQUALS", "value": "EU"}
    or a group of them; oldest first.
    """
    check_token(token)
    return _list(model, version, _condition_arg(condition))
