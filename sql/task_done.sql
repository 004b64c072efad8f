-- A task that ran marks its row done as the UPDATE of that row would:
-- row and statement triggers on cyoda_wf.task fire once, its CHECK
-- constraints hold (their current definitions, and the current body of a
-- function they call), a rule on the table is obeyed, and a task whose
-- row its own process changed is still marked done.
-- (in a database of its own: no other test's tasks are in its queue)
SELECT current_database() AS regress_db \gset
CREATE DATABASE cw_task_done;
\c cw_task_done
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION public.done_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || '{"stepped": true}' $$;
SELECT cyoda_wf.import_workflows('finished', 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "finished", "initialState": "new", "states": {
  "new": {"transitions": [
    {"name": "go", "next": "done",
     "processors": [{"name": "done_step", "executionMode": "ASYNC_NEW_TX"}]}]},
  "done": {"transitions": []}}}]}
$json$) ->> 'workflows';
CREATE FUNCTION pg_temp.queue(n int) RETURNS void
LANGUAGE sql SET client_min_messages = error AS $$
  INSERT INTO cyoda_wf.entity (id, model, data)
  VALUES (('d0e00000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid, 'finished',
          jsonb_build_object('n', n)) $$;
CREATE FUNCTION pg_temp.task_of(n int) RETURNS TABLE (state text, attempts int, last_error text,
                                                      finished boolean)
LANGUAGE sql AS $$
  SELECT state, attempts, last_error, finished_at IS NOT NULL FROM cyoda_wf.task
   WHERE entity_id = ('d0e00000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid $$;

-- Triggers on the task table see one UPDATE of one row.
CREATE TABLE public.task_log (what text, old_state text, new_state text, attempts int,
                              last_error_null boolean, finished boolean);
CREATE FUNCTION public.task_row_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.task_log VALUES (TG_WHEN || ' ROW', OLD.state, NEW.state, NEW.attempts,
                                      NEW.last_error IS NULL, NEW.finished_at IS NOT NULL);
  RETURN NEW;
END $$;
CREATE FUNCTION public.task_statement_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.task_log (what) VALUES (TG_WHEN || ' STATEMENT');
  RETURN NULL;
END $$;
CREATE TRIGGER task_before_row BEFORE UPDATE ON cyoda_wf.task
  FOR EACH ROW EXECUTE FUNCTION public.task_row_log();
CREATE TRIGGER task_after_row AFTER UPDATE ON cyoda_wf.task
  FOR EACH ROW EXECUTE FUNCTION public.task_row_log();
CREATE TRIGGER task_before_statement BEFORE UPDATE ON cyoda_wf.task
  FOR EACH STATEMENT EXECUTE FUNCTION public.task_statement_log();
CREATE TRIGGER task_after_statement AFTER UPDATE ON cyoda_wf.task
  FOR EACH STATEMENT EXECUTE FUNCTION public.task_statement_log();
SELECT pg_temp.queue(1);
CALL cyoda_wf.run_tasks();
SELECT * FROM public.task_log;
SELECT * FROM pg_temp.task_of(1);
SELECT state, data->>'stepped' AS stepped FROM cyoda_wf.entity
 WHERE id = 'd0e00000-0000-0000-0000-000000000001';
DROP TRIGGER task_before_row ON cyoda_wf.task;
DROP TRIGGER task_after_row ON cyoda_wf.task;
DROP TRIGGER task_before_statement ON cyoda_wf.task;
DROP TRIGGER task_after_statement ON cyoda_wf.task;

-- A BEFORE ROW trigger may change the row: what it returns is stored.
CREATE FUNCTION public.task_note_error() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.last_error := 'noted by a trigger';
  RETURN NEW;
END $$;
CREATE TRIGGER task_note BEFORE UPDATE ON cyoda_wf.task
  FOR EACH ROW EXECUTE FUNCTION public.task_note_error();
SELECT pg_temp.queue(2);
CALL cyoda_wf.run_tasks();
SELECT * FROM pg_temp.task_of(2);
DROP TRIGGER task_note ON cyoda_wf.task;

-- A CHECK constraint added after tasks ran is checked on the next one:
-- the UPDATE fails, and the task with it.
\set VERBOSITY terse
ALTER TABLE cyoda_wf.task ADD CONSTRAINT task_one_attempt CHECK (attempts < 1) NOT VALID;
SELECT pg_temp.queue(3);
CALL cyoda_wf.run_tasks();
SELECT * FROM pg_temp.task_of(3);
ALTER TABLE cyoda_wf.task DROP CONSTRAINT task_one_attempt;
SELECT * FROM pg_temp.task_of(3);
CALL cyoda_wf.run_tasks();
SELECT * FROM pg_temp.task_of(3);

-- A constraint calling a SQL function checks with the function's current
-- body (the planner would inline it).
CREATE FUNCTION public.task_allowed(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
ALTER TABLE cyoda_wf.task ADD CONSTRAINT task_allowed CHECK (public.task_allowed(state));
SELECT pg_temp.queue(4);
CALL cyoda_wf.run_tasks();
SELECT * FROM pg_temp.task_of(4);
CREATE OR REPLACE FUNCTION public.task_allowed(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT state <> 'done' $$;
SELECT pg_temp.queue(5);
CALL cyoda_wf.run_tasks();
SELECT * FROM pg_temp.task_of(5);
ALTER TABLE cyoda_wf.task DROP CONSTRAINT task_allowed;
\set VERBOSITY default

-- A rule on the task table: the statement runs with it.
CREATE TABLE public.task_rule_log (task bigint, state text);
CREATE RULE task_done_log AS ON UPDATE TO cyoda_wf.task
  DO ALSO INSERT INTO public.task_rule_log VALUES (NEW.id, NEW.state);
CALL cyoda_wf.run_tasks();
SELECT * FROM pg_temp.task_of(5);
SELECT state FROM public.task_rule_log;
DROP RULE task_done_log ON cyoda_wf.task;

-- A process that changes its own task's row: the row it leaves is the one
-- marked done.
CREATE FUNCTION public.touch_own_task(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE cyoda_wf.task SET retry_delay_ms = 7
   WHERE entity_id = (meta->>'entity_id')::uuid AND state = 'pending';
  RETURN data;
END $$;
SELECT cyoda_wf.import_workflows('finished', 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "finished", "initialState": "new", "states": {
  "new": {"transitions": [
    {"name": "go", "next": "done",
     "processors": [{"name": "touch_own_task", "executionMode": "ASYNC_NEW_TX"}]}]},
  "done": {"transitions": []}}}]}
$json$) ->> 'workflows';
SELECT pg_temp.queue(6);
CALL cyoda_wf.run_tasks();
SELECT t.*, k.retry_delay_ms FROM pg_temp.task_of(6) t, cyoda_wf.task k
 WHERE k.entity_id = 'd0e00000-0000-0000-0000-000000000006';

-- A task whose attempts cannot be counted up once more: the UPDATE's
-- error (22003), and the task stays as it was.
SELECT pg_temp.queue(7);
UPDATE cyoda_wf.task SET attempts = 2147483647, max_attempts = 2147483647
 WHERE entity_id = 'd0e00000-0000-0000-0000-000000000007';
\set VERBOSITY terse
CALL cyoda_wf.run_tasks();
\set VERBOSITY default
SELECT * FROM pg_temp.task_of(7);
DELETE FROM cyoda_wf.entity WHERE id = 'd0e00000-0000-0000-0000-000000000007';

-- Every task ran once; the one whose entity was deleted is cancelled.
SELECT state, count(*) FROM cyoda_wf.entity WHERE model = 'finished' GROUP BY state;
SELECT state, attempts, count(*) FROM cyoda_wf.task GROUP BY state, attempts ORDER BY 1, 2;

\c :regress_db
DROP DATABASE cw_task_done;
