-- Native workflow definitions: import, validation, normalization, export.
-- Every model of this file is named d_*, and removed at the end.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- Bodies for the rejection cases: one workflow "w" with initial state "a";
-- tr() puts one transition "t" (a -> b) in it, pr() one processor "p" in t.
CREATE FUNCTION pg_temp.one(states jsonb, extra jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('workflows', jsonb_build_array(
    jsonb_build_object('name', 'w', 'initialState', 'a', 'states', states) || extra))
$$;
CREATE FUNCTION pg_temp.tr(t jsonb) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT pg_temp.one(jsonb_build_object(
    'a', jsonb_build_object('transitions',
           jsonb_build_array(jsonb_build_object('name', 't', 'next', 'b') || t)),
    'b', '{"transitions": []}'::jsonb))
$$;
CREATE FUNCTION pg_temp.pr(p jsonb) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT pg_temp.tr(jsonb_build_object('processors',
    jsonb_build_array(jsonb_build_object('name', 'p') || p)))
$$;

------------------------------------------------------------------------------
-- examples/workflows/order.json imports; export is the input plus defaults.
------------------------------------------------------------------------------
CREATE TEMP TABLE doc (name text PRIMARY KEY, body jsonb NOT NULL);
INSERT INTO doc VALUES ('order', $json$
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
             ]},
             "processors": [{"name": "book_shipment", "executionMode": "ASYNC_NEW_TX",
                             "config": {"retryPolicy": "FIXED", "context": "carrier=default"}}]}
          ]
        },
        "shipped": {"transitions": []},
        "rejected": {"transitions": []}
      }
    }
  ]
}
$json$);

-- The same workflow with the defaults it leaves out written in: here only
-- "disabled": false on every transition (it states active, manual and
-- executionMode itself).
INSERT INTO doc VALUES ('order_normalized', $json$
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
        {"name": "reject_empty", "next": "rejected", "manual": false, "disabled": false,
         "criterion": {"type": "simple", "jsonPath": "$.lines", "operatorType": "IS_NULL"}},
        {"name": "needs_approval", "next": "awaiting_approval", "manual": false, "disabled": false,
         "criterion": {"type": "simple", "jsonPath": "$.total", "operatorType": "GREATER_THAN", "value": 1000}},
        {"name": "auto_accept", "next": "accepted", "manual": false, "disabled": false,
         "processors": [{"name": "price_order", "executionMode": "SYNC"}]}
      ]
    },
    "awaiting_approval": {
      "transitions": [
        {"name": "approve", "next": "accepted", "manual": true, "disabled": false,
         "processors": [{"name": "price_order", "executionMode": "SYNC"}]},
        {"name": "decline", "next": "rejected", "manual": true, "disabled": false}
      ]
    },
    "accepted": {
      "transitions": [
        {"name": "ship", "next": "shipped", "manual": true, "disabled": false,
         "criterion": {"type": "group", "operator": "AND", "conditions": [
           {"type": "simple", "jsonPath": "$.address.country", "operatorType": "NOT_NULL"},
           {"type": "function", "function": {"name": "stock_available"}}
         ]},
         "processors": [{"name": "book_shipment", "executionMode": "ASYNC_NEW_TX",
                         "config": {"retryPolicy": "FIXED", "context": "carrier=default"}}]}
      ]
    },
    "shipped": {"transitions": []},
    "rejected": {"transitions": []}
  }
}
$json$);

SELECT cyoda_wf.import_workflows('d_order', 1, body) FROM doc WHERE name = 'order';
SELECT cyoda_wf.export_workflows('d_order', 1) =
       jsonb_build_object('entityName', 'd_order', 'modelVersion', 1,
                          'workflows', jsonb_build_array(body)) AS export_is_input_plus_defaults
  FROM doc WHERE name = 'order_normalized';
SELECT jsonb_pretty(cyoda_wf.export_workflows('d_order', 1));
SELECT model, model_version, name, ord, function_schema, owner = current_user::regrole AS owner_is_importer
  FROM cyoda_wf.workflow WHERE model = 'd_order';
SELECT name, version, sources, function_schema FROM cyoda_wf.model WHERE name = 'd_order';

-- Export output imports again (entityName and modelVersion are accepted
-- when they match) and changes nothing.
SELECT cyoda_wf.import_workflows('d_order', 1, cyoda_wf.export_workflows('d_order', 1));
SELECT cyoda_wf.export_workflows('d_order', 1) =
       jsonb_build_object('entityName', 'd_order', 'modelVersion', 1,
                          'workflows', jsonb_build_array(body)) AS unchanged
  FROM doc WHERE name = 'order_normalized';

-- A model row that exists keeps its function_schema, and its workflows use it.
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('d_schema', 1, 'app');
SELECT cyoda_wf.import_workflows('d_schema', 1, pg_temp.one('{"a": {}}')) ->> 'model' AS imported;
SELECT m.function_schema AS model_schema, w.function_schema AS workflow_schema
  FROM cyoda_wf.model m JOIN cyoda_wf.workflow w ON w.model = m.name AND w.model_version = m.version
 WHERE m.name = 'd_schema';

-- A model version with no workflows exports an empty array.
SELECT cyoda_wf.export_workflows('d_order', 2);
SELECT cyoda_wf.export_workflows('d_nothing', 1);

------------------------------------------------------------------------------
-- Normalization adds exactly the four defaults, and keeps every other key.
------------------------------------------------------------------------------
SELECT cyoda_wf.import_workflows('d_norm', 1, $json$
{"workflows": [
  {"name": "minimal", "initialState": "a",
   "states": {"a": {"transitions": [
     {"name": "t", "next": "a", "manual": true, "processors": [{"name": "p"}]}]}}},
  {"version": "1.0", "name": "Everything, with spaces", "desc": "all optional keys",
   "initialState": "start", "active": false,
   "criterion": {"type": "simple", "jsonPath": "$.kind", "operatorType": "EQUALS", "value": "x"},
   "annotations": {"owner": "team-a", "nested": {"list": [1, 2, {"deep": null}]}},
   "states": {
     "start": {"transitions": [
       {"name": "wait a bit", "next": "Move-to Published", "disabled": true,
        "schedule": {"delayMs": 1000, "timeoutMs": 0},
        "annotations": {"ui": {"x": 10}},
        "processors": [
          {"type": "externalized", "name": "p1", "executionMode": "ASYNC_SAME_TX",
           "config": {"attachEntity": false, "calculationNodesTags": "a,b",
                      "responseTimeoutMs": 0, "retryPolicy": "NONE", "context": ""}},
          {"name": "p2", "executionMode": "COMMIT_BEFORE_DISPATCH", "config": {}}]},
       {"name": "later", "next": "Move-to Published", "manual": false,
        "schedule": {"delayMs": 1}}]},
     "Move-to Published": {}
   }}
]}
$json$);
SELECT jsonb_pretty(definition) FROM cyoda_wf.workflow
 WHERE model = 'd_norm' AND name = 'minimal';
-- the second one: its definition is the input plus only "manual" on the
-- first transition and "disabled" on the second.
SELECT definition = $json$
  {"version": "1.0", "name": "Everything, with spaces", "desc": "all optional keys",
   "initialState": "start", "active": false,
   "criterion": {"type": "simple", "jsonPath": "$.kind", "operatorType": "EQUALS", "value": "x"},
   "annotations": {"owner": "team-a", "nested": {"list": [1, 2, {"deep": null}]}},
   "states": {
     "start": {"transitions": [
       {"name": "wait a bit", "next": "Move-to Published", "disabled": true, "manual": false,
        "schedule": {"delayMs": 1000, "timeoutMs": 0},
        "annotations": {"ui": {"x": 10}},
        "processors": [
          {"type": "externalized", "name": "p1", "executionMode": "ASYNC_SAME_TX",
           "config": {"attachEntity": false, "calculationNodesTags": "a,b",
                      "responseTimeoutMs": 0, "retryPolicy": "NONE", "context": ""}},
          {"name": "p2", "executionMode": "COMMIT_BEFORE_DISPATCH", "config": {}}]},
       {"name": "later", "next": "Move-to Published", "manual": false, "disabled": false,
        "schedule": {"delayMs": 1}}]},
     "Move-to Published": {}
   }}
  $json$::jsonb AS only_defaults_added
  FROM cyoda_wf.workflow WHERE model = 'd_norm' AND name = 'Everything, with spaces';

------------------------------------------------------------------------------
-- MERGE, REPLACE, ACTIVATE; importMode is case-insensitive.
------------------------------------------------------------------------------
-- no importMode: MERGE
SELECT cyoda_wf.import_workflows('d_modes', 1, jsonb_build_object('workflows',
       (pg_temp.one('{"a": {}}', '{"name": "A"}') -> 'workflows')
       || (pg_temp.one('{"a": {}}', '{"name": "B", "desc": "first B"}') -> 'workflows')));
-- MERGE replaces B (which keeps its place) and appends C
SELECT cyoda_wf.import_workflows('d_modes', 1, jsonb_build_object(
  'importMode', 'merge',
  'workflows', (pg_temp.one('{"a": {}}', '{"name": "C"}') -> 'workflows')
            || (pg_temp.one('{"a": {}}', '{"name": "B", "desc": "second B"}') -> 'workflows')));
SELECT name, ord, definition ->> 'desc' AS "desc", definition -> 'active' AS active
  FROM cyoda_wf.workflow WHERE model = 'd_modes' ORDER BY ord;
SELECT jsonb_path_query_array(cyoda_wf.export_workflows('d_modes', 1), '$.workflows[*].name') AS export_order;
-- ACTIVATE: B stays active, every workflow not in the body is deactivated
SELECT cyoda_wf.import_workflows('d_modes', 1, jsonb_build_object(
  'importMode', 'Activate',
  'workflows', pg_temp.one('{"a": {}}', '{"name": "B", "desc": "third B"}') -> 'workflows'));
SELECT name, ord, definition ->> 'desc' AS "desc", definition -> 'active' AS active
  FROM cyoda_wf.workflow WHERE model = 'd_modes' ORDER BY ord;
-- ACTIVATE again with A: A is active again, B and C are not
SELECT cyoda_wf.import_workflows('d_modes', 1, jsonb_build_object(
  'importMode', 'ACTIVATE',
  'workflows', pg_temp.one('{"a": {}}', '{"name": "A"}') -> 'workflows'));
SELECT name, ord, definition -> 'active' AS active
  FROM cyoda_wf.workflow WHERE model = 'd_modes' ORDER BY ord;
-- REPLACE drops the others; ord starts again
SELECT cyoda_wf.import_workflows('d_modes', 1, jsonb_build_object(
  'importMode', 'rEpLaCe',
  'workflows', (pg_temp.one('{"a": {}}', '{"name": "D"}') -> 'workflows')
            || (pg_temp.one('{"a": {}}', '{"name": "C"}') -> 'workflows')));
SELECT name, ord, definition -> 'active' AS active
  FROM cyoda_wf.workflow WHERE model = 'd_modes' ORDER BY ord;
-- other model versions are separate
SELECT cyoda_wf.import_workflows('d_modes', 2, pg_temp.one('{"a": {}}', '{"name": "V2"}'));
SELECT model_version, name, ord FROM cyoda_wf.workflow WHERE model = 'd_modes'
 ORDER BY model_version, ord;
-- REPLACE with no workflows empties the model version
SELECT cyoda_wf.import_workflows('d_modes', 2, '{"importMode": "REPLACE", "workflows": []}');
SELECT cyoda_wf.export_workflows('d_modes', 2);

------------------------------------------------------------------------------
-- Cycles of automatic transitions without criteria.
------------------------------------------------------------------------------
INSERT INTO doc VALUES ('cycle', $json$
{"workflows": [{"name": "loop", "initialState": "a", "states": {
  "a": {"transitions": [{"name": "to_b", "next": "b"}]},
  "b": {"transitions": [{"name": "gated", "next": "d", "criterion": {"type": "simple", "jsonPath": "$.x", "operatorType": "NOT_NULL"}},
                        {"name": "to_c", "next": "c"}]},
  "c": {"transitions": [{"name": "back", "next": "a"}]},
  "d": {"transitions": []}}}]}
$json$);
SELECT cyoda_wf.import_workflows('d_cycle', 1, body) FROM doc WHERE name = 'cycle';
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_cycle', 1, body || '{"allowCycles": true}')
  FROM doc WHERE name = 'cycle';
SELECT cyoda_wf.import_workflows('d_cycle', 1, body || '{"allowCycles": false}')
  FROM doc WHERE name = 'cycle';
\echo :LAST_ERROR_SQLSTATE
-- a self-loop is a cycle
SELECT cyoda_wf.import_workflows('d_cycle', 1, pg_temp.one('{"a": {"transitions": [{"name": "again", "next": "a"}]}}'));
\echo :LAST_ERROR_SQLSTATE
-- scheduled transitions count as automatic
SELECT cyoda_wf.import_workflows('d_cycle', 1, pg_temp.one(
  '{"a": {"transitions": [{"name": "tick", "next": "a", "schedule": {"delayMs": 60000}}]}}'));
\echo :LAST_ERROR_SQLSTATE
-- a criterion, a manual or a disabled transition breaks the cycle
SELECT cyoda_wf.import_workflows('d_cycle', 1, pg_temp.one(
  '{"a": {"transitions": [{"name": "again", "next": "a", "criterion": {"type": "simple", "jsonPath": "$.x", "operatorType": "IS_NULL"}}]}}'));
SELECT cyoda_wf.import_workflows('d_cycle', 1, pg_temp.one('{"a": {"transitions": [{"name": "again", "next": "a", "manual": true}]}}'));
SELECT cyoda_wf.import_workflows('d_cycle', 1, pg_temp.one('{"a": {"transitions": [{"name": "again", "next": "a", "disabled": true}]}}'));
-- criterion null is no criterion
SELECT cyoda_wf.import_workflows('d_cycle', 1, pg_temp.one('{"a": {"transitions": [{"name": "again", "next": "a", "criterion": null}]}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT name, ord FROM cyoda_wf.workflow WHERE model = 'd_cycle' ORDER BY ord;

------------------------------------------------------------------------------
-- Large workflows: 1000 states in a chain import; closing the chain into a
-- cycle is refused unless allowed.
------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.chain(n int, closed boolean) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('workflows', jsonb_build_array(jsonb_build_object(
    'name', 'chain', 'initialState', 's0',
    'states', (SELECT jsonb_object_agg('s' || i,
                 CASE WHEN i < n - 1 OR closed
                      THEN jsonb_build_object('transitions', jsonb_build_array(
                             jsonb_build_object('name', 'next step', 'next', 's' || ((i + 1) % n))))
                      ELSE '{"transitions": []}'::jsonb END)
               FROM generate_series(0, n - 1) i))))
$$;
SELECT cyoda_wf.import_workflows('d_big', 1, pg_temp.chain(1000, false));
SELECT jsonb_array_length(jsonb_path_query_array(definition, '$.states.*')) AS states
  FROM cyoda_wf.workflow WHERE model = 'd_big';
DO $$
BEGIN
  PERFORM cyoda_wf.import_workflows('d_big', 1, pg_temp.chain(1000, true));
EXCEPTION WHEN invalid_parameter_value THEN
  RAISE NOTICE '% ... (% characters)', left(SQLERRM, 100), length(SQLERRM);
END $$;
SELECT cyoda_wf.import_workflows('d_big', 1, pg_temp.chain(1000, true) || '{"allowCycles": true}');

------------------------------------------------------------------------------
-- Rejections: SQLSTATE 22023, a message naming workflow / state /
-- transition / processor and the rule.  Model d_bad must stay empty.
------------------------------------------------------------------------------
-- the body
SELECT cyoda_wf.import_workflows('d_bad', 1, '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '"a string"');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '42');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, 'null');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{"workflows": {}}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{"workflows": [], "importmode": "MERGE"}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{"workflows": [], "importMode": "UPSERT"}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{"workflows": [], "importMode": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{"workflows": [], "allowCycles": "yes"}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{"workflows": [], "entityName": "other"}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{"workflows": [], "modelVersion": 2}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{"workflows": [], "modelVersion": "1"}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{"workflows": ["w"]}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, '{"workflows": [[]]}');
\echo :LAST_ERROR_SQLSTATE
-- model name and version
SELECT cyoda_wf.import_workflows('', 1, '{"workflows": []}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows(repeat('m', 300), 1, '{"workflows": []}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 0, '{"workflows": []}');
\echo :LAST_ERROR_SQLSTATE
-- duplicate workflow names in one body
SELECT cyoda_wf.import_workflows('d_bad', 1, jsonb_build_object('workflows',
  (pg_temp.one('{"a": {}}') -> 'workflows') || (pg_temp.one('{"a": {}}') -> 'workflows')));
\echo :LAST_ERROR_SQLSTATE

-- the workflow
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}') #- '{workflows,0,name}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"name": 7}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"name": ""}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', jsonb_build_object('name', repeat('w', 300))));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"critera": null}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"version": "2.0"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"version": 1.3}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"desc": ["x"]}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"active": "yes"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"criterion": "x > 1"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"annotations": []}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}') #- '{workflows,0,initialState}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"initialState": "z"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"initialState": null}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}') #- '{workflows,0,states}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('["a"]'));
\echo :LAST_ERROR_SQLSTATE

-- states
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}, "": {}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one(jsonb_build_object('a', '{}'::jsonb, repeat('s', 257), '{}'::jsonb)));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": []}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {"transitions": [], "annotations": {}}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {"transitions": {}}}'));
\echo :LAST_ERROR_SQLSTATE

-- transitions
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {"transitions": ["t"]}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{}') #- '{workflows,0,states,a,transitions,0,name}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"name": ""}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr(jsonb_build_object('name', repeat('t', 300))));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one(
  '{"a": {"transitions": [{"name": "t", "next": "a", "manual": true}, {"name": "u", "next": "a", "manual": true}, {"name": "t", "next": "a", "manual": true}]}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{}') #- '{workflows,0,states,a,transitions,0,next}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"next": "x"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"next": 2}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"manual": "true"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"disabled": 1}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"critera": {"type": "simple"}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"criterion": []}'));
\echo :LAST_ERROR_SQLSTATE
-- criteria are compiled (cond_compile.c names the place in the criterion)
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr(
  '{"criterion": {"type": "simple", "jsonPath": "$.x", "operatorType": "SIMILAR", "value": 1}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr(
  '{"criterion": {"type": "group", "operator": "OR", "conditions": [{"type": "simple", "jsonPath": "$.code", "operatorType": "MATCHES_PATTERN", "value": "a(b"}]}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one('{"a": {}}', '{"criterion": {"type": "bogus"}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"annotations": "note"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"processors": {}}'));
\echo :LAST_ERROR_SQLSTATE
-- schedules
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"manual": true, "schedule": {"delayMs": 1000}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": {"delayMs": 0}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": {"delayMs": -5}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": {"delayMs": 1.5}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": {"delayMs": "1000"}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": {"delayMs": 1e30}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": {"delayMs": 1000, "timeoutMs": -1}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": {"timeoutMs": 10}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": {"delayMs": 1000, "delay": 5}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": 1000}'));
\echo :LAST_ERROR_SQLSTATE

-- processors
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"processors": ["p"]}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"processors": [{"executionMode": "SYNC"}]}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"name": ""}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr(jsonb_build_object('name', repeat('p', 64))));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"executionMode": "sync"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"executionMode": "ASYNC"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"type": 1}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"mode": "SYNC"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"config": "none"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"config": {"retries": 3}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"config": {"attachEntity": "false"}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"config": {"responseTimeoutMs": -1}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"config": {"retryPolicy": "ALWAYS"}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"config": {"context": {"k": "v"}}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"config": {"calculationNodesTags": ["a"]}}'));
\echo :LAST_ERROR_SQLSTATE
-- the second processor of the transition is named by position until its name is known
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"processors": [{"name": "ok"}, {"name": 5}]}'));
\echo :LAST_ERROR_SQLSTATE

-- Names are counted in characters, not bytes: 256 characters are fine even
-- when most of them take two bytes in UTF-8 (workflow and state name here),
-- 257 are not.
SELECT cyoda_wf.import_workflows('d_wide', 1, pg_temp.one(
  jsonb_build_object('a', '{}'::jsonb, repeat('a', 40) || repeat(chr(233), 216), '{}'::jsonb),
  jsonb_build_object('name', repeat('w', 40) || repeat(chr(233), 216)))) ->> 'model' AS imported;
SELECT octet_length(name) AS bytes, char_length(name) AS characters
  FROM cyoda_wf.workflow WHERE model = 'd_wide';
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.one(
  jsonb_build_object('a', '{}'::jsonb, repeat('a', 40) || repeat(chr(233), 217), '{}'::jsonb)));
\echo :LAST_ERROR_SQLSTATE

-- A rejected body stores nothing: not the valid workflows before the bad
-- one, not the REPLACE of what was there, not a model row.
SELECT cyoda_wf.import_workflows('d_order', 1, jsonb_build_object('importMode', 'REPLACE',
  'workflows', (pg_temp.one('{"a": {}}', '{"name": "fine"}') -> 'workflows')
            || (pg_temp.tr('{"next": "nowhere"}') -> 'workflows')));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.export_workflows('d_order', 1) =
       jsonb_build_object('entityName', 'd_order', 'modelVersion', 1,
                          'workflows', jsonb_build_array(body)) AS order_unchanged
  FROM doc WHERE name = 'order_normalized';
SELECT count(*) AS bad_models FROM cyoda_wf.model WHERE name = 'd_bad';
SELECT count(*) AS bad_workflows FROM cyoda_wf.workflow WHERE model = 'd_bad';

------------------------------------------------------------------------------
-- Hostile input gives 22023, never a crash.
------------------------------------------------------------------------------
-- a criterion nested 200 groups deep: 54000, beyond the 64-level limit (its
-- message, which spells out the path, is shortened here)
DO $$
BEGIN
  PERFORM cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr(jsonb_build_object('criterion',
    (repeat('{"type": "group", "operator": "AND", "conditions": [', 200)
     || '{"type": "simple", "jsonPath": "$.x", "operatorType": "EQUALS", "value": 1}'
     || repeat(']}', 200))::jsonb)));
EXCEPTION WHEN others THEN
  RAISE NOTICE '%: % ... %', SQLSTATE, left(SQLERRM, 98), right(SQLERRM, 62);
END $$;
-- every field of a transition of the wrong type at once: the first is reported
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr(
  '{"next": [], "manual": {}, "disabled": null, "criterion": 1, "processors": "p", "schedule": [], "annotations": 0}'));
\echo :LAST_ERROR_SQLSTATE
-- big numbers and odd keys
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr(
  '{"config": {"responseTimeoutMs": 99999999999999999999999999999999999999}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.pr('{"config": {"responseTimeoutMs": 2147483648}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": {"delayMs": 9223372036854775808}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"schedule": {"delayMs": -9223372036854775809}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.import_workflows('d_bad', 1, pg_temp.tr('{"": 1}'));
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS bad_models FROM cyoda_wf.model WHERE name = 'd_bad';

------------------------------------------------------------------------------
-- The stored owner is the importing role; the import writes as the
-- extension owner, so the role needs no rights on the tables.
------------------------------------------------------------------------------
CREATE ROLE regress_cw_importer;
GRANT USAGE ON SCHEMA cyoda_wf TO regress_cw_importer;
GRANT EXECUTE ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb),
                          cyoda_wf.export_workflows(text, integer) TO regress_cw_importer;
SET ROLE regress_cw_importer;
SELECT cyoda_wf.import_workflows('d_owned', 1, pg_temp.one('{"a": {}}', '{"name": "mine"}'));
SELECT cyoda_wf.export_workflows('d_owned', 1) -> 'workflows' -> 0 ->> 'name' AS exported;
SELECT count(*) FROM cyoda_wf.workflow;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT name, owner FROM cyoda_wf.workflow WHERE model = 'd_owned';
-- without EXECUTE, no import
CREATE ROLE regress_cw_nobody;
GRANT USAGE ON SCHEMA cyoda_wf TO regress_cw_nobody;
SET ROLE regress_cw_nobody;
SELECT cyoda_wf.import_workflows('d_owned', 1, pg_temp.one('{"a": {}}', '{"name": "theirs"}'));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Clean up.
DELETE FROM cyoda_wf.workflow WHERE model LIKE 'd\_%';
DELETE FROM cyoda_wf.model WHERE name LIKE 'd\_%';
REVOKE ALL ON SCHEMA cyoda_wf FROM regress_cw_importer, regress_cw_nobody;
REVOKE ALL ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb),
                       cyoda_wf.export_workflows(text, integer) FROM regress_cw_importer;
DROP ROLE regress_cw_importer;
DROP ROLE regress_cw_nobody;
