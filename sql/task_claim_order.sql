-- The order in which queued tasks are claimed: by due time; a task that
-- became visible late with an earlier due time is still run (the claim
-- does not start at the queue's front every time); an entity's own tasks
-- run in their order.
-- (in a database of its own: no other test's tasks are in its queue)
SELECT current_database() AS regress_db \gset
CREATE DATABASE cw_claim_order;
\c cw_claim_order
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE SEQUENCE public.claim_seq;
CREATE FUNCTION public.claim_note(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || jsonb_build_object('ran', nextval('public.claim_seq')) $$;
SELECT cyoda_wf.import_workflows('claimed', 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "claimed", "initialState": "new", "states": {
  "new": {"transitions": [
    {"name": "go", "next": "done",
     "processors": [{"name": "claim_note", "executionMode": "ASYNC_NEW_TX"}]},
    {"name": "skip", "next": "skipped", "manual": true}]},
  "done": {"transitions": []},
  "skipped": {"transitions": []}}}]}
$json$) ->> 'workflows';

-- queue(prefix, count, n0): entities prefix-000000000001.. with n = n0 + 1..,
-- one queued task each, due in that order; queue_late(n, due): entity
-- c1a10000-...-n whose task committed late, due at `due` (a long
-- transaction's task, or one restored with its old due time).
CREATE FUNCTION pg_temp.queue(prefix text, count int, n0 int) RETURNS void
LANGUAGE sql SET client_min_messages = error AS $$
  INSERT INTO cyoda_wf.entity (id, model, data)
  SELECT (prefix || lpad(g::text, 12, '0'))::uuid, 'claimed', jsonb_build_object('n', n0 + g)
    FROM generate_series(1, count) g $$;
CREATE FUNCTION pg_temp.queue_late(n int, due timestamptz) RETURNS void
LANGUAGE sql SET client_min_messages = error AS $$
  INSERT INTO cyoda_wf.entity (id, model, data)
  VALUES (('c1a10000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid, 'claimed', jsonb_build_object('n', n));
  UPDATE cyoda_wf.task SET run_at = due
   WHERE entity_id = ('c1a10000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid $$;

-- A queue whose front holds many finished tasks VACUUM has not removed
-- yet: a claim from the front steps over their index entries, so claims
-- go on after the last task claimed.
ALTER TABLE cyoda_wf.task SET (autovacuum_enabled = false);
INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind, run_at)
SELECT '00000000-0000-0000-0000-000000000000', 'go', 'new', 'process', '1990-01-01'
  FROM generate_series(1, 20000);
UPDATE cyoda_wf.task SET state = 'done', finished_at = now()
 WHERE entity_id = '00000000-0000-0000-0000-000000000000';
-- (a first claim from the front steps over them all)
CALL cyoda_wf.run_tasks();

-- Three entities, one queued task each, due in this order.
SELECT pg_temp.queue('c1a10000-0000-0000-0000-', 3, 0);
CALL cyoda_wf.run_tasks(1);
-- A task that commits after the first claim, due before it.
SELECT pg_temp.queue_late(4, '2000-01-01');
-- The claims go on after the last one; the late task is taken once they
-- find nothing more: every task runs once.
CALL cyoda_wf.run_tasks();
SELECT data->>'n' AS n, state, data->>'ran' AS ran FROM cyoda_wf.entity
 WHERE model = 'claimed' ORDER BY (data->>'ran')::int;
SELECT state, count(*) FROM cyoda_wf.task WHERE entity_id <> '00000000-0000-0000-0000-000000000000' GROUP BY state;

-- An entity with two pending tasks: go (due first, but late, as above,
-- and before the last task claimed) and skip.  Go runs first, so skip
-- finds the entity moved on.
SELECT pg_temp.queue_late(5, '1999-01-01');
INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind)
VALUES ('c1a10000-0000-0000-0000-000000000005', 'skip', 'new', 'process');
CALL cyoda_wf.run_tasks(1);
SELECT transition, state FROM cyoda_wf.task
 WHERE entity_id = 'c1a10000-0000-0000-0000-000000000005' ORDER BY id;
CALL cyoda_wf.run_tasks();
SELECT transition, state FROM cyoda_wf.task
 WHERE entity_id = 'c1a10000-0000-0000-0000-000000000005' ORDER BY id;
SELECT state, data->>'ran' IS NOT NULL AS ran FROM cyoda_wf.entity
 WHERE id = 'c1a10000-0000-0000-0000-000000000005';

-- A late task waits for at most 64 claims after the last one, even while
-- later tasks keep coming: 70 queued, one run, then one late task.
SELECT pg_temp.queue('c1a20000-0000-0000-0000-', 70, 100);
SELECT setval('public.claim_seq', 1000, false) IS NOT NULL AS reset;
CALL cyoda_wf.run_tasks(1);
SELECT pg_temp.queue_late(6, '2000-01-01');
CALL cyoda_wf.run_tasks();
SELECT (data->>'ran')::int - 1000 AS position_of_late_task FROM cyoda_wf.entity
 WHERE id = 'c1a10000-0000-0000-0000-000000000006';
SELECT count(*) FILTER (WHERE state = 'done') AS done, count(*) AS entities
  FROM cyoda_wf.entity WHERE model = 'claimed';

-- Once VACUUM has removed them, claims start at the front again (after
-- one from the front finds the queue short): a late task is the next one
-- run.
ALTER TABLE cyoda_wf.task RESET (autovacuum_enabled);
VACUUM cyoda_wf.task;
CALL cyoda_wf.run_tasks();
SELECT setval('public.claim_seq', 2000, false) IS NOT NULL AS reset;
SELECT pg_temp.queue('c1a30000-0000-0000-0000-', 3, 200);
CALL cyoda_wf.run_tasks(1);
SELECT pg_temp.queue_late(7, '2000-01-01');
CALL cyoda_wf.run_tasks();
SELECT data->>'n' AS n, (data->>'ran')::int - 2000 AS position FROM cyoda_wf.entity
 WHERE (data->>'ran')::int >= 2000 ORDER BY 2;

-- Claims read task_due_idx for the order only and test the conditions on
-- the rows: redefined without its predicate (so finished tasks are in it
-- too), it still claims each due task once, in order.
DROP INDEX cyoda_wf.task_due_idx;
CREATE INDEX task_due_idx ON cyoda_wf.task (run_at, id);
SELECT setval('public.claim_seq', 3000, false) IS NOT NULL AS reset;
SELECT pg_temp.queue('c1a40000-0000-0000-0000-', 3, 300);
CALL cyoda_wf.run_tasks();
SELECT data->>'n' AS n, (data->>'ran')::int - 3000 AS position FROM cyoda_wf.entity
 WHERE (data->>'ran')::int >= 3000 ORDER BY 2;
SELECT state, count(*) FROM cyoda_wf.task GROUP BY state ORDER BY state;

-- Without it, or with an index of other columns (or of the same, in
-- descending order) under its name, no task is claimed: an error names the
-- index (55000), and nothing is changed.
SELECT pg_temp.queue('c1a50000-0000-0000-0000-', 1, 400);
DROP INDEX cyoda_wf.task_due_idx;
CALL cyoda_wf.run_tasks();
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
CREATE INDEX task_due_idx ON cyoda_wf.task (id);
CALL cyoda_wf.run_tasks();
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
DROP INDEX cyoda_wf.task_due_idx;
CREATE INDEX task_due_idx ON cyoda_wf.task (run_at DESC, id DESC) WHERE state = 'pending';
CALL cyoda_wf.run_tasks();
DROP INDEX cyoda_wf.task_entity_idx;
DROP INDEX cyoda_wf.task_due_idx;
CREATE INDEX task_due_idx ON cyoda_wf.task (run_at, id) WHERE state = 'pending';
CALL cyoda_wf.run_tasks();
SELECT state, count(*) FROM cyoda_wf.task GROUP BY state ORDER BY state;
CREATE INDEX task_entity_idx ON cyoda_wf.task (entity_id) WHERE state = 'pending';
-- The workflows are found through their table's primary key, too.
ALTER TABLE cyoda_wf.workflow DROP CONSTRAINT workflow_pkey;
CALL cyoda_wf.run_tasks();
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
ALTER TABLE cyoda_wf.workflow ADD PRIMARY KEY (model, model_version, name);
CALL cyoda_wf.run_tasks();
SELECT state, count(*) FROM cyoda_wf.task GROUP BY state ORDER BY state;
\c :regress_db
DROP DATABASE cw_claim_order;
