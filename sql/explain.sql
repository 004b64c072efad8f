-- explain(): why an entity is where it is; transitions() lists only what fire
-- would accept now; fire's error names the failing sub-condition; firing an
-- asynchronous transition says which task runs it.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- A criterion function that reports how it runs and leaves a setting behind
-- if the engine let it.
CREATE FUNCTION public.ex_trusted(meta jsonb, data jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'ex_trusted: criterion %, transition %, as %', meta->>'criterion',
    coalesce(meta->>'transition', '(workflow)'), current_user;
  PERFORM set_config('work_mem', '1234kB', false);
  RETURN coalesce((data->>'trusted')::boolean, false);
END $$;
CREATE FUNCTION public.ex_ship(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || '{"shipped": true}' $$;

SELECT cyoda_wf.import_workflows('ex_order', 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "web_orders", "initialState": "new",
  "criterion": {"type": "simple", "jsonPath": "$.channel", "operatorType": "EQUALS", "value": "web"},
  "states": {
  "new": {"transitions": [
    {"name": "auto_big", "next": "review",
     "criterion": {"type": "simple", "jsonPath": "$.amount", "operatorType": "GREATER_THAN", "value": 1000}},
    {"name": "approve", "next": "approved", "manual": true,
     "criterion": {"type": "simple", "jsonPath": "$.amount", "operatorType": "LESS_THAN", "value": 100}},
    {"name": "approve_vip", "next": "approved", "manual": true,
     "criterion": {"type": "group", "operator": "AND", "conditions": [
       {"type": "simple", "jsonPath": "$.amount", "operatorType": "GREATER_OR_EQUAL", "value": 100},
       {"type": "simple", "jsonPath": "$.customer.vip", "operatorType": "EQUALS", "value": true}]}},
    {"name": "approve_any", "next": "approved", "manual": true,
     "criterion": {"type": "group", "operator": "OR", "conditions": [
       {"type": "simple", "jsonPath": "$.amount", "operatorType": "LESS_THAN", "value": 10},
       {"type": "simple", "jsonPath": "$.tags[*]", "operatorType": "EQUALS", "value": "free"}]}},
    {"name": "approve_trusted", "next": "approved", "manual": true,
     "criterion": {"type": "function", "function": {"name": "ex_trusted"}}},
    {"name": "restart", "next": "new", "manual": true,
     "criterion": {"type": "lifecycle", "field": "state", "operatorType": "EQUALS", "value": "approved"}},
    {"name": "expire", "next": "expired", "schedule": {"delayMs": 3600000}},
    {"name": "legacy", "next": "approved", "manual": true, "disabled": true},
    {"name": "ship", "next": "shipped", "manual": true,
     "processors": [{"name": "ex_ship", "executionMode": "ASYNC_NEW_TX"}]}]},
  "review": {"transitions": []},
  "approved": {"transitions": []},
  "expired": {"transitions": []},
  "shipped": {"transitions": []}}}]}
$json$) ->> 'workflows';

INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('e0000000-0000-0000-0000-000000000001', 'ex_order',
   '{"channel": "web", "amount": 250, "customer": {"name": "Ann"}, "tags": ["new", "gift"]}');

-- Every transition of state "new", each criterion evaluated now.
SELECT transition, next_state, manual, disabled, scheduled, async, matches, fireable
  FROM cyoda_wf.explain('e0000000-0000-0000-0000-000000000001');
-- The first row is the workflow's own criterion (transition NULL).
SELECT workflow, state, transition, criterion, matches, failing, found
  FROM cyoda_wf.explain('e0000000-0000-0000-0000-000000000001') LIMIT 1;
-- What failed and what was found there: a simple condition (the value),
-- an AND group (its first failing member; absent path: NULL), an OR group
-- (the group itself), a function, a lifecycle field.
SELECT transition, failing, found
  FROM cyoda_wf.explain('e0000000-0000-0000-0000-000000000001')
 WHERE transition IS NOT NULL AND NOT matches;
-- The criterion as defined; none for a transition without one.
SELECT transition, criterion
  FROM cyoda_wf.explain('e0000000-0000-0000-0000-000000000001')
 WHERE transition IN ('approve', 'ship');
-- A scheduled transition is due when its timer task is.
SELECT e.transition, e.due_at = t.run_at AS due_is_timer, t.state
  FROM cyoda_wf.explain('e0000000-0000-0000-0000-000000000001') e
  JOIN cyoda_wf.task t ON t.entity_id = 'e0000000-0000-0000-0000-000000000001'
                      AND t.kind = 'timer' AND t.transition = e.transition;
SELECT count(*) AS due_only_when_scheduled
  FROM cyoda_wf.explain('e0000000-0000-0000-0000-000000000001')
 WHERE (due_at IS NOT NULL) <> coalesce(scheduled, false);
-- The function ran as the engine runs it, and left no setting behind.
SHOW work_mem;
SHOW search_path;

-- transitions(): only what fire would accept now.
SELECT * FROM cyoda_wf.transitions('e0000000-0000-0000-0000-000000000001');

-- New data changes the answers: an array element matches the OR group, the
-- function now says yes, and the workflow's criterion no longer matches.
SELECT cyoda_wf.update_item('e0000000-0000-0000-0000-000000000001',
  '{"channel": "shop", "amount": 250, "customer": {"vip": false}, "tags": ["free"], "trusted": true}');
SELECT transition, matches, failing, found, fireable
  FROM cyoda_wf.explain('e0000000-0000-0000-0000-000000000001')
 WHERE transition IS NULL OR transition LIKE 'approve%';
SELECT name FROM cyoda_wf.transitions('e0000000-0000-0000-0000-000000000001');

-- fire's error names the failing sub-condition and the value found.
\set VERBOSITY default
SELECT cyoda_wf.fire('e0000000-0000-0000-0000-000000000001', 'approve');
SELECT cyoda_wf.fire('e0000000-0000-0000-0000-000000000001', 'approve_vip');
SELECT cyoda_wf.update_item('e0000000-0000-0000-0000-000000000001', '{"amount": 50, "trusted": false}',
                            'approve_trusted');
SELECT cyoda_wf.update_item('e0000000-0000-0000-0000-000000000001', '{"amount": 50}', 'restart');
SELECT cyoda_wf.update_item('e0000000-0000-0000-0000-000000000001', '{"amount": 50}', 'approve_any');

-- Firing an asynchronous transition: the state reached is the source state,
-- a NOTICE names the task, and (no worker serves this database) one WARNING
-- per transaction says how to run it.
ALTER SEQUENCE cyoda_wf.task_id_seq RESTART WITH 9001;
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('e0000000-0000-0000-0000-000000000002', 'ex_order', '{"channel": "web", "amount": 5}');
BEGIN;
SELECT cyoda_wf.fire('e0000000-0000-0000-0000-000000000001', 'ship');
SELECT cyoda_wf.update_item('e0000000-0000-0000-0000-000000000002', NULL, 'ship');
COMMIT;
SELECT id, transition, kind, state FROM cyoda_wf.task
 WHERE entity_id IN ('e0000000-0000-0000-0000-000000000001', 'e0000000-0000-0000-0000-000000000002')
   AND kind = 'process' ORDER BY id;
-- Fired again while pending: nothing new is queued.
SELECT cyoda_wf.fire('e0000000-0000-0000-0000-000000000001', 'ship');
\set VERBOSITY terse
CALL cyoda_wf.run_tasks();
SELECT state FROM cyoda_wf.entity WHERE id = 'e0000000-0000-0000-0000-000000000001';
SELECT * FROM cyoda_wf.transitions('e0000000-0000-0000-0000-000000000001');

-- An entity that does not exist: P0002.
SELECT * FROM cyoda_wf.explain('e0000000-0000-0000-0000-0000000000ff');
SELECT * FROM cyoda_wf.transitions('e0000000-0000-0000-0000-0000000000ff');
SELECT count(*) FROM cyoda_wf.explain(NULL);

DROP FUNCTION public.ex_trusted(jsonb, jsonb);
DROP FUNCTION public.ex_ship(jsonb, jsonb);
