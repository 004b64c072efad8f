-- The engine: default workflow, cascade, named transitions, SYNC processes,
-- loop guards, optimistic concurrency, the entity table as an event source.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never
-- This file is about Cyoda's default workflow, which runs for models nothing
-- declared: that takes cyoda_wf.require_model = off (the default, known,
-- refuses saves of undeclared models).
SET cyoda_wf.require_model = off;

-- A model with no workflow runs Cyoda's default one.
INSERT INTO cyoda_wf.entity (id, model, data)
VALUES ('00000000-0000-0000-0000-000000000001', 'note', '{"text": "hello"}');
SELECT state, version, last_transition, workflow, source, parent_id
  FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-000000000001';
SELECT * FROM cyoda_wf.transitions('00000000-0000-0000-0000-000000000001') ORDER BY name;
SELECT cyoda_wf.fire('00000000-0000-0000-0000-000000000001', 'UPDATE');
SELECT cyoda_wf.fire('00000000-0000-0000-0000-000000000001', 'DELETE');
SELECT cyoda_wf.fire('00000000-0000-0000-0000-000000000001', 'UPDATE');
\echo :LAST_ERROR_SQLSTATE
SELECT version, change_type, state, transition
  FROM cyoda_wf.changes('00000000-0000-0000-0000-000000000001');

-- The order workflow of the examples.
SELECT cyoda_wf.import_workflows('order', 1, $json$
{
  "importMode": "REPLACE",
  "workflows": [
    {
      "version": "1.3",
      "name": "order_lifecycle",
      "desc": "Orders are checked on arrival, wait for approval when large, then ship.",
      "initialState": "received",
      "active": true,
      "criterion": null,
      "states": {
        "received": {
          "transitions": [
            {"name": "reject_empty", "next": "rejected", "manual": false,
             "criterion": {"type": "simple", "jsonPath": "$.lines", "operatorType": "IS_NULL"}},
            {"name": "needs_approval", "next": "awaiting_approval", "manual": false,
             "criterion": {"type": "simple", "jsonPath": "$.total", "operatorType": "GREATER_THAN", "value": 1000}},
            {"name": "auto_accept", "next": "accepted", "manual": false,
             "processors": [{"name": "price_order", "executionMode": "SYNC"}]}
          ]
        },
        "awaiting_approval": {
          "transitions": [
            {"name": "approve", "next": "accepted", "manual": true,
             "processors": [{"name": "price_order", "executionMode": "SYNC"}]},
            {"name": "decline", "next": "rejected", "manual": true}
          ]
        },
        "accepted": {
          "transitions": [
            {"name": "ship", "next": "shipped", "manual": true,
             "criterion": {"type": "group", "operator": "AND", "conditions": [
               {"type": "simple", "jsonPath": "$.address.country", "operatorType": "NOT_NULL"},
               {"type": "function", "function": {"name": "stock_available"}}
             ]}}
          ]
        },
        "shipped": {"transitions": []},
        "rejected": {"transitions": []}
      }
    }
  ]
}
$json$) ->> 'workflows';

-- A missing process function: 42883 with the CREATE FUNCTION to write.
\set VERBOSITY default
SELECT cyoda_wf.add_item('order', 1, '{"lines": [{"sku": "A", "qty": 2}], "total": 50}');
\echo :LAST_ERROR_SQLSTATE

-- Processes may be written in any language; this one in SQL.
CREATE FUNCTION public.price_order(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT data || jsonb_build_object('priced', true,
                                    'priced_by', meta->>'process',
                                    'in_transition', meta->>'transition',
                                    'next_state', meta->>'next_state',
                                    'attempt', meta->'attempt')
$$;

-- Small order: accepted at once, with price_order's data.
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-00000000000a', 'order', '{"lines": [{"sku": "A", "qty": 2}], "total": 50}');
SELECT state, last_transition, data FROM cyoda_wf.entity
 WHERE id = '00000000-0000-0000-0000-00000000000a';

-- Large order: waits for approval.
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-00000000000b', 'order', '{"lines": [{"sku": "B", "qty": 1}], "total": "5000"}');
SELECT state, last_transition, data ? 'priced' AS priced FROM cyoda_wf.entity
 WHERE id = '00000000-0000-0000-0000-00000000000b';
SELECT * FROM cyoda_wf.transitions('00000000-0000-0000-0000-00000000000b');
SELECT cyoda_wf.fire('00000000-0000-0000-0000-00000000000b', 'approve');
SELECT state, last_transition, data->>'priced_by' AS priced_by, version FROM cyoda_wf.entity
 WHERE id = '00000000-0000-0000-0000-00000000000b';

-- Empty order: rejected by the first matching transition.
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-00000000000c', 'order', '{"total": 0}');
SELECT state FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-00000000000c';

-- Named transitions: unknown here (55000), criterion not matched (55000).
SELECT cyoda_wf.fire('00000000-0000-0000-0000-00000000000c', 'approve');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.fire('00000000-0000-0000-0000-00000000000a', 'ship');
\echo :LAST_ERROR_SQLSTATE
-- new data is applied before the criterion is checked; stock_available is missing
SELECT cyoda_wf.update_item('00000000-0000-0000-0000-00000000000a',
                            '{"lines": [{"sku": "A", "qty": 2}], "total": 50, "address": {"country": "NL"}}',
                            'ship');
\echo :LAST_ERROR_SQLSTATE
CREATE FUNCTION public.stock_available(meta jsonb, data jsonb) RETURNS boolean
LANGUAGE sql AS $$ SELECT meta->>'criterion' = 'stock_available' AND (data->>'total')::numeric < 100 $$;
SELECT cyoda_wf.update_item('00000000-0000-0000-0000-00000000000a',
                            '{"lines": [{"sku": "A", "qty": 2}], "total": 50, "address": {"country": "NL"}}',
                            'ship');
SELECT state, last_transition, version FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-00000000000a';
SELECT cyoda_wf.fire('00000000-0000-0000-0000-0000000000ff', 'ship');
\echo :LAST_ERROR_SQLSTATE

-- Audit: one TRANSITION_MAKE per transition, with process timings.
SELECT event_type, transition, from_state, to_state,
       jsonb_path_query_array(detail, '$.processes[*].name') AS processes,
       (detail #>> '{processes,0,ms}')::float >= 0 AS timed
  FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-00000000000b'
 ORDER BY at, event_type <> 'STATE_MACHINE_START', event_type = 'STATE_MACHINE_FINISH', id;
SELECT version, change_type, state, transition FROM cyoda_wf.changes('00000000-0000-0000-0000-00000000000b');

-- Loopback: plain UPDATE of data re-evaluates the current state's automatic transitions.
SELECT cyoda_wf.import_workflows('ticket', 1, $json$
{"workflows": [{"name": "t", "initialState": "open", "states": {
  "open": {"transitions": [
     {"name": "escalate", "next": "escalated",
      "criterion": {"type": "simple", "jsonPath": "$.priority", "operatorType": "GREATER_OR_EQUAL", "value": 3}}]},
  "escalated": {"transitions": []}}}]}
$json$) ->> 'workflows';
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-000000000100', 'ticket', '{"priority": 1}');
SELECT state, last_transition, version FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-000000000100';
UPDATE cyoda_wf.entity SET data = '{"priority": 2}' WHERE id = '00000000-0000-0000-0000-000000000100';
SELECT state, last_transition, version FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-000000000100';
UPDATE cyoda_wf.entity SET data = data || '{"priority": 5}' WHERE id = '00000000-0000-0000-0000-000000000100'
RETURNING state, last_transition, version;

-- The engine owns state, version, id, model and lineage.
UPDATE cyoda_wf.entity SET state = 'open' WHERE id = '00000000-0000-0000-0000-000000000100';
\echo :LAST_ERROR_SQLSTATE
UPDATE cyoda_wf.entity SET version = 99 WHERE id = '00000000-0000-0000-0000-000000000100';
\echo :LAST_ERROR_SQLSTATE
UPDATE cyoda_wf.entity SET model = 'order' WHERE id = '00000000-0000-0000-0000-000000000100';
\echo :LAST_ERROR_SQLSTATE
UPDATE cyoda_wf.entity SET parent_id = id WHERE id = '00000000-0000-0000-0000-000000000100';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO cyoda_wf.entity (model, data, state) VALUES ('ticket', '{}', 'escalated');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO cyoda_wf.entity (model, data) VALUES ('ticket', '[1, 2]');
\echo :LAST_ERROR_SQLSTATE

-- Optimistic concurrency: if_match.
SELECT cyoda_wf.update_item('00000000-0000-0000-0000-000000000100', '{"priority": 6}', if_match => 1);
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.update_item('00000000-0000-0000-0000-000000000100', '{"priority": 6}', if_match => 3);
SELECT version FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-000000000100';

-- Delete records the deletion and runs no workflow.
DELETE FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-000000000100';
SELECT cyoda_wf.delete_item('00000000-0000-0000-0000-000000000100');
SELECT version, change_type, state, transition FROM cyoda_wf.changes('00000000-0000-0000-0000-000000000100');
SELECT cyoda_wf.get_item('00000000-0000-0000-0000-000000000100');
\echo :LAST_ERROR_SQLSTATE

-- Loop guards: a state entered more than 10 times, or more than 100 transitions.
SELECT cyoda_wf.import_workflows('pingpong', 1, $json$
{"allowCycles": true, "workflows": [{"name": "pp", "initialState": "ping", "states": {
  "ping": {"transitions": [{"name": "to_pong", "next": "pong"}]},
  "pong": {"transitions": [{"name": "to_ping", "next": "ping"}]}}}]}
$json$) ->> 'workflows';
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('00000000-0000-0000-0000-000000000200', 'pingpong', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM cyoda_wf.entity WHERE model = 'pingpong';
SELECT cyoda_wf.import_workflows('chain', 1, jsonb_build_object('workflows', jsonb_build_array(
  jsonb_build_object('name', 'long', 'initialState', 's0', 'states',
    (SELECT jsonb_object_agg('s' || i,
              CASE WHEN i < 101 THEN jsonb_build_object('transitions', jsonb_build_array(
                     jsonb_build_object('name', 'step', 'next', 's' || (i + 1))))
                   ELSE '{"transitions": []}'::jsonb END)
       FROM generate_series(0, 101) AS i))))) ->> 'workflows';
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('00000000-0000-0000-0000-000000000201', 'chain', '{}');
\echo :LAST_ERROR_SQLSTATE
-- exactly 100 transitions is allowed
SELECT cyoda_wf.import_workflows('chain', 2, jsonb_build_object('workflows', jsonb_build_array(
  jsonb_build_object('name', 'long', 'initialState', 's0', 'states',
    (SELECT jsonb_object_agg('s' || i,
              CASE WHEN i < 100 THEN jsonb_build_object('transitions', jsonb_build_array(
                     jsonb_build_object('name', 'step', 'next', 's' || (i + 1))))
                   ELSE '{"transitions": []}'::jsonb END)
       FROM generate_series(0, 100) AS i))))) ->> 'workflows';
SELECT cyoda_wf.add_item('chain', 2, '{}') AS new_id \gset
SELECT state FROM cyoda_wf.entity WHERE id = :'new_id';

-- Processes resolve in the workflow's function schema, never via search_path.
CREATE SCHEMA trap;
CREATE FUNCTION trap.price_order(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '{"hijacked": true}'::jsonb $$;
SET search_path = trap, public;
SELECT cyoda_wf.add_item('order', 1, '{"lines": [], "total": 1}') AS new_id \gset
SELECT data ? 'hijacked' AS hijacked, data->>'priced_by' AS priced_by FROM cyoda_wf.entity WHERE id = :'new_id';
RESET search_path;

-- A process error aborts the whole save and names entity, transition, process.
CREATE OR REPLACE FUNCTION public.price_order(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no price list' USING ERRCODE = 'P0001'; END $$;
\set SHOW_CONTEXT always
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-0000000000d1', 'order', '{"lines": [], "total": 1}');
\set SHOW_CONTEXT never
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-0000000000d1';
SELECT count(*) FROM cyoda_wf.entity_version WHERE entity_id = '00000000-0000-0000-0000-0000000000d1';

-- A process must return an object (or NULL to keep the data).
CREATE OR REPLACE FUNCTION public.price_order(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '[1]'::jsonb $$;
SELECT cyoda_wf.add_item('order', 1, '{"lines": [], "total": 1}');
\echo :LAST_ERROR_SQLSTATE
CREATE OR REPLACE FUNCTION public.price_order(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT NULL::jsonb $$;
SELECT cyoda_wf.add_item('order', 1, '{"lines": [], "total": 1}') AS new_id \gset
SELECT state, data FROM cyoda_wf.entity WHERE id = :'new_id';
-- a dropped and re-created function is found again (cached lookups are invalidated)
DROP FUNCTION public.price_order(jsonb, jsonb);
CREATE FUNCTION public.price_order(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || '{"v": 2}' $$;
SELECT cyoda_wf.add_item('order', 1, '{"lines": [], "total": 1}') AS new_id \gset
SELECT data->'v' AS v FROM cyoda_wf.entity WHERE id = :'new_id';

-- Workflow selection by the workflow criterion; inactive workflows are skipped.
SELECT cyoda_wf.import_workflows('doc', 1, $json$
{"workflows": [
  {"name": "vip", "initialState": "vip_new", "criterion": {"type": "simple", "jsonPath": "$.vip", "operatorType": "EQUALS", "value": true},
   "states": {"vip_new": {"transitions": []}}},
  {"name": "off", "active": false, "initialState": "never", "states": {"never": {"transitions": []}}},
  {"name": "normal", "initialState": "new", "states": {"new": {"transitions": []}}}]}
$json$) ->> 'workflows';
SELECT cyoda_wf.add_item('doc', 1, '{"vip": true}') AS new_id \gset
SELECT workflow, state FROM cyoda_wf.entity WHERE id = :'new_id';
SELECT cyoda_wf.add_item('doc', 1, '{"vip": false}') AS new_id \gset
SELECT workflow, state FROM cyoda_wf.entity WHERE id = :'new_id';

-- stats
SELECT * FROM cyoda_wf.stats('order');

-- Model names and versions are checked on every save, as at import.
SELECT cyoda_wf.add_item('note', 0, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.add_item(repeat('m', 257), 1, '{}');
\echo :LAST_ERROR_SQLSTATE

-- Processes run as the importer; when that role is gone they do not run at all.
SET client_min_messages = warning;
DROP ROLE IF EXISTS cw_gone_importer;
RESET client_min_messages;
CREATE ROLE cw_gone_importer;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_gone_importer;
GRANT EXECUTE ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb) TO cw_gone_importer;
SET ROLE cw_gone_importer;
SELECT cyoda_wf.import_workflows('orphaned', 1, '{"workflows": [{"name": "w", "initialState": "a",
  "states": {"a": {"transitions": [{"name": "go", "next": "b", "processors": [{"name": "price_order"}]}]}, "b": {}}}]}') ->> 'workflows';
RESET ROLE;
REVOKE ALL ON SCHEMA cyoda_wf FROM cw_gone_importer;
REVOKE ALL ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb) FROM cw_gone_importer;
DROP ROLE cw_gone_importer;
SELECT cyoda_wf.add_item('orphaned', 1, '{}');
\echo :LAST_ERROR_SQLSTATE

-- A process that saves another entity inside a subtransaction and rolls it
-- back takes only its own rows with it: the version and audit rows of saves
-- made earlier in the same statement stay.
SELECT cyoda_wf.import_workflows('subx_parent', 1, '{"workflows": [{"name": "w", "initialState": "a",
  "states": {"a": {"transitions": [{"name": "go", "next": "b", "processors": [{"name": "subx_spawn"}]}]}, "b": {}}}]}') ->> 'workflows';
CREATE FUNCTION public.subx_spawn(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF (data->>'spawn')::boolean THEN
    BEGIN
      INSERT INTO cyoda_wf.entity (id, model, data)
      VALUES ('00000000-0000-0000-0000-0000000005c9', 'note', '{"child": true}');
      RAISE EXCEPTION 'undo the child';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
  END IF;
  RETURN data;
END $$;
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-0000000005c1', 'subx_parent', '{"spawn": false}'),
  ('00000000-0000-0000-0000-0000000005c2', 'subx_parent', '{"spawn": true}');
SELECT e.id, e.state,
       (SELECT count(*) FROM cyoda_wf.entity_version v WHERE v.entity_id = e.id) AS versions,
       (SELECT count(*) FROM cyoda_wf.audit a WHERE a.entity_id = e.id) AS audits
  FROM cyoda_wf.entity e WHERE e.id::text LIKE '00000000-0000-0000-0000-0000000005c_' ORDER BY e.id;
SELECT count(*) AS child_rows FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000005c9';
-- audit ids follow the order of the saves
SELECT (SELECT max(id) FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000005c1')
     < (SELECT min(id) FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000005c2')
       AS audit_in_save_order;

-- Row and statement triggers a user adds to the entity table fire for
-- update_item and fire as for an UPDATE (also with a transition table).
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('00000000-0000-0000-0000-0000000007a1', 'note', '{}');
CREATE TABLE public.entity_log (id uuid, state text, version bigint, how text);
CREATE FUNCTION public.entity_log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.entity_log VALUES (NEW.id, NEW.state, NEW.version, TG_WHEN || ' ' || TG_LEVEL); RETURN NULL; END $$;
CREATE FUNCTION public.entity_log_table() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.entity_log SELECT id, state, version, 'transition table' FROM new_rows; RETURN NULL; END $$;
CREATE TRIGGER entity_log_row AFTER UPDATE ON cyoda_wf.entity
  FOR EACH ROW EXECUTE FUNCTION public.entity_log_row();
CREATE TRIGGER entity_log_stmt AFTER UPDATE ON cyoda_wf.entity
  FOR EACH STATEMENT EXECUTE FUNCTION public.entity_log_row();
SELECT cyoda_wf.fire('00000000-0000-0000-0000-0000000007a1', 'UPDATE');
CREATE TRIGGER entity_log_table AFTER UPDATE ON cyoda_wf.entity
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.entity_log_table();
SELECT cyoda_wf.update_item('00000000-0000-0000-0000-0000000007a1', '{"n": 1}', 'UPDATE');
SELECT id, state, version, how FROM public.entity_log ORDER BY version, how;
SELECT version, change_type, transition FROM cyoda_wf.changes('00000000-0000-0000-0000-0000000007a1');
DROP TRIGGER entity_log_row ON cyoda_wf.entity;
DROP TRIGGER entity_log_stmt ON cyoda_wf.entity;
DROP TRIGGER entity_log_table ON cyoda_wf.entity;
DROP FUNCTION public.entity_log_row(), public.entity_log_table();
DROP TABLE public.entity_log;
-- fire on an entity that does not exist
SELECT cyoda_wf.fire('00000000-0000-0000-0000-0000000007a9', 'UPDATE');
\echo :LAST_ERROR_SQLSTATE

-- SQL processes: a one-SELECT body runs from a plan kept for the session;
-- a changed body is planned again; other bodies run through the function
-- manager; named and numbered parameters both work.
SELECT cyoda_wf.import_workflows('sqlproc', 1, '{"workflows": [{"name": "w", "initialState": "a",
  "states": {"a": {"transitions": [{"name": "go", "next": "b", "processors": [{"name": "sqlp_step"}],
                                    "criterion": {"type": "function", "function": {"name": "sqlp_ok"}}}]},
             "b": {"transitions": [{"name": "more", "next": "c", "manual": true, "processors": [{"name": "sqlp_multi"}]}]},
             "c": {}}}]}') ->> 'workflows';
CREATE FUNCTION public.sqlp_ok(meta jsonb, data jsonb) RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT (data->>'n')::int > 0 $$;
CREATE FUNCTION public.sqlp_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT $2 || jsonb_build_object('step', 1, 'by', meta->>'process') $$;
CREATE FUNCTION public.sqlp_multi(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT 1; SELECT data || '{"multi": true}' $$;
SELECT cyoda_wf.add_item('sqlproc', 1, '{"n": 0}') AS s0 \gset
SELECT cyoda_wf.add_item('sqlproc', 1, '{"n": 1}') AS s1 \gset
SELECT state, data FROM cyoda_wf.entity WHERE id IN (:'s0', :'s1') ORDER BY data->>'n';
CREATE OR REPLACE FUNCTION public.sqlp_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || '{"step": 2}' $$;
SELECT cyoda_wf.add_item('sqlproc', 1, '{"n": 2}') AS s2 \gset
SELECT state, data FROM cyoda_wf.entity WHERE id = :'s2';
SELECT cyoda_wf.fire(:'s2', 'more');
SELECT data FROM cyoda_wf.entity WHERE id = :'s2';
-- a SELECT that returns no row leaves the data as it was
CREATE OR REPLACE FUNCTION public.sqlp_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || '{"never": 1}' WHERE false $$;
SELECT cyoda_wf.add_item('sqlproc', 1, '{"n": 3}') AS s3 \gset
SELECT state, data FROM cyoda_wf.entity WHERE id = :'s3';
-- errors keep their SQLSTATE
CREATE OR REPLACE FUNCTION public.sqlp_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || jsonb_build_object('q', 1 / ((data->>'n')::int - 4)) $$;
SELECT cyoda_wf.add_item('sqlproc', 1, '{"n": 4}');
\echo :LAST_ERROR_SQLSTATE

-- A row trigger a user adds to the audit_log table sees every audit row (such
-- rows are then written one at a time instead of in one batch).
CREATE TABLE public.audit_seen (entity_id uuid, event_type text);
CREATE FUNCTION public.audit_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.audit_seen VALUES (NEW.entity_id, NEW.event_type); RETURN NEW; END $$;
CREATE TRIGGER audit_seen BEFORE INSERT ON cyoda_wf.audit_log FOR EACH ROW EXECUTE FUNCTION public.audit_seen();
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('00000000-0000-0000-0000-0000000007b1', 'sqlproc', '{"n": 5}');
SELECT count(*) AS seen,
       (SELECT count(*) FROM cyoda_wf.audit_log WHERE entity_id = '00000000-0000-0000-0000-0000000007b1') AS written
  FROM public.audit_seen WHERE entity_id = '00000000-0000-0000-0000-0000000007b1';
DROP TRIGGER audit_seen ON cyoda_wf.audit_log;
DROP FUNCTION public.audit_seen();
DROP TABLE public.audit_seen;

-- A user's BEFORE trigger that skips the row: fire reports no entity saved.
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('00000000-0000-0000-0000-0000000007c1', 'note', '{}');
CREATE FUNCTION public.entity_skip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER zz_entity_skip BEFORE UPDATE ON cyoda_wf.entity
  FOR EACH ROW EXECUTE FUNCTION public.entity_skip();
SELECT cyoda_wf.fire('00000000-0000-0000-0000-0000000007c1', 'UPDATE');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER zz_entity_skip ON cyoda_wf.entity;
DROP FUNCTION public.entity_skip();
SELECT version FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-0000000007c1';

-- cyoda_wf.notify = off: saves send no notification (psql would print it).
LISTEN cyoda_wf;
SET cyoda_wf.notify = off;
SELECT cyoda_wf.add_item('note', 1, '{}') IS NOT NULL AS saved;
RESET cyoda_wf.notify;
UNLISTEN cyoda_wf;

-- A read-only transaction cannot save, through the API either.
BEGIN READ ONLY;
SELECT cyoda_wf.fire('00000000-0000-0000-0000-0000000007a1', 'UPDATE');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN READ ONLY;
SELECT cyoda_wf.add_item('note', 1, '{}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- A SQL process whose body cannot be planned when it is first called fails
-- with the planner's SQLSTATE (and is planned again once it is replaced).
SET check_function_bodies = off;
CREATE OR REPLACE FUNCTION public.sqlp_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || to_jsonb(x) FROM no_such_table x $$;
RESET check_function_bodies;
SELECT cyoda_wf.add_item('sqlproc', 1, '{"n": 6}');
\echo :LAST_ERROR_SQLSTATE
CREATE OR REPLACE FUNCTION public.sqlp_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || '{"fixed": true}' $$;
SELECT cyoda_wf.add_item('sqlproc', 1, '{"n": 6}') AS s6 \gset
SELECT state, data FROM cyoda_wf.entity WHERE id = :'s6';
