-- Cyoda's audit event types: TRANSITION_NOT_MATCH_CRITERION for each
-- automatic transition whose criterion did not match while a cascade looked
-- for the next step, its detail naming the innermost failing sub-condition.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION public.ae_big(meta jsonb, data jsonb) RETURNS boolean
LANGUAGE sql AS $$ SELECT (data->>'n')::numeric > 100 $$;
SELECT cyoda_wf.import_workflows('ae', 1, $json$
{
  "importMode": "REPLACE",
  "workflows": [
    {
      "version": "1.0", "name": "ae_flow", "initialState": "new", "active": true,
      "states": {
        "new": {
          "transitions": [
            {"name": "to_small", "next": "small", "manual": false,
             "criterion": {"type": "group", "operator": "AND", "conditions": [
               {"type": "simple", "jsonPath": "$.kind", "operatorType": "EQUALS", "value": "item"},
               {"type": "group", "operator": "AND", "conditions": [
                 {"type": "simple", "jsonPath": "$.n", "operatorType": "BETWEEN", "value": [0, 10]},
                 {"type": "lifecycle", "field": "state", "operatorType": "EQUALS", "value": "new"}]}]}},
            {"name": "to_either", "next": "small", "manual": false,
             "criterion": {"type": "group", "operator": "OR", "conditions": [
               {"type": "simple", "jsonPath": "$.a", "operatorType": "IS_NULL"},
               {"type": "simple", "jsonPath": "$.b", "operatorType": "NOT_NULL"}]}},
            {"name": "to_big", "next": "big", "manual": false,
             "criterion": {"type": "group", "operator": "AND", "conditions": [
               {"type": "simple", "jsonPath": "$.kind", "operatorType": "EQUALS", "value": "item"},
               {"type": "function", "function": {"name": "ae_big"}}]}},
            {"name": "to_stuck", "next": "big", "manual": false,
             "criterion": {"type": "lifecycle", "field": "state", "operatorType": "EQUALS", "value": "nowhere"}},
            {"name": "done", "next": "big", "manual": true}
          ]
        },
        "small": {"transitions": []},
        "big": {"transitions": []}
      }
    }
  ]
}
$json$) IS NOT NULL AS imported;

-- n = 50: to_small fails on BETWEEN, to_either on its OR, to_big on the
-- function, to_stuck on the lifecycle state; no transition is made
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-0000000000e1', 'ae', '{"kind": "item", "n": 50, "a": 1}');
SELECT event_type, transition, from_state, to_state, detail
  FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000000e1' ORDER BY id;

-- a loopback that matches to_big: the failures before it are recorded,
-- then the transition made
UPDATE cyoda_wf.entity SET data = '{"kind": "item", "n": 500, "a": 1}'
 WHERE id = '00000000-0000-0000-0000-0000000000e1';
SELECT event_type, transition, detail->'condition' AS failed
  FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000000e1' ORDER BY id OFFSET 4;

-- the first member of an AND that fails is named (here $.kind)
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-0000000000e2', 'ae', '{"kind": "box", "n": 5, "a": 1}');
SELECT transition, detail->'condition' AS failed
  FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000000e2'
   AND event_type = 'TRANSITION_NOT_MATCH_CRITERION' ORDER BY id;

-- a transition that matches first leaves no such row
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-0000000000e3', 'ae', '{"kind": "item", "n": 5}');
SELECT event_type, transition, to_state
  FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000000e3' ORDER BY id;

-- a rolled-back save leaves none either
BEGIN;
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-0000000000e4', 'ae', '{"kind": "item", "n": 50, "a": 1}');
ROLLBACK;
SELECT count(*) FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000000e4';
