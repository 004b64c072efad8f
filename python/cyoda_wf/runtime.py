"""runtime: Python modules turned into process and criterion functions.

cyoda_wf.load_functions(source, function_schema) calls load_functions()
below.  It checks the module (ast + compile), records it in
cyoda_wf.python_module, imports it once (as Python's import would), and
creates one SQL function per top-level ``def name(meta, data)``:

    CREATE OR REPLACE FUNCTION schema.name(meta jsonb, data jsonb)
        RETURNS jsonb          -- boolean for criteria (def_kind decides)
        LANGUAGE plpython3u AS $$ ... $$

The body of each function carries the module's sha256 and source, and
calls enter() / the def / leave() / result() below: the module is
imported once per session (cached by sha256) and the def gets plain JSON
values: meta and data are dicts as json.loads makes them (int, float, str,
bool, None, list, dict), the same types entity_service reads return.  (No
jsonb transform: it would hand over every number as a Decimal.)

The functions run as the role that imported the workflow naming them, so
load_functions refuses a def whose name a workflow of that function schema
uses when the workflow's importer has privileges the calling role does not
have (42501): the caller's code would run with them.  EXECUTE on what it
makes is revoked from PUBLIC; their owner (the caller) keeps it, and other
importers need it granted.

Modules written for Cyoda's Python client import
``from common.config.config import ENTITY_VERSION`` and
``from logic.app_init import entity_service``.  Those modules do not exist
here: while a loaded module is imported, and while its functions run,
sys.modules carries small stand-ins for them (ENTITY_VERSION = 1 and
cyoda_wf.entity_service); whatever sys.modules held under those names
before is put back afterwards, so nothing named ``common`` or ``logic`` is
installed for other code.
"""

import ast
import contextlib
import copy
import hashlib
import json
import keyword
import linecache
import re
import sys
import traceback
import types

from cyoda_wf import entity_service, spi

ENTITY_VERSION = 1

# Marker on the first line of every function body made by load_functions.
MARKER = "# cyoda_wf.load_functions"

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_NAMEDATALEN = 64

# sha256 -> imported module, for this session.
_modules = {}

# (token, entity id, data) of the loaded-module processes running now, innermost last.
_running = []

_plpy = spi.plpy


# ---------------------------------------------------------------------------
# Stand-ins for the Cyoda client's modules


def _package(name):
    m = types.ModuleType(name, "cyoda_wf stand-in for the Cyoda client's %s package" % name)
    m.__path__ = []
    m.__cyoda_wf_shim__ = True
    return m


def _make_shims():
    common = _package("common")
    common_config = _package("common.config")
    config = types.ModuleType("common.config.config", "cyoda_wf stand-in: ENTITY_VERSION = 1")
    config.ENTITY_VERSION = ENTITY_VERSION
    config.__cyoda_wf_shim__ = True
    common.config = common_config
    common_config.config = config

    logic = _package("logic")
    app_init = types.ModuleType("logic.app_init", "cyoda_wf stand-in: entity_service = cyoda_wf.entity_service")
    app_init.entity_service = entity_service
    app_init.__cyoda_wf_shim__ = True
    logic.app_init = app_init
    return {
        "common": common,
        "common.config": common_config,
        "common.config.config": config,
        "logic": logic,
        "logic.app_init": app_init,
    }


_SHIMS = _make_shims()
_MISSING = object()

# What sys.modules held under the stand-ins' names, per install (nested calls).
_saved = []


def install_shims():
    """Put the Cyoda client stand-ins into sys.modules (undo with restore_shims)."""
    saved = {}
    for name, mod in _SHIMS.items():
        saved[name] = sys.modules.get(name, _MISSING)
        sys.modules[name] = mod
    _saved.append(saved)


def restore_shims():
    """Give back what sys.modules held before the matching install_shims."""
    if not _saved:
        return
    for name, old in _saved.pop().items():
        if old is _MISSING:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = old


@contextlib.contextmanager
def shims():
    """sys.modules with the Cyoda client stand-ins, restored afterwards."""
    install_shims()
    try:
        yield
    finally:
        restore_shims()


# ---------------------------------------------------------------------------
# Loading modules
#
# PL/Python prints every traceback line number one less than Python's own
# (it discounts the def line it wraps function bodies in), for every frame.
# Modules are therefore compiled one line down, so that errors raised in
# processes show the module's true line numbers; linecache gets the source
# one line down as well, and _import_error shifts Python's own numbering back.

LINE_SHIFT = 1


def module_name(sha):
    return "cyoda_wf.module_" + sha[:12]


def _filename(sha):
    return "<cyoda_wf module %s>" % sha[:12]


def _parse(source, filename):
    """The module's ast, or raise SyntaxError (true line numbers)."""
    tree = ast.parse(source, filename=filename)
    compile(tree, filename, "exec")  # errors ast.parse leaves to the compiler
    return tree


def _code(tree, filename):
    ast.increment_lineno(tree, LINE_SHIFT)
    return compile(tree, filename, "exec")


def _import(sha, source, tree=None):
    """Execute the module (once per session) and return it.

    The module is cached by sha256, and only the source that has that
    sha256 gets it: a function body naming the sha256 of another module
    cannot put its own code in that module's place for later callers.
    """
    mod = _modules.get(sha)
    if mod is not None:
        if mod.__cyoda_wf_source__ is not source and mod.__cyoda_wf_source__ != source:
            _source_mismatch(sha)
        return mod
    if hashlib.sha256(source.encode("utf-8")).hexdigest() != sha:
        _source_mismatch(sha)
    filename = _filename(sha)
    if tree is None:
        tree = ast.parse(source, filename=filename)
    code = _code(tree, filename)
    linecache.cache[filename] = (
        len(source), None, ["\n"] * LINE_SHIFT + source.splitlines(True), filename)
    name = module_name(sha)
    mod = types.ModuleType(name)
    mod.__file__ = filename
    mod.__cyoda_wf_sha256__ = sha
    mod.__cyoda_wf_source__ = source
    old = sys.modules.get(name, _MISSING)
    sys.modules[name] = mod  # dataclasses, pickle and typing look modules up here
    try:
        with shims():
            exec(code, mod.__dict__)
    except BaseException:
        if old is _MISSING:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = old
        raise
    _modules[sha] = mod
    return mod


def _fail(message, detail, hint, sqlstate):
    """plpy.error for an error of the runtime itself while a loaded function runs.

    The message ends with a traceback header without frames (see error()):
    the engine shows no traceback for it, rather than the runtime's frames.
    """
    _plpy().error("%s\n%s" % (message, TRACEBACK_HEADER), detail=detail, hint=hint, sqlstate=sqlstate)


def _source_mismatch(sha):
    _fail(
        "Python module source does not match its sha256 %s" % sha,
        detail="Functions made by load_functions name their module by the sha256 of its source.",
        hint="Load the module again with cyoda_wf.load_functions rather than editing function bodies.",
        sqlstate="22023",
    )


def inflight_data(token, entity_id):
    """A copy of the data of the running loaded process holding token, if its entity is entity_id."""
    for tok, eid, data in reversed(_running):
        if tok == token:
            return copy.deepcopy(data) if eid == entity_id else None
    return None


# A function made by load_functions runs (so that tracebacks go straight
# from its body into the module's code):
#
#     fn, m, d = runtime.enter(kind, name, sha, meta, data, source)
#     try:
#         r = fn(m, d)
#     except Exception as e:
#         raise runtime.error(e) from None
#     finally:
#         runtime.leave()
#     return runtime.result(kind, name, data, d, r)
#
# (Bodies made before error() existed lack the except clause: their errors
# keep PL/Python's traceback.)


def enter(kind, name, sha, meta, data, source):
    """The def to call and its (meta, data) dicts; installs the stand-ins until leave()."""
    try:
        mod = _import(sha, source)
    except _plpy().Error:
        raise
    except Exception as e:  # the module's top-level code failed (a new session)
        raise error(e) from None
    fn = getattr(mod, name, None)
    if not callable(fn):
        _fail(
            'Python module %s has no function "%s"' % (module_name(sha), name),
            detail="The function was made from module %s by load_functions." % sha,
            hint="Load the module again with cyoda_wf.load_functions.",
            sqlstate="42883",
        )
    meta_obj = entity_service.loads(meta) if meta is not None else {}
    data_obj = entity_service.loads(data) if data is not None else {}
    if not isinstance(meta_obj, dict):
        meta_obj = {}
    install_shims()
    _running.append((meta_obj.get("token"), meta_obj.get("entity_id"), data_obj))
    return fn, meta_obj, data_obj


def leave():
    """Undo enter()."""
    if _running:
        _running.pop()
    restore_shims()


def result(kind, name, data, data_obj, r):
    """What the SQL function returns for the def's result r.

    A criterion: bool(r).  A process: the new data as JSON text: the dict it
    returned, or, when it returned None, the data dict as the process left
    it (NULL, i.e. unchanged, when the process did not change it).
    """
    if kind == "criterion":
        return bool(r)
    if r is None:
        if data is not None and data_obj == entity_service.loads(data):
            return None
        r = data_obj
    if not isinstance(r, dict):
        _fail(
            'process "%s" returned %s, not a dict' % (name, type(r).__name__),
            detail="A process returns the entity's new data as a dict (a JSON object).",
            hint="Return the data dict, or None to save the data dict as the process left it.",
            sqlstate="22023",
        )
    return entity_service.dumps(r)


def call(kind, name, sha, meta, data, source):
    """enter(), the def, leave(), result() in one call (for hand-written wrappers)."""
    fn, m, d = enter(kind, name, sha, meta, data, source)
    try:
        r = fn(m, d)
    except Exception as e:
        raise error(e) from None
    finally:
        leave()
    return result(kind, name, data, d, r)


# ---------------------------------------------------------------------------
# Errors of processes and criteria
#
# PL/Python reports an exception that leaves a function as "<type>: <str>",
# with the type qualified by its module ("plpy.Error: ...",
# "spiexceptions.DivisionByZero: ..."), and a traceback (in the error's
# context) that starts in the function body made by load_functions.
# error() gives the engine what it needs to report the error as the
# module's own: the message, then TRACEBACK_HEADER and the frames of loaded
# modules only, with their true line numbers and source lines.  The engine
# (dispatch.c) takes that traceback off the message, puts it in place of
# PL/Python's in the error's context, and drops PL/Python's prefix.
#
# SQLSTATE: a plpy.Error or plpy.SPIError (spiexceptions.X included) keeps
# its own, with its detail and hint; any other exception is 38000
# (external_routine_exception, as PL/Python reports it) and its message
# reads as Python prints it: "ValueError: bad amount".

TRACEBACK_HEADER = "Traceback (most recent call last):"
MAX_FRAMES = 20


def _type_name(t):
    """How Python's traceback names an exception type; a loaded module's own types by their name alone."""
    mod = getattr(t, "__module__", None)
    qual = getattr(t, "__qualname__", t.__name__)
    if mod in (None, "builtins", "__main__") or (isinstance(mod, str) and mod.startswith("cyoda_wf.module_")):
        return qual
    return "%s.%s" % (mod, qual)


def user_traceback(tb):
    """The frames of tb that run code of loaded modules, innermost last, formatted as Python does."""
    frames = [fs for fs in traceback.extract_tb(tb) if fs.filename.startswith("<cyoda_wf module ")]
    lines = [TRACEBACK_HEADER]
    if len(frames) > MAX_FRAMES:
        lines.append("  ... %d earlier frames" % (len(frames) - MAX_FRAMES))
        frames = frames[-MAX_FRAMES:]
    for fs in frames:
        lines.append('  File "%s", line %s, in %s' % (fs.filename, fs.lineno - LINE_SHIFT, fs.name))
        if fs.line:
            lines.append("    " + fs.line.strip())
    return "\n".join(lines)


def error(e):
    """The exception to raise for exception e of a loaded def (see above)."""
    plpy = _plpy()
    if isinstance(e, plpy.Fatal):
        return e
    tb = user_traceback(e.__traceback__)
    if isinstance(e, (plpy.Error, plpy.SPIError)) and len(e.args) == 1 and isinstance(e.args[0], str):
        # keep the exception: PL/Python reads its SQLSTATE, detail, hint
        # (and a failed statement's query and position) from it
        e.args = ("%s\n%s" % (e.args[0], tb),)
        return e
    text = "".join(traceback.format_exception_only(type(e), e)).strip()
    first, sep, rest = text.partition(":")
    if first == type(e).__name__ or first.endswith("." + type(e).__name__):
        text = _type_name(type(e)) + sep + rest
    err = plpy.Error("%s\n%s" % (text, tb))
    err.sqlstate = "38000"
    return err


# ---------------------------------------------------------------------------
# load_functions


def _callable_with_two(fn):
    """Can fn be called as fn(meta, data)?"""
    a = fn.args
    npos = len(a.posonlyargs) + len(a.args)
    required = npos - len(a.defaults)
    if required > 2:
        return False
    if npos < 2 and a.vararg is None:
        return False
    if any(d is None for d in a.kw_defaults):
        return False
    return True


# Unannotated defs named like a question are criteria.
CRITERION_PREFIXES = ("is_", "has_", "can_")


def def_kind(fn):
    """"criterion" or "process": what the def is, from the def alone.

    A return annotation decides: ``-> bool`` makes a criterion, any other
    one a process.  Without one, a name starting with is_, has_ or can_
    makes a criterion, any other name a process.
    """
    r = fn.returns
    if r is not None:
        if (isinstance(r, ast.Name) and r.id == "bool") or (
                isinstance(r, ast.Constant) and r.value == "bool"):
            return "criterion"
        return "process"
    return "criterion" if fn.name.startswith(CRITERION_PREFIXES) else "process"


def _criterion_names(tree_json, out):
    """Names of function criteria in a condition tree."""
    if isinstance(tree_json, dict):
        if tree_json.get("type") == "function":
            f = tree_json.get("function")
            if isinstance(f, dict) and isinstance(f.get("name"), str):
                out.add(f["name"])
        for c in tree_json.get("conditions") or []:
            _criterion_names(c, out)
    elif isinstance(tree_json, list):
        for c in tree_json:
            _criterion_names(c, out)


def workflow_uses(function_schema):
    """What the workflows whose function schema is function_schema call.

    Returns (criteria, processes, foreign): for each name they use as a
    function criterion, and for each name they use as a processor, one
    workflow using it as (model, model_version, workflow); and, for every
    name they use (process or criterion) in a workflow imported by a role
    whose privileges the calling role does not have, one such workflow as
    (role, model, model_version, workflow).
    """
    criteria = {}
    processes = {}
    foreign = {}
    rows = spi.execute(
                "SELECT w.definition::text AS def, w.owner::text AS owner, w.model, w.model_version,"
        " w.name, pg_catalog.pg_has_role(w.owner::pg_catalog.oid, 'USAGE') AS mine"
        " FROM cyoda_wf.workflow AS w"
        " WHERE w.function_schema OPERATOR(pg_catalog.=) $1",
        ["text"],
        [function_schema],
    )
    for r in rows:
        wf = json.loads(r["def"])
        crit = set()
        used = set()
        _criterion_names(wf.get("criterion"), crit)
        for st in (wf.get("states") or {}).values():
            for t in (st or {}).get("transitions") or []:
                _criterion_names(t.get("criterion"), crit)
                for p in t.get("processors") or []:
                    if isinstance(p, dict) and isinstance(p.get("name"), str):
                        used.add(p["name"])
        where = (r["model"], r["model_version"], r["name"])
        for name in crit:
            criteria.setdefault(name, where)
        for name in used:
            processes.setdefault(name, where)
        used |= crit
        if not r["mine"]:
            for name in used:
                foreign.setdefault(name, (r["owner"],) + where)
    return criteria, processes, foreign


def _source_literal(source):
    """source as a parenthesized Python string literal, one line of source per line."""
    lines = source.splitlines(True) or [""]
    return "(\n" + "".join("    %r\n" % l for l in lines) + ")"


def _body(kind, name, sha, module_id, source):
    """The PL/Python body of the function made for def `name`."""
    return (
        "%s: %s \"%s\" of python_module %d (sha256 %s).\n"
        "# Change the module and load it again rather than editing this body.\n"
        "SOURCE = %s\n"
        "from cyoda_wf import runtime\n"
        "fn, m, d = runtime.enter(%r, %r, %r, meta, data, SOURCE)\n"
        "try:\n"
        "    r = fn(m, d)\n"
        "except Exception as e:\n"
        "    raise runtime.error(e) from None\n"
        "finally:\n"
        "    runtime.leave()\n"
        "return runtime.result(%r, %r, data, d, r)\n"
        % (MARKER, kind, name, module_id, sha, _source_literal(source),
           kind, name, sha, kind, name)
    )


def _syntax_error(e):
    where = "line %s" % e.lineno if e.lineno else "unknown line"
    detail = None
    if e.text:
        text = e.text.rstrip("\n")
        detail = "line %s: %s" % (e.lineno, text.strip())
    _plpy().error(
        "invalid Python source: %s (%s)" % (e.msg, where),
        detail=detail,
        hint="cyoda_wf.load_functions takes the text of a Python module whose top-level defs take (meta, data).",
        sqlstate="22023",
    )


def _import_error(e):
    """Raise 22023 for a module whose top-level code failed, with its traceback."""
    frames = []
    for fs in traceback.extract_tb(e.__traceback__):
        if fs.filename == __file__:
            continue
        lineno = fs.lineno
        if fs.filename.startswith("<cyoda_wf module "):
            lineno -= LINE_SHIFT
        frame = '  File "%s", line %s, in %s' % (fs.filename, lineno, fs.name)
        if fs.line:
            frame += "\n    " + fs.line.strip()
        frames.append(frame)
    detail = "\n".join(
        ["Traceback (most recent call last):"] + frames
        + ["".join(traceback.format_exception_only(type(e), e)).rstrip()])
    _plpy().error(
        "Python module failed to import: %s: %s" % (type(e).__name__, e),
        detail=detail,
        hint="load_functions runs the module's top-level code once, as import does; "
        "it must run inside PostgreSQL's Python.",
        sqlstate="22023",
    )


def load_functions(source, function_schema="public"):
    """Create a process or criterion function for each top-level def of source; returns their names."""
    plpy = _plpy()
    if source is None:
        plpy.error("source must not be NULL", sqlstate="22004")
    if function_schema is None:
        plpy.error("function_schema must not be NULL", sqlstate="22004")
    rows = spi.execute(
                "SELECT n.oid::int8 AS oid FROM pg_catalog.pg_namespace AS n"
        " WHERE n.nspname OPERATOR(pg_catalog.=) $1",
        ["text"],
        [function_schema],
    )
    if len(rows) == 0:
        plpy.error('schema "%s" does not exist' % function_schema, sqlstate="3F000")
    nsp = rows[0]["oid"]

    sha = hashlib.sha256(source.encode("utf-8")).hexdigest()
    try:
        tree = _parse(source, _filename(sha))
    except SyntaxError as e:
        _syntax_error(e)
    except ValueError as e:  # e.g. NUL bytes
        plpy.error("invalid Python source: %s" % e, sqlstate="22023")

    module_id = spi.execute(
                "INSERT INTO cyoda_wf.python_module AS m (source, sha256) VALUES ($1, $2)"
        " ON CONFLICT (sha256) DO UPDATE SET loaded_at = pg_catalog.now(), loaded_by = CURRENT_USER"
        " RETURNING m.id",
        ["text", "text"],
        [source, sha],
    )[0]["id"]

    try:
        _import(sha, source, tree)
    except plpy.SPIError:
        raise
    except Exception as e:
        _import_error(e)

    criteria, processes, foreign = workflow_uses(function_schema)
    existing = {
        r["proname"]: r
        for r in spi.execute(
                        "SELECT p.proname::text AS proname, p.prorettype::regtype::text AS rettype,"
            " p.prosrc AS src FROM pg_catalog.pg_proc AS p"
            " WHERE p.pronamespace OPERATOR(pg_catalog.=) $1::oid"
            " AND pg_catalog.oidvectortypes(p.proargtypes) OPERATOR(pg_catalog.=) 'jsonb, jsonb'",
            ["int8"],
            [nsp],
        )
    }

    created = []
    seen = set()
    skipped = {}  # reason -> names
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef):
            skipped.setdefault("async def cannot be a process", []).append(node.name)
            continue
        if not isinstance(node, ast.FunctionDef):
            continue
        name = node.name
        if name.startswith("_"):
            skipped.setdefault('names starting with "_" are private helpers', []).append(name)
            continue
        if not _NAME_RE.match(name) or len(name.encode()) >= _NAMEDATALEN or keyword.iskeyword(name):
            skipped.setdefault("not a lowercase identifier (a-z, 0-9, _)", []).append(name)
            continue
        if not _callable_with_two(node):
            skipped.setdefault("cannot be called as name(meta, data)", []).append(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        if name in foreign:
            # the function would run as that workflow's importer: only a
            # role with the importer's privileges may supply its code
            role, model, version, workflow = foreign[name]
            plpy.error(
                'permission denied: "%s" would run as role "%s", whose privileges the current role does not have'
                % (name, role),
                detail='Workflow "%s" of model "%s" version %s, imported by role "%s", calls %s.%s; '
                "processes and criteria run as the role that imported the workflow."
                % (workflow, model, version, role, function_schema, name),
                hint='Load the module as role "%s" (or a member of it), or rename the def.' % role,
                sqlstate="42501",
            )
        ex = existing.get(name)
        # what the def is, from the def alone (def_kind); never from the
        # workflows or functions there are now
        kind = def_kind(node)
        rettype = "boolean" if kind == "criterion" else "jsonb"
        other = processes if kind == "criterion" else criteria
        if name in other and name not in (criteria if kind == "criterion" else processes):
            model, version, workflow = other[name]
            plpy.warning(
                'def %s becomes a %s, but workflow "%s" of model "%s" version %s uses it as a %s'
                % (name, kind, workflow, model, version, "processor" if kind == "criterion" else "criterion"),
                detail="load_functions decides from the def: -> bool, or no annotation and a name "
                "starting with is_, has_ or can_, makes a criterion; anything else a process.",
                hint="Annotate the def: -> bool for a criterion, -> dict for a process.",
            )
        if ex is not None and ex["rettype"] != rettype:
            if MARKER not in ex["src"]:
                plpy.error(
                    'function %s.%s(jsonb, jsonb) exists and returns %s, but def %s is a %s (returns %s)'
                    % (function_schema, name, ex["rettype"], name, kind, rettype),
                    detail="The function was not made by load_functions: it is left as it is.",
                    hint="Drop the function first, or rename the def.",
                    sqlstate="42P13",
                )
            # made by load_functions from a def of the other kind: replaced
            _ddl("DROP FUNCTION %I.%I(jsonb, jsonb)", [function_schema, name])
            plpy.notice("load_functions replaced %s.%s(jsonb, jsonb) returning %s by a %s returning %s"
                        % (function_schema, name, ex["rettype"], kind, rettype))
        _ddl(
            "CREATE OR REPLACE FUNCTION %I.%I(meta jsonb, data jsonb) RETURNS " + rettype + " LANGUAGE plpython3u AS %L",
            [function_schema, name, _body(kind, name, sha, module_id, source)],
        )
        _ddl(
            "COMMENT ON FUNCTION %I.%I(jsonb, jsonb) IS %L",
            [function_schema, name,
             "cyoda_wf %s: def %s of python_module %d (sha256 %s)" % (kind, name, module_id, sha[:12])],
        )
        _ddl("REVOKE EXECUTE ON FUNCTION %I.%I(jsonb, jsonb) FROM PUBLIC", [function_schema, name])
        created.append(name)
    for reason, names in skipped.items():
        plpy.notice("load_functions skipped %s: %s" % (", ".join(names), reason))
    return created


def _ddl(fmt, args):
    """Run the statement pg_catalog.format(fmt, args...) makes."""
    placeholders = ", ".join("$%d" % (i + 1) for i in range(len(args)))
    rows = spi.execute(
        "SELECT pg_catalog.format(%s, %s) AS sql" % (_quote(fmt), placeholders),
        ["text"] * len(args),
        args,
    )
    _plpy().execute(rows[0]["sql"])


def _quote(s):
    return "'" + s.replace("'", "''") + "'"
