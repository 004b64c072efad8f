-- Asynchronous processes, retries, failures and redrive, durable timers.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- A process that fails its first `fail_times` attempts.
CREATE FUNCTION public.book_shipment(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce((data->>'fail_times')::int, 0) >= (meta->>'attempt')::int THEN
    RAISE EXCEPTION 'carrier down (attempt %)', meta->>'attempt';
  END IF;
  RETURN data || jsonb_build_object('booked', true, 'attempt', meta->'attempt',
                                    'parameters', meta->'parameters');
END $$;
CREATE FUNCTION public.slow_process(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT pg_sleep(2); SELECT data $$;

SET cyoda_wf.retry_attempts = 3;
SET cyoda_wf.retry_delay_ms = 0;
SELECT cyoda_wf.import_workflows('shipment', 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "shipment", "initialState": "new", "states": {
  "new": {"transitions": [
    {"name": "book", "next": "booked",
     "processors": [{"name": "book_shipment", "executionMode": "ASYNC_NEW_TX",
                     "config": {"retryPolicy": "FIXED", "context": "carrier=default"}}]}]},
  "booked": {"transitions": [
    {"name": "confirm", "next": "confirmed", "processors": [{"name": "book_shipment", "executionMode": "SYNC"}]}]},
  "confirmed": {"transitions": [
    {"name": "ship_once", "next": "shipped", "manual": true,
     "processors": [{"name": "book_shipment", "executionMode": "COMMIT_BEFORE_DISPATCH"}]},
    {"name": "slow", "next": "shipped", "manual": true,
     "processors": [{"name": "slow_process", "executionMode": "ASYNC_NEW_TX",
                     "config": {"responseTimeoutMs": 100}}]}]},
  "shipped": {"transitions": []}}}]}
$json$) ->> 'workflows';

-- The save commits in the source state with a task queued.
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('a5000000-0000-0000-0000-000000000001', 'shipment', '{"fail_times": 1}');
SELECT state, last_transition FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000001';
SELECT kind, state, attempts, max_attempts, transition, from_state FROM cyoda_wf.task
 WHERE entity_id = 'a5000000-0000-0000-0000-000000000001' ORDER BY id;

-- First attempt fails: PROCESS_FAILED, the entity stays, the task waits for a retry.
CALL cyoda_wf.run_tasks(1);
SELECT state, attempts, last_error FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000001';
SELECT state FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000001';

-- Second attempt succeeds: the state moves and the cascade goes on (confirm is SYNC).
CALL cyoda_wf.run_tasks();
SELECT state, attempts, last_error FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000001';
SELECT state, last_transition, data FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000001';
SELECT event_type, transition, from_state, to_state,
       detail->>'process' AS process, detail->>'error' AS error, detail->>'attempt' AS attempt
  FROM cyoda_wf.audit WHERE entity_id = 'a5000000-0000-0000-0000-000000000001'
 ORDER BY at, event_type <> 'STATE_MACHINE_START', event_type = 'STATE_MACHINE_FINISH', id;

-- A named async transition: fire returns the source state; the task does the rest.
SELECT cyoda_wf.update_item('a5000000-0000-0000-0000-000000000001', '{"fail_times": 0}', 'ship_once');
SELECT state, last_transition FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000001';
CALL cyoda_wf.run_tasks();
SELECT state, last_transition, data->'attempt' AS attempt FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000001';

-- Running out of attempts: failed, audited, entity untouched; retry_task re-queues.
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('a5000000-0000-0000-0000-000000000002', 'shipment', '{"fail_times": 5}');
CALL cyoda_wf.run_tasks();
SELECT state, attempts, last_error FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000002';
SELECT state FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000002';
SELECT count(*) AS failures FROM cyoda_wf.audit
 WHERE entity_id = 'a5000000-0000-0000-0000-000000000002' AND event_type = 'PROCESS_FAILED';
SELECT cyoda_wf.retry_task(id) FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000002';
SELECT cyoda_wf.retry_task(id) FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000002';
UPDATE cyoda_wf.entity SET data = '{"fail_times": 0}' WHERE id = 'a5000000-0000-0000-0000-000000000002';
-- (the loopback save above found book already queued from "new" and queued nothing)
CALL cyoda_wf.run_tasks();
SELECT state FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000002';
SELECT state, count(*) FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000002'
 GROUP BY state ORDER BY state;

-- responseTimeoutMs is enforced as a statement timeout.
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('a5000000-0000-0000-0000-000000000003', 'shipment', '{}');
CALL cyoda_wf.run_tasks();
SELECT cyoda_wf.fire('a5000000-0000-0000-0000-000000000003', 'slow');
CALL cyoda_wf.run_tasks();
SELECT state, last_error FROM cyoda_wf.task
 WHERE entity_id = 'a5000000-0000-0000-0000-000000000003' AND transition = 'slow';
SELECT state FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000003';

-- Timers: scheduled transitions fire after delayMs, criterion checked at fire time,
-- expire past timeoutMs, re-arm when a save leaves the entity in the same state.
SELECT cyoda_wf.import_workflows('invoice', 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "invoice", "initialState": "sent", "states": {
  "sent": {"transitions": [
    {"name": "remind", "next": "reminded", "schedule": {"delayMs": 200},
     "criterion": {"type": "group", "operator": "NOT", "conditions": [
        {"type": "simple", "jsonPath": "$.paid", "operatorType": "EQUALS", "value": true}]}},
    {"name": "pay", "next": "paid", "manual": true}]},
  "reminded": {"transitions": [
    {"name": "escalate", "next": "escalated", "schedule": {"delayMs": 50, "timeoutMs": 10}}]},
  "paid": {"transitions": []},
  "escalated": {"transitions": []}}}]}
$json$) ->> 'workflows';
-- scheduled transitions cannot be fired by name
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('a5000000-0000-0000-0000-000000000010', 'invoice', '{}');
SELECT cyoda_wf.fire('a5000000-0000-0000-0000-000000000010', 'remind');
\echo :LAST_ERROR_SQLSTATE
SELECT kind, state, transition FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000010';
-- not due yet: nothing runs
CALL cyoda_wf.run_tasks();
SELECT state FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000010';
SELECT pg_sleep(0.3);
CALL cyoda_wf.run_tasks(1);
SELECT state, last_transition FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000010';
-- the next timer is armed on entry into "reminded" and has expired by the time it runs
SELECT pg_sleep(0.2);
CALL cyoda_wf.run_tasks();
SELECT state FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000010';
SELECT kind, state, transition FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000010' ORDER BY id;
SELECT event_type, transition FROM cyoda_wf.audit WHERE entity_id = 'a5000000-0000-0000-0000-000000000010'
 ORDER BY at, event_type <> 'STATE_MACHINE_START', event_type = 'STATE_MACHINE_FINISH', id;

-- Criterion checked at fire time: a paid invoice is not reminded.
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('a5000000-0000-0000-0000-000000000011', 'invoice', '{}');
UPDATE cyoda_wf.entity SET data = '{"paid": true}' WHERE id = 'a5000000-0000-0000-0000-000000000011';
-- that save re-armed the timer: one cancelled, one pending
SELECT state, count(*) FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000011'
 GROUP BY state ORDER BY state;
SELECT pg_sleep(0.3);
CALL cyoda_wf.run_tasks();
SELECT state, version FROM cyoda_wf.entity WHERE id = 'a5000000-0000-0000-0000-000000000011';
SELECT event_type, transition FROM cyoda_wf.audit WHERE entity_id = 'a5000000-0000-0000-0000-000000000011'
 ORDER BY at, event_type <> 'STATE_MACHINE_START', event_type = 'STATE_MACHINE_FINISH', id;

-- Leaving the state disarms its timers.
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('a5000000-0000-0000-0000-000000000012', 'invoice', '{}');
SELECT cyoda_wf.fire('a5000000-0000-0000-0000-000000000012', 'pay');
SELECT state, count(*) FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000012'
 GROUP BY state ORDER BY state;

-- Deleting an entity cancels its pending tasks.
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('a5000000-0000-0000-0000-000000000013', 'invoice', '{}');
SELECT cyoda_wf.delete_item('a5000000-0000-0000-0000-000000000013');
SELECT state, count(*) FROM cyoda_wf.task WHERE entity_id = 'a5000000-0000-0000-0000-000000000013'
 GROUP BY state ORDER BY state;

-- The task table and run_tasks are the engine's: retry_task of an unknown id is false.
SELECT cyoda_wf.retry_task(-1);

-- stop_workers ends this database's workers only: never the caller, nor any
-- other session of the server (none serve this database here).
SELECT cyoda_wf.stop_workers() AS stopped;
SELECT 'still connected' AS session;
