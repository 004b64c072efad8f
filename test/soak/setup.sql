-- Soak test schema: run once in a fresh database by test/scripts/soak.sh.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;

-- Every processor of the soak workflow counts itself in data.steps, so the
-- invariant "steps = transitions made that carry the processor" shows a
-- lost or doubled process.  It also drops the "close" flag it was given.
CREATE FUNCTION public.soak_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT (data - 'close') || jsonb_build_object('steps', coalesce((data->>'steps')::int, 0) + 1)
$$;

-- "link": save the mirror hot entity (17 - k) from inside a process (nested save; two
-- links in opposite directions deadlock, which is an expected outcome).
CREATE FUNCTION public.soak_link(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM cyoda_wf.fire(soak_hot_id(17 - (data->>'k')::int), 'touch');
  RETURN NULL;
END $$;

-- "spawn": create a child entity (ENTITY_EVENT source, parent_id set).
CREATE FUNCTION public.soak_spawn(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM cyoda_wf.add_item('soak_child', 1, jsonb_build_object('parent', meta->>'entity_id'));
  RETURN NULL;
END $$;

CREATE FUNCTION public.soak_hot_id(k int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT ('f7000000-0000-0000-0000-' || lpad(k::text, 12, '0'))::uuid
$$;

-- The workflow; v is written into a processor context only, so that
-- re-imports change the stored definition without changing its meaning.
CREATE FUNCTION public.soak_workflow(v int) RETURNS jsonb LANGUAGE sql AS $$
SELECT jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(jsonb_build_object(
  'name', 'soak', 'initialState', 'new', 'states', jsonb_build_object(
    'new', jsonb_build_object('transitions', jsonb_build_array(
        jsonb_build_object('name', 'start', 'next', 'open',
                           'processors', jsonb_build_array(jsonb_build_object('name', 'soak_step',
                                             'config', jsonb_build_object('context', 'v' || v)))))),
    'open', jsonb_build_object('transitions', jsonb_build_array(
        jsonb_build_object('name', 'auto_close', 'next', 'closed',
                           'criterion', '{"type": "simple", "jsonPath": "$.close", "operatorType": "EQUALS", "value": true}'::jsonb,
                           'processors', '[{"name": "soak_step"}]'::jsonb),
        jsonb_build_object('name', 'touch', 'next', 'open', 'manual', true,
                           'processors', '[{"name": "soak_step"}]'::jsonb),
        jsonb_build_object('name', 'close', 'next', 'closed', 'manual', true,
                           'criterion', '{"type": "simple", "jsonPath": "$.steps", "operatorType": "GREATER_OR_EQUAL", "value": 2}'::jsonb),
        jsonb_build_object('name', 'bg', 'next', 'open', 'manual', true,
                           'processors', '[{"name": "soak_step", "executionMode": "ASYNC_NEW_TX"}]'::jsonb),
        jsonb_build_object('name', 'link', 'next', 'open', 'manual', true,
                           'processors', '[{"name": "soak_step"}, {"name": "soak_link"}]'::jsonb),
        jsonb_build_object('name', 'spawn', 'next', 'open', 'manual', true,
                           'processors', '[{"name": "soak_step"}, {"name": "soak_spawn"}]'::jsonb))),
    'closed', jsonb_build_object('transitions', jsonb_build_array(
        jsonb_build_object('name', 'reopen', 'next', 'open', 'manual', true,
                           'processors', '[{"name": "soak_step"}]'::jsonb))))))) $$;

SELECT cyoda_wf.import_workflows('soak', 1, public.soak_workflow(1)) IS NOT NULL AS imported;
SELECT cyoda_wf.import_workflows('soak_cold', 1, public.soak_workflow(1)) IS NOT NULL AS imported;
SELECT cyoda_wf.import_workflows('soak_child', 1, $j$
{"importMode": "REPLACE", "workflows": [{"name": "child", "initialState": "new", "states": {
  "new": {"transitions": [{"name": "born", "next": "alive"}]},
  "alive": {"transitions": []}}}]}$j$) IS NOT NULL AS imported;

-- Outcomes other than success, one row each (unlogged, append-only).
CREATE UNLOGGED TABLE public.soak_outcome (op text, sqlstate text, at timestamptz DEFAULT clock_timestamp());

-- Run one operation; the SQLSTATEs a contended workflow may legitimately
-- raise are recorded, anything else propagates and aborts the pgbench
-- client (so the run fails).
CREATE FUNCTION public.soak_try(op text, q text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
EXCEPTION
  WHEN object_not_in_prerequisite_state   -- 55000: transition not available here, criterion, own entity
    OR serialization_failure              -- 40001: if_match lost
    OR deadlock_detected                  -- 40P01: two links in opposite directions
    OR no_data_found THEN                 -- P0002: entity deleted meanwhile
    INSERT INTO public.soak_outcome (op, sqlstate) VALUES (op, SQLSTATE);
END $$;

-- Read-modify-write with if_match: never loses a concurrent save.
CREATE FUNCTION public.soak_rmw(k int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  d jsonb;
  v bigint;
BEGIN
  SELECT e.data, e.version INTO d, v FROM cyoda_wf.entity e WHERE e.id = public.soak_hot_id(k);
  IF NOT FOUND THEN RETURN; END IF;
  PERFORM cyoda_wf.update_item(public.soak_hot_id(k), d || jsonb_build_object('note', md5(random()::text)), NULL, v);
END $$;

-- The hot set: 16 shared entities every client works on.
INSERT INTO cyoda_wf.entity (id, model, data)
SELECT public.soak_hot_id(k), 'soak', jsonb_build_object('k', k) FROM generate_series(1, 16) k;
