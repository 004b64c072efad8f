-- Cyoda's audit event types: TRANSITION_NOT_MATCH_CRITERION for each
-- automatic transition whose criterion did not match while a cascade looked
-- for the next step, its detail naming the innermost failing sub-condition;
-- STATE_MACHINE_START and STATE_MACHINE_FINISH of every save, derived from
-- its version row by the view cyoda_wf.audit.  Listings order by time, and
-- within the same microsecond START first and FINISH last.
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
  FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000000e1'
 ORDER BY at, event_type <> 'STATE_MACHINE_START', event_type = 'STATE_MACHINE_FINISH', id;

-- a loopback that matches to_big: the failures before it are recorded,
-- then the transition made
UPDATE cyoda_wf.entity SET data = '{"kind": "item", "n": 500, "a": 1}'
 WHERE id = '00000000-0000-0000-0000-0000000000e1';
SELECT event_type, transition, detail->'condition' AS failed
  FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000000e1'
 ORDER BY at, event_type <> 'STATE_MACHINE_START', event_type = 'STATE_MACHINE_FINISH', id OFFSET 6;

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
  FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000000e3'
 ORDER BY at, event_type <> 'STATE_MACHINE_START', event_type = 'STATE_MACHINE_FINISH', id;

-- a rolled-back save leaves none either
BEGIN;
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-0000000000e4', 'ae', '{"kind": "item", "n": 50, "a": 1}');
ROLLBACK;
SELECT count(*) FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000000e4';

-- STATE_MACHINE_START and STATE_MACHINE_FINISH: one each per save, whatever
-- made it (INSERT, add_item, update_item, fire, patch_item, UPDATE, a queued
-- transition run by run_tasks, a timer); none for a DELETE.  Derived rows
-- have no id and no from_state; transition is the version's, FINISH's
-- to_state the state the save ended in; role is the saving role.
CREATE FUNCTION public.ae_stamp(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || '{"stamped": true}' $$;
SELECT cyoda_wf.import_workflows('ae_life', 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "life", "initialState": "draft", "states": {
  "draft": {"transitions": [
    {"name": "submit", "next": "review", "manual": true},
    {"name": "auto_ok", "next": "ok", "manual": false,
     "criterion": {"type": "simple", "jsonPath": "$.ok", "operatorType": "EQUALS", "value": true}}]},
  "review": {"transitions": [
    {"name": "stamp", "next": "stamped", "manual": true,
     "processors": [{"name": "ae_stamp", "executionMode": "ASYNC_NEW_TX"}]}]},
  "stamped": {"transitions": [
    {"name": "expire", "next": "expired", "schedule": {"delayMs": 3600000}}]},
  "ok": {"transitions": []},
  "expired": {"transitions": []}}}]}
$json$) ->> 'workflows';
SELECT cyoda_wf.add_item('ae_life', 1, '{"n": 1}') AS life \gset
SELECT cyoda_wf.update_item(:'life', '{"n": 2}');
SELECT cyoda_wf.patch_item(:'life', '{"n": 3}');
UPDATE cyoda_wf.entity SET data = '{"n": 4}' WHERE id = :'life';
SELECT cyoda_wf.fire(:'life', 'submit');
-- (its NOTICE names the random entity id; explain.sql shows it)
SET client_min_messages = warning;
SELECT cyoda_wf.fire(:'life', 'stamp');
RESET client_min_messages;
CALL cyoda_wf.run_tasks();
-- the timer armed by the async save, made due
UPDATE cyoda_wf.task SET run_at = now() - interval '1 second'
 WHERE entity_id = :'life' AND kind = 'timer' AND state = 'pending';
CALL cyoda_wf.run_tasks();
SELECT state, version FROM cyoda_wf.entity WHERE id = :'life';
SELECT event_type, transition, from_state, to_state, id IS NULL AS derived,
       detail->>'version' AS version, detail->>'changeType' AS change_type,
       role = current_user AS by_me
  FROM cyoda_wf.audit WHERE entity_id = :'life'
 ORDER BY at, event_type <> 'STATE_MACHINE_START', event_type = 'STATE_MACHINE_FINISH', id;
-- the derived rows carry the version row's facts
SELECT detail FROM cyoda_wf.audit
 WHERE entity_id = :'life' AND event_type = 'STATE_MACHINE_FINISH' AND (detail->>'version')::int = 1;
SELECT count(*) AS mismatches
  FROM cyoda_wf.entity_version v
  JOIN cyoda_wf.audit s ON s.entity_id = v.entity_id AND s.event_type = 'STATE_MACHINE_START'
                       AND (s.detail->>'version')::bigint = v.version
  JOIN cyoda_wf.audit f ON f.entity_id = v.entity_id AND f.event_type = 'STATE_MACHINE_FINISH'
                       AND (f.detail->>'version')::bigint = v.version
 WHERE v.entity_id = :'life'
   AND (s.at <> v.started_at OR f.at <> v.changed_at OR s.at > f.at
        OR s.transaction_id <> v.transaction_id OR f.transaction_id <> v.transaction_id
        OR f.to_state IS DISTINCT FROM v.state OR s.to_state IS NOT NULL
        OR s.role <> v.changed_by OR f.role <> v.changed_by);
-- every stored row of a save lies between its START and its FINISH
SELECT count(*) AS outside
  FROM cyoda_wf.audit_log l
  JOIN cyoda_wf.entity_version v ON v.entity_id = l.entity_id AND v.transaction_id = l.transaction_id
 WHERE l.entity_id = :'life' AND l.event_type = 'TRANSITION_MAKE'
   AND NOT (l.at BETWEEN v.started_at AND v.changed_at);

-- a DELETE has a version row but no START / FINISH
SELECT cyoda_wf.add_item('ae_life', 1, '{"ok": true}') AS gone \gset
SELECT cyoda_wf.delete_item(:'gone');
SELECT v.version, v.change_type,
       (SELECT count(*) FROM cyoda_wf.audit a
         WHERE a.entity_id = v.entity_id AND (a.detail->>'version')::bigint = v.version) AS events
  FROM cyoda_wf.entity_version v WHERE v.entity_id = :'gone' ORDER BY v.version;
SELECT event_type, transition, to_state FROM cyoda_wf.audit WHERE entity_id = :'gone'
 ORDER BY at, event_type <> 'STATE_MACHINE_START', event_type = 'STATE_MACHINE_FINISH', id;

-- a statement of several saves: two each
INSERT INTO cyoda_wf.entity (model, data) SELECT 'ae_life', jsonb_build_object('n', i)
  FROM generate_series(1, 3) i;
SELECT count(*) FILTER (WHERE a.event_type = 'STATE_MACHINE_START') AS starts,
       count(*) FILTER (WHERE a.event_type = 'STATE_MACHINE_FINISH') AS finishes
  FROM cyoda_wf.entity e JOIN cyoda_wf.audit a ON a.entity_id = e.id
 WHERE e.model = 'ae_life' AND e.data ? 'n' AND e.id <> :'life';

-- the view reads one entity through the indexes of both tables
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT * FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-0000000000e1';
RESET enable_seqscan;
RESET enable_bitmapscan;
