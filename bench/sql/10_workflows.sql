-- bench/sql/10_workflows.sql: the benchmark workflows, in Cyoda's format.
-- bench.workflow holds each import body; cyoda_wf imports them here and the
-- PL/pgSQL engine (30_plpgsql_engine.sql) loads the very same bodies.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE TABLE IF NOT EXISTS bench.workflow (model text PRIMARY KEY, body jsonb NOT NULL);

-- A chain s0 -> s1 -> ... -> s<steps> of automatic transitions t1..t<steps>,
-- each running `process` (none when NULL).
CREATE OR REPLACE FUNCTION bench.chain_body(wf text, steps int, process text) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(
    jsonb_build_object('name', wf, 'initialState', 's0', 'states',
      (SELECT jsonb_object_agg('s' || i, jsonb_build_object('transitions',
                CASE WHEN i < steps THEN jsonb_build_array(
                  jsonb_build_object('name', 't' || (i + 1), 'next', 's' || (i + 1), 'manual', false)
                  || CASE WHEN process IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('processors',
                       jsonb_build_array(jsonb_build_object('name', process, 'executionMode', 'SYNC'))) END)
                ELSE '[]'::jsonb END))
         FROM generate_series(0, steps) AS i))))
$$;

-- Criteria-heavy chain c0 -> ... -> c5: in every state two transitions whose
-- group conditions do not match come before the one that does.
CREATE OR REPLACE FUNCTION bench.crit_body() RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(
    jsonb_build_object('name', 'crit', 'initialState', 'c0', 'states',
      (SELECT jsonb_object_agg('c' || i, jsonb_build_object('transitions',
                CASE WHEN i < 5 THEN jsonb_build_array(
                  jsonb_build_object('name', 'reject_' || (i + 1), 'next', 'rejected', 'criterion',
                    jsonb_build_object('type', 'group', 'operator', 'AND', 'conditions', jsonb_build_array(
                      jsonb_build_object('type', 'simple', 'jsonPath', '$.amount', 'operatorType', 'GREATER_THAN', 'value', 100001 + i),
                      jsonb_build_object('type', 'simple', 'jsonPath', '$.country', 'operatorType', 'EQUALS', 'value', 'US')))),
                  jsonb_build_object('name', 'hold_' || (i + 1), 'next', 'held', 'criterion',
                    jsonb_build_object('type', 'group', 'operator', 'OR', 'conditions', jsonb_build_array(
                      jsonb_build_object('type', 'simple', 'jsonPath', '$.priority', 'operatorType', 'GREATER_THAN', 'value', 10 + i),
                      jsonb_build_object('type', 'group', 'operator', 'AND', 'conditions', jsonb_build_array(
                        jsonb_build_object('type', 'simple', 'jsonPath', '$.country', 'operatorType', 'EQUALS', 'value', 'XX'),
                        jsonb_build_object('type', 'simple', 'jsonPath', '$.tags', 'operatorType', 'CONTAINS', 'value', 'vip')))))),
                  jsonb_build_object('name', 'next_' || (i + 1), 'next', 'c' || (i + 1), 'criterion',
                    jsonb_build_object('type', 'group', 'operator', 'AND', 'conditions', jsonb_build_array(
                      jsonb_build_object('type', 'simple', 'jsonPath', '$.amount', 'operatorType', 'GREATER_THAN', 'value', 1 + i),
                      jsonb_build_object('type', 'simple', 'jsonPath', '$.country', 'operatorType', 'EQUALS', 'value', 'NL'),
                      jsonb_build_object('type', 'simple', 'jsonPath', '$.priority', 'operatorType', 'LESS_THAN', 'value', 11 + i)))))
                ELSE '[]'::jsonb END))
         FROM generate_series(0, 5) AS i)
      || '{"rejected": {"transitions": []}, "held": {"transitions": []}}'::jsonb)))
$$;

-- A workflow of `k` states (k >= 8): s0 -> ... -> s5 automatic, then s5 and
-- s6 toggle into each other by the manual "toggle", and a manual "next"
-- chain s6 -> s7 -> ... -> s<k-1> makes every state reachable.
CREATE OR REPLACE FUNCTION bench.states_body(k int) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(
    jsonb_build_object('name', 'states' || k, 'initialState', 's0', 'states',
      (SELECT jsonb_object_agg('s' || i, jsonb_build_object('transitions',
                CASE WHEN i < 5 THEN jsonb_build_array(jsonb_build_object('name', 't' || (i + 1), 'next', 's' || (i + 1)))
                     WHEN i = 5 THEN jsonb_build_array(jsonb_build_object('name', 'toggle', 'next', 's6', 'manual', true))
                     WHEN i = 6 THEN jsonb_build_array(jsonb_build_object('name', 'toggle', 'next', 's5', 'manual', true),
                                                       jsonb_build_object('name', 'next', 'next', 's7', 'manual', true))
                     WHEN i < k - 1 THEN jsonb_build_array(jsonb_build_object('name', 'next', 'next', 's' || (i + 1), 'manual', true))
                     ELSE '[]'::jsonb END))
         FROM generate_series(0, k - 1) AS i))))
$$;

TRUNCATE bench.workflow;
INSERT INTO bench.workflow VALUES
  ('b_chain', bench.chain_body('chain', 5, NULL)),
  ('b_sql', bench.chain_body('chain_sql', 5, 'bench_sql_step')),
  ('b_py', bench.chain_body('chain_py', 5, 'bench_py_step')),
  ('b_crit', bench.crit_body()),
  -- loopback: a data update re-evaluates the automatic transitions
  ('b_loop', $j${"importMode": "REPLACE", "workflows": [{"name": "loop", "initialState": "open", "states": {
     "open": {"transitions": [
       {"name": "close", "next": "closed", "criterion": {"type": "group", "operator": "AND", "conditions": [
          {"type": "simple", "jsonPath": "$.status", "operatorType": "EQUALS", "value": "closed"},
          {"type": "simple", "jsonPath": "$.priority", "operatorType": "LESS_THAN", "value": 0}]}},
       {"name": "escalate", "next": "escalated", "criterion":
          {"type": "simple", "jsonPath": "$.priority", "operatorType": "GREATER_OR_EQUAL", "value": 3}}]},
     "escalated": {"transitions": [
       {"name": "close", "next": "closed", "criterion": {"type": "group", "operator": "AND", "conditions": [
          {"type": "simple", "jsonPath": "$.status", "operatorType": "EQUALS", "value": "closed"},
          {"type": "simple", "jsonPath": "$.priority", "operatorType": "LESS_THAN", "value": 0}]}},
       {"name": "calm", "next": "open", "criterion":
          {"type": "simple", "jsonPath": "$.priority", "operatorType": "LESS_THAN", "value": 3}}]},
     "closed": {"transitions": []}}}]}$j$),
  -- manual fire: "toggle" moves a -> b and b -> a
  ('b_toggle', $j${"importMode": "REPLACE", "workflows": [{"name": "toggle", "initialState": "a", "states": {
     "a": {"transitions": [{"name": "toggle", "next": "b", "manual": true}]},
     "b": {"transitions": [{"name": "toggle", "next": "a", "manual": true}]}}}]}$j$);

SELECT model, cyoda_wf.import_workflows(model, 1, body) ->> 'workflows' AS imported
  FROM bench.workflow ORDER BY model;
