-- Python processes: the entity service (cyoda_wf.entity_service) used from
-- PL/Python, and modules turned into process / criterion functions by
-- cyoda_wf.load_functions, including one written exactly in the seed's style.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never
CREATE SCHEMA cw_py;
-- The SQLSTATE a statement fails with ('ok' when it does not).
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;

-- 1. entity_service from a hand-written PL/Python process --------------------
-- py_note has no workflow of its own (Cyoda's default workflow runs);
-- py_batch runs one process that uses every entity_service call.
SELECT cyoda_wf.import_workflows('py_note', 1, '{"workflows": []}') ->> 'model' AS declared;
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('py_batch', 1, 'cw_py');
SELECT cyoda_wf.import_workflows('py_batch', 1, $json$
{"workflows": [{"version": "1.0", "name": "py_batch_wf", "initialState": "new",
  "states": {
    "new": {"transitions": [{"name": "exercise", "next": "done",
                             "processors": [{"name": "exercise_service"}]}]},
    "done": {"transitions": []}}}]}
$json$) ->> 'workflows' AS imported;

CREATE FUNCTION cw_py.exercise_service(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpython3u TRANSFORM FOR TYPE jsonb AS $$
import re
from decimal import Decimal
from cyoda_wf import entity_service as es

tok = meta["token"]
GD["stale_token"] = tok
log = {}
# numbers arrive as Decimal through the jsonb transform; the service stores them
a = es.add_item(tok, "py_note", 1, {"n": Decimal("1"), "tag": "x", "price": Decimal("2.50")})
b = es.add_item(tok, "py_note", 1, {"n": 2, "tag": "y"})
c = es.add_item(token=tok, entity_model="py_note", entity_version=1, entity={"n": 3, "tag": "x"})
got = es.get_item(tok, "py_note", 1, a)
log["get_item"] = {k: got[k] for k in sorted(got) if k != "technical_id"}
log["technical_id_is_id"] = got["technical_id"] == a
log["update_item"] = es.update_item(tok, "py_note", 1, b, {"n": 20, "tag": "y"}) == b
es.update_item(tok, "py_note", 1, c, None, {"update_transition": "UPDATE"})
log["delete_item"] = es.delete_item(tok, "py_note", 1, a) == a
log["get_items"] = [i["n"] for i in es.get_items(tok, "py_note", 1)]
log["by_condition"] = [i["n"] for i in es.get_items_by_condition(
    tok, "py_note", 1,
    {"type": "simple", "jsonPath": "$.tag", "operatorType": "EQUALS", "value": "x"})]
for what, call in [
        ("deleted", lambda: es.get_item(tok, "py_note", 1, a)),
        ("other model", lambda: es.get_item(tok, "py_batch", 1, b)),
        ("own entity", lambda: es.get_item(tok, "py_batch", 1, meta["entity_id"])),
        ("update own", lambda: es.update_item(tok, "py_batch", 1, meta["entity_id"], {})),
        ("forged token", lambda: es.get_items("cw-forged", "py_note", 1))]:
    try:
        call()
        log[what] = "no error"
    except (plpy.Error, plpy.SPIError) as e:
        msg = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<id>", str(e))
        log[what] = "%s: %s" % (getattr(e, "sqlstate", None), msg)
data["log"] = log
data["children"] = [a, b, c]
return data
$$;

SELECT cyoda_wf.add_item('py_batch', 1, '{"name": "batch 1"}') AS batch \gset
SELECT state FROM cyoda_wf.entity WHERE id = :'batch';
SELECT key, value #>> '{}' AS value FROM cyoda_wf.entity, jsonb_each(data -> 'log') WHERE id = :'batch' ORDER BY key;
-- the notes the process made: created by the process's entity, as events
SELECT e.data ->> 'n' AS n, e.state, e.last_transition, e.source,
       e.parent_id = :'batch' AS parent_is_batch
  FROM cyoda_wf.entity e WHERE e.model = 'py_note' ORDER BY e.created_at;
SELECT count(*) AS deleted_note_versions FROM cyoda_wf.changes(
    ((SELECT data -> 'children' ->> 0 FROM cyoda_wf.entity WHERE id = :'batch'))::uuid);

-- 2. Tokens: only the token of the process running now is accepted ---------
SELECT cyoda_wf_internal.check_token(NULL);
SELECT cyoda_wf_internal.check_token('cw-0-0-nothing');
-- the token the process used above, now that its process has finished
DO LANGUAGE plpython3u $$
from cyoda_wf import entity_service
try:
    entity_service.add_item(GD["stale_token"], "py_note", 1, {"n": 99})
except plpy.SPIError as e:
    plpy.notice("stale token refused with SQLSTATE %s" % e.sqlstate)
$$;
DO LANGUAGE plpython3u $$
from cyoda_wf import entity_service
entity_service.get_items(None, "py_note", 1)
$$;
SELECT count(*) AS notes_with_99 FROM cyoda_wf.entity WHERE model = 'py_note' AND data @> '{"n": 99}';

-- 3. A module in the seed's exact style, loaded with load_functions ----------
-- (the seed's example server-side function file, unchanged)
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('py_shipment', 1, 'cw_py');
SELECT cyoda_wf.import_workflows('py_shipment', 1, $json$
{"workflows": [{"version": "1.0", "name": "py_shipment_wf", "initialState": "none",
  "states": {
    "none": {"transitions": [{"name": "check_order", "next": "checked",
                              "processors": [{"name": "process_name"}]}]},
    "checked": {"transitions": []}}}]}
$json$) ->> 'workflows' AS imported;
SELECT * FROM cyoda_wf.load_functions($py$import logging

from common.config.config import ENTITY_VERSION
from logic.app_init import entity_service

logging.basicConfig(level=logging.INFO)
logger = logging.getLogger(__name__)

def process_name(meta, data):
    entity = entity_service.get_item(meta["token"], "order", ENTITY_VERSION, data["id"])
    logger.info("processing ")

$py$, 'cw_py');
-- the "order" it reads (whatever workflow model order has here, an order
-- without lines goes through it without running a process)
SELECT cyoda_wf.add_item('order', 1, '{"item": "book"}') AS order_id \gset
SELECT cyoda_wf.add_item('py_shipment', 1,
    jsonb_build_object('id', :'order_id')) AS shipment \gset
SELECT state, last_transition, data = jsonb_build_object('id', :'order_id') AS data_unchanged
  FROM cyoda_wf.entity WHERE id = :'shipment';
SELECT detail -> 'processes' -> 0 ->> 'name' AS process,
       detail -> 'processes' -> 0 ->> 'changed' AS changed
  FROM cyoda_wf.audit WHERE entity_id = :'shipment' AND event_type = 'TRANSITION_MAKE';
-- the module was stored once, by its sha256
SELECT count(*) AS modules, bool_and(sha256 = encode(sha256(convert_to(source, 'UTF8')), 'hex')) AS sha_ok
  FROM cyoda_wf.python_module WHERE source LIKE '%def process_name(meta, data)%';

-- 4. Processes that return None save data as they left it; criteria --------
-- py_parcel: "weigh" always runs; "express" needs the criterion is_heavy,
-- else "standard".  load_functions makes is_heavy a boolean function
-- because the workflow uses it as a function criterion; it skips what is
-- not a def name(meta, data) and says so.
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('py_parcel', 1, 'cw_py');
SELECT cyoda_wf.import_workflows('py_parcel', 1, $json$
{"workflows": [{"version": "1.0", "name": "py_parcel_wf", "initialState": "none",
  "states": {
    "none": {"transitions": [{"name": "weigh", "next": "weighed",
                              "processors": [{"name": "weigh"}]}]},
    "weighed": {"transitions": [
        {"name": "express", "next": "express",
         "criterion": {"type": "function", "function": {"name": "is_heavy"}},
         "processors": [{"name": "label"}]},
        {"name": "standard", "next": "standard", "processors": [{"name": "label"}]}]},
    "express": {"transitions": []},
    "standard": {"transitions": []}}}]}
$json$) ->> 'workflows' AS imported;
SELECT * FROM cyoda_wf.load_functions($py$
from common.config.config import ENTITY_VERSION
from logic.app_init import entity_service

LIMIT_KG = 20


def _kg(data):
    return sum(item["kg"] for item in data["items"])


def weigh(meta, data):
    # returns None: the data dict is saved as it was left
    data["kg"] = _kg(data)
    data["weighed_in"] = meta["transition"]
    # the process's own entity, not stored yet, reads as its in-flight data
    own = entity_service.get_item(meta["token"], meta["entity_model"], ENTITY_VERSION,
                                  meta["entity_id"])
    data["own_read_sees_kg"] = own["kg"] == data["kg"]


def is_heavy(meta, data):
    return data["kg"] > LIMIT_KG


def label(meta, data):
    # returns new data
    return dict(data, label="%s %s kg" % (meta["next_state"].upper(), data["kg"]))


def summary(items):
    return len(items)


def Shout(meta, data):
    pass


async def later(meta, data):
    pass
$py$, 'cw_py') AS made ORDER BY made;
SELECT p.proname, pg_catalog.format_type(p.prorettype, NULL) AS returns,
       obj_description(p.oid, 'pg_proc') LIKE 'cyoda_wf %: def ' || p.proname || ' of python_module %' AS commented
  FROM pg_proc p WHERE p.pronamespace = 'cw_py'::regnamespace ORDER BY 1;
SELECT cyoda_wf.add_item('py_parcel', 1, '{"items": [{"kg": 5}, {"kg": 30.5}]}') AS heavy \gset
SELECT cyoda_wf.add_item('py_parcel', 1, '{"items": [{"kg": 1}, {"kg": 2}]}') AS light \gset
SELECT state, data - 'items' AS data FROM cyoda_wf.entity WHERE id = :'heavy';
SELECT state, data - 'items' AS data FROM cyoda_wf.entity WHERE id = :'light';
SELECT transition, detail -> 'processes' -> 0 ->> 'name' AS process,
       detail -> 'processes' -> 0 ->> 'changed' AS changed
  FROM cyoda_wf.audit WHERE entity_id = :'light'
 ORDER BY at, event_type <> 'STATE_MACHINE_START', event_type = 'STATE_MACHINE_FINISH', id;

-- 5. Errors --------------------------------------------------------------
SELECT count(*) AS modules_before FROM cyoda_wf.python_module \gset
-- invalid Python: 22023, naming the line
SELECT * FROM cyoda_wf.load_functions($py$
def ok(meta, data):
    return data

def broken(meta, data)
    return data
$py$, 'cw_py');
SELECT pg_temp.sqlstate_of($sql$SELECT cyoda_wf.load_functions(E'def f(meta, data):\nreturn 1', 'cw_py')$sql$);
-- a module whose top-level code fails: 22023 with its traceback
SELECT * FROM cyoda_wf.load_functions($py$
import no_such_module_anywhere

def f(meta, data):
    return data
$py$, 'cw_py');
-- nothing was stored or made by the failed loads
SELECT count(*) - :modules_before AS modules_added FROM cyoda_wf.python_module;
SELECT count(*) AS functions FROM pg_proc WHERE pronamespace = 'cw_py'::regnamespace;
-- unknown schema
SELECT * FROM cyoda_wf.load_functions('def f(meta, data): pass', 'cw_no_such_schema');
-- an error in a process aborts the save; the error is the process's own
SELECT * FROM cyoda_wf.load_functions($py$
def weigh(meta, data):
    return {"kg": sum(item["kg"] for item in data["items"]) / 0}
$py$, 'cw_py');
SELECT cyoda_wf.add_item('py_parcel', 1, '{"items": [{"kg": 1}]}');
\echo :LAST_ERROR_SQLSTATE
-- a process must return a dict or None
SELECT * FROM cyoda_wf.load_functions($py$
def weigh(meta, data):
    return [1, 2]
$py$, 'cw_py');
SELECT cyoda_wf.add_item('py_parcel', 1, '{"items": [{"kg": 1}]}');
SELECT count(*) AS parcels FROM cyoda_wf.entity WHERE model = 'py_parcel';

-- 6. Privileges: functions made by load_functions are not executable by PUBLIC
-- (they run through their workflows, as the role that imported the workflow)
SELECT p.proname,
       p.proacl IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM aclexplode(p.proacl) a
            WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_cannot_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'cw_py'::regnamespace AND p.prosrc LIKE '# cyoda_wf.load_functions:%'
 ORDER BY 1;
SELECT has_function_privilege('public', 'cyoda_wf.load_functions(text, text)', 'EXECUTE') AS public_can_load;
