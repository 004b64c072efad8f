-- Import modes and entities in flight: an import that would strand live
-- entities (on a workflow or in a state that no longer exists) is refused
-- (55000) unless forced; a dry run reports the plan and stores nothing;
-- ACTIVATE lets old entities finish on the old workflow; move_entity is the
-- administrator's repair.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- v1: new -submit-> submitted -approve(manual)-> approved; submitted -cancel(manual)-> cancelled
SELECT cyoda_wf.import_workflows('im_order', 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "order_v1", "initialState": "new", "states": {
  "new": {"transitions": [{"name": "submit", "next": "submitted"}]},
  "submitted": {"transitions": [{"name": "approve", "next": "approved", "manual": true},
                                {"name": "cancel", "next": "cancelled", "manual": true}]},
  "approved": {"transitions": []},
  "cancelled": {"transitions": []}}}]}
$json$);
INSERT INTO cyoda_wf.entity (id, model, data)
SELECT ('00000000-0000-0000-0000-0000000010' || lpad(i::text, 2, '0'))::uuid, 'im_order', jsonb_build_object('n', i)
  FROM generate_series(1, 4) i;
SELECT cyoda_wf.fire('00000000-0000-0000-0000-000000001004', 'approve');
SELECT workflow, state, count(*) FROM cyoda_wf.entity WHERE model = 'im_order' GROUP BY 1, 2 ORDER BY 1, 2;

-- v2 drops "submitted" (new -submit-> review -approve-> approved)
\set v2 '{"name": "order_v2", "initialState": "new", "states": {"new": {"transitions": [{"name": "submit", "next": "review"}]}, "review": {"transitions": [{"name": "approve", "next": "approved", "manual": true}]}, "approved": {"transitions": []}}}'

-- REPLACE would strand the three submitted orders and the approved one: refused
SELECT cyoda_wf.import_workflows('im_order', 1, jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(:'v2'::jsonb)));
-- so would a MERGE that redefines order_v1 without "submitted"
SELECT cyoda_wf.import_workflows('im_order', 1, jsonb_build_object('workflows',
  jsonb_build_array(jsonb_set(:'v2'::jsonb, '{name}', '"order_v1"'))));
-- nothing changed
SELECT jsonb_path_query_array(cyoda_wf.export_workflows('im_order', 1), '$.workflows[*].name') AS workflows;

-- dry runs: the plan, nothing stored
SELECT jsonb_pretty(cyoda_wf.import_workflows('im_order', 1,
  jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(:'v2'::jsonb)), '{"dryRun": true}'));
SELECT cyoda_wf.import_workflows('im_order', 1, jsonb_build_object('workflows',
  jsonb_build_array(jsonb_set(:'v2'::jsonb, '{name}', '"order_v1"'))), '{"dryRun": true}') AS merge_plan;
SELECT cyoda_wf.import_workflows('im_order', 1,
  jsonb_build_object('importMode', 'ACTIVATE', 'workflows', jsonb_build_array(:'v2'::jsonb)), '{"dryRun": true}') AS activate_plan;
SELECT jsonb_path_query_array(cyoda_wf.export_workflows('im_order', 1), '$.workflows[*].name') AS workflows;
-- a dry run validates as an import does
SELECT cyoda_wf.import_workflows('im_order', 1, '{"workflows": [{"name": "bad", "initialState": "nowhere", "states": {}}]}',
  '{"dryRun": true}');
-- options are checked
SELECT cyoda_wf.import_workflows('im_order', 1, '{"workflows": []}', '{"dryrun": true}');
SELECT cyoda_wf.import_workflows('im_order', 1, '{"workflows": []}', '{"force": "yes"}');
SELECT cyoda_wf.import_workflows('im_order', 1, '{"workflows": []}', '[]');
-- the three-argument form is unchanged and a plain import reports no "stranded"
SELECT cyoda_wf.import_workflows('im_order', 1, '{"workflows": []}');

-- ACTIVATE: order_v2 takes new orders; order_v1 stays (inactive) for the
-- orders already on it, which finish there
SELECT cyoda_wf.import_workflows('im_order', 1,
  jsonb_build_object('importMode', 'ACTIVATE', 'workflows', jsonb_build_array(:'v2'::jsonb)));
SELECT w->>'name' AS workflow, w->'active' AS active
  FROM jsonb_array_elements(cyoda_wf.export_workflows('im_order', 1)->'workflows') w;
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('00000000-0000-0000-0000-000000001005', 'im_order', '{"n": 5}');
SELECT cyoda_wf.fire('00000000-0000-0000-0000-000000001001', 'approve') AS old_order;
SELECT cyoda_wf.fire('00000000-0000-0000-0000-000000001002', 'cancel') AS old_order;
SELECT cyoda_wf.fire('00000000-0000-0000-0000-000000001005', 'approve') AS new_order;
SELECT id, workflow, state FROM cyoda_wf.entity WHERE model = 'im_order' ORDER BY id;
-- order 1003 still waits in "submitted": a REPLACE with order_v2 alone is still refused
SELECT cyoda_wf.import_workflows('im_order', 1, jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(:'v2'::jsonb)));

-- move_entity: 1003 to "review" of order_v2 (no process, no criterion, no cascade)
SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-000000001003', 'review', 'migrated to order_v2', 'order_v2');
-- the finished v1 orders move to "approved" of order_v2 / to the default workflow
SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-000000001001', 'approved', 'migrated', 'order_v2');
SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-000000001004', 'approved', 'migrated', 'order_v2');
SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-000000001002', 'DELETED', 'cancelled orders leave the workflow', 'default');
SELECT id, workflow, state, version, last_transition FROM cyoda_wf.entity WHERE model = 'im_order' ORDER BY id;
SELECT version, change_type, state, transition FROM cyoda_wf.entity_version
 WHERE entity_id = '00000000-0000-0000-0000-000000001003' ORDER BY version;
SELECT event_type, transition, from_state, to_state, role = current_user AS by_me,
       detail - 'role' AS detail, detail->>'role' = current_user AS role_recorded
  FROM cyoda_wf.audit WHERE entity_id = '00000000-0000-0000-0000-000000001003' AND event_type = 'STATE_MOVED';
-- now nothing is stranded: REPLACE goes through
SELECT cyoda_wf.import_workflows('im_order', 1, jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(:'v2'::jsonb)), '{"dryRun": true}')->'stranded' AS stranded;
SELECT cyoda_wf.import_workflows('im_order', 1, jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(:'v2'::jsonb)));
-- the moved order carries on from its new state
SELECT cyoda_wf.fire('00000000-0000-0000-0000-000000001003', 'approve');

-- move_entity errors: unknown state / workflow (22023, naming what exists), no entity (P0002), NULLs
\set VERBOSITY default
SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-000000001003', 'submitted', 'x');
SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-000000001003', 'new', 'x', 'order_v1');
SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-0000000010ff', 'new', 'x');
SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-000000001003', 'new', NULL);
\set VERBOSITY terse
SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-000000001003', 'new', 'x', 'order_v1');
\set VERBOSITY default

-- a move cancels the entity's pending timers and arms none in the new state
SELECT cyoda_wf.import_workflows('im_timer', 1, $json$
{"workflows": [{"name": "t", "initialState": "waiting", "states": {
  "waiting": {"transitions": [{"name": "remind", "next": "reminded", "schedule": {"delayMs": 3600000}}]},
  "reminded": {"transitions": [{"name": "park", "next": "parked", "schedule": {"delayMs": 3600000}}]},
  "parked": {"transitions": []}}}]}
$json$) IS NOT NULL AS imported;
INSERT INTO cyoda_wf.entity (id, model, data) VALUES ('00000000-0000-0000-0000-0000000040a1', 'im_timer', '{}');
SELECT kind, transition, state FROM cyoda_wf.task WHERE entity_id = '00000000-0000-0000-0000-0000000040a1' ORDER BY id;
SELECT cyoda_wf.move_entity('00000000-0000-0000-0000-0000000040a1', 'reminded', 'skip the wait');
SELECT kind, transition, state FROM cyoda_wf.task WHERE entity_id = '00000000-0000-0000-0000-0000000040a1' ORDER BY id;

-- force: a REPLACE that strands is stored, and says how many it stranded
SELECT cyoda_wf.import_workflows('im_order', 1, '{"importMode": "REPLACE", "workflows": []}', '{"force": true}');
-- the errdetail lists at most ten workflow/state groups, then "and N more"
SELECT cyoda_wf.import_workflows('im_many', 1, jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(
  jsonb_build_object('name', 'wide', 'initialState', 's00', 'states',
    (SELECT jsonb_object_agg('s' || lpad(i::text, 2, '0'), jsonb_build_object('transitions', '[]'::jsonb))
       FROM generate_series(0, 11) i)))));
INSERT INTO cyoda_wf.entity (id, model, data)
SELECT ('00000000-0000-0000-0000-0000000020' || lpad(i::text, 2, '0'))::uuid, 'im_many', '{}'
  FROM generate_series(0, 11) i;
SELECT count(cyoda_wf.move_entity(('00000000-0000-0000-0000-0000000020' || lpad(i::text, 2, '0'))::uuid,
                                  's' || lpad(i::text, 2, '0'), 'spread'))
  FROM generate_series(0, 11) i;
SELECT cyoda_wf.import_workflows('im_many', 1, '{"importMode": "REPLACE", "workflows": []}');

-- import_design goes through REPLACE: it is refused the same way
SELECT cyoda_wf.import_design('{"entities": [{"entity_name": "im_many", "entity_type": "JOB", "entity_source": "API_REQUEST"}]}');
