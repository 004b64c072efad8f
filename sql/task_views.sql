-- What failed, and what is waiting: pending_tasks, failed_tasks, metrics(),
-- retry_task and retry_failed.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- A process that fails while data says so, and a workflow with an async
-- transition and a timer.
CREATE FUNCTION public.tv_charge(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF (data->>'fail')::boolean THEN
    RAISE EXCEPTION 'card declined for %', data->>'who';
  END IF;
  RETURN data || '{"charged": true}';
END $$;
SET cyoda_wf.retry_attempts = 2;
SET cyoda_wf.retry_delay_ms = 0;
SELECT cyoda_wf.import_workflows(m, 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "pay", "initialState": "new", "states": {
  "new": {"transitions": [
    {"name": "charge", "next": "paid",
     "processors": [{"name": "tv_charge", "executionMode": "ASYNC_NEW_TX",
                     "config": {"retryPolicy": "FIXED"}}]}]},
  "paid": {"transitions": [
    {"name": "expire", "next": "archived", "schedule": {"delayMs": 3600000}}]},
  "archived": {"transitions": []}}}]}
$json$) ->> 'workflows' FROM unnest(ARRAY['tv_order', 'tv_refund']) m;

-- Tasks of other tests may be there: this one looks at its own models
-- (tv_*), at what failed since it started, and at the total row being the
-- sum of the others.
SELECT clock_timestamp() AS t0 \gset
CREATE FUNCTION pg_temp.total_is_sum() RETURNS boolean LANGUAGE sql AS $$
    WITH m AS (SELECT * FROM cyoda_wf.metrics())
    SELECT (SELECT ROW(sum(pending), sum(running), sum(failed), min(oldest_pending_age) IS NULL,
                       sum(done_last_minute), sum(done_last_hour), sum(failed_last_minute),
                       sum(failed_last_hour), sum(timers_armed))::text FROM m WHERE model IS NOT NULL)
         = (SELECT ROW(pending, running, failed, oldest_pending_age IS NULL, done_last_minute,
                       done_last_hour, failed_last_minute, failed_last_hour, timers_armed)::text
              FROM m WHERE model IS NULL)
$$;

-- Nothing of these models queued yet: metrics() has no row for them, and
-- its total row.
SELECT count(*) FILTER (WHERE model IS NULL) AS total_rows,
       count(*) FILTER (WHERE model LIKE 'tv\_%') AS tv_rows
  FROM cyoda_wf.metrics();

INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('7a000000-0000-0000-0000-000000000001', 'tv_order', '{"who": "ann", "fail": false}'),
  ('7a000000-0000-0000-0000-000000000002', 'tv_order', '{"who": "bob", "fail": true}'),
  ('7a000000-0000-0000-0000-000000000003', 'tv_order', '{"who": "cy", "fail": true}'),
  ('7a000000-0000-0000-0000-000000000004', 'tv_refund', '{"who": "dee", "fail": true}');

-- Four async transitions wait, the first queued first.
SELECT entity_id, model, model_version, transition, kind, attempts, max_attempts,
       last_error, run_at <= now() AS due, age >= '0' AS aged
  FROM cyoda_wf.pending_tasks WHERE model LIKE 'tv\_%';
SELECT model, model_version, pending, running, failed, oldest_pending_age >= '0' AS aged,
       done_last_minute, done_last_hour, failed_last_minute, failed_last_hour, timers_armed
  FROM cyoda_wf.metrics() WHERE model LIKE 'tv\_%';
SELECT pg_temp.total_is_sum();

-- Run them: ann is charged (her timer is armed), the others fail twice.
CALL cyoda_wf.run_tasks();
SELECT entity_id, model, transition, kind, attempts, last_error, run_at > now() AS later
  FROM cyoda_wf.pending_tasks WHERE model LIKE 'tv\_%';
SELECT entity_id, model, model_version, transition, kind, attempts, max_attempts, last_error,
       finished_at IS NOT NULL AS finished, age >= '0' AS aged
  FROM cyoda_wf.failed_tasks WHERE model LIKE 'tv\_%' ORDER BY entity_id;
SELECT model, model_version, pending, running, failed, oldest_pending_age,
       done_last_minute, done_last_hour, failed_last_minute, failed_last_hour, timers_armed
  FROM cyoda_wf.metrics() WHERE model LIKE 'tv\_%';
SELECT pg_temp.total_is_sum();

-- The newest failure first.
SELECT count(*) FILTER (WHERE model LIKE 'tv\_%') AS failed,
       bool_and(prev IS NULL OR finished_at <= prev) AS newest_first
  FROM (SELECT model, finished_at, lag(finished_at) OVER () AS prev FROM cyoda_wf.failed_tasks) f;

-- retry_task: one task, false when it is not failed.
SELECT cyoda_wf.retry_task(task_id) FROM cyoda_wf.failed_tasks
 WHERE entity_id = '7a000000-0000-0000-0000-000000000002';
SELECT cyoda_wf.retry_task(task_id) FROM cyoda_wf.pending_tasks
 WHERE entity_id = '7a000000-0000-0000-0000-000000000002';
SELECT cyoda_wf.retry_task(NULL), cyoda_wf.retry_task(-1);
SELECT entity_id, attempts, last_error FROM cyoda_wf.pending_tasks
 WHERE kind = 'process' AND model LIKE 'tv\_%';

-- retry_failed: by model, by time, all at once.
SELECT cyoda_wf.retry_failed('tv_none') AS unknown_model,
       cyoda_wf.retry_failed(since => now() + interval '1 minute') AS none_since;
SELECT cyoda_wf.retry_failed('tv_refund') AS refunds;
SELECT model, count(*) FROM cyoda_wf.pending_tasks
 WHERE kind = 'process' AND model LIKE 'tv\_%' GROUP BY model ORDER BY model;
UPDATE cyoda_wf.entity SET data = data || '{"fail": false}'
 WHERE id IN ('7a000000-0000-0000-0000-000000000002', '7a000000-0000-0000-0000-000000000004');
CALL cyoda_wf.run_tasks();
SELECT id, model, state FROM cyoda_wf.entity WHERE id::text LIKE '7a000000-%' ORDER BY id;
SELECT entity_id, model, attempts FROM cyoda_wf.failed_tasks WHERE model LIKE 'tv\_%';
SELECT cyoda_wf.retry_failed(NULL, :'t0') AS all_since_start;
SELECT cyoda_wf.retry_failed(NULL, :'t0') AS again;
SELECT model, model_version, pending, failed, done_last_minute, done_last_hour,
       failed_last_minute, failed_last_hour, timers_armed
  FROM cyoda_wf.metrics() WHERE model LIKE 'tv\_%';
SELECT pg_temp.total_is_sum();

-- A failed task of a deleted entity stays in failed_tasks, without a model,
-- and is not counted by metrics().
CALL cyoda_wf.run_tasks();
SELECT cyoda_wf.delete_item('7a000000-0000-0000-0000-000000000003');
SELECT entity_id, model, model_version, transition FROM cyoda_wf.failed_tasks
 WHERE entity_id::text LIKE '7a000000-%';
SELECT model, failed FROM cyoda_wf.metrics() WHERE model LIKE 'tv\_%';

-- Nothing for PUBLIC.
SELECT c.relname, c.relacl IS NOT NULL AND NOT EXISTS
         (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0) AS not_public
  FROM pg_class c WHERE c.relnamespace = 'cyoda_wf'::regnamespace
   AND c.relname IN ('pending_tasks', 'failed_tasks') ORDER BY 1;
SELECT p.proname, NOT has_function_privilege('public', p.oid, 'EXECUTE') AS not_public
  FROM pg_proc p WHERE p.pronamespace = 'cyoda_wf'::regnamespace
   AND p.proname IN ('metrics', 'retry_failed', 'retry_task') ORDER BY 1;

DELETE FROM cyoda_wf.entity WHERE model IN ('tv_order', 'tv_refund');
DELETE FROM cyoda_wf.task WHERE entity_id::text LIKE '7a000000-%';
DROP FUNCTION public.tv_charge(jsonb, jsonb);
