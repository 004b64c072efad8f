"""cyoda_wf.spi: the package's access to the database, inside PostgreSQL.

plpy() is the module PL/Python gives its functions, imported when first
needed so that the package itself imports outside PostgreSQL too.
execute() runs a statement through a plan prepared once per session and
kept by the statement's text and parameter types: the module lives as long
as the backend, plans survive transactions, and PostgreSQL replans one when
an object it uses changes.
"""

__all__ = ["plpy", "execute"]

# (statement, parameter types) -> prepared plan, for this session.
_plans = {}


def plpy():
    """PL/Python's plpy module; RuntimeError outside PostgreSQL."""
    try:
        import plpy as module
    except ImportError:  # pragma: no cover - only outside PostgreSQL
        raise RuntimeError(
            "the cyoda_wf package works only inside PostgreSQL (PL/Python), "
            "in a process or criterion function of a cyoda_wf workflow"
        ) from None
    return module


def execute(sql, types, args, limit=0):
    """Run sql with args (of the given types) through this session's kept plan; at most limit rows when limit > 0."""
    db = plpy()
    key = (sql, tuple(types))
    plan = _plans.get(key)
    if plan is None:
        plan = db.prepare(sql, types)
        _plans[key] = plan
    return db.execute(plan, args, limit) if limit else db.execute(plan, args)
