-- Errors of Python processes read as the module's own: the message without
-- PL/Python's "plpy.Error: " / "spiexceptions.X: " prefix, the SQLSTATE the
-- code raised (38000 for a plain Python exception), and a traceback of the
-- module's own frames with its line numbers, in the error's context (a
-- SYNC process) or in the task's last_error (an async one).  Then
-- load_functions' rule for return types, and a def loaded again as the
-- other kind.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
CREATE SCHEMA cw_pe;
-- SQLSTATE, message, detail, hint and context of the error a statement raises
-- (the context before the engine's line naming the process and entity).
CREATE FUNCTION pg_temp.error_of(stmt text) RETURNS TABLE(code text, message text, detail text, hint text, context text)
LANGUAGE plpgsql AS $$
DECLARE
    det text;
    hin text;
    ctx text;
BEGIN
    EXECUTE stmt;
    code := 'ok';
    RETURN NEXT;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
    code := SQLSTATE;
    message := SQLERRM;
    detail := det;
    hint := hin;
    context := split_part(ctx, E'\ncyoda_wf process ', 1);
    RETURN NEXT;
END $$;

INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('pe_order', 1, 'cw_pe');
SELECT cyoda_wf.import_workflows('pe_order', 1, $json$
{"workflows": [{"version": "1.0", "name": "pe_wf", "initialState": "new",
  "states": {
    "new": {"transitions": [{"name": "price", "next": "priced", "processors": [{"name": "price_order"}]}]},
    "priced": {"transitions": []}}}]}
$json$) ->> 'workflows' AS imported;
SELECT * FROM cyoda_wf.load_functions($py$
import plpy


def _amount(data):
    if data["amount"] < 0:
        raise ValueError("bad amount")
    return data["amount"]


def _depth(n):
    if n == 0:
        raise RecursionError("too deep")
    return _depth(n - 1)


class PriceError(Exception):
    pass


def price_order(meta, data):
    kind = data.get("kind")
    if kind == "custom":
        raise PriceError("no price for %s" % data.get("sku"))
    if kind == "plpy":
        plpy.error("no price list", detail="price list EU is empty", hint="Load one.", sqlstate="22023")
    if kind == "sql":
        plpy.execute("SELECT 1 / 0")
    if kind == "unique":
        raise plpy.spiexceptions.UniqueViolation("order number taken")
    if kind == "deep":
        _depth(30)
    if kind == "long":
        raise RuntimeError("x" * 5000)
    if kind == "list":
        return [1]
    data["price"] = _amount(data) * 2
    return data
$py$, 'cw_pe') AS made;

-- 1. SYNC: the save fails with the process's error -------------------------
-- a plain Python exception: 38000, "Type: message", the module's frames only
SELECT * FROM pg_temp.error_of($$ SELECT cyoda_wf.add_item('pe_order', 1, '{"amount": -1}') $$);
-- plpy.error: its SQLSTATE, detail and hint, no "plpy.Error: "
SELECT * FROM pg_temp.error_of($$ SELECT cyoda_wf.add_item('pe_order', 1, '{"kind": "plpy"}') $$);
-- a failed statement: its SQLSTATE, no "spiexceptions.DivisionByZero: "
SELECT * FROM pg_temp.error_of($$ SELECT cyoda_wf.add_item('pe_order', 1, '{"kind": "sql"}') $$);
-- a spiexceptions class raised by the code: that class's SQLSTATE
SELECT * FROM pg_temp.error_of($$ SELECT cyoda_wf.add_item('pe_order', 1, '{"kind": "unique"}') $$);
-- an error of the runtime after the def returned: plain as well
SELECT * FROM pg_temp.error_of($$ SELECT cyoda_wf.add_item('pe_order', 1, '{"kind": "list"}') $$);
-- a deep traceback keeps the innermost 20 frames
SELECT e.code, e.message, split_part(e.context, E'\n', 2) AS second_line,
       (SELECT count(*) FROM regexp_matches(e.context, 'in _depth', 'g')) AS frames_shown
  FROM pg_temp.error_of($$ SELECT cyoda_wf.add_item('pe_order', 1, '{"kind": "deep"}') $$) e;
-- an exception class of the module: named as the module names it
SELECT code, message FROM pg_temp.error_of($$ SELECT cyoda_wf.add_item('pe_order', 1, '{"kind": "custom"}') $$);
-- as psql shows it
\set SHOW_CONTEXT never
SELECT cyoda_wf.add_item('pe_order', 1, '{"amount": -1}');
SELECT count(*) AS orders FROM cyoda_wf.entity WHERE model = 'pe_order';

-- 2. ASYNC: task.last_error holds the error and the module's traceback -------
SET cyoda_wf.retry_attempts = 1;
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('pe_async', 1, 'cw_pe');
SELECT cyoda_wf.import_workflows('pe_async', 1, $json$
{"workflows": [{"version": "1.0", "name": "pe_awf", "initialState": "new",
  "states": {
    "new": {"transitions": [{"name": "price", "next": "priced",
                             "processors": [{"name": "price_order", "executionMode": "ASYNC_NEW_TX"}]}]},
    "priced": {"transitions": []}}}]}
$json$) ->> 'workflows' AS imported;
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('a1600000-0000-0000-0000-000000000001', 'pe_async', '{"amount": -1}'),
  ('a1600000-0000-0000-0000-000000000002', 'pe_async', '{"kind": "sql"}'),
  ('a1600000-0000-0000-0000-000000000003', 'pe_async', '{"kind": "long"}'),
  ('a1600000-0000-0000-0000-000000000004', 'pe_async', '{"amount": 4}');
CALL cyoda_wf.run_tasks();
SELECT entity_id, state, last_error FROM cyoda_wf.task
 WHERE entity_id IN ('a1600000-0000-0000-0000-000000000001', 'a1600000-0000-0000-0000-000000000002',
                     'a1600000-0000-0000-0000-000000000004')
 ORDER BY entity_id;
-- a long message: last_error is cut at 4000 bytes
SELECT state, octet_length(last_error) AS bytes, left(last_error, 14) AS starts, right(last_error, 4) AS ends
  FROM cyoda_wf.task WHERE entity_id = 'a1600000-0000-0000-0000-000000000003';
-- the PROCESS_FAILED audit rows carry the message and SQLSTATE alone
SELECT entity_id, detail ->> 'error' AS error, detail ->> 'sqlstate' AS sqlstate
  FROM cyoda_wf.audit
 WHERE event_type = 'PROCESS_FAILED' AND entity_id IN ('a1600000-0000-0000-0000-000000000001',
                                                       'a1600000-0000-0000-0000-000000000002')
 ORDER BY entity_id;
SELECT state, data ->> 'price' AS price FROM cyoda_wf.entity WHERE id = 'a1600000-0000-0000-0000-000000000004';

-- 3. Return types: decided by the def ----------------------------------------
-- -> bool, or no annotation and a name starting with is_, has_ or can_: a
-- criterion; any other annotation or name: a process
SELECT * FROM cyoda_wf.load_functions($py$
def in_stock(meta, data) -> bool:
    return data.get("qty", 0) > 0


def is_paid(meta, data):
    return bool(data.get("paid"))


def has_lines(meta, data):
    return bool(data.get("lines"))


def can_ship(meta, data):
    return True


def is_tidy(meta, data) -> dict:
    return dict(data, tidy=True)


def stamp(meta, data):
    data["stamped"] = True
$py$, 'cw_pe') AS made ORDER BY made;
SELECT p.proname, format_type(p.prorettype, NULL) AS returns
  FROM pg_proc p WHERE p.pronamespace = 'cw_pe'::regnamespace AND p.proname <> 'price_order'
 ORDER BY 1;
-- the annotated criterion runs as one
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('pe_stock', 1, 'cw_pe');
SELECT cyoda_wf.import_workflows('pe_stock', 1, $json$
{"workflows": [{"version": "1.0", "name": "pe_swf", "initialState": "new",
  "states": {
    "new": {"transitions": [
        {"name": "ship", "next": "shipping",
         "criterion": {"type": "function", "function": {"name": "in_stock"}},
         "processors": [{"name": "stamp"}]},
        {"name": "wait", "next": "waiting"}]},
    "shipping": {"transitions": []}, "waiting": {"transitions": []}}}]}
$json$) ->> 'workflows' AS imported;
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('a1600000-0000-0000-0000-000000000011', 'pe_stock', '{"qty": 2}'),
  ('a1600000-0000-0000-0000-000000000012', 'pe_stock', '{"qty": 0}');
SELECT id, state, data FROM cyoda_wf.entity WHERE model = 'pe_stock' ORDER BY id;

-- 4. A def loaded again as the other kind ----------------------------------
-- a function load_functions made is replaced (DROP and CREATE)
SELECT * FROM cyoda_wf.load_functions($py$
def can_ship(meta, data) -> dict:
    return data
$py$, 'cw_pe') AS made;
SELECT format_type(prorettype, NULL) AS can_ship_returns FROM pg_proc
 WHERE pronamespace = 'cw_pe'::regnamespace AND proname = 'can_ship';
-- a function written by hand is not: 42P13
CREATE FUNCTION cw_pe.by_hand(meta jsonb, data jsonb) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SELECT * FROM cyoda_wf.load_functions($py$
def by_hand(meta, data):
    return data
$py$, 'cw_pe') AS made;
SELECT format_type(prorettype, NULL) AS by_hand_returns FROM pg_proc
 WHERE pronamespace = 'cw_pe'::regnamespace AND proname = 'by_hand';
-- a workflow that uses a name otherwise does not decide, but is warned of
SELECT * FROM cyoda_wf.load_functions($py$
def in_stock(meta, data):
    return data
$py$, 'cw_pe') AS made;
SELECT format_type(prorettype, NULL) AS in_stock_returns FROM pg_proc
 WHERE pronamespace = 'cw_pe'::regnamespace AND proname = 'in_stock';
-- which the workflow then reports when it runs
SELECT code, message FROM pg_temp.error_of($$ SELECT cyoda_wf.add_item('pe_stock', 1, '{"qty": 1}') $$);
