-- pgTAP: the entity update of update_item, fire and queued transitions,
-- written directly and, when the table needs the full executor (here: a
-- trigger with a transition table), by the plain SQL UPDATE.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(14);

CREATE FUNCTION public.su_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || '{"stepped": true}' $$;
SELECT cyoda_wf.import_workflows('su', 1, $json$
{"workflows": [{"name": "w", "initialState": "new", "states": {
  "new": {"transitions": [{"name": "book", "next": "booked",
          "processors": [{"name": "su_step", "executionMode": "ASYNC_NEW_TX"}]}]},
  "booked": {"transitions": [{"name": "finish", "next": "finished", "manual": true}]},
  "finished": {}}}]}
$json$) IS NOT NULL AS imported \gset

-- direct path
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('5d000000-0000-0000-0000-000000000001', 'su', '{"n": 1}');
CALL cyoda_wf.run_tasks();
SELECT is((SELECT state FROM cyoda_wf.entity WHERE id = '5d000000-0000-0000-0000-000000000001'),
          'booked', 'direct: a queued transition saves the entity');
SELECT is((SELECT data FROM cyoda_wf.entity WHERE id = '5d000000-0000-0000-0000-000000000001'),
          '{"n": 1, "stepped": true}'::jsonb, 'direct: the process result is kept');
SELECT is(cyoda_wf.update_item('5d000000-0000-0000-0000-000000000001', '{"n": 2}', 'finish'),
          'finished', 'direct: update_item returns the state reached');
SELECT is((SELECT data FROM cyoda_wf.entity WHERE id = '5d000000-0000-0000-0000-000000000001'),
          '{"n": 2}'::jsonb, 'direct: update_item writes the data');
SELECT throws_ok($$SELECT cyoda_wf.fire('5d000000-0000-0000-0000-0000000000ff', 'finish')$$,
                 'P0002', NULL, 'direct: fire on a missing entity is P0002');

-- the table needs the full executor: the same saves through SQL
CREATE TABLE public.su_log (id uuid, state text);
CREATE FUNCTION public.su_log_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.su_log SELECT id, state FROM new_rows; RETURN NULL; END $$;
CREATE TRIGGER su_log AFTER UPDATE ON cyoda_wf.entity
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.su_log_rows();
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('5d000000-0000-0000-0000-000000000002', 'su', '{"n": 1}');
CALL cyoda_wf.run_tasks();
SELECT is((SELECT state FROM cyoda_wf.entity WHERE id = '5d000000-0000-0000-0000-000000000002'),
          'booked', 'SQL: a queued transition saves the entity');
SELECT is((SELECT data FROM cyoda_wf.entity WHERE id = '5d000000-0000-0000-0000-000000000002'),
          '{"n": 1, "stepped": true}'::jsonb, 'SQL: the process result is kept');
SELECT is((SELECT array_agg(state) FROM public.su_log WHERE id = '5d000000-0000-0000-0000-000000000002'),
          ARRAY['booked'], 'SQL: the task''s save went through an UPDATE statement');
SELECT is(cyoda_wf.update_item('5d000000-0000-0000-0000-000000000002', NULL, 'finish'),
          'finished', 'SQL: update_item returns the state reached');
SELECT is((SELECT data FROM cyoda_wf.entity WHERE id = '5d000000-0000-0000-0000-000000000002'),
          '{"n": 1, "stepped": true}'::jsonb, 'SQL: update_item without data keeps the data');
SELECT is((SELECT count(*)::int FROM public.su_log WHERE id = '5d000000-0000-0000-0000-000000000002'),
          2, 'SQL: update_item went through an UPDATE statement');
SELECT throws_ok($$SELECT cyoda_wf.fire('5d000000-0000-0000-0000-0000000000ff', 'finish')$$,
                 'P0002', NULL, 'SQL: fire on a missing entity is P0002');
SELECT is((SELECT max(version) FROM cyoda_wf.entity_version
           WHERE entity_id = '5d000000-0000-0000-0000-000000000002'),
          3::bigint, 'SQL: one version row per save');
SELECT is((SELECT count(*)::int FROM cyoda_wf.task WHERE state = 'done'),
          2, 'both tasks done');

SELECT * FROM finish();
ROLLBACK;
